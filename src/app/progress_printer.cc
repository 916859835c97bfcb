#include "app/progress_printer.h"

#include "base/strings.h"

namespace provisioner::app {

using tofu::UiEvent;
using tofu::UiEventType;

ProgressPrinter::ProgressPrinter(std::ostream& out, Clock& clock)
    : out_(out), clock_(clock), start_(clock.Monotonic()) {}

void ProgressPrinter::OnEvent(tofu::Step step, const UiEvent& e) {
  std::string line;
  switch (e.type) {
    case UiEventType::kNotJson:
    case UiEventType::kUntyped:
    case UiEventType::kOutput:
      // Human text: init's progress is worth showing, other steps' is noise.
      if (step != tofu::Step::kInit || Trim(e.message).empty()) return;
      line = std::string(Trim(e.message));
      break;
    case UiEventType::kPlannedChange:
      if (e.resource) line = e.resource->addr + ": will " + e.action;
      break;
    case UiEventType::kResourceDrift:
      if (e.resource) line = e.resource->addr + ": changed outside OpenTofu (" + e.action + ")";
      break;
    case UiEventType::kApplyStart:
    case UiEventType::kApplyProgress:
    case UiEventType::kApplyComplete:
    case UiEventType::kApplyErrored:
    case UiEventType::kProvisionStart:
    case UiEventType::kProvisionErrored:
    case UiEventType::kChangeSummary:
    case UiEventType::kLog:
    case UiEventType::kUnknown:
      line = e.message;
      break;
    case UiEventType::kDiagnostic:
      if (e.diagnostic) {
        line = (e.diagnostic->IsError() ? "Error: " : "Warning: ") + e.diagnostic->summary;
        if (!e.diagnostic->address.empty()) line += " (" + e.diagnostic->address + ")";
        if (!e.diagnostic->detail.empty()) line += "\n    " + e.diagnostic->detail;
      }
      break;
    default:
      return;
  }
  if (line.empty()) return;
  const long long s =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Monotonic() - start_).count();
  std::lock_guard<std::mutex> lock(mu_);
  out_ << StringPrintf("[%02lld:%02lld] ", s / 60, s % 60) << tofu::StepName(step) << ": " << line
       << "\n";
  out_.flush();
}

void ProgressPrinter::OnLogLine(std::string_view line) {
  // The job log's step headers look like "$ /usr/bin/tofu plan -input=false ...".
  if (line.starts_with("$ ")) {
    auto words = Split(line.substr(2), ' ');
    if (words.size() >= 2) {
      std::lock_guard<std::mutex> lock(mu_);
      for (tofu::Step s :
           {tofu::Step::kInit, tofu::Step::kPlan, tofu::Step::kApply, tofu::Step::kDestroy}) {
        if (words[1] == tofu::StepName(s)) step_ = s;
      }
    }
    return;
  }
  if (line.starts_with("# ")) return;  // provisioner's own notes in the log
  tofu::Step step;
  {
    std::lock_guard<std::mutex> lock(mu_);
    step = step_;
  }
  OnEvent(step, tofu::ParseUiLine(line));
}

}  // namespace provisioner::app
