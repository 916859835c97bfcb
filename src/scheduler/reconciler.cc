#include "scheduler/reconciler.h"

#include <algorithm>
#include <random>

#include "base/duration.h"
#include "base/strings.h"
#include "base/time_format.h"
#include "scheduler/run_prep.h"

namespace provisioner::scheduler {

using state::Actual;
using state::JobRecord;
using state::JobResult;
using state::Operation;
using state::Trigger;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

// Bounds on one Tick's work: fires handled per workspace per Tick (a
// per-second schedule after a week of downtime continues next Tick).
constexpr size_t kMaxFiresPerTick = 10'000;
// last_seen is refreshed this often while the daemon runs, so that the next
// start knows when it went down.
constexpr auto kHeartbeat = std::chrono::seconds(60);
// How often a leftover tofu (not our child: nothing signals its exit) is
// looked at.
constexpr auto kLeftoverPoll = std::chrono::milliseconds(250);
// HA: how soon a leader that could not load the state tries again.
constexpr auto kPromoteRetry = std::chrono::seconds(1);
// How often a workspace held by another node's claim asks whether the claim
// has ended (its node finished or stopped the job).
constexpr auto kClaimPoll = std::chrono::seconds(2);
// A wall-clock step back larger than this is taken as a deliberate clock
// change rather than NTP noise: logical time follows it (with a warning)
// instead of freezing for that long.
constexpr auto kMaxClockStepBack = std::chrono::hours(24);

Operation OpOf(Action a) { return a == Action::kDeploy ? Operation::kDeploy : Operation::kDestroy; }
Action ActionOf(Operation op) {
  return op == Operation::kDeploy ? Action::kDeploy : Action::kDestroy;
}
Actual ActualAfter(Operation op) {
  return op == Operation::kDeploy ? Actual::kDeployed : Actual::kDestroyed;
}
tofu::Operation TofuOp(Operation op) {
  return op == Operation::kDeploy ? tofu::Operation::kDeploy : tofu::Operation::kDestroy;
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

tofu::JobOutcome SyntheticOutcome(tofu::Outcome o, std::string error) {
  tofu::JobOutcome out;
  out.outcome = o;
  out.error = std::move(error);
  return out;
}

}  // namespace

std::string_view FireOutcomeName(FireOutcome o) {
  switch (o) {
    case FireOutcome::kRan:
      return "ran";
    case FireOutcome::kCoalesced:
      return "coalesced";
    case FireOutcome::kSkippedPaused:
      return "skipped_paused";
    case FireOutcome::kSkippedProtected:
      return "skipped_protected";
    case FireOutcome::kMissed:
      return "missed";
  }
  return "ran";
}

std::string_view WorkspaceStatusName(WorkspaceStatus s) {
  switch (s) {
    case WorkspaceStatus::kUnknown:
      return "unknown";
    case WorkspaceStatus::kDeployed:
      return "deployed";
    case WorkspaceStatus::kDestroyed:
      return "destroyed";
    case WorkspaceStatus::kDeploying:
      return "deploying";
    case WorkspaceStatus::kDestroying:
      return "destroying";
    case WorkspaceStatus::kPending:
      return "pending";
    case WorkspaceStatus::kFailed:
      return "failed";
    case WorkspaceStatus::kOrphaned:
      return "orphaned";
  }
  return "unknown";
}

const WorkspaceView* StatusSnapshot::Find(std::string_view name) const {
  auto it = std::lower_bound(workspaces.begin(), workspaces.end(), name,
                             [](const std::shared_ptr<const WorkspaceView>& v, std::string_view n) {
                               return v->name < n;
                             });
  return it != workspaces.end() && (*it)->name == name ? it->get() : nullptr;
}

std::string WorkspaceOfJobId(std::string_view job_id) {
  if (job_id.size() > 24 && job_id[16] == '-' && job_id[23] == '-') {
    return std::string(job_id.substr(24));
  }
  return "";
}

struct Reconciler::Runtime {
  const config::WorkspaceConfig* cfg = nullptr;  // null: orphaned
  // The workspace's entry in state_.workspaces (std::map nodes are stable);
  // saves a string-keyed lookup per use on the hot path.
  state::WorkspaceState* st = nullptr;
  Plan plan;
  std::optional<ScheduledFire> next_deploy;
  std::optional<ScheduledFire> next_destroy;
  SystemTime next_eval{};
  bool evaluated = false;
  // The job span of the last attempt, which a retry links to.
  std::optional<TraceContext> last_attempt;
};

struct Reconciler::Active {
  JobRecord record;
  JobTrace trace;
  std::unique_ptr<tofu::TofuJob> job;
  std::unique_ptr<platform::FileLock> lock;
  bool cancelled_by_user = false;
  // HA mode: the job's claim (0: none), and why it was lost.
  int64_t claim_epoch = 0;
  std::optional<std::string> claim_lost;
};

Reconciler::Reconciler(ReconcilerDeps deps, std::shared_ptr<const config::Config> config,
                       state::State state, std::string tofu_binary)
    : deps_(std::move(deps)),
      config_(std::move(config)),
      planner_(std::make_unique<Planner>(*config_)),
      state_(std::move(state)),
      own_store_(deps_.fs, deps_.clock, config_->state.dir),
      store_(deps_.store != nullptr ? deps_.store : &own_store_),
      history_(deps_.fs, config_->state.dir, config_->state.history_limit),
      tofu_binary_(std::move(tofu_binary)) {
  std::random_device rd;
  id_seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  logical_now_ = deps_.clock.Now();
  started_at_ = logical_now_;
  last_heartbeat_ = logical_now_;
  last_savings_ = logical_now_;
  standby_ = deps_.coordinator != nullptr;
  RebuildRuntimes();
  Publish(logical_now_);
}

Reconciler::~Reconciler() = default;

SystemTime Reconciler::Now() {
  SystemTime now = deps_.clock.Now();
  if (now >= logical_now_) {
    logical_now_ = now;
  } else if (logical_now_ - now > kMaxClockStepBack) {
    LOG(deps_.log, kWarn, "scheduler")
        .Printf("wall clock stepped back %lld s; following it (fires already handled stay handled)",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::seconds>(logical_now_ - now).count()));
    logical_now_ = now;
  }
  return logical_now_;
}

std::string Reconciler::NewJobId(const std::string& workspace, SystemTime now) {
  std::string stamp = FormatUtc(now);  // 2026-11-23T08:00:00Z
  std::erase_if(stamp, [](char c) { return c == '-' || c == ':'; });
  uint64_t r = SplitMix(id_seed_ + ++id_counter_) & 0xFFFFFF;
  return stamp + "-" + StringPrintf("%06llx", static_cast<unsigned long long>(r)) + "-" + workspace;
}

void Reconciler::MarkDirty(const std::string& name) { changed_views_.insert(name); }

Status Reconciler::Save() {
  // HA: a standby owns no state yet, and a demoted leader no longer does.
  if (standby_ || lost_leadership_) {
    dirty_ = false;
    return Status::Ok();
  }
  Status s = store_->Save(state_);
  deps_.observer.OnStateSaved(s, deps_.clock.Now());
  if (s.ok()) {
    dirty_ = false;
  } else {
    LOG(deps_.log, kError, "state").Error(s).Message("saving state failed; will retry");
  }
  return s;
}

Status Reconciler::SaveCommand(const std::string& name, const state::WorkspaceState& before) {
  Status s = Save();
  if (!s.ok()) {
    // A command answered with an error must have no effect, not even later
    // through the next save that works.
    state_.workspaces[name] = before;
    LOG(deps_.log, kError, "state")
        .Workspace(name)
        .Error(s)
        .Message("command refused: its change could not be saved, and is undone");
  }
  return s;
}

