#include "tofu/tofu_client.h"

#include <algorithm>
#include <array>

#include "base/duration.h"
#include "base/strings.h"
#include "base/time_format.h"
#include "platform/random.h"

namespace provisioner::tofu {
namespace {

using platform::FinishedProcess;
using platform::OutputStream;
using platform::StopReason;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Error summaries that mean the template or the workspace's variables are
// wrong: running again cannot help (DESIGN.md §5). Errors that carry a
// source range are configuration errors as well.
constexpr std::array<std::string_view, 10> kNonRetryableSummaries = {
    "No value for required variable",
    "Invalid value for input variable",
    "Invalid value for variable",
    "Value for undeclared variable",
    "Reference to undeclared input variable",
    "Failed to read variables file",
    "Missing required argument",
    "Unsupported argument",
    "Invalid reference",
    "Plan file or auto-approve required",
};

// At most kMaxJobErrorBytes of `error`, valid UTF-8 (stderr text is raw
// bytes), cut at a character boundary and marked when cut.
std::string CapError(std::string_view error) {
  std::string out;
  AppendValidUtf8(&out, error.substr(0, kMaxJobErrorBytes));
  if (error.size() <= kMaxJobErrorBytes && out.size() <= kMaxJobErrorBytes) return out;
  const std::string suffix = StringPrintf("... (%zu bytes)", error.size());
  size_t cut = std::min(out.size(), kMaxJobErrorBytes - suffix.size());
  // out is valid UTF-8: back off over continuation bytes (10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  out.resize(cut);
  return out + suffix;
}

bool IsConfigurationError(const Diagnostic& d) {
  if (!d.IsError()) return false;
  if (d.range && !d.range->filename.empty()) return true;
  return std::find(kNonRetryableSummaries.begin(), kNonRetryableSummaries.end(), d.summary) !=
         kNonRetryableSummaries.end();
}

std::string Argv0Name(const TofuJobSpec& spec) {
  return spec.binary.empty() ? std::string("tofu") : spec.binary;
}

std::string Command(const std::vector<std::string>& argv) {
  std::string out = "$";
  for (const std::string& a : argv) out += " " + a;
  return out;
}

}  // namespace

std::string_view StepName(Step step) {
  switch (step) {
    case Step::kInit:
      return "init";
    case Step::kPlan:
      return "plan";
    case Step::kApply:
      return "apply";
    case Step::kDestroy:
      return "destroy";
  }
  return "init";
}

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kSucceeded:
      return "succeeded";
    case Outcome::kNoChanges:
      return "no_changes";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kTimeout:
      return "timeout";
    case Outcome::kCancelled:
      return "cancelled";
  }
  return "failed";
}

std::map<std::string, std::string> BuildEnv(const EnvInputs& in) {
  std::map<std::string, std::string> env;
  auto from_daemon = [&in](const char* name, std::string_view fallback) {
    auto it = in.daemon_env.find(name);
    return it != in.daemon_env.end() && !it->second.empty() ? it->second : std::string(fallback);
  };
  env["PATH"] = from_daemon("PATH", kDefaultPath);
  env["HOME"] = from_daemon("HOME", in.home_fallback.empty() ? "/" : in.home_fallback);
  env["LANG"] = from_daemon("LANG", "C.UTF-8");
  for (const auto& [name, value] : in.daemon_env) {
    for (const std::string& pattern : in.pass_env) {
      if (GlobMatch(pattern, name)) {
        env[name] = value;
        break;
      }
    }
  }
  for (const auto& [name, value] : in.global_env) env[name] = value;
  for (const auto& [name, value] : in.workspace_env) env[name] = value;
  env["TF_IN_AUTOMATION"] = "1";
  env["TF_INPUT"] = "0";
  if (!in.plugin_cache_dir.empty()) env["TF_PLUGIN_CACHE_DIR"] = in.plugin_cache_dir;
  env.erase("TRACEPARENT");
  env.erase("TRACESTATE");
  for (const auto& [name, value] : in.trace_env) env[name] = value;
  return env;
}

std::vector<std::string> InitArgv(const TofuJobSpec& spec) {
  std::vector<std::string> argv = {Argv0Name(spec), "init", "-input=false", "-no-color"};
  for (const auto& [key, value] : spec.backend_config) {
    argv.push_back("-backend-config=" + key + "=" + value);
  }
  return argv;
}

std::vector<std::string> PlanArgv(const TofuJobSpec& spec) {
  return {Argv0Name(spec),
          "plan",
          "-input=false",
          "-no-color",
          "-json",
          "-detailed-exitcode",
          "-lock-timeout=" + FormatDuration(spec.lock_timeout),
          "-out=" + spec.plan_file};
}

std::vector<std::string> ApplyArgv(const TofuJobSpec& spec) {
  return {Argv0Name(spec), "apply", "-input=false",
          "-no-color",     "-json", "-lock-timeout=" + FormatDuration(spec.lock_timeout),
          spec.plan_file};
}

