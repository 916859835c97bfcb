// The real ProcessRunner: posix_spawn, one pidfd per child, and one I/O thread
// for all of them (Linux 5.3 or later, glibc 2.34 or later).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "base/thread_annotations.h"
#include "platform/process_runner.h"

namespace provisioner::platform {

// How a child is started (see process_runner.h for the contract):
//   - argv[0] without a '/' is looked up on the PATH of spec.env; empty and
//     relative PATH entries are skipped, since they would resolve against the
//     child's working directory.
//   - The child gets stdin from /dev/null, stdout and stderr on two pipes,
//     descriptors 0-2 and nothing else (closefrom(3) in the child, so sockets
//     the HTTP library accepted without FD_CLOEXEC are not inherited; with
//     spec.inherit_fd, that one as descriptor 3 and closefrom(4)), an
//     empty signal mask and the default disposition for every signal (the
//     daemon blocks SIGTERM/SIGINT/SIGHUP and ignores SIGPIPE; neither may
//     reach tofu), and its own process group.
//
// One I/O thread polls every pipe, every pidfd and a wake-up eventfd. When a
// child exits, the I/O thread SIGKILLs the rest of its process group, reaps
// it, then reads its pipes to EOF for at most kDrainBound (a grandchild that
// escaped with setsid may hold them open forever), delivers the last partial
// line and hands the result to Reap()/Wait().
//
// Output: raw bytes go to spec.log_path as they arrive (stdout and stderr
// interleaved in arrival order) and to the per-stream tails; on_line gets
// each stream cut at '\n' (a '\r' before it stays). A tail is trimmed
// lazily, so while a child writes past max_output_bytes it may briefly hold
// up to twice that.
//
// Clock: `timeout`, `kill_grace` and the drain bound are measured on
// clock.Monotonic(), and the I/O thread sleeps in poll() until the next of
// them, so the clock must follow real time (PosixClock).
//
// The runner reaps its children by pid: the daemon must not set SIGCHLD to
// SIG_IGN nor call waitpid(-1, ...).
//
// Orphans (Options::reap_orphans, for the daemon): a grandchild that left
// tofu's process group with setsid() escapes the group kill. With the option
// the process becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so such an
// orphan is reparented to it rather than to init, and every child gets
// PROVISIONER_STEP=<runner pid>.<n> in its environment, which its
// descendants inherit. After each exit, and every kSweepInterval while
// orphans remain, the I/O thread lists the process's children: an orphan
// whose PROVISIONER_STEP names a step that has exited is SIGKILLed, and an
// orphan that has exited is reaped. An orphan of a step that still runs is
// left alone (tofu may use it), and so is one without the variable (it
// cleared its environment); both are reaped once they exit. Only for a
// process where this runner starts every child: the sweep reaps any child it
// does not know.
//
// Thread-safety: every method may be called from any thread. Callbacks
// (spec.on_line, SetOnFinished) run on the I/O thread without the runner's
// lock; they may call Start, Reap, Stop, StopAll and running(), but not Wait().
class PosixProcessRunner final : public ProcessRunner {
 public:
  // How long the pipes of an exited child are read before they are closed.
  static constexpr std::chrono::milliseconds kDrainBound{1000};

  // How often the children are listed while orphans are left.
  static constexpr std::chrono::milliseconds kSweepInterval{5000};

  struct Options {
    bool reap_orphans = false;  // see above
  };

  // The clock is not owned. If the runner cannot create its eventfd or its
  // thread, every Start() returns that error. reap_orphans is off when
  // PR_SET_CHILD_SUBREAPER fails (a kernel before 3.4).
  explicit PosixProcessRunner(Clock& clock) : PosixProcessRunner(clock, Options{}) {}
  PosixProcessRunner(Clock& clock, Options options);
  // SIGKILLs every process group still running, reaps every child and joins
  // the I/O thread. No callback runs once the destructor has begun.
  ~PosixProcessRunner() override;
  PosixProcessRunner(const PosixProcessRunner&) = delete;
  PosixProcessRunner& operator=(const PosixProcessRunner&) = delete;

  Result<RunHandle> Start(const ProcessSpec& spec) override;
  std::vector<FinishedProcess> Reap() override;
  // A handle that is neither running nor waiting to be reaped (never
  // started, or already handed out) returns at once with exit_code -1.
  FinishedProcess Wait(RunHandle handle) override;
  void Stop(RunHandle handle, StopReason reason) override;
  void StopAll(StopReason reason) override;
  // Counts a child until its result is ready, up to kDrainBound after exit.
  size_t running() const override;
  void SetOnFinished(std::function<void()> callback) override;
  std::optional<ProcessIdentity> Identify(RunHandle handle) const override;
  bool LeftoverRunning(const ProcessIdentity& id) override;
  void SignalLeftover(const ProcessIdentity& id, LeftoverSignal signal) override;

  // The pid of a child that has not exited yet, for tests that look at /proc.
  std::optional<int> PidForTesting(RunHandle handle) const;

 private:
  struct Child;
  struct Output;

  void IoLoop();
  void Wake();
  // Timeouts, the SIGKILL step of the ladder and the shutdown kill. Returns
  // the earliest deadline still pending for `child`, if any.
  std::optional<MonotonicTime> ApplyDeadlinesLocked(Child& child, MonotonicTime now) REQUIRES(mu_);
  void BeginStopLocked(Child& child, StopReason reason, MonotonicTime now) REQUIRES(mu_);
  void ReadOutput(Child& child, Output& out);
  void Consume(Child& child, Output& out, std::string_view data);
  void OnExit(Child& child);
  void Finalize(Child& child);
  // Kills the orphans of exited steps and reaps the orphans that exited.
  // Returns true while orphans are left.
  bool SweepOrphans();

  Clock& clock_;
  Status init_status_;
  bool reap_orphans_ = false;
  // Held from before a spawn until the child is in children_, and by a
  // sweep: a child the sweep lists is one it can find in children_.
  Mutex spawn_mu_;  // before mu_ when both are held
  uint64_t next_step_ GUARDED_BY(spawn_mu_) = 1;
  int wake_fd_ = -1;
  // Set by the destructor; read by the I/O thread without the lock to skip
  // callbacks.
  std::atomic<bool> shutting_down_{false};

  mutable Mutex mu_;
  // _any: it waits on mu_ itself, which the analysis then sees held.
  std::condition_variable_any finished_cv_;
  // A Child is created by Start() and destroyed by the I/O thread only,
  // after it has left the map; its I/O fields belong to the I/O thread, its
  // stop fields to whoever holds mu_ (the analysis cannot name a mutex of the
  // runner from inside Child; the *Locked methods REQUIRE it instead).
  std::map<RunHandle, std::unique_ptr<Child>> children_ GUARDED_BY(mu_);
  std::deque<FinishedProcess> finished_ GUARDED_BY(mu_);
  std::set<RunHandle> waited_ GUARDED_BY(mu_);  // handles a Wait() claims
  RunHandle next_handle_ GUARDED_BY(mu_) = 1;
  std::function<void()> on_finished_ GUARDED_BY(mu_);

  std::string read_buffer_;  // the I/O thread's

  std::thread io_thread_;  // last: it starts in the constructor body
};

}  // namespace provisioner::platform