Status Reconciler::Flush() {
  state_.last_seen = Now();
  return Save();
}

void Reconciler::ReplanAllForTesting() {
  for (auto& [name, rt] : runtimes_) rt.evaluated = false;
}

void Reconciler::SetTofuBinary(std::string binary, std::string problem) {
  tofu_binary_ = std::move(binary);
  tofu_problem_ = std::move(problem);
}

void Reconciler::RebuildRuntimes() {
  std::map<std::string, Runtime> next;
  for (const config::WorkspaceConfig& ws : config_->workspaces) {
    Runtime& rt = next[ws.name];
    rt.cfg = &ws;
    state::WorkspaceState& st = state_.workspaces[ws.name];
    rt.st = &st;
    if (st.orphaned) {
      st.orphaned = false;
      dirty_ = true;
      LOG(deps_.log, kInfo, "workspace")
          .Workspace(ws.name)
          .Message("back in the config; no longer orphaned");
    }
  }
  for (auto& [name, st] : state_.workspaces) {
    if (next.count(name) > 0) continue;
    next[name].cfg = nullptr;
    next[name].st = &st;
    if (!st.orphaned) {
      st.orphaned = true;
      dirty_ = true;
      LOG(deps_.log, kWarn, "workspace")
          .Workspace(name)
          .Message(
              "removed from the config: now orphaned; its resources are left as they are "
              "until an operator destroys it");
    }
  }
  runtimes_ = std::move(next);
  snapshot_all_ = true;
}

Overrides Reconciler::OverridesFor(const state::WorkspaceState& st) const {
  Overrides ov;
  for (const state::ManualAction& m : st.manual) {
    ov.manual.push_back({ActionOf(m.operation), m.at, m.until});
  }
  if (st.pause) ov.pause = Window{st.pause->from, st.pause->until};
  ov.downtime = downtime_;
  return ov;
}

Status Reconciler::Recover() {
  SystemTime now = Now();
  started_at_ = now;
  std::vector<std::string> forget;
  for (auto& [name, st] : state_.workspaces) {
    if (!st.running) continue;
    JobRecord record = *st.running;
    if (std::optional<JobRecord> done = FinishedInJournal(name, record.id)) {
      // The job ended and reached its journal, but the daemon died before
      // the state that says so was saved. The journal's record stands; a
      // second, `interrupted` one would count the job twice.
      RecoverFinished(name, st, *done, now);
      // A destroyed orphan is done, as in FinishJob.
      if (st.orphaned && done->operation == Operation::kDestroy &&
          state::IsSuccess(*done->result)) {
        forget.push_back(name);
      }
      continue;
    }
    if (deps_.coordinator != nullptr) {
      // HA: the job ran under an earlier leader, maybe on another machine,
      // whose tofu this node can neither see nor signal. While its claim
      // runs, Promote has held the workspace (HoldForClaim); a job without
      // a running claim has no tofu left.
    } else if (record.process && deps_.runner.LeftoverRunning(*record.process)) {
      // The daemon died but its tofu did not (nothing ties a child to its
      // parent's life). It must end before anything else runs in that
      // directory: the stop ladder, as for a job of our own.
      leftovers_[name] =
          Leftover{*record.process, deps_.clock.Monotonic(), false, std::nullopt, ""};
      deps_.runner.SignalLeftover(*record.process, platform::LeftoverSignal::kInterrupt);
      LOG(deps_.log, kWarn, "job")
          .Workspace(name)
          .JobId(record.id)
          .Field("pid", record.process->pid)
          .Printf(
              "tofu of the interrupted job is still running; sent SIGINT, SIGKILL to its group "
              "after kill_grace (%s); the workspace runs nothing until it has ended",
              FormatDuration(config_->scheduler.kill_grace).c_str());
    }
    record.process.reset();
    record.finished_at = now;
    record.result = JobResult::kInterrupted;
    record.error =
        "the daemon stopped while this job ran (crash or kill); the workspace is "
        "reconciled again";
    st.running.reset();
    st.actual = Actual::kUnknown;
    st.actual_since = now;
    // Someone wanted this workspace converged when the job began: whatever
    // an earlier job gave up on, the interrupted one is redone.
    st.gave_up_for.reset();
    LOG(deps_.log, kWarn, "job")
        .Workspace(name)
        .JobId(record.id)
        .Operation(state::OperationName(record.operation))
        .Message("job was interrupted by a daemon stop; marked interrupted");
    RecordFinished(std::move(record), SyntheticOutcome(tofu::Outcome::kCancelled, "interrupted"));
    MarkDirty(name);
  }
  for (const std::string& name : forget) {
    state_.workspaces.erase(name);
    runtimes_.erase(name);
    snapshot_all_ = true;
  }
  if (!config_->scheduler.catch_up && state_.last_seen && *state_.last_seen < now) {
    downtime_ = Window{*state_.last_seen, now};
    LOG(deps_.log, kInfo, "scheduler")
        .Printf("catch_up is off: scheduled fires between %s and %s are skipped as missed",
                FormatUtc(*state_.last_seen).c_str(), FormatUtc(now).c_str());
  }
  state_.last_seen = now;
  last_heartbeat_ = now;
  dirty_ = true;
  return Save();
}

std::optional<JobRecord> Reconciler::FinishedInJournal(const std::string& name,
                                                       const std::string& id) {
  std::vector<std::string> warnings;
  auto journal = history_.Load(name, &warnings);
  if (!journal.ok()) return std::nullopt;
  // The running job was the last one to finish, if it did.
  for (auto it = journal->rbegin(); it != journal->rend(); ++it) {
    if (it->id == id && it->result) return *it;
  }
  return std::nullopt;
}

void Reconciler::RecoverFinished(const std::string& name, state::WorkspaceState& st,
                                 const JobRecord& done, SystemTime now) {
  st.running.reset();
  st.last_job = done;
  if (state::IsSuccess(*done.result)) {
    if (st.actual != ActualAfter(done.operation)) {
      st.actual = ActualAfter(done.operation);
      st.actual_since = done.finished_at.value_or(now);
    }
    st.retry.reset();
    st.gave_up_for.reset();
  } else {
    // A retry it had scheduled is lost with the unsaved state; the
    // workspace is reconciled again instead.
    st.actual = Actual::kUnknown;
    st.actual_since = now;
  }
  LOG(deps_.log, kWarn, "job")
      .Workspace(name)
      .JobId(done.id)
      .Operation(state::OperationName(done.operation))
      .Field("result", state::JobResultName(*done.result))
      .Message(
          "job had finished before the daemon stopped, but the state did not say so yet; "
          "taken from the job history");
  MarkDirty(name);
}

std::future<CommandResult> Reconciler::Post(Command command) {
  std::promise<CommandResult> promise;
  std::future<CommandResult> future = promise.get_future();
  std::function<void()> wake;
  {
    MutexLock lock(mu_);
    if (closed_) {
      promise.set_value(
          CommandResult{Status::Unavailable(std::string(kShuttingDownError)), {}, {}});
      return future;
    }
    inbox_.emplace_back(std::move(command), std::move(promise));
    wake = wake_;
  }
  if (wake) wake();
  return future;
}

void Reconciler::Close() {
  std::vector<std::pair<Command, std::promise<CommandResult>>> inbox;
  {
    MutexLock lock(mu_);
    closed_ = true;
    inbox.swap(inbox_);
  }
  for (auto& [command, promise] : inbox) {
    promise.set_value(CommandResult{Status::Unavailable(std::string(kShuttingDownError)), {}, {}});
  }
}

void Reconciler::SetWake(std::function<void()> wake) {
  MutexLock lock(mu_);
  wake_ = std::move(wake);
}

std::shared_ptr<const StatusSnapshot> Reconciler::snapshot() const {
  MutexLock lock(mu_);
  return snapshot_;
}