std::vector<std::string> DestroyArgv(const TofuJobSpec& spec) {
  return {Argv0Name(spec),
          "destroy",
          "-input=false",
          "-no-color",
          "-json",
          "-auto-approve",
          "-lock-timeout=" + FormatDuration(spec.lock_timeout)};
}

TofuJob::TofuJob(platform::ProcessRunner& runner, platform::FileSystem& fs, Clock& clock,
                 TofuJobSpec spec, ProgressCallback on_progress)
    : runner_(runner),
      fs_(fs),
      clock_(clock),
      spec_(std::move(spec)),
      on_progress_(std::move(on_progress)) {}

void TofuJob::Log(const std::string& line) {
  if (spec_.log_path.empty()) return;
  // A log that cannot be written must not fail the job; it is reported
  // (outcome().log_error) instead. The runner reports a log it cannot open
  // when the step starts.
  Status s = fs_.AppendFile(spec_.log_path, line + "\n", false);
  if (!s.ok()) NoteLogError(s);
}

void TofuJob::NoteLogError(const Status& s) {
  if (outcome_.log_error.empty()) outcome_.log_error = s.message();
}

Status TofuJob::Start() {
  deadline_ = clock_.Monotonic() + spec_.timeout;
  StartStep(Step::kInit);
  if (done_ && outcome_.steps.empty()) return Status::FailedPrecondition(outcome_.error);
  return Status::Ok();
}

void TofuJob::StartStep(Step step) {
  step_ = step;
  handle_ = 0;
  const milliseconds left = duration_cast<milliseconds>(deadline_ - clock_.Monotonic());
  if (left <= milliseconds(0)) {
    Complete(Outcome::kTimeout,
             "timed out after " + FormatDuration(spec_.timeout) + " before " +
                 std::string(StepName(step)),
             true);
    return;
  }
  std::vector<std::string> argv;
  switch (step) {
    case Step::kInit:
      argv = InitArgv(spec_);
      break;
    case Step::kPlan:
      argv = PlanArgv(spec_);
      break;
    case Step::kApply:
      argv = ApplyArgv(spec_);
      break;
    case Step::kDestroy:
      argv = DestroyArgv(spec_);
      break;
  }
  io_ = std::make_unique<StepIo>([this, step](const UiEvent& e) {
    if (on_progress_) on_progress_(step, e);
  });
  StepIo* io = io_.get();
  platform::ProcessSpec ps;
  ps.argv = argv;
  ps.env = spec_.env;
  step_started_at_ = clock_.Now();
  step_span_ = SpanId{};
  if (spec_.trace && spec_.trace->sampled()) {
    // The child's parent is this step's span, which the tracer makes from
    // the StepResult when the job ends.
    step_span_ = platform::NewSpanId();
    TraceContext step = *spec_.trace;
    step.span_id = step_span_;
    ps.env["TRACEPARENT"] = step.Traceparent();
    if (!step.trace_state.empty()) ps.env["TRACESTATE"] = step.trace_state;
  }
  ps.working_dir = spec_.workspace_dir;
  ps.timeout = left;
  ps.kill_grace = spec_.kill_grace;
  ps.inherit_fd = spec_.inherit_fd;
  ps.log_path = spec_.log_path;
  ps.max_log_bytes = spec_.max_log_bytes - std::min(spec_.max_log_bytes, log_bytes_);
  ps.on_line = [io](OutputStream stream, std::string_view line) {
    if (stream == OutputStream::kStdout) {
      io->parser.AddLine(line);
      return;
    }
    // stderr: human-format errors (init, early CLI errors) and crash banners.
    std::string_view text = Trim(line);
    if (io->first_stderr_error.empty() && text.starts_with("Error: ")) {
      io->first_stderr_error.assign(text.substr(7));
    }
    if (text.starts_with("on ") && text.find(" line ") != std::string_view::npos) {
      io->config_error = true;  // "  on main.tf line 3, in resource ...:"
    }
    if (text.find("OPENTOFU CRASH") != std::string_view::npos) io->crashed = true;
  };
  Log("");
  Log(Command(argv) + "    # " + FormatUtc(clock_.Now()));
  auto handle = runner_.Start(ps);
  if (!handle.ok()) {
    Log("provisioner: could not start tofu: " + handle.status().message());
    Complete(Outcome::kFailed, "could not start " + spec_.binary + ": " + handle.status().message(),
             false);
    return;
  }
  handle_ = *handle;
}

