// Job claims (DESIGN.md §11, shared/reference/ha-postgresql.md §6.6): in HA
// mode every running job holds a claim, a row in pv_jobs with an epoch and
// an expiry on the database's clock. A partial unique index allows one
// running claim per workspace, whatever the code does.
//
// The node that runs the job renews its claim (ClaimKeeper, on a thread and
// a connection of its own, so that a scheduler stuck in a slow save does not
// let it lapse). A node whose claim is not renewed for 3/4 of claim_ttl, or
// whose claim was taken from it, stops the job's tofu with the §5 ladder. The
// leader lets a workspace run again only once its claim has ended, or its
// expiry plus kill_grace has passed on the database's clock: by then the
// claim's tofu has surely been stopped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "platform/process_runner.h"

namespace provisioner::coordination {

// A running claim as the leader sees it.
struct RunningClaim {
  std::string job_id;
  std::string workspace;
  std::string owner;  // the node that runs the job
  // How long, on the database's clock, until the claim's expiry plus the
  // grace asked for has passed; zero or less: it has.
  std::chrono::milliseconds held_for{0};
};

// The claims' statements, on the scheduler's thread. In this version only
// the leader runs jobs, so the leader claims too (fenced by its term).
class JobClaims {
 public:
  virtual ~JobClaims() = default;
  // Claims `workspace` for job `job_id`, run by this node, for claim_ttl;
  // returns the claim's epoch. Errors: AlreadyExists naming the job and
  // node that hold the workspace; FailedPrecondition "ownership lost: ..."
  // when `term` is not the lease's; Unavailable and the like.
  virtual Result<int64_t> Claim(const std::string& job_id, const std::string& workspace,
                                const std::string& operation, int64_t term) = 0;
  // The job ended here: its claim is released with `result`. False when
  // the claim was no longer this node's (another node ended it).
  virtual Result<bool> Finish(const std::string& job_id, int64_t epoch,
                              const std::string& result) = 0;
  // Every running claim, with held_for counted against `grace`.
  virtual Result<std::vector<RunningClaim>> Running(std::chrono::milliseconds grace) = 0;
  // The leader ends the claim of job `job_id` as interrupted, fenced by
  // `term`, once its expiry plus `grace` has passed. Returns nullopt when
  // the workspace is free (ended now, or earlier), or how much longer the
  // claim holds it (it was renewed meanwhile).
  virtual Result<std::optional<std::chrono::milliseconds>> Interrupt(
      const std::string& job_id, std::chrono::milliseconds grace, int64_t term) = 0;
};

// The claim keeper's statement: one renewal of this node's claims.
class ClaimRenewer {
 public:
  virtual ~ClaimRenewer() = default;
  // Renews the claims (job id -> epoch) that are still this node's, for
  // claim_ttl; returns the ids renewed. The others are lost.
  virtual Result<std::vector<std::string>> Renew(const std::map<std::string, int64_t>& claims) = 0;
};

// Renews the claims of the jobs this node runs, and stops the tofu of a
// job whose claim is lost. Thread-safe.
class ClaimKeeper {
 public:
  struct Options {
    // claim_ttl: renewals come every ttl/6, and a claim not renewed for
    // 3/4 ttl (since the send of its last successful renewal) is lost.
    std::chrono::milliseconds ttl{60'000};
    // CLOCK_BOOTTIME in the daemon.
    std::function<MonotonicTime()> now;
    // Called on the keeper's thread for each claim lost, after its step
    // was told to stop: for the log, the metric, and to wake the scheduler.
    std::function<void(const std::string& job_id, const std::string& why)> on_lost;
  };

  ClaimKeeper(ClaimRenewer& db, platform::ProcessRunner& runner, Options options);
  ~ClaimKeeper();  // Stop()
  ClaimKeeper(const ClaimKeeper&) = delete;
  ClaimKeeper& operator=(const ClaimKeeper&) = delete;

  // Now on the keeper's clock.
  MonotonicTime Now() const { return options_.now(); }
  // A job claimed by a statement sent at `sent` (Now()), whose step in
  // flight is `handle`. The claim's deadline counts from `sent`: the
  // database set its expiry later than that.
  void Track(const std::string& job_id, int64_t epoch, platform::RunHandle handle,
             MonotonicTime sent);
  // The job's next step. False when its claim is lost: the step is told to
  // stop, and the caller must start no other.
  bool SetHandle(const std::string& job_id, platform::RunHandle handle);
  // The job ended; forgets it.
  void Untrack(const std::string& job_id);
  // Why the job's claim was lost, or nullopt while it holds.
  std::optional<std::string> LostWhy(const std::string& job_id) const;
  uint64_t claims_lost() const;

  // One round: the deadlines, then a renewal if one is due. Returns when
  // the next round is due. The thread calls it; tests call it alone.
  MonotonicTime RunOnce();
  // Loses the claims whose deadline has passed; returns the next deadline.
  // A thread of its own calls it too, so that a renewal stuck on a silent
  // connection does not hold up the stop.
  MonotonicTime CheckDeadlines();
  // Starts the two threads: renewals, and deadlines.
  void Start();
  void Stop();  // idempotent

  std::chrono::milliseconds renew_interval() const { return options_.ttl / 6; }
  std::chrono::milliseconds deadline() const { return options_.ttl * 3 / 4; }

 private:
  struct Tracked {
    int64_t epoch = 0;
    platform::RunHandle handle = 0;
    MonotonicTime renewed;                // the send time of the last renewal that worked
    std::optional<std::string> lost_why;  // set once, for good
  };
  // Marks `t` lost and stops its step; the caller calls on_lost after
  // unlocking.
  void LoseLocked(Tracked& t, std::string why) REQUIRES(mu_);
  // When the next round is due: the next renewal, or a claim's deadline.
  MonotonicTime NextRoundLocked() const REQUIRES(mu_);
  void Run();
  void Watch();

  ClaimRenewer& db_;
  platform::ProcessRunner& runner_;
  const Options options_;

  mutable Mutex mu_;
  std::map<std::string, Tracked> tracked_ GUARDED_BY(mu_);
  uint64_t lost_ GUARDED_BY(mu_) = 0;
  MonotonicTime next_renewal_ GUARDED_BY(mu_){};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;       // guarded by stop_mu_
  bool new_claim_ = false;  // guarded by stop_mu_: Track() since Watch() looked
  std::thread thread_;
  std::thread watcher_;
};

}  // namespace provisioner::coordination