SystemTime Reconciler::StandbyTick(SystemTime now) {
  std::vector<std::pair<Command, std::promise<CommandResult>>> inbox;
  {
    MutexLock lock(mu_);
    inbox.swap(inbox_);
  }
  for (auto& [command, promise] : inbox) {
    CommandResult result;
    if (const auto* reload = std::get_if<ReloadCommand>(&command)) {
      result = Apply(*reload, now);  // the config is every node's
    } else {
      result.status = Status::Unavailable(std::string(kNotLeaderError));
    }
    promise.set_value(std::move(result));
  }
  Publish(now);
  // The keeper wakes the loop when the role changes.
  return SystemTime::max();
}

Status Reconciler::Promote() {
  // The term first: a state loaded after the term moved on is caught by
  // the next Tick's comparison (and by the store's fence).
  led_term_ = deps_.coordinator->term();
  auto loaded = store_->Load();
  if (!loaded.ok()) {
    return loaded.status().WithContext("loading the state from " + store_->Describe());
  }
  std::vector<coordination::RunningClaim> claims;
  if (deps_.claims != nullptr) {
    auto running = deps_.claims->Running(config_->scheduler.kill_grace);
    if (!running.ok()) return running.status();
    claims = std::move(*running);
  }
  state_ = std::move(loaded->state);
  runtimes_.clear();
  RebuildRuntimes();
  standby_ = false;
  for (const coordination::RunningClaim& claim : claims) HoldForClaim(claim);
  LOG(deps_.log, kInfo, "ha")
      .Field("term", led_term_)
      .Printf("this node leads (term %lld): loaded %zu workspace record(s) from %s",
              static_cast<long long>(led_term_), state_.workspaces.size(),
              store_->Describe().c_str());
  // A failed save is logged by Save() and retried at the next ticks, as
  // any other: the state taken over is this node's now.
  (void)Recover();
  return Status::Ok();
}

void Reconciler::HoldForClaim(const coordination::RunningClaim& claim) {
  const MonotonicTime mono = deps_.clock.Monotonic();
  const auto held = std::max(claim.held_for, milliseconds(0));
  leftovers_[claim.workspace] =
      Leftover{{}, mono, true, mono + std::min<milliseconds>(held, kClaimPoll), claim.job_id};
  LOG(deps_.log, kWarn, "job")
      .Workspace(claim.workspace)
      .JobId(claim.job_id)
      .Field("node", claim.owner)
      .Printf(
          "job of node %s still holds its claim; the workspace runs nothing until the claim "
          "ends, or for %s at most (its expiry plus kill_grace, on the database's clock), by "
          "when that node's tofu has surely been stopped",
          claim.owner.c_str(), FormatDuration(held).c_str());
}

bool Reconciler::EndHeldClaim(const std::string& name, Leftover& l) {
  const MonotonicTime mono = deps_.clock.Monotonic();
  if (deps_.claims == nullptr || l.claim_job.empty()) return true;
  auto held = deps_.claims->Interrupt(l.claim_job, config_->scheduler.kill_grace, led_term_);
  if (!held.ok()) {
    LOG(deps_.log, kError, "job")
        .Workspace(name)
        .JobId(l.claim_job)
        .Error(held.status())
        .Message("cannot end the claim that holds the workspace; trying again");
    l.hold_until = mono + kPromoteRetry;
    return false;
  }
  if (*held) {
    // Still running, maybe renewed: asked again soon.
    l.hold_until = mono + std::min<milliseconds>(**held, kClaimPoll);
    return false;
  }
  return true;
}

std::string Reconciler::DifferingError(const std::string& name, const std::string& node) {
  return "workspace \"" + name + "\" is defined otherwise on node " + node +
         " (HA): the leader starts no job for it until every node loads the same definition "
         "and templates";
}

void Reconciler::UpdateDiffering() {
  std::map<std::string, std::string> now;
  if (deps_.coordinator != nullptr && !standby_ && !lost_leadership_) {
    now = deps_.coordinator->differing_workspaces();
  }
  if (now == differing_) return;
  for (const auto& [name, node] : now) {
    auto before = differing_.find(name);
    if (before != differing_.end() && before->second == node) continue;
    LOG(deps_.log, kWarn, "ha")
        .Workspace(name)
        .Field("node", node)
        .Message(DifferingError(name, node));
  }
  for (const auto& [name, node] : differing_) {
    if (now.count(name) > 0) continue;
    LOG(deps_.log, kInfo, "ha")
        .Workspace(name)
        .Message("every node defines the workspace alike again; it is reconciled");
    if (auto rt = runtimes_.find(name); rt != runtimes_.end()) rt->second.evaluated = false;
  }
  differing_ = std::move(now);
}

void Reconciler::CheckLeadership() {
  if (deps_.coordinator == nullptr || standby_ || lost_leadership_) return;
  // Also a lease that lapsed and came back under a new term: another node
  // may have led meanwhile, so the state in memory is not to be trusted.
  if (!deps_.coordinator->IsLeader() || deps_.coordinator->term() != led_term_) Demote();
}

void Reconciler::Demote() {
  LOG(deps_.log, kError, "ha")
      .Field("term", led_term_)
      .Message(
          "lost the leader lease: stopping every job and exiting, so that systemd starts this "
          "node again as a standby; the new leader owns the state from now on");
  BeginShutdown();
  lost_leadership_ = true;
}

SystemTime Reconciler::Tick() {
  const MonotonicTime started = deps_.clock.Monotonic();
  const SystemTime now = Now();
  if (deps_.coordinator != nullptr) {
    if (standby_) {
      if (!deps_.coordinator->IsLeader()) return StandbyTick(now);
      if (Status s = Promote(); !s.ok()) {
        // The state could not be read: nothing was taken over, so this
        // node stands by until the next try (or its demotion).
        LOG(deps_.log, kError, "ha").Error(s).Message("cannot take over as leader; retrying");
        StandbyTick(now);
        return now + kPromoteRetry;
      }
    } else {
      CheckLeadership();
    }
  }
  // Replies wait until the commands' effects are saved and published, so
  // that a client that got its answer reads them back (a queued job's log,
  // the workspace's status) and a crash right after cannot lose them.
  std::vector<std::pair<std::promise<CommandResult>, CommandResult>> replies = DrainInbox(now);
  Reap(now);
  CheckClaims();
  CheckLeftovers();
  // The holds above may have waited on the database: decide only while
  // still the leader.
  CheckLeadership();
  UpdateDiffering();
  uint64_t evaluations = 0;
  if (!shutting_down_) {
    for (auto& [name, rt] : runtimes_) {
      if (differing_.count(name) > 0) continue;
      if (rt.cfg != nullptr && (!rt.evaluated || rt.next_eval <= now)) {
        Evaluate(name, rt, now);
        ++evaluations;
      }
    }
    Dispatch(now);
  }
  if (now - last_heartbeat_ >= kHeartbeat) {
    AccountSavedTime(now);
    state_.last_seen = now;
    last_heartbeat_ = now;
    dirty_ = true;
  }
  if (dirty_) (void)Save();
  Publish(now);
  for (auto& [promise, result] : replies) promise.set_value(std::move(result));
  deps_.observer.OnTick(deps_.clock.Monotonic() - started, evaluations);

  // The heartbeat needs no wake-up of its own: the app loop ticks at least
  // every 30 s anyway.
  SystemTime next = SystemTime::max();
  for (const auto& [name, rt] : runtimes_) {
    if (rt.cfg != nullptr && rt.evaluated) next = std::min(next, rt.next_eval);
  }
  if (!leftovers_.empty()) next = std::min(next, now + kLeftoverPoll);
  return next;
}

