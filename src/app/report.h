// `provisioner report`: deploys, destroys, failures, success rate, p95
// duration and estimated savings per workspace over a window, from the job
// history (the monitoring standard's automated report, for people without
// Grafana). Pure: the CLI fetches the jobs and workspaces from the API and
// hands them over; docs/operations.md defines every column.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace provisioner::app {

struct ReportJob {
  std::string id;
  std::string workspace;
  std::string operation;  // deploy, destroy
  std::string result;     // succeeded, no_changes, failed, timeout, cancelled, interrupted
  std::optional<SystemTime> started_at = std::nullopt;
  SystemTime finished_at{};
};

struct ReportWorkspace {
  std::string name;
  bool deploy_scheduled = false;  // savings count only for these, as the metric does
  bool destroyed_now = false;     // actual state is destroyed
  std::optional<SystemTime> destroyed_since = std::nullopt;
  std::optional<double> cost_per_hour = std::nullopt;
  // The workspace's last job that started before the window: it tells the
  // state at the window's start. None: the workspace had never run a job.
  std::optional<ReportJob> before_window = std::nullopt;
};

struct ReportRow {
  std::string workspace;  // "" for the total
  int deploys = 0;
  int destroys = 0;
  int failures = 0;   // failed or timeout
  int successes = 0;  // succeeded or no_changes
  std::optional<double> p95_seconds;
  double saved_seconds = 0;
  std::optional<double> saved_cost;  // only when the workspace has a cost_per_hour

  // successes / (successes + failures); cancelled and interrupted jobs are
  // neither, as in provisioner_deployment_failures_total.
  std::optional<double> success_rate() const;
};

struct Report {
  SystemTime since;
  SystemTime until;
  std::vector<ReportRow> workspaces;  // by name
  ReportRow total;
};

// `jobs`: the finished jobs that started (or, never started, finished) in
// [since, until], in any order. Workspaces with jobs but no entry in
// `workspaces` (removed from the config) get rows without savings.
//
// Savings follow the metric: time counts only while the workspace is known to
// be destroyed, never while a job runs, nor after one failed part-way. The
// state at the window's start comes from the job before the window; without
// jobs in the window, from the actual state and its `since`.
Report BuildReport(std::vector<ReportJob> jobs, const std::vector<ReportWorkspace>& workspaces,
                   SystemTime since, SystemTime until);

// "7d", "36h", "90m" (config durations plus days) back from `now`, or an
// RFC 3339 time.
Result<SystemTime> ParseSince(std::string_view text, SystemTime now);

void PrintReport(std::ostream& out, const Report& report);
std::string ReportJson(const Report& report);

}  // namespace provisioner::app
