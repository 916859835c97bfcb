// Metrics (DESIGN.md §8): every series the daemon exports, and the text
// exposition for /metrics (format 0.0.4).
//
// One object, built once by app/, that registers everything in its
// constructor [sipi SipiMetrics.cpp]; no singleton, no globals. This module
// knows neither the scheduler nor the HTTP server: app/ turns their events
// into the calls below (app/telemetry_adapters.cc).
//
// Label values are bounded: workspace names come from the config (children
// of removed workspaces are dropped on reload), operations, results,
// actions and outcomes are fixed sets, and `endpoint` is a route template,
// never a raw path.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace provisioner::telemetry {

struct BuildInfo {
  std::string version;
  std::string commit;
  std::string compiler;
};

// Per-workspace state read at scrape time from the scheduler's snapshot.
struct WorkspaceGauges {
  std::string name;
  bool deployed = false;
  bool drift = false;
  std::optional<SystemTime> next_deploy;
  std::optional<SystemTime> next_destroy;
  double saved_seconds = 0;  // monotonic: it only grows
  std::optional<double> cost_per_hour;
};

// Everything that is a level rather than an event, gathered at scrape time.
struct GaugeSnapshot {
  std::vector<WorkspaceGauges> workspaces;
  // provisioner_workspaces_total{status}: every status, zeros included.
  std::map<std::string, int64_t> workspaces_by_status;
  // provisioner_scheduled_workspaces{status="active|paused|override|disabled"}
  std::map<std::string, int64_t> scheduled_by_state;
  int64_t templates = 0;
  int64_t jobs_running = 0;
  int64_t jobs_queued = 0;
  // provisioner_template_workspaces{template}: workspaces of the config per
  // template (orphans, which have none, are not counted).
  std::map<std::string, int64_t> workspaces_by_template;
  // provisioner_health_check{check,status}: the last /health/deep result of
  // each check (healthy, degraded or unhealthy); empty until the first one.
  std::map<std::string, std::string> health_checks;
  // HA mode only (docs/ha.md); unset in the default mode, whose series
  // then do not exist.
  struct Coordination {
    bool leader = false;
    int64_t term = 0;
    uint64_t transitions = 0;
    uint64_t renew_failures = 0;
    uint64_t fenced_writes_rejected = 0;
    uint64_t job_claims_lost = 0;
  };
  std::optional<Coordination> coordination;
};

class Metrics {
 public:
  // `clock` gives the process start and uptime; not owned.
  Metrics(BuildInfo build, Clock& clock);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // OK unless prometheus-cpp refused a registration in the constructor (a
  // bug: every name is a constant). Events are then dropped; Serialize()
  // still answers with what it has.
  Status init_status() const;

  // Called at every scrape to read the levels; set once by app/.
  void SetGaugeSource(std::function<GaugeSnapshot()> source);

  // The workspaces of the current config: children of removed workspaces are
  // removed from every per-workspace family.
  void SetWorkspaces(const std::vector<std::string>& names);

  // Scheduler events.
  // provisioner_schedule_fires_total{workspace,action,outcome}, and
  // provisioner_schedule_matches_total{workspace,action} for every fire.
  void ScheduleFired(std::string_view workspace, std::string_view action, std::string_view outcome);
  // provisioner_schedule_lag_seconds (due time to start).
  void JobStarted(std::chrono::duration<double> lag);
  // provisioner_deployments_total{workspace,operation,result},
  // provisioner_deployment_duration_seconds{workspace,operation},
  // provisioner_deployment_failures_total{workspace,operation} (failed and timeout),
  // provisioner_jobs_completed_total{result}.
  void JobFinished(std::string_view workspace, std::string_view operation, std::string_view result,
                   std::chrono::duration<double> duration);
  // provisioner_tofu_operations_total{operation,result} and
  // provisioner_tofu_operation_duration_seconds{operation}, per tofu step
  // (operation: init, plan, apply, destroy; result: success, failure).
  void TofuStep(std::string_view operation, std::string_view result,
                std::chrono::duration<double> duration);
  // provisioner_tofu_binary_downloads_total{result}
  void BinaryDownload(std::string_view result);
  // provisioner_config_reload_total{result} and, on failure,
  // provisioner_config_reload_failures_total.
  void ConfigReload(bool ok);
  // provisioner_manual_actions_total{action,user} (user "-" when anonymous).
  void ManualAction(std::string_view action, std::string_view user);
  // provisioner_state_save_failures_total, and on success
  // provisioner_state_last_save_timestamp_seconds = `at`.
  void StateSave(bool ok, SystemTime at);
  // provisioner_job_log_write_failures_total: jobs whose log could not be
  // written completely (a full disk); the job's result is not affected.
  void JobLogWriteFailed();
  // provisioner_scheduler_loop_duration_seconds and provisioner_cron_evaluations_total.
  void SchedulerTick(std::chrono::duration<double> duration, uint64_t cron_evaluations);

  // provisioner_trace_spans_total{result} (exported, dropped, failed) and
  // provisioner_trace_export_duration_seconds, from the OTLP exporter.
  void TraceSpans(std::string_view result, uint64_t count);
  void TraceExport(std::chrono::duration<double> duration);

  // HTTP: http_requests_total{method,endpoint,status},
  // http_request_duration_seconds{method,endpoint}, http_requests_in_flight.
  void HttpRequestStarted();
  void HttpRequestFinished(std::string_view method, std::string_view endpoint, int status,
                           std::chrono::duration<double> duration);

  // The whole exposition, text format 0.0.4, with the process collector's
  // series and provisioner_build_info / provisioner_uptime_seconds_total.
  std::string Serialize();

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace provisioner::telemetry