std::vector<std::pair<std::promise<CommandResult>, CommandResult>> Reconciler::DrainInbox(
    SystemTime now) {
  std::vector<std::pair<Command, std::promise<CommandResult>>> inbox;
  {
    MutexLock lock(mu_);
    inbox.swap(inbox_);
  }
  std::vector<std::pair<std::promise<CommandResult>, CommandResult>> replies;
  replies.reserve(inbox.size());
  for (auto& [command, promise] : inbox) {
    CommandResult result;
    if (shutting_down_) {
      result.status = Status::Unavailable(std::string(kShuttingDownError));
    } else {
      result = std::visit([&](const auto& c) { return Apply(c, now); }, command);
    }
    replies.emplace_back(std::move(promise), std::move(result));
  }
  return replies;
}

CommandResult Reconciler::Apply(const ManualCommand& c, SystemTime now) {
  CommandResult result;
  auto rt = runtimes_.find(c.workspace);
  if (rt == runtimes_.end()) {
    result.status = Status::NotFound("no workspace \"" + c.workspace + "\"");
    return result;
  }
  if (rt->second.cfg == nullptr && c.operation == Operation::kDeploy) {
    result.status = Status::FailedPrecondition(
        "workspace \"" + c.workspace +
        "\" is orphaned (removed from the config): it can be destroyed, not deployed");
    return result;
  }
  if (c.until && *c.until <= now) {
    result.status = Status::InvalidArgument("until " + FormatUtc(*c.until) + " is in the past");
    return result;
  }
  if (auto d = differing_.find(c.workspace); d != differing_.end()) {
    result.status = Status::FailedPrecondition(DifferingError(c.workspace, d->second));
    return result;
  }
  state::WorkspaceState& st = state_.workspaces[c.workspace];
  const state::WorkspaceState before = st;
  // Manual events without `until` supersede every earlier one; expired ones
  // no longer count.
  std::erase_if(st.manual, [&](const state::ManualAction& m) {
    return !c.until || (m.until && *m.until <= now);
  });
  st.manual.push_back({c.operation, now, c.until, c.user});
  st.retry.reset();
  dirty_ = true;
  // On disk before the API replies, and before anything acts on it.
  result.status = SaveCommand(c.workspace, before);
  if (!result.status.ok()) return result;
  bool coalesced = false;
  result.job_id =
      Enqueue(c.workspace, c.operation, Trigger::kManual, now, 1, now, &coalesced, &c.trace);
  rt->second.evaluated = false;
  deps_.observer.OnManualAction(state::OperationName(c.operation), c.user);
  LOG(deps_.log, kInfo, "audit")
      .Trace(c.trace)
      .Workspace(c.workspace)
      .Operation(state::OperationName(c.operation))
      .JobId(result.job_id)
      .Field("user", c.user.empty() ? "-" : c.user)
      .Printf("manual %s requested%s", std::string(state::OperationName(c.operation)).c_str(),
              c.until ? (" until " + FormatUtc(*c.until)).c_str() : "");
  return result;
}

CommandResult Reconciler::Apply(const PauseCommand& c, SystemTime now) {
  CommandResult result;
  auto rt = runtimes_.find(c.workspace);
  if (rt == runtimes_.end()) {
    result.status = Status::NotFound("no workspace \"" + c.workspace + "\"");
    return result;
  }
  if (c.until && *c.until <= now) {
    result.status = Status::InvalidArgument("until " + FormatUtc(*c.until) + " is in the past");
    return result;
  }
  state::WorkspaceState& st = state_.workspaces[c.workspace];
  const state::WorkspaceState before = st;
  // An active pause is extended from its start, so fires it already
  // suppressed stay suppressed.
  SystemTime from =
      st.pause && st.pause->from <= now && (!st.pause->until || now < *st.pause->until)
          ? st.pause->from
          : now;
  st.pause = state::PauseWindow{from, c.until, c.user};
  dirty_ = true;
  result.status = SaveCommand(c.workspace, before);
  if (!result.status.ok()) return result;
  rt->second.evaluated = false;
  MarkDirty(c.workspace);
  deps_.observer.OnManualAction("pause", c.user);
  LOG(deps_.log, kInfo, "audit")
      .Workspace(c.workspace)
      .Field("user", c.user.empty() ? "-" : c.user)
      .Printf("paused%s", c.until ? (" until " + FormatUtc(*c.until)).c_str() : "");
  return result;
}

CommandResult Reconciler::Apply(const ResumeCommand& c, SystemTime now) {
  CommandResult result;
  auto rt = runtimes_.find(c.workspace);
  if (rt == runtimes_.end()) {
    result.status = Status::NotFound("no workspace \"" + c.workspace + "\"");
    return result;
  }
  state::WorkspaceState& st = state_.workspaces[c.workspace];
  if (st.pause && (!st.pause->until || *st.pause->until > now)) {
    const state::WorkspaceState before = st;
    // The window ends now: fires it suppressed stay suppressed.
    st.pause->until = now;
    dirty_ = true;
    result.status = SaveCommand(c.workspace, before);
    if (!result.status.ok()) return result;
    rt->second.evaluated = false;
    MarkDirty(c.workspace);
    deps_.observer.OnManualAction("resume", c.user);
    LOG(deps_.log, kInfo, "audit")
        .Workspace(c.workspace)
        .Field("user", c.user.empty() ? "-" : c.user)
        .Message("resumed");
    return result;
  }
  result.status = dirty_ ? Save() : Status::Ok();
  return result;
}

CommandResult Reconciler::Apply(const CancelCommand& c, SystemTime now) {
  CommandResult result;
  result.job_id = c.job_id;
  const std::string name = WorkspaceOfJobId(c.job_id);
  if (const QueuedJob* queued = queue_.FindById(c.job_id); queued != nullptr) {
    QueuedJob job = *queue_.Remove(queued->record.workspace);
    state::WorkspaceState& st = state_.workspaces[job.record.workspace];
    auto rt = runtimes_.find(job.record.workspace);
    st.gave_up_for = rt != runtimes_.end() ? rt->second.plan.since : std::nullopt;
    st.retry.reset();
    JobRecord record = job.record;
    record.finished_at = now;
    record.result = JobResult::kCancelled;
    record.error = "cancelled before it started" + (c.user.empty() ? "" : " by " + c.user);
    RecordFinished(std::move(record), SyntheticOutcome(tofu::Outcome::kCancelled, "cancelled"));
    MarkDirty(job.record.workspace);
    dirty_ = true;
    deps_.observer.OnManualAction("cancel", c.user);
    result.status = Save();
    return result;
  }
  auto active = active_.find(name);
  if (active != active_.end() && active->second->record.id == c.job_id) {
    active->second->cancelled_by_user = true;
    deps_.observer.OnJobStopRequested(active->second->record, platform::StopReason::kCancelled);
    active->second->job->Stop(platform::StopReason::kCancelled);
    deps_.observer.OnManualAction("cancel", c.user);
    LOG(deps_.log, kInfo, "audit")
        .Workspace(name)
        .JobId(c.job_id)
        .Field("user", c.user.empty() ? "-" : c.user)
        .Message("cancel requested: stopping tofu (SIGINT, then SIGKILL after kill_grace)");
    return result;
  }
  auto st = state_.workspaces.find(name);
  if (st != state_.workspaces.end() && st->second.last_job && st->second.last_job->id == c.job_id) {
    result.status = Status::FailedPrecondition("job " + c.job_id + " already finished");
    return result;
  }
  result.status = Status::NotFound("no queued or running job \"" + c.job_id + "\"");
  return result;
}

