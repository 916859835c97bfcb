// The Reconciler: keeps every workspace in the state its schedules ask for.
//
// One owner thread calls Tick() [STYLE.md B3]. A Tick reads the clock once,
// drains the command inbox, reaps finished tofu processes, asks the Planner
// what each due workspace should be, queues and starts jobs (at most
// max_concurrent_jobs, destroys first), saves the state when it changed,
// publishes a snapshot for readers, and returns when it next needs to run.
// It never sleeps and never blocks on a job; the app loop waits between
// ticks, woken early by Wake() (a command, a finished process, a reload).
//
// Other threads only Post() commands (thread-safe; the reply arrives through
// a future once the change is on disk) and read snapshot().
//
// Double fires are impossible by construction: each workspace's `last_fire`
// (persisted) records the latest scheduled fire already handled, fires are
// only taken strictly after it, and the scheduler evaluates desired state at
// a logical time that never goes backwards within a process, so an NTP step
// back cannot replay a destroy or a deploy.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/thread_annotations.h"
#include "base/trace_context.h"
#include "config/config.h"
#include "coordination/coordinator.h"
#include "coordination/job_claims.h"
#include "platform/file_lock.h"
#include "platform/file_system.h"
#include "platform/process_runner.h"
#include "scheduler/job_queue.h"
#include "scheduler/observer.h"
#include "scheduler/planner.h"
#include "scheduler/snapshot.h"
#include "state/history.h"
#include "state/state_store.h"
#include "tofu/tofu_client.h"

namespace provisioner::scheduler {

// Commands from the API. Each gets a CommandResult once applied and saved.
struct ManualCommand {
  std::string workspace;
  state::Operation operation = state::Operation::kDeploy;
  std::optional<SystemTime> until;
  std::string user;
  // The API request's span: the job it queues is its child (DESIGN.md §9).
  TraceContext trace;
};
struct PauseCommand {
  std::string workspace;
  std::optional<SystemTime> until;
  std::string user;
};
struct ResumeCommand {
  std::string workspace;
  std::string user;
};
struct CancelCommand {
  std::string job_id;
  std::string user;
};
// A validated config to swap in (the app reads and validates the file).
struct ReloadCommand {
  std::shared_ptr<const config::Config> config;
  std::string source;  // "inotify", "SIGHUP", "api"
};
using Command =
    std::variant<ManualCommand, PauseCommand, ResumeCommand, CancelCommand, ReloadCommand>;

struct CommandResult {
  // NotFound (no such workspace or job), FailedPrecondition (e.g. a job that
  // already finished, a paused workspace paused again is fine), Unavailable
  // (the daemon is shutting down: kShuttingDownError), or OK.
  Status status;
  std::string job_id;       // manual deploy/destroy: the job that will run
  config::ConfigDiff diff;  // reload
};

// The error of commands posted while the daemon shuts down (HTTP 503).
inline constexpr std::string_view kShuttingDownError = "the daemon is shutting down";
// The error of commands posted to an HA standby (HTTP 503).
inline constexpr std::string_view kNotLeaderError =
    "this node is an HA standby, not the leader: send commands to the leader";
// The error recorded on jobs that were still queued when it began to.
inline constexpr std::string_view kShutdownCancelError =
    "cancelled before it started: the daemon is shutting down; the workspace is reconciled "
    "again at the next start";

struct ReconcilerDeps {
  Clock& clock;
  platform::FileSystem& fs;
  platform::ProcessRunner& runner;
  Observer& observer;
  log::Logger& log;
  // The daemon's environment, for pass_env and PATH.
  std::map<std::string, std::string> daemon_env;
  // Where the state is saved; null: state.json in config.state.dir.
  state::StateStore* store = nullptr;
  // Who may decide (HA mode); null: always this node (the default).
  const coordination::Coordinator* coordinator = nullptr;
  // HA mode: the job claims, used on the scheduler's thread, and the keeper
  // that renews those of the jobs this node runs. Null: jobs claim nothing.
  coordination::JobClaims* claims = nullptr;
  coordination::ClaimKeeper* claim_keeper = nullptr;
};

class Reconciler {
 public:
  // Never owns anything in `deps`. `state` comes from StateStore::Load.
  Reconciler(ReconcilerDeps deps, std::shared_ptr<const config::Config> config, state::State state,
             std::string tofu_binary);
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;
  ~Reconciler();

  // Start-up work before the first Tick: jobs that were running when the
  // daemon died are recorded as `interrupted` (their workspaces go back
  // through reconciliation), and with catch_up false the downtime since
  // state.last_seen becomes a window whose fires are `missed`. Saves.
  // A job's tofu that outlived the daemon (its identity is in the state and
  // it still runs) gets the stop ladder: SIGINT now, SIGKILL to its group
  // after kill_grace; its workspace starts nothing until it has ended.
  // HA mode: not called by the daemon; the Tick that first finds this node
  // leader loads the state from the store and recovers (see standby()).
  Status Recover();

