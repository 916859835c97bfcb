#include "app/report.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "base/duration.h"
#include "base/strings.h"
#include "base/time_format.h"

namespace provisioner::app {
namespace {

using std::chrono::duration;

bool Succeeded(const ReportJob& j) { return j.result == "succeeded" || j.result == "no_changes"; }
bool Failed(const ReportJob& j) { return j.result == "failed" || j.result == "timeout"; }

SystemTime StartOf(const ReportJob& j) { return j.started_at.value_or(j.finished_at); }

// Nearest rank: the smallest duration that at least 95% of the jobs took no
// longer than.
std::optional<double> P95(std::vector<double> seconds) {
  if (seconds.empty()) return std::nullopt;
  std::sort(seconds.begin(), seconds.end());
  const size_t rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(seconds.size())));
  return seconds[std::max<size_t>(rank, 1) - 1];
}

enum class Known { kDeployed, kDestroyed, kUnknown };

// The state a finished job leaves behind.
Known After(const ReportJob& j, Known before) {
  if (Succeeded(j)) return j.operation == "destroy" ? Known::kDestroyed : Known::kDeployed;
  // A job cancelled while queued changed nothing.
  if (j.result == "cancelled" && !j.started_at) return before;
  return Known::kUnknown;  // failed, timed out, interrupted or stopped part-way
}

// Seconds destroyed within [since, until] (see BuildReport).
double SecondsDestroyed(const std::vector<const ReportJob*>& jobs, const ReportWorkspace& ws,
                        SystemTime since, SystemTime until) {
  double total = 0;
  auto count = [&](SystemTime from, SystemTime to) {
    from = std::max(from, since);
    to = std::min(to, until);
    if (to > from) total += duration<double>(to - from).count();
  };
  if (jobs.empty()) {
    if (ws.destroyed_now) count(ws.destroyed_since.value_or(since), until);
    return total;
  }
  Known state = Known::kUnknown;
  SystemTime cursor = since;
  if (ws.before_window) {
    state = After(*ws.before_window, Known::kUnknown);
    cursor = std::max(cursor, ws.before_window->finished_at);
  }
  for (const ReportJob* j : jobs) {
    if (state == Known::kDestroyed) count(cursor, StartOf(*j));
    state = After(*j, state);
    cursor = std::max(cursor, j->finished_at);
  }
  if (state == Known::kDestroyed) count(cursor, until);
  return total;
}

std::vector<std::string> RowCells(const ReportRow& r) {
  auto rate = r.success_rate();
  return {r.workspace.empty() ? "TOTAL" : r.workspace,
          std::to_string(r.deploys),
          std::to_string(r.destroys),
          std::to_string(r.failures),
          rate ? StringPrintf("%.1f%%", *rate * 100) : "-",
          r.p95_seconds ? FormatDuration(std::chrono::seconds(std::llround(*r.p95_seconds))) : "-",
          StringPrintf("%.1fh", r.saved_seconds / 3600),
          r.saved_cost ? StringPrintf("%.2f", *r.saved_cost) : "-"};
}

}  // namespace

std::optional<double> ReportRow::success_rate() const {
  if (successes + failures == 0) return std::nullopt;
  return static_cast<double>(successes) / (successes + failures);
}

Report BuildReport(std::vector<ReportJob> jobs, const std::vector<ReportWorkspace>& workspaces,
                   SystemTime since, SystemTime until) {
  std::sort(jobs.begin(), jobs.end(),
            [](const ReportJob& a, const ReportJob& b) { return StartOf(a) < StartOf(b); });
  std::map<std::string, std::vector<const ReportJob*>> by_workspace;
  for (const ReportJob& j : jobs) by_workspace[j.workspace].push_back(&j);
  std::map<std::string, const ReportWorkspace*> configured;
  for (const ReportWorkspace& w : workspaces) {
    configured[w.name] = &w;
    by_workspace[w.name];  // a row even without jobs: its savings
  }

  Report report;
  report.since = since;
  report.until = until;
  std::vector<double> all_durations;
  bool any_cost = false;
  double total_cost = 0;
  for (const auto& [name, list] : by_workspace) {
    ReportRow row;
    row.workspace = name;
    std::vector<double> durations;
    for (const ReportJob* j : list) {
      (j->operation == "destroy" ? row.destroys : row.deploys)++;
      if (Succeeded(*j)) ++row.successes;
      if (Failed(*j)) ++row.failures;
      if (j->started_at && j->finished_at >= *j->started_at) {
        durations.push_back(duration<double>(j->finished_at - *j->started_at).count());
      }
    }
    row.p95_seconds = P95(durations);
    all_durations.insert(all_durations.end(), durations.begin(), durations.end());
    auto it = configured.find(name);
    if (it != configured.end() && it->second->deploy_scheduled) {
      row.saved_seconds = SecondsDestroyed(list, *it->second, since, until);
      if (it->second->cost_per_hour) {
        row.saved_cost = row.saved_seconds / 3600 * *it->second->cost_per_hour;
        any_cost = true;
        total_cost += *row.saved_cost;
      }
    }
    report.total.deploys += row.deploys;
    report.total.destroys += row.destroys;
    report.total.failures += row.failures;
    report.total.successes += row.successes;
    report.total.saved_seconds += row.saved_seconds;
    report.workspaces.push_back(std::move(row));
  }
  report.total.p95_seconds = P95(std::move(all_durations));
  if (any_cost) report.total.saved_cost = total_cost;
  return report;
}

Result<SystemTime> ParseSince(std::string_view text, SystemTime now) {
  const std::string what = "--since \"" + std::string(text) + "\"";
  if (text.size() >= 2 && text.back() == 'd') {
    std::string_view digits = text.substr(0, text.size() - 1);
    if (std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(c); }) &&
        digits.size() <= 5) {
      return now - std::chrono::hours(24) * std::stoi(std::string(digits));
    }
  }
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.front())) &&
      text.find('T') == std::string_view::npos) {
    auto d = ParseDuration(text);
    if (!d.ok()) return Status::InvalidArgument(what, d.status().message() + " (or use days: 7d)");
    return now - *d;
  }
  auto t = ParseRfc3339(text);
  if (!t.ok()) {
    return Status::InvalidArgument(what,
                                   "expected a duration back from now (7d, 36h, 90m) or an "
                                   "RFC 3339 time (2026-11-01T00:00:00Z)");
  }
  if (*t > now) return Status::InvalidArgument(what, "is in the future");
  return *t;
}

void PrintReport(std::ostream& out, const Report& report) {
  out << "Jobs started from " << FormatUtc(report.since) << " to " << FormatUtc(report.until)
      << "\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"WORKSPACE", "DEPLOYS", "DESTROYS", "FAILURES", "SUCCESS", "P95", "SAVED", "SAVED COST"}};
  for (const ReportRow& r : report.workspaces) rows.push_back(RowCells(r));
  rows.push_back(RowCells(report.total));
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      // Names left-aligned, numbers right-aligned.
      const std::string pad(width[i] - row[i].size(), ' ');
      line += i == 0 ? row[i] + pad : pad + row[i];
      if (i + 1 < row.size()) line += "  ";
    }
    out << line << "\n";
  }
}

}  // namespace provisioner::app