CommandResult Reconciler::Apply(const ReloadCommand& c, SystemTime) {
  CommandResult result;
  result.diff = config::Diff(*config_, *c.config);
  for (const std::string& setting : result.diff.settings) {
    // The daemon reads these once, at start-up (the tofu binary is resolved
    // to one absolute path then, the trace exporter is built then).
    if (setting == "server.listen" || setting == "server.web_config_file" ||
        setting == "state.dir" || setting == "opentofu.binary" || setting == "opentofu.version" ||
        setting.starts_with("tracing.") || setting.starts_with("ha.")) {
      LOG(deps_.log, kWarn, "config")
          .Printf("%s changed: it takes effect after a restart", setting.c_str());
    }
  }
  config_ = c.config;
  planner_ = std::make_unique<Planner>(*config_);
  history_.set_limit(config_->state.history_limit);
  RebuildRuntimes();
  LOG(deps_.log, kInfo, "config")
      .Field("source", c.source)
      .Printf("config reloaded: %s", result.diff.Summary().c_str());
  ReloadReport report;
  report.ok = true;
  report.diff = result.diff;
  report.source = c.source;
  deps_.observer.OnConfigReloaded(report);
  if (dirty_) result.status = Save();
  return result;
}

void Reconciler::Evaluate(const std::string& name, Runtime& rt, SystemTime now) {
  const config::WorkspaceConfig& ws = *rt.cfg;
  state::WorkspaceState& st = *rt.st;
  const Overrides ov = OverridesFor(st);

  if (!st.last_fire) {
    // A new workspace: its history starts now; the level-triggered rule
    // below converges it to what the schedule asks for.
    st.last_fire = now;
    dirty_ = true;
  } else if (*st.last_fire < now) {
    std::vector<ScheduledFire> fires =
        planner_->FiresBetween(ws, ov, *st.last_fire, now, kMaxFiresPerTick);
    if (!fires.empty()) {
      st.last_fire = fires.back().at;
      dirty_ = true;
      ProcessFires(name, rt, fires, now);
    }
  }

  rt.plan = planner_->DesiredAt(ws, ov, now);
  const bool busy = active_.count(name) > 0 || queue_.Find(name) != nullptr;

  if (st.retry && !busy && st.retry->not_before <= now) {
    bool coalesced = false;
    Enqueue(name, st.retry->operation, Trigger::kRetry,
            st.last_job ? st.last_job->scheduled_for : std::nullopt, st.retry->attempt, now,
            &coalesced);
    st.retry.reset();
    dirty_ = true;
  }

  // Level-triggered: close the gap between desired and actual.
  if (rt.plan.desired && !st.retry && active_.count(name) == 0 && queue_.Find(name) == nullptr) {
    const Operation op = OpOf(*rt.plan.desired);
    if (st.actual != ActualAfter(op) && st.gave_up_for != rt.plan.since) {
      bool coalesced = false;
      Enqueue(name, op, rt.plan.source == Source::kManual ? Trigger::kManual : Trigger::kCatchUp,
              rt.plan.since, 1, now, &coalesced);
    }
  }

  auto next_of = [&](Action a) -> std::optional<ScheduledFire> {
    auto v = planner_->NextFires(ws, ov, a, now, 1);
    return v.empty() ? std::nullopt : std::optional<ScheduledFire>(v.front());
  };
  rt.next_deploy = next_of(Action::kDeploy);
  rt.next_destroy = next_of(Action::kDestroy);
  SystemTime next = SystemTime::max();
  if (rt.plan.next_change) next = std::min(next, *rt.plan.next_change);
  if (rt.next_deploy) next = std::min(next, rt.next_deploy->at);
  if (rt.next_destroy) next = std::min(next, rt.next_destroy->at);
  if (st.retry) next = std::min(next, st.retry->not_before);
  rt.next_eval = next;
  rt.evaluated = true;
  MarkDirty(name);
}

void Reconciler::ProcessFires(const std::string& name, Runtime& rt,
                              const std::vector<ScheduledFire>& fires, SystemTime now) {
  (void)rt;
  // The latest fire that counts wins; earlier ones are folded into it.
  int winner = -1;
  for (size_t i = 0; i < fires.size(); ++i) {
    if (fires[i].suppressed == Suppression::kNone) winner = static_cast<int>(i);
  }
  std::string job_id;
  bool coalesced = false;
  if (winner >= 0) {
    const ScheduledFire& f = fires[static_cast<size_t>(winner)];
    state::WorkspaceState& st = state_.workspaces[name];
    st.retry.reset();  // a new event starts a new series of attempts
    const Trigger trigger = f.at < started_at_ ? Trigger::kCatchUp : Trigger::kSchedule;
    job_id = Enqueue(name, OpOf(f.action), trigger, f.at, 1, now, &coalesced);
  }
  for (size_t i = 0; i < fires.size(); ++i) {
    const ScheduledFire& f = fires[i];
    FireReport report;
    report.workspace = name;
    report.action = f.action;
    report.due = f.at;
    switch (f.suppressed) {
      case Suppression::kNone:
        report.outcome = static_cast<int>(i) == winner && !coalesced ? FireOutcome::kRan
                                                                     : FireOutcome::kCoalesced;
        report.job_id = job_id;
        break;
      case Suppression::kPaused:
      case Suppression::kDisabled:
        report.outcome = FireOutcome::kSkippedPaused;
        break;
      case Suppression::kProtected:
        report.outcome = FireOutcome::kSkippedProtected;
        LOG(deps_.log, kWarn, "scheduler")
            .Workspace(name)
            .Operation("destroy")
            .Printf("scheduled destroy at %s refused: the workspace is protected",
                    FormatUtc(f.at).c_str());
        break;
      case Suppression::kMissed:
        report.outcome = FireOutcome::kMissed;
        break;
    }
    if (report.outcome != FireOutcome::kSkippedProtected) {
      LOG(deps_.log, kDebug, "scheduler")
          .Workspace(name)
          .Operation(ActionName(f.action))
          .JobId(report.job_id)
          .Printf("%s fire due %s: %s", std::string(ActionName(f.action)).c_str(),
                  FormatUtc(f.at).c_str(), std::string(FireOutcomeName(report.outcome)).c_str());
    }
    deps_.observer.OnScheduleFired(report);
  }
}

std::string Reconciler::Enqueue(const std::string& name, Operation op, Trigger trigger,
                                std::optional<SystemTime> scheduled_for, int attempt,
                                SystemTime now, bool* coalesced, const TraceContext* parent) {
  *coalesced = false;
  auto active = active_.find(name);
  if (active != active_.end() && active->second->record.operation == op &&
      !active->second->cancelled_by_user) {
    // Already on its way; but a queued opposite action is now out of date.
    if (const QueuedJob* q = queue_.Find(name); q != nullptr) {
      QueuedJob old = *queue_.Remove(name);
      Supersede(old, active->second->record.id, now);
    }
    *coalesced = true;
    return active->second->record.id;
  }
  if (const QueuedJob* q = queue_.Find(name); q != nullptr && q->record.operation == op) {
    *coalesced = true;
    return q->record.id;
  }
  QueuedJob job;
  job.record.id = NewJobId(name, now);
  job.record.workspace = name;
  job.record.operation = op;
  job.record.trigger = trigger;
  job.record.scheduled_for = scheduled_for;
  job.record.attempt = attempt;
  job.record.log_path = history_.LogPath(name, job.record.id);
  job.enqueued_at = now;
  if (new_trace_) {
    const bool child = parent != nullptr && parent->valid();
    job.trace.context = new_trace_(child ? parent : nullptr);
    if (child) {
      job.trace.parent = parent->span_id;
      job.trace.parent_remote = parent->remote;
    }
    if (trigger == Trigger::kRetry) {
      auto rt = runtimes_.find(name);
      if (rt != runtimes_.end()) job.trace.previous_attempt = rt->second.last_attempt;
    }
    job.trace.queued_at = now;
    if (job.trace.context.sampled()) job.record.trace_id = job.trace.context.trace_id.Hex();
  }
  deps_.observer.OnJobQueued(job.record, job.trace);
  const std::string id = job.record.id;
  if (auto replaced = queue_.Put(std::move(job))) Supersede(*replaced, id, now);
  MarkDirty(name);
  return id;
}

