// The daemon's persistent state (DESIGN.md §6), as plain values.
//
// The in-memory State is the truth; state_json.cc is only its serialization
// (docs/state-format.md). It stays small: one record per workspace and the
// operator overrides still in force. Finished jobs live in per-workspace
// journals (history.h), not here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "platform/process_identity.h"

namespace provisioner::state {

inline constexpr int kStateVersion = 1;

enum class Operation : uint8_t { kDeploy, kDestroy };
std::string_view OperationName(Operation op);  // "deploy", "destroy"
Result<Operation> ParseOperation(std::string_view name);

enum class Trigger : uint8_t { kSchedule, kManual, kCatchUp, kRetry };
std::string_view TriggerName(Trigger t);  // "schedule", "manual", "catch_up", "retry"
Result<Trigger> ParseTrigger(std::string_view name);

enum class JobResult : uint8_t {
  kSucceeded,  // applied changes (or destroyed)
  kNoChanges,  // plan found nothing to do
  kFailed,
  kTimeout,
  kCancelled,
  kInterrupted,  // the daemon died while it ran
};
std::string_view JobResultName(JobResult r);
Result<JobResult> ParseJobResult(std::string_view name);
inline bool IsSuccess(JobResult r) {
  return r == JobResult::kSucceeded || r == JobResult::kNoChanges;
}

// What is known to exist in the cloud.
enum class Actual : uint8_t {
  kUnknown,  // never run, or the last job failed part-way
  kDeployed,
  kDestroyed,
};
std::string_view ActualName(Actual a);  // "unknown", "deployed", "destroyed"
Result<Actual> ParseActual(std::string_view name);

struct Changes {
  int add = 0;
  int change = 0;
  int remove = 0;
  friend bool operator==(const Changes&, const Changes&) = default;
};

// A job record (DESIGN.md §5). The same shape serves the running job in
// state.json and the finished ones in history.jsonl.
struct JobRecord {
  std::string id;
  std::string workspace;
  Operation operation = Operation::kDeploy;
  Trigger trigger = Trigger::kSchedule;
  std::optional<SystemTime> scheduled_for;  // the fire or request it serves
  std::optional<SystemTime> started_at;
  std::optional<SystemTime> finished_at;
  std::optional<JobResult> result;  // unset while running
  std::optional<int> exit_code;     // of the last tofu step that ran
  int attempt = 1;
  Changes changes;
  std::string error;     // summary from the diagnostics, or why it failed
  std::string log_path;  // state.dir/jobs/<workspace>/<id>.log
  std::string trace_id;
  bool drift = false;  // the plan saw resources changed outside tofu
  // While it runs: the tofu process of the step in flight, so that a daemon
  // that restarts after a crash can find it if it outlived the crash.
  std::optional<platform::ProcessIdentity> process;

  friend bool operator==(const JobRecord&, const JobRecord&) = default;
};

struct ManualAction {
  Operation operation = Operation::kDeploy;
  SystemTime at;
  std::optional<SystemTime> until;
  std::string requested_by;  // the authenticated user, or ""
  friend bool operator==(const ManualAction&, const ManualAction&) = default;
};

struct PauseWindow {
  SystemTime from;
  std::optional<SystemTime> until;
  std::string requested_by;
  friend bool operator==(const PauseWindow&, const PauseWindow&) = default;
};

struct RetryState {
  Operation operation = Operation::kDeploy;
  int attempt = 1;  // the attempt that will run next
  SystemTime not_before;
  friend bool operator==(const RetryState&, const RetryState&) = default;
};

struct WorkspaceState {
  Actual actual = Actual::kUnknown;
  // When `actual` last changed.
  std::optional<SystemTime> actual_since;
  // The latest scheduled fire (effective instant) the reconciler has handled;
  // fires at or before it are never acted on again, across restarts and
  // clock jumps.
  std::optional<SystemTime> last_fire;
  std::vector<ManualAction> manual;
  std::optional<PauseWindow> pause;
  std::optional<JobRecord> running;
  std::optional<JobRecord> last_job;  // summary of the last finished job
  std::optional<RetryState> retry;
  // A terminal failure for the desired event that began at this instant:
  // no new attempt until the desired state changes.
  std::optional<SystemTime> gave_up_for;
  bool drift = false;  // from the last plan
  // Removed from the config; never destroyed automatically.
  bool orphaned = false;
  // Seconds this workspace has spent destroyed
  // (provisioner_estimated_savings_seconds_total); kept here so that the
  // counter survives restarts.
  double saved_seconds = 0;

  friend bool operator==(const WorkspaceState&, const WorkspaceState&) = default;
};

struct State {
  int version = kStateVersion;
  // Refreshed at every save and periodically while running, so that the
  // next start knows how long the daemon was down.
  std::optional<SystemTime> last_seen;
  std::map<std::string, WorkspaceState> workspaces;

  friend bool operator==(const State&, const State&) = default;
};

}  // namespace provisioner::state
