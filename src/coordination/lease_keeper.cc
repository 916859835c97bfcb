#include "coordination/lease_keeper.h"

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include "base/strings.h"

namespace provisioner::coordination {

LeaseKeeper::LeaseKeeper(LeaseDb& db, Options options)
    : db_(db), options_(std::move(options)), state_(options_.node, options_.timings) {}

LeaseKeeper::~LeaseKeeper() { Stop(); }

MonotonicTime LeaseKeeper::RunOnce() {
  MonotonicTime now = options_.now();
  bool resigned = false;
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    resigned = resigned_;
    resign_pending_ = false;
  }
  if (resigned) {
    ReleaseIfLeading("resigned: this node is shutting down after it lost the lease");
    return now + std::chrono::hours(1);  // until Stop()
  }
  LeaseChange change;
  std::optional<int64_t> renewing;
  bool due = false;
  bool lost = false;
  {
    MutexLock lock(mu_);
    change = state_.OnTime(now);
    lost = LostTermLocked(change);
    due = state_.next_attempt() <= now;
    renewing = state_.renewing_term();
  }
  if (change.changed && options_.on_change) options_.on_change(change);
  if (lost) {
    MarkResigned();
    return now;  // the resigned round, at once
  }
  if (!due) {
    MutexLock lock(mu_);
    return NextRoundLocked();
  }
  // Not under mu_: the statement may take up to its timeout, and readers
  // must not wait for it (IsLeader applies the deadline on its own).
  const MonotonicTime sent = options_.now();
  Result<LeaseRow> outcome = db_.AcquireOrRenew(options_.node, renewing, options_.timings.ttl);
  const double jitter = options_.jitter ? options_.jitter() : [] {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }();
  MonotonicTime next;
  {
    MutexLock lock(mu_);
    change = state_.OnAttempt(sent, outcome, jitter);
    reachable_ = outcome.ok();
    if (!outcome.ok()) last_error_ = outcome.status().message();
    // A leader whose attempt came back after its deadline has passed.
    if (!change.changed) change = state_.OnTime(options_.now());
    lost = LostTermLocked(change);
    next = NextRoundLocked();
  }
  if (lost) MarkResigned();
  if (options_.on_change) {
    if (change.changed) {
      options_.on_change(change);
    } else if (!outcome.ok()) {
      options_.on_change(LeaseChange{false, change.role, change.term,
                                     "lease attempt failed: " + outcome.status().message()});
    }
  }
  return next;
}

MonotonicTime LeaseKeeper::NextRoundLocked() const {
  const std::optional<MonotonicTime> deadline = state_.deadline();
  return deadline ? std::min(state_.next_attempt(), *deadline) : state_.next_attempt();
}

bool LeaseKeeper::LostTermLocked(const LeaseChange& change) {
  if (!change.changed) return false;
  if (change.role == Role::kLeader) {
    led_ = true;
    return false;
  }
  return options_.one_term && led_;
}

void LeaseKeeper::MarkResigned() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    resigned_ = true;
  }
  lost_term_ = true;
}

bool LeaseKeeper::LeadingLocked() const {
  return state_.leader() && options_.now() < *state_.deadline();
}

void LeaseKeeper::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaseKeeper::Run() {
  while (true) {
    const MonotonicTime next = RunOnce();
    std::unique_lock<std::mutex> lock(stop_mu_);
    const auto wait = next - options_.now();
    if (wait > MonotonicTime::duration::zero()) {
      stop_cv_.wait_for(lock, wait, [this] { return stop_ || resign_pending_; });
    }
    if (stop_) return;
  }
}

void LeaseKeeper::ReleaseIfLeading(const std::string& why) {
  int64_t term = 0;
  {
    MutexLock lock(mu_);
    if (!state_.leader()) return;
    term = state_.term();
  }
  // Released or not (the database may be gone), this node leads no more.
  Result<bool> released = db_.Release(options_.node, term);
  LeaseChange change;
  {
    MutexLock lock(mu_);
    change = state_.OnReleased();
  }
  std::vector<std::string> notes;
  if (!why.empty()) notes.push_back(why);
  if (!released.ok()) notes.push_back("the release failed: " + released.status().message());
  if (!notes.empty()) change.why += " (" + Join(notes, "; ") + ")";
  if (options_.on_change) options_.on_change(change);
}

void LeaseKeeper::Resign() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (resigned_) return;
    resigned_ = true;
    resign_pending_ = true;
  }
  stop_cv_.notify_all();
}

void LeaseKeeper::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (left_) return;
    left_ = true;
  }
  ReleaseIfLeading("");
  // Best effort: a name not freed here is free lease_ttl after the last
  // heartbeat anyway.
  (void)db_.Leave(options_.node);
}

std::map<std::string, std::string> LeaseKeeper::differing_workspaces() const {
  return IsLeader() ? db_.DifferingWorkspaces() : std::map<std::string, std::string>();
}

bool LeaseKeeper::IsLeader() const {
  MutexLock lock(mu_);
  return LeadingLocked();
}

int64_t LeaseKeeper::term() const {
  MutexLock lock(mu_);
  return state_.term();
}

CoordinationStatus LeaseKeeper::status() const {
  MutexLock lock(mu_);
  CoordinationStatus s;
  s.ha = true;
  s.role = LeadingLocked() ? Role::kLeader : Role::kFollower;
  s.term = state_.term();
  s.holder = state_.holder_seen();
  s.database_reachable = reachable_;
  s.last_error = last_error_;
  s.transitions = state_.transitions();
  s.attempt_failures = state_.attempt_failures();
  return s;
}

}  // namespace provisioner::coordination