void Reconciler::Supersede(const QueuedJob& old, const std::string& by, SystemTime now) {
  log::ScopedTrace trace_scope(old.trace.context);
  JobRecord record = old.record;
  record.finished_at = now;
  record.result = JobResult::kCancelled;
  record.error = "superseded by job " + by + " before it started";
  RecordFinished(std::move(record), SyntheticOutcome(tofu::Outcome::kCancelled, "superseded"));
}

void Reconciler::Dispatch(SystemTime now) {
  const size_t limit = static_cast<size_t>(config_->scheduler.max_concurrent_jobs);
  // A leftover tofu is a running job as far as the limit is concerned; a
  // workspace held for a claim is not: its tofu runs on another machine.
  const size_t running =
      active_.size() + std::count_if(leftovers_.begin(), leftovers_.end(),
                                     [](const auto& l) { return !l.second.hold_until; });
  if (running >= limit || queue_.empty()) return;
  std::vector<QueuedJob> runnable =
      queue_.TakeRunnable(limit - running, [this](const std::string& ws) {
        return active_.count(ws) > 0 || leftovers_.count(ws) > 0 || differing_.count(ws) > 0;
      });
  for (QueuedJob& job : runnable) StartJob(std::move(job), now);
}

void Reconciler::StartJob(QueuedJob queued, SystemTime now) {
  // Lines about the job carry its trace (when sampled).
  log::ScopedTrace trace_scope(queued.trace.context);
  const std::string name = queued.record.workspace;
  Runtime& rt = runtimes_[name];
  state::WorkspaceState& st = state_.workspaces[name];
  JobRecord record = queued.record;
  record.started_at = now;
  MarkDirty(name);
  dirty_ = true;

  auto fail = [&](const std::string& error, bool retryable) {
    LOG(deps_.log, kError, "job")
        .Workspace(name)
        .JobId(record.id)
        .Operation(state::OperationName(record.operation))
        .Error(error)
        .Message("job could not start");
    tofu::JobOutcome outcome = SyntheticOutcome(tofu::Outcome::kFailed, error);
    outcome.retryable = retryable;
    record.finished_at = now;
    record.result = JobResult::kFailed;
    record.error = error;
    if (st.actual != Actual::kUnknown) st.actual_since = now;
    st.actual = Actual::kUnknown;
    RetryOrGiveUp(name, record, retryable, now);
    rt.evaluated = false;
    RecordFinished(record, outcome);
  };

  if (tofu_binary_.empty()) return fail("no tofu binary: " + tofu_problem_, true);
  RunRequest request;
  request.config = config_.get();
  request.workspace = name;
  request.workspace_config = rt.cfg;
  request.operation = TofuOp(record.operation);
  request.binary = tofu_binary_;
  request.log_path = record.log_path;
  request.daemon_env = &deps_.daemon_env;
  request.trace = queued.trace.context;
  std::map<std::string, std::string> trace_env;
  if (trace_env_ && queued.trace.context.sampled()) trace_env = trace_env_();
  request.trace_env = &trace_env;
  auto prepared = PrepareRun(deps_.fs, request);
  if (auto* no = std::get_if<RunNotPrepared>(&prepared)) return fail(no->error, no->retryable);
  PreparedRun& run = std::get<PreparedRun>(prepared);

  // HA: the claim before the tofu, so that no tofu runs unclaimed.
  int64_t claim_epoch = 0;
  MonotonicTime claim_sent{};
  if (deps_.claims != nullptr) {
    if (deps_.claim_keeper != nullptr) claim_sent = deps_.claim_keeper->Now();
    auto claimed = deps_.claims->Claim(
        record.id, name, std::string(state::OperationName(record.operation)), led_term_);
    if (!claimed.ok()) {
      if (claimed.status().code() == Status::Code::kAlreadyExists) {
        // A claim that the takeover did not see (made since): held as
        // those were.
        auto running = deps_.claims->Running(config_->scheduler.kill_grace);
        if (running.ok()) {
          for (const coordination::RunningClaim& c : *running) {
            if (c.workspace == name) HoldForClaim(c);
          }
        }
      }
      return fail(claimed.status().message(), true);
    }
    claim_epoch = *claimed;
  }
  auto release_claim = [&](const char* result) {
    if (claim_epoch != 0) ReleaseClaim(name, record.id, claim_epoch, result);
  };

  auto active = std::make_unique<Active>();
  active->record = record;
  active->claim_epoch = claim_epoch;
  active->trace = queued.trace;
  active->lock = std::move(run.lock);
  Observer& observer = deps_.observer;
  const JobRecord progress_record = record;
  active->job = std::make_unique<tofu::TofuJob>(
      deps_.runner, deps_.fs, deps_.clock, std::move(run.spec),
      [&observer, progress_record](tofu::Step step, const tofu::UiEvent& e) {
        observer.OnJobProgress(progress_record, step, e);
      });
  Status started = active->job->Start();
  if (active->job->done()) {
    release_claim("failed");
    return fail(
        active->job->outcome().error.empty() ? started.message() : active->job->outcome().error,
        false);
  }
  handles_[active->job->handle()] = name;
  if (claim_epoch != 0 && deps_.claim_keeper != nullptr) {
    deps_.claim_keeper->Track(record.id, claim_epoch, active->job->handle(), claim_sent);
  }
  st.running = record;
  st.running->process = deps_.runner.Identify(active->job->handle());
  const milliseconds lag = record.scheduled_for
                               ? duration_cast<milliseconds>(now - *record.scheduled_for)
                               : milliseconds(0);
  LOG(deps_.log, kInfo, "job")
      .Workspace(name)
      .JobId(record.id)
      .Operation(state::OperationName(record.operation))
      .Field("trigger", state::TriggerName(record.trigger))
      .Field("attempt", record.attempt)
      .Message("job started");
  deps_.observer.OnJobStarted(record, std::max(lag, milliseconds(0)));
  active_[name] = std::move(active);
}

void Reconciler::Reap(SystemTime now) {
  for (platform::FinishedProcess& f : deps_.runner.Reap()) {
    auto it = handles_.find(f.handle);
    if (it == handles_.end()) continue;  // not a job step (a health check, say)
    const std::string name = it->second;
    handles_.erase(it);
    auto active = active_.find(name);
    if (active == active_.end()) continue;
    if (active->second->job->OnFinished(f)) {
      FinishJob(name, now);
    } else {
      Active& a = *active->second;
      handles_[a.job->handle()] = name;
      if (a.claim_epoch != 0 && deps_.claim_keeper != nullptr &&
          !deps_.claim_keeper->SetHandle(a.record.id, a.job->handle())) {
        a.job->Stop(platform::StopReason::kShutdown);  // the claim is lost: no more steps
      }
      // The next step is another process: the state must name it.
      state::WorkspaceState& st = state_.workspaces[name];
      if (st.running) {
        st.running->process = deps_.runner.Identify(active->second->job->handle());
        dirty_ = true;
      }
    }
  }
}

