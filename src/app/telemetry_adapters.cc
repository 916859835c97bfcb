#include "app/telemetry_adapters.h"

namespace provisioner::app {

using std::chrono::duration;

void MetricsObserver::OnScheduleFired(const scheduler::FireReport& r) {
  metrics_.ScheduleFired(r.workspace, scheduler::ActionName(r.action),
                         scheduler::FireOutcomeName(r.outcome));
}

void MetricsObserver::OnJobStarted(const state::JobRecord&, std::chrono::milliseconds lag) {
  metrics_.JobStarted(duration<double>(lag));
}

void MetricsObserver::OnJobFinished(const state::JobRecord& job, const tofu::JobOutcome& outcome) {
  duration<double> took{0};
  if (job.started_at && job.finished_at) took = *job.finished_at - *job.started_at;
  metrics_.JobFinished(job.workspace, state::OperationName(job.operation),
                       job.result ? state::JobResultName(*job.result) : "failed", took);
  for (const tofu::StepResult& step : outcome.steps) {
    // plan -detailed-exitcode exits 2 when it found changes: a success.
    const bool ok = step.exit_code == 0 || (step.step == tofu::Step::kPlan && step.exit_code == 2);
    metrics_.TofuStep(tofu::StepName(step.step), ok ? "success" : "failure",
                      duration<double>(step.duration));
  }
  if (!outcome.log_error.empty()) metrics_.JobLogWriteFailed();
}

void MetricsObserver::OnConfigReloaded(const scheduler::ReloadReport& report) {
  metrics_.ConfigReload(report.ok);
}

void MetricsObserver::OnManualAction(std::string_view action, const std::string& user) {
  metrics_.ManualAction(action, user.empty() ? "-" : user);
}

void MetricsObserver::OnStateSaved(const Status& result, SystemTime at) {
  metrics_.StateSave(result.ok(), at);
}

void MetricsObserver::OnTick(std::chrono::nanoseconds d, uint64_t evaluations) {
  metrics_.SchedulerTick(duration<double>(d), evaluations);
}

telemetry::GaugeSnapshot GaugesFrom(const scheduler::StatusSnapshot& snapshot, int64_t templates,
                                    std::map<std::string, std::string> health_checks) {
  telemetry::GaugeSnapshot g;
  for (scheduler::WorkspaceStatus s : scheduler::kAllWorkspaceStatuses) {
    g.workspaces_by_status[std::string(scheduler::WorkspaceStatusName(s))] = 0;
  }
  for (const char* s : {"active", "paused", "override", "disabled"}) g.scheduled_by_state[s] = 0;
  g.workspaces.reserve(snapshot.workspaces.size());
  for (const auto& v : snapshot.workspaces) {
    ++g.workspaces_by_status[std::string(scheduler::WorkspaceStatusName(v->status))];
    if (!v->orphaned) {
      const char* state = !v->enabled                                       ? "disabled"
                          : v->paused                                       ? "paused"
                          : v->desired_source == scheduler::Source::kManual ? "override"
                                                                            : "active";
      ++g.scheduled_by_state[state];
    }
    if (!v->template_name.empty()) ++g.workspaces_by_template[v->template_name];
    telemetry::WorkspaceGauges w;
    w.name = v->name;
    w.deployed = v->actual == state::Actual::kDeployed;
    w.drift = v->drift;
    if (v->next_deploy) w.next_deploy = v->next_deploy->at;
    if (v->next_destroy) w.next_destroy = v->next_destroy->at;
    w.saved_seconds = v->saved_seconds;
    w.cost_per_hour = v->cost_per_hour;
    g.workspaces.push_back(std::move(w));
  }
  g.templates = templates;
  g.jobs_running = static_cast<int64_t>(snapshot.jobs_running);
  g.jobs_queued = static_cast<int64_t>(snapshot.jobs_queued);
  g.health_checks = std::move(health_checks);
  return g;
}

}  // namespace provisioner::app
