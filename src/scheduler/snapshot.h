// StatusSnapshot: what the scheduler publishes for readers on other threads
// (HTTP handlers, health probes). Immutable once published; readers hold a
// shared_ptr and never take the scheduler's locks or wait on a job.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "scheduler/planner.h"
#include "state/state.h"

namespace provisioner::scheduler {

// provisioner_workspaces_total{status}; also the API's "status".
enum class WorkspaceStatus : uint8_t {
  kUnknown,  // never run, or the outcome of the last job is unknown
  kDeployed,
  kDestroyed,
  kDeploying,   // a deploy job is running
  kDestroying,  // a destroy job is running
  kPending,     // a job is queued or a retry is waiting
  kFailed,      // the last job failed and no retry is left
  kOrphaned,    // no longer in the config; never destroyed automatically
};
std::string_view WorkspaceStatusName(WorkspaceStatus s);  // "deployed", ...
inline constexpr WorkspaceStatus kAllWorkspaceStatuses[] = {
    WorkspaceStatus::kUnknown,   WorkspaceStatus::kDeployed,   WorkspaceStatus::kDestroyed,
    WorkspaceStatus::kDeploying, WorkspaceStatus::kDestroying, WorkspaceStatus::kPending,
    WorkspaceStatus::kFailed,    WorkspaceStatus::kOrphaned};

struct WorkspaceView {
  std::string name;
  std::string template_name;  // "" for an orphan
  std::string timezone;
  std::string deploy_schedule;
  std::string destroy_schedule;
  bool enabled = true;
  bool is_protected = false;
  bool orphaned = false;
  std::optional<double> cost_per_hour;
  std::map<std::string, std::string> labels;

  WorkspaceStatus status = WorkspaceStatus::kUnknown;
  state::Actual actual = state::Actual::kUnknown;
  std::optional<SystemTime> actual_since;
  std::optional<Action> desired;
  std::optional<SystemTime> desired_since;
  Source desired_source = Source::kNone;
  bool paused = false;
  std::optional<ScheduledFire> next_deploy;
  std::optional<ScheduledFire> next_destroy;
  std::vector<state::ManualAction> manual;
  std::optional<state::PauseWindow> pause;
  std::optional<state::JobRecord> running;
  std::optional<state::JobRecord> queued;
  std::optional<state::JobRecord> last_job;
  std::optional<state::RetryState> retry;
  bool drift = false;
  double saved_seconds = 0;
};

struct StatusSnapshot {
  SystemTime taken_at;
  // Sorted by name. Views that did not change are shared with the previous
  // snapshot, so publishing stays cheap with thousands of workspaces.
  std::vector<std::shared_ptr<const WorkspaceView>> workspaces;
  size_t jobs_running = 0;
  size_t jobs_queued = 0;
  bool shutting_down = false;

  const WorkspaceView* Find(std::string_view name) const;
};

}  // namespace provisioner::scheduler