void Reconciler::ReleaseClaim(const std::string& name, const std::string& job_id, int64_t epoch,
                              std::string_view result) {
  // A daemon that stops while the database is out of reach does not wait
  // for it once per job: the claims lapse instead. (Out of reach as of the
  // last release tried: one that works clears it.)
  if (shutting_down_ && claims_unreachable_) return;
  auto r = deps_.claims->Finish(job_id, epoch, std::string(result));
  claims_unreachable_ = !r.ok() && r.status().code() == Status::Code::kUnavailable;
  if (r.ok() && *r) return;
  LOG(deps_.log, kWarn, "job")
      .Workspace(name)
      .JobId(job_id)
      .Error(r.ok() ? "another node ended it" : r.status().message())
      .Message("cannot release the job's claim; it lapses after ha.claim_ttl");
}

void Reconciler::CheckClaims() {
  for (auto& [name, active] : active_) CheckClaim(name, *active);
}

bool Reconciler::CheckClaim(const std::string& name, Active& active) {
  if (active.claim_lost) return true;
  if (active.claim_epoch == 0 || deps_.claim_keeper == nullptr) return false;
  active.claim_lost = deps_.claim_keeper->LostWhy(active.record.id);
  if (!active.claim_lost) return false;
  LOG(deps_.log, kError, "job")
      .Workspace(name)
      .JobId(active.record.id)
      .Error(*active.claim_lost)
      .Message(
          "the job's claim was lost: its tofu is stopped (SIGINT, then SIGKILL after "
          "kill_grace), and the job is recorded interrupted");
  deps_.observer.OnJobStopRequested(active.record, platform::StopReason::kShutdown);
  active.job->Stop(platform::StopReason::kShutdown);
  return true;
}

void Reconciler::CheckLeftovers() {
  const MonotonicTime mono = deps_.clock.Monotonic();
  for (auto it = leftovers_.begin(); it != leftovers_.end();) {
    const std::string& name = it->first;
    Leftover& l = it->second;
    if (l.hold_until) {
      // A node that is shutting down leaves the claims to the next leader.
      if (shutting_down_) {
        it = leftovers_.erase(it);
        continue;
      }
      if (mono < *l.hold_until || !EndHeldClaim(name, l)) {
        ++it;
        continue;
      }
      LOG(deps_.log, kInfo, "job")
          .Workspace(name)
          .JobId(l.claim_job)
          .Message("the claim that held the workspace has ended; reconciled again");
      if (auto rt = runtimes_.find(name); rt != runtimes_.end()) rt->second.evaluated = false;
      MarkDirty(name);
      it = leftovers_.erase(it);
      continue;
    }
    if (!deps_.runner.LeftoverRunning(l.id)) {
      LOG(deps_.log, kInfo, "job")
          .Workspace(name)
          .Field("pid", l.id.pid)
          .Message("leftover tofu has ended; the workspace is reconciled again");
      if (auto rt = runtimes_.find(name); rt != runtimes_.end()) rt->second.evaluated = false;
      MarkDirty(name);
      it = leftovers_.erase(it);
      continue;
    }
    if (!l.killed && mono - l.signalled >= config_->scheduler.kill_grace) {
      deps_.runner.SignalLeftover(l.id, platform::LeftoverSignal::kKill);
      l.killed = true;
      LOG(deps_.log, kWarn, "job")
          .Workspace(name)
          .Field("pid", l.id.pid)
          .Message("leftover tofu outlived kill_grace after SIGINT; sent SIGKILL to its group");
    }
    ++it;
  }
}

void Reconciler::FinishJob(const std::string& name, SystemTime now) {
  std::unique_ptr<Active> active = std::move(active_[name]);
  active_.erase(name);
  log::ScopedTrace trace_scope(active->trace.context);
  CheckClaim(name, *active);  // lost after the last Tick looked
  const tofu::JobOutcome& outcome = active->job->outcome();
  Runtime& rt = runtimes_[name];
  if (active->trace.context.sampled()) rt.last_attempt = active->trace.context;
  state::WorkspaceState& st = state_.workspaces[name];
  JobRecord record = active->record;
  record.finished_at = now;
  switch (outcome.outcome) {
    case tofu::Outcome::kSucceeded:
      record.result = JobResult::kSucceeded;
      break;
    case tofu::Outcome::kNoChanges:
      record.result = JobResult::kNoChanges;
      break;
    case tofu::Outcome::kFailed:
      record.result = JobResult::kFailed;
      break;
    case tofu::Outcome::kTimeout:
      record.result = JobResult::kTimeout;
      break;
    case tofu::Outcome::kCancelled:
      record.result = (shutting_down_ || active->claim_lost) && !active->cancelled_by_user
                          ? JobResult::kInterrupted
                          : JobResult::kCancelled;
      break;
  }
  if (active->claim_epoch != 0) {
    if (deps_.claim_keeper != nullptr) deps_.claim_keeper->Untrack(record.id);
    if (active->claim_lost) {
      // Whatever tofu said: it was stopped, or ended, without its claim.
      if (!state::IsSuccess(*record.result)) record.result = JobResult::kInterrupted;
      // The claim may still run in the database (it lapsed, unrenewed):
      // the workspace is held as another node's would be, until it ends.
      const MonotonicTime mono = deps_.clock.Monotonic();
      leftovers_[name] = Leftover{{}, mono, true, mono, record.id};
    } else {
      ReleaseClaim(name, record.id, active->claim_epoch, state::JobResultName(*record.result));
    }
  }
  record.exit_code = outcome.exit_code;
  if (outcome.changes) {
    record.changes = {static_cast<int>(outcome.changes->add),
                      static_cast<int>(outcome.changes->change),
                      static_cast<int>(outcome.changes->remove)};
  }
  record.error = outcome.error;
  if (active->claim_lost && !state::IsSuccess(*record.result)) {
    record.error = "the job's claim was lost (" + *active->claim_lost +
                   "): its tofu was stopped so that no other node's runs beside it";
  }
  record.drift = outcome.drift;
  st.running.reset();

  const Actual before = st.actual;
  if (state::IsSuccess(*record.result)) {
    st.actual = ActualAfter(record.operation);
    st.retry.reset();
    st.gave_up_for.reset();
  } else {
    st.actual = Actual::kUnknown;
    if (*record.result == JobResult::kInterrupted) {
      // The next start converges again; nothing to give up on.
      st.gave_up_for.reset();
    } else {
      // An operator's cancel is never retried.
      RetryOrGiveUp(name, record, outcome.retryable && *record.result != JobResult::kCancelled,
                    now);
    }
  }
  if (st.actual != before) st.actual_since = now;
  if (record.operation == Operation::kDeploy) {
    bool planned =
        std::any_of(outcome.steps.begin(), outcome.steps.end(),
                    [](const tofu::StepResult& s) { return s.step == tofu::Step::kPlan; });
    if (planned) st.drift = outcome.drift;
  } else if (state::IsSuccess(*record.result)) {
    st.drift = false;
  }
  // A destroyed orphan is done: it leaves the state (its history stays).
  const bool forget = rt.cfg == nullptr && record.operation == Operation::kDestroy &&
                      state::IsSuccess(*record.result);
  RecordFinished(record, outcome);
  if (forget) {
    state_.workspaces.erase(name);
    runtimes_.erase(name);
    snapshot_all_ = true;
  } else {
    rt.evaluated = false;
  }
  dirty_ = true;
  MarkDirty(name);
}

