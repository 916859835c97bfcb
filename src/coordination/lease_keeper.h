// LeaseKeeper: the Coordinator of HA mode. A thread of its own keeps trying
// to take, or to renew, the leader lease (coordination/lease.h decides,
// LeaseDb does the I/O) and publishes the role.
//
// IsLeader() also checks the local deadline itself, so that a keeper stuck
// in a slow database call never lets the node act past it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/result.h"
#include "base/thread_annotations.h"
#include "coordination/coordinator.h"
#include "coordination/lease.h"

namespace provisioner::coordination {

// The lease's I/O: PostgreSQL in the daemon (PgLeaseDb), a fake in tests.
class LeaseDb {
 public:
  virtual ~LeaseDb() = default;
  // One acquire-or-renew statement (pg_lease_db.h, AcquireOrRenew).
  virtual Result<LeaseRow> AcquireOrRenew(const std::string& node,
                                          std::optional<int64_t> renewing_term,
                                          std::chrono::milliseconds ttl) = 0;
  // A clean shutdown's release; whether the lease was still ours.
  virtual Result<bool> Release(const std::string& node, int64_t term) = 0;
  // The keeper stops for good: the node's name is free for its next start.
  virtual Status Leave(const std::string& /*node*/) { return Status::Ok(); }
  // Thread-safe. While this node leads: the workspaces another node defines
  // otherwise (name -> that node), as of the last attempt.
  virtual std::map<std::string, std::string> DifferingWorkspaces() const { return {}; }
};

class LeaseKeeper final : public Coordinator {
 public:
  struct Options {
    std::string node;
    LeaseTimings timings;
    // CLOCK_BOOTTIME in the daemon (platform/boot_clock.h).
    std::function<MonotonicTime()> now;
    // Draws in [0, 1) for the followers' retry jitter; default: a PRNG.
    std::function<double()> jitter;
    // Called on the keeper's thread for every change of role or term, and
    // for a failed attempt (with changed = false and the error in why), for
    // the log and the metrics.
    std::function<void(const LeaseChange&)> on_change;
    // A node that led and lost its lease stands no more, as if Resign()
    // had been called at that moment, and lost_term() says so: the daemon
    // leads at most one term per process (it exits after losing one), and
    // its scheduler thread may be too busy stopping jobs to call Resign()
    // in time, or may not have noticed the term at all.
    bool one_term = false;
  };

  LeaseKeeper(LeaseDb& db, Options options);
  ~LeaseKeeper() override;  // Stop()
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // One round: the local deadline, then an attempt if one is due. Returns
  // when the next round is due. The thread calls it; tests call it alone.
  MonotonicTime RunOnce();

  // Starts the thread.
  void Start();
  // Thread-safe. For a node that lost its lease and is shutting down: the
  // keeper stands for the lease no more, and gives back (on its own thread)
  // a term it took meanwhile, so that the node does not pass for leader
  // while its jobs stop.
  void Resign();
  // Stops the thread, then releases the lease if this node holds it, so that
  // another node takes over at its next attempt instead of after lease_ttl,
  // and leaves (LeaseDb::Leave). Idempotent.
  void Stop();

  bool IsLeader() const override;
  // Thread-safe. With one_term: this node led and lost its lease.
  bool lost_term() const { return lost_term_.load(); }
  int64_t term() const override;
  CoordinationStatus status() const override;
  std::map<std::string, std::string> differing_workspaces() const override;

 private:
  void Run();
  // When the next round is due: the next attempt, or a leader's deadline if
  // that comes first.
  MonotonicTime NextRoundLocked() const REQUIRES(mu_);
  // Releases the lease if this node holds it (`why` goes into the change's
  // reason); any thread, but not while another round runs.
  void ReleaseIfLeading(const std::string& why);
  // Leader, and still within the local deadline now.
  bool LeadingLocked() const REQUIRES(mu_);
  // Notes a leadership taken; with one_term, true when `change` lost it
  // (the caller resigns then).
  bool LostTermLocked(const LeaseChange& change) REQUIRES(mu_);
  void MarkResigned();

  LeaseDb& db_;
  const Options options_;

  mutable Mutex mu_;
  LeaseState state_ GUARDED_BY(mu_);
  bool led_ GUARDED_BY(mu_) = false;  // this keeper held the lease at some point
  bool reachable_ GUARDED_BY(mu_) = true;
  std::string last_error_ GUARDED_BY(mu_);

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;            // guarded by stop_mu_
  bool left_ = false;            // guarded by stop_mu_
  bool resigned_ = false;        // guarded by stop_mu_
  bool resign_pending_ = false;  // guarded by stop_mu_: Resign() not handled yet
  std::atomic<bool> lost_term_{false};
  std::thread thread_;
};

}  // namespace provisioner::coordination