  // One step. Returns the wall time at which the next Tick is due; the
  // caller also ticks on Wake() and at least every minute (clock jumps).
  SystemTime Tick();

  // Thread-safe. The future is fulfilled by a later Tick.
  std::future<CommandResult> Post(Command command);

  // Thread-safe. `wake` is called (on any thread) whenever a Tick should run
  // soon: a command was posted or a process finished.
  void SetWake(std::function<void()> wake);

  // Thread-safe. The latest published snapshot (never null after the
  // constructor).
  std::shared_ptr<const StatusSnapshot> snapshot() const;

  // Stops starting jobs, sends every running job the stop ladder
  // (StopReason::kShutdown), and records every queued job as `cancelled`
  // (kShutdownCancelError). From now on commands are answered Unavailable.
  // Ticks keep reaping until idle().
  void BeginShutdown();
  // No job and no leftover tofu still running.
  bool idle() const { return active_.empty() && leftovers_.empty(); }
  // Saves the state now (end of shutdown).
  Status Flush();
  // Thread-safe. For after the last Tick: commands still in the inbox, and
  // every later Post, are answered at once with Unavailable, so that no
  // caller waits for a Tick that will never come.
  void Close();

  // Jobs get trace contexts from `new_trace`: a child of `parent` when that
  // is valid, as the tracer's sampler decides (unset: no job is sampled).
  // A sampled job's tofu gets what `trace_env` returns when the job starts
  // (job_spec.h). Before the first Tick.
  void SetTracing(std::function<TraceContext(const TraceContext* parent)> new_trace,
                  std::function<std::map<std::string, std::string>()> trace_env);

  // Changes the tofu binary for jobs started from now on.
  void SetTofuBinary(std::string binary, std::string problem);

  // HA mode (deps.coordinator set). A Reconciler starts as a standby: its
  // Ticks decide nothing, and commands other than a reload are answered
  // Unavailable (kNotLeaderError). The first Tick that finds the node leader
  // loads the state from the store and runs Recover(). With deps.claims, each
  // job is claimed before its tofu starts and released when it ends; a
  // claim found running at the takeover holds its workspace until it ends,
  // or until its expiry plus kill_grace has passed on the database's clock
  // (coordination/job_claims.h, docs/ha.md). A job whose claim the keeper
  // reports lost is stopped, and recorded interrupted. When the lease is
  // lost again the Reconciler does what
  // BeginShutdown does, saves nothing more (the state is the next leader's),
  // and reports lost_leadership(): the daemon then drains and exits, and
  // systemd starts it again as a standby.
  bool standby() const { return standby_; }
  bool lost_leadership() const { return lost_leadership_; }

  const config::Config& config() const { return *config_; }
  state::JobHistory& history() { return history_; }

  // The wall time Tick uses: the clock, but never earlier than a time it
  // already used (an NTP step back must not replay events).
  SystemTime LogicalNowForTesting() const { return logical_now_; }
  // Makes the next Tick re-plan every workspace, as a start-up does.
  void ReplanAllForTesting();

 private:
  struct Active;
  struct Runtime;
  struct Leftover {
    platform::ProcessIdentity id;
    MonotonicTime signalled;  // SIGINT sent
    bool killed = false;      // SIGKILL sent
    // HA mode: the tofu of another node, which this one cannot see nor
    // signal; the workspace is held until then instead, by the running
    // claim of job `claim_job`.
    std::optional<MonotonicTime> hold_until;
    std::string claim_job;
  };

  SystemTime Now();
  // HA mode: a standby's Tick; the promotion to leader (an error when the
  // state could not be loaded: still a standby); the demotion.
  SystemTime StandbyTick(SystemTime now);
  Status Promote();
  // Demote() unless this node still leads, under the term it took over.
  void CheckLeadership();
  void Demote();
  // HA mode: takes the workspaces that another node defines otherwise from
  // the coordinator; the leader evaluates, starts and accepts no job for
  // them until the nodes agree (logged both ways).
  void UpdateDiffering();
  static std::string DifferingError(const std::string& name, const std::string& node);
  // HA mode: holds the workspace of a running claim that is not this
  // node's job until it ends (see standby()).
  void HoldForClaim(const coordination::RunningClaim& claim);
  // The hold of `l` has passed: ends its claim if it can. True when the
  // workspace is free; otherwise the hold was moved on.
  bool EndHeldClaim(const std::string& name, Leftover& l);
  // Applies the posted commands; the caller replies once they are saved.
  std::vector<std::pair<std::promise<CommandResult>, CommandResult>> DrainInbox(SystemTime now);
  CommandResult Apply(const ManualCommand& c, SystemTime now);
  CommandResult Apply(const PauseCommand& c, SystemTime now);
  CommandResult Apply(const ResumeCommand& c, SystemTime now);
  CommandResult Apply(const CancelCommand& c, SystemTime now);
  CommandResult Apply(const ReloadCommand& c, SystemTime now);