void Reconciler::RetryOrGiveUp(const std::string& name, const JobRecord& record, bool retryable,
                               SystemTime now) {
  state::WorkspaceState& st = state_.workspaces[name];
  const config::RetryConfig& retry = config_->scheduler.retry;
  if (retryable && record.attempt < retry.max_attempts) {
    // backoff, 2x backoff, 4x backoff ... up to max_backoff.
    milliseconds backoff = retry.backoff * (1LL << std::min(record.attempt - 1, 20));
    backoff = std::min(backoff, retry.max_backoff);
    st.retry = state::RetryState{record.operation, record.attempt + 1, now + backoff};
    deps_.observer.OnJobRetryScheduled(record, record.attempt + 1, now + backoff);
    LOG(deps_.log, kInfo, "job")
        .Workspace(name)
        .JobId(record.id)
        .Printf("will retry (attempt %d of %d) in %s", record.attempt + 1, retry.max_attempts,
                FormatDuration(backoff).c_str());
    return;
  }
  // No new attempt until the desired state changes (a new event). An event
  // that came after the job began (a manual request while a cancelled job
  // was stopping, say) is not the one the job served: nothing is given up.
  auto rt = runtimes_.find(name);
  std::optional<SystemTime> since = rt != runtimes_.end() ? rt->second.plan.since : std::nullopt;
  if (since && record.started_at && *since > *record.started_at) since.reset();
  st.gave_up_for = since;
  st.retry.reset();
}

void Reconciler::RecordFinished(JobRecord record, const tofu::JobOutcome& outcome) {
  auto st = state_.workspaces.find(record.workspace);
  if (st != state_.workspaces.end()) st->second.last_job = record;
  if (Status s = history_.Append(record); !s.ok()) {
    LOG(deps_.log, kError, "state").JobId(record.id).Error(s).Message("job history append failed");
  }
  const bool ok = record.result && state::IsSuccess(*record.result);
  LOG_AT(deps_.log, ok ? log::Level::kInfo : log::Level::kWarn, "job")
      .Workspace(record.workspace)
      .JobId(record.id)
      .Operation(state::OperationName(record.operation))
      .Field("result", record.result ? state::JobResultName(*record.result) : "unknown")
      .Field("trigger", state::TriggerName(record.trigger))
      .Error(record.error)
      .DurationMs(
          record.started_at && record.finished_at
              ? duration_cast<milliseconds>(*record.finished_at - *record.started_at).count()
              : 0)
      .Printf("job finished: %d to add, %d to change, %d to destroy", record.changes.add,
              record.changes.change, record.changes.remove);
  deps_.observer.OnJobFinished(record, outcome);
}

void Reconciler::SetTracing(std::function<TraceContext(const TraceContext*)> new_trace,
                            std::function<std::map<std::string, std::string>()> trace_env) {
  new_trace_ = std::move(new_trace);
  trace_env_ = std::move(trace_env);
}

void Reconciler::BeginShutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  const SystemTime now = Now();
  for (auto& [name, active] : active_) {
    deps_.observer.OnJobStopRequested(active->record, platform::StopReason::kShutdown);
    active->job->Stop(platform::StopReason::kShutdown);
  }
  // Queued work ends now, as `cancelled`, so that nothing waits on a job
  // that will never start (a follower of its log, say). Nothing is lost:
  // the events behind it (fires, manual actions) are in the state, and the
  // next start converges the workspace again.
  const size_t queued = queue_.size();
  for (QueuedJob& job : queue_.TakeAll()) {
    log::ScopedTrace trace_scope(job.trace.context);
    JobRecord record = std::move(job.record);
    record.finished_at = now;
    record.result = JobResult::kCancelled;
    record.error = std::string(kShutdownCancelError);
    MarkDirty(record.workspace);
    RecordFinished(std::move(record),
                   SyntheticOutcome(tofu::Outcome::kCancelled, "daemon shutting down"));
  }
  dirty_ = true;
  LOG(deps_.log, kInfo, "scheduler")
      .Printf(
          "shutting down: no new jobs; stopping %zu running job(s); %zu queued job(s) cancelled",
          active_.size(), queued);
}

void Reconciler::AccountSavedTime(SystemTime now) {
  const double seconds = std::chrono::duration<double>(now - last_savings_).count();
  last_savings_ = now;
  if (seconds <= 0) return;
  for (const auto& [name, rt] : runtimes_) {
    if (rt.cfg == nullptr || !rt.cfg->schedule.deploy_expr) continue;
    state::WorkspaceState& st = state_.workspaces[name];
    if (st.actual == Actual::kDestroyed) st.saved_seconds += seconds;
  }
}

std::shared_ptr<const WorkspaceView> Reconciler::BuildView(const std::string& name,
                                                           const Runtime& rt) const {
  auto view = std::make_shared<WorkspaceView>();
  view->name = name;
  if (rt.cfg != nullptr) {
    const config::WorkspaceConfig& ws = *rt.cfg;
    view->template_name = ws.template_name;
    view->timezone = ws.schedule.timezone;
    view->deploy_schedule = ws.schedule.deploy;
    view->destroy_schedule = ws.schedule.destroy;
    view->enabled = ws.enabled;
    view->is_protected = ws.is_protected;
    view->cost_per_hour = ws.cost_per_hour;
    view->labels = ws.labels;
  } else {
    view->orphaned = true;
  }
  view->desired = rt.plan.desired;
  view->desired_since = rt.plan.since;
  view->desired_source = rt.plan.source;
  view->paused = rt.plan.paused;
  view->next_deploy = rt.next_deploy;
  view->next_destroy = rt.next_destroy;
  auto st_it = state_.workspaces.find(name);
  if (st_it != state_.workspaces.end()) {
    const state::WorkspaceState& st = st_it->second;
    view->actual = st.actual;
    view->actual_since = st.actual_since;
    view->manual = st.manual;
    view->pause = st.pause;
    view->running = st.running;
    view->last_job = st.last_job;
    view->retry = st.retry;
    view->drift = st.drift;
    view->saved_seconds = st.saved_seconds;
  }
  if (const QueuedJob* q = queue_.Find(name); q != nullptr) view->queued = q->record;
  if (view->orphaned) {
    view->status = WorkspaceStatus::kOrphaned;
  } else if (view->running) {
    view->status = view->running->operation == Operation::kDeploy ? WorkspaceStatus::kDeploying
                                                                  : WorkspaceStatus::kDestroying;
  } else if (view->queued || view->retry) {
    view->status = WorkspaceStatus::kPending;
  } else if (view->actual == Actual::kUnknown && view->last_job && view->last_job->result &&
             !state::IsSuccess(*view->last_job->result) &&
             *view->last_job->result != JobResult::kInterrupted) {
    view->status = WorkspaceStatus::kFailed;
  } else {
    view->status = view->actual == Actual::kDeployed    ? WorkspaceStatus::kDeployed
                   : view->actual == Actual::kDestroyed ? WorkspaceStatus::kDestroyed
                                                        : WorkspaceStatus::kUnknown;
  }
  return view;
}

void Reconciler::Publish(SystemTime now) {
  std::shared_ptr<const StatusSnapshot> old = snapshot();
  if (!snapshot_all_ && changed_views_.empty() && old && old->jobs_running == active_.size() &&
      old->jobs_queued == queue_.size() && old->shutting_down == shutting_down_) {
    return;
  }
  auto snap = std::make_shared<StatusSnapshot>();
  snap->taken_at = now;
  snap->jobs_running = active_.size();
  snap->jobs_queued = queue_.size();
  snap->shutting_down = shutting_down_;
  snap->workspaces.reserve(runtimes_.size());
  for (const auto& [name, rt] : runtimes_) {
    const WorkspaceView* previous = old && !snapshot_all_ ? old->Find(name) : nullptr;
    if (previous != nullptr && changed_views_.count(name) == 0) {
      // Share the unchanged view: find its owning pointer.
      auto it = std::lower_bound(old->workspaces.begin(), old->workspaces.end(), name,
                                 [](const std::shared_ptr<const WorkspaceView>& v,
                                    const std::string& n) { return v->name < n; });
      snap->workspaces.push_back(*it);
    } else {
      snap->workspaces.push_back(BuildView(name, rt));
    }
  }
  changed_views_.clear();
  snapshot_all_ = false;
  MutexLock lock(mu_);
  snapshot_ = std::move(snap);
}

}  // namespace provisioner::scheduler