bool TofuJob::OnFinished(const FinishedProcess& f) {
  if (done_ || f.handle != handle_) return done_;
  StepResult r;
  r.step = step_;
  r.exit_code = f.exit_code;
  r.term_signal = f.term_signal;
  r.stop_reason = f.stop_reason;
  r.killed = f.killed;
  r.duration = duration_cast<milliseconds>(f.finished - f.started);
  r.started_at = step_started_at_;
  r.span_id = step_span_;
  outcome_.steps.push_back(r);
  if (!f.log_status.ok()) NoteLogError(f.log_status);
  log_bytes_ += f.log_bytes;
  // A step ended by a signal has no exit code; do not show the previous one.
  outcome_.exit_code = f.exit_code >= 0 ? std::optional<int>(f.exit_code) : std::nullopt;
  handle_ = 0;

  io_->parser.Finish();
  UiStreamSummary summary = io_->parser.TakeSummary();
  for (const Diagnostic& d : summary.diagnostics) outcome_.diagnostics.push_back(d);
  if (summary.state_lock) outcome_.state_lock = summary.state_lock;
  if (step_ == Step::kPlan && summary.drift_detected) outcome_.drift = true;
  if (summary.changes) outcome_.changes = summary.changes;
  const std::string step_name(StepName(step_));
  Log("# " + step_name + " finished: " +
      (f.exit_code >= 0 ? "exit " + std::to_string(f.exit_code)
                        : "signal " + std::to_string(f.term_signal)) +
      " after " + FormatDuration(r.duration));

  // Stopped from outside (timeout, cancel, shutdown): nothing more runs.
  StopReason stop = f.stop_reason != StopReason::kNone ? f.stop_reason : stop_requested_;
  if (stop != StopReason::kNone) {
    if (stop == StopReason::kTimeout) {
      Complete(Outcome::kTimeout,
               "timed out after " + FormatDuration(spec_.timeout) + " during " + step_name +
                   (f.killed ? " (killed after kill_grace)" : ""),
               true);
    } else {
      Complete(
          Outcome::kCancelled,
          std::string(stop == StopReason::kShutdown ? "stopped by daemon shutdown" : "cancelled") +
              " during " + step_name + (f.killed ? " (killed after kill_grace)" : ""),
          false);
    }
    return true;
  }

  const bool crashed = f.exit_code == 11 || summary.crashed || io_->crashed;
  auto fail = [&](const std::string& fallback) {
    std::string error = summary.ErrorSummary();
    if (crashed)
      error =
          "OpenTofu crashed during " + step_name + " (exit " + std::to_string(f.exit_code) + ")";
    if (error.empty()) error = io_->first_stderr_error;
    if (error.empty()) error = fallback;
    bool config_error = io_->config_error;
    for (const Diagnostic& d : summary.diagnostics) config_error |= IsConfigurationError(d);
    if (summary.state_lock) config_error = false;
    Complete(Outcome::kFailed, error, !config_error);
  };
  if (f.exit_code < 0) {
    fail(step_name + " was killed by signal " + std::to_string(f.term_signal));
    return true;
  }

  switch (step_) {
    case Step::kInit:
      if (f.exit_code != 0) {
        fail("init exited with " + std::to_string(f.exit_code));
        return true;
      }
      if (spec_.require_locking_backend) {
        if (Status s = CheckLockingBackend(fs_, spec_.workspace_dir, spec_.env); !s.ok()) {
          Complete(Outcome::kFailed, s.message(), false);
          return true;
        }
      }
      StartStep(spec_.operation == Operation::kDeploy ? Step::kPlan : Step::kDestroy);
      return done_;
    case Step::kPlan:
      if (f.exit_code == 0) {
        Complete(Outcome::kNoChanges, "", false);
      } else if (f.exit_code == 2) {
        StartStep(Step::kApply);
      } else {
        fail("plan exited with " + std::to_string(f.exit_code));
      }
      return done_;
    case Step::kApply:
    case Step::kDestroy:
      if (f.exit_code != 0) {
        fail(step_name + " exited with " + std::to_string(f.exit_code));
        return true;
      }
      outcome_.outputs = summary.outputs;
      Complete(Outcome::kSucceeded, "", false);
      return true;
  }
  return done_;
}

void TofuJob::Stop(StopReason reason) {
  if (done_) return;
  if (stop_requested_ == StopReason::kNone) stop_requested_ = reason;
  if (handle_ != 0) runner_.Stop(handle_, reason);
}

void TofuJob::Complete(Outcome outcome, std::string error, bool retryable) {
  done_ = true;
  outcome_.outcome = outcome;
  outcome_.error = CapError(error);
  outcome_.retryable = retryable;
  Log("# job " + std::string(OutcomeName(outcome)) +
      (outcome_.error.empty() ? "" : ": " + outcome_.error));
  if (!spec_.workspace_dir.empty()) {
    Status s = fs_.Remove(platform::JoinPath(spec_.workspace_dir, spec_.plan_file));
    (void)s;  // usually absent (destroy, empty plan); nothing to do either way
  }
}

const JobOutcome& RunToCompletion(platform::ProcessRunner& runner, TofuJob& job) {
  if (!job.Start().ok() || job.done()) return job.outcome();
  while (!job.done()) {
    FinishedProcess f = runner.Wait(job.handle());
    job.OnFinished(f);
  }
  return job.outcome();
}

}  // namespace provisioner::tofu