  void Reap(SystemTime now);
  // The finished record of job `id` in the journal of `name`, if it got
  // there (Recover: the job may have ended just before a crash).
  std::optional<state::JobRecord> FinishedInJournal(const std::string& name, const std::string& id);
  // Recover for a running job that the journal says had finished.
  void RecoverFinished(const std::string& name, state::WorkspaceState& st,
                       const state::JobRecord& done, SystemTime now);
  // Polls the leftover tofus of an earlier daemon; escalates to SIGKILL
  // after kill_grace and frees the workspaces whose leftover has ended.
  void CheckLeftovers();
  // HA mode: stops the jobs whose claims the keeper reports lost;
  // CheckClaim, one job, true when its claim is lost.
  void CheckClaims();
  bool CheckClaim(const std::string& name, Active& active);
  // Releases the claim of job `job_id`, which ended with `result`; a
  // failure is logged (the claim lapses after claim_ttl).
  void ReleaseClaim(const std::string& name, const std::string& job_id, int64_t epoch,
                    std::string_view result);
  void Evaluate(const std::string& name, Runtime& rt, SystemTime now);
  void ProcessFires(const std::string& name, Runtime& rt, const std::vector<ScheduledFire>& fires,
                    SystemTime now);
  // Queues a job for `name` (collapsing); returns the id of the job that
  // will serve it (an active job of the same operation coalesces it).
  // `parent` is the span of the API request behind a manual job.
  std::string Enqueue(const std::string& name, state::Operation op, state::Trigger trigger,
                      std::optional<SystemTime> scheduled_for, int attempt, SystemTime now,
                      bool* coalesced, const TraceContext* parent = nullptr);
  void Dispatch(SystemTime now);
  void StartJob(QueuedJob job, SystemTime now);
  void FinishJob(const std::string& name, SystemTime now);
  // After a failed job: a retry with backoff when `retryable` and attempts
  // are left, else no new attempt until the desired state changes.
  void RetryOrGiveUp(const std::string& name, const state::JobRecord& record, bool retryable,
                     SystemTime now);
  void RecordFinished(state::JobRecord record, const tofu::JobOutcome& outcome);
  void Supersede(const QueuedJob& old, const std::string& by, SystemTime now);
  Overrides OverridesFor(const state::WorkspaceState& st) const;
  void RebuildRuntimes();
  void AccountSavedTime(SystemTime now);
  std::shared_ptr<const WorkspaceView> BuildView(const std::string& name, const Runtime& rt) const;
  void Publish(SystemTime now);
  void MarkDirty(const std::string& name);
  std::string NewJobId(const std::string& workspace, SystemTime now);
  Status Save();
  // Save() for a command that changed workspace `name`, which was `before`;
  // when the save fails the workspace gets `before` back.
  Status SaveCommand(const std::string& name, const state::WorkspaceState& before);

  ReconcilerDeps deps_;
  std::function<TraceContext(const TraceContext*)> new_trace_;
  std::function<std::map<std::string, std::string>()> trace_env_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<Planner> planner_;
  state::State state_;
  state::JsonStateStore own_store_;
  state::StateStore* store_;  // deps.store, or own_store_
  state::JobHistory history_;
  std::string tofu_binary_;
  std::string tofu_problem_;  // why there is no binary, when tofu_binary_ is ""

  std::map<std::string, Runtime> runtimes_;  // every workspace: configured and orphaned
  JobQueue queue_;
  std::map<std::string, std::unique_ptr<Active>> active_;         // by workspace
  std::unordered_map<platform::RunHandle, std::string> handles_;  // current step -> workspace
  std::map<std::string, Leftover> leftovers_;                     // by workspace
  std::optional<Window> downtime_;
  SystemTime logical_now_{};
  SystemTime started_at_{};
  SystemTime last_heartbeat_{};
  SystemTime last_savings_{};
  bool shutting_down_ = false;
  bool standby_ = false;                          // HA mode, not leading yet
  bool lost_leadership_ = false;                  // HA mode, led and lost the lease
  int64_t led_term_ = 0;                          // HA mode, the term this node leads
  bool claims_unreachable_ = false;               // HA mode, a claim's release found no database
  std::map<std::string, std::string> differing_;  // HA mode, UpdateDiffering()
  bool dirty_ = false;                            // state_ differs from disk
  std::set<std::string> changed_views_;
  bool snapshot_all_ = true;
  uint64_t id_seed_ = 0;
  uint64_t id_counter_ = 0;

  // Everything above is the scheduler thread's alone; these are shared.
  mutable Mutex mu_;
  std::vector<std::pair<Command, std::promise<CommandResult>>> inbox_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  std::function<void()> wake_ GUARDED_BY(mu_);
  std::shared_ptr<const StatusSnapshot> snapshot_ GUARDED_BY(mu_);
};

// "<yyyymmddThhmmssZ>-<6 hex>-<workspace>": sortable by time, and the
// workspace can be read back from it (fixed-width fields first).
std::string WorkspaceOfJobId(std::string_view job_id);

}  // namespace provisioner::scheduler
