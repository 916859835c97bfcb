// ProcessRunner: the seam through which the daemon runs `tofu`.
//
// A child is started from an argv vector, never through a shell, with an
// explicit environment, stdin on /dev/null, its own process group, and no
// descriptor of the daemon except its stdout and stderr pipes. The working
// directory is set in the child only; the daemon never calls chdir.
//
// Stopping follows the ladder of DESIGN.md §5, whatever the reason (timeout,
// cancel, shutdown): SIGINT to the child's pid only (tofu's provider plugins
// ignore SIGINT and tofu stops them and releases its state lock), then, once
// `kill_grace` has passed, SIGKILL to the whole process group. When the child
// exits, whatever is left of its group is killed too, and the child is reaped:
// no zombies, no orphans.
//
// The model is a non-blocking step [ninja SubprocessSet]: Start() launches,
// Reap() hands back what has finished, Stop() begins the ladder. Output is
// read continuously on the runner's own I/O thread, so a child never blocks
// on a full pipe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "platform/process_identity.h"

namespace provisioner::platform {

using RunHandle = uint64_t;

enum class OutputStream : uint8_t { kStdout, kStderr };

struct ProcessSpec {
  // argv[0] is a path, or a name looked up on the PATH of `env` (not the
  // daemon's own PATH).
  std::vector<std::string> argv;
  // The complete environment of the child; nothing is inherited.
  std::map<std::string, std::string> env;
  // The child's working directory; empty keeps the daemon's.
  std::string working_dir;
  // Zero means no timeout. When it expires the stop ladder begins with
  // StopReason::kTimeout.
  std::chrono::milliseconds timeout{0};
  // Time between SIGINT and SIGKILL.
  std::chrono::milliseconds kill_grace{std::chrono::minutes(2)};
  // When set, the child gets this descriptor as its descriptor 3 (and keeps
  // it across exec); nothing else of the daemon's is inherited. The
  // scheduler passes the workspace's flock this way, so that the lock stays
  // held for as long as the child lives, even after the daemon dies.
  int inherit_fd = -1;
  // The in-memory copy of each stream keeps at most this many bytes: the tail.
  size_t max_output_bytes = 8 << 20;
  // When set, everything the child writes on stdout and stderr is appended
  // to this file as it arrives (the job log).
  std::string log_path;
  // At most this many bytes of output go to log_path; then one line says
  // the log was cut, and the rest is not written (the tails and on_line
  // still see it). A tofu that floods its output cannot fill the disk the
  // state lives on.
  uint64_t max_log_bytes = uint64_t{64} << 20;
  // Called on the runner's I/O thread for every line of output, without its
  // newline, as it arrives. Lines longer than 1 MiB are delivered in 1 MiB
  // pieces. A final line without a newline is delivered at exit. Must not
  // block and must not call back into the runner.
  std::function<void(OutputStream, std::string_view line)> on_line;
  // The caller collects this child with Wait(), and Reap() never hands it
  // out: a one-shot caller on another thread (a health check's `tofu
  // version`) cannot lose its result to the daemon loop's Reap() when the
  // child exits before Wait() is called. Such a child must be waited for.
  bool collect_with_wait = false;
};

// What SignalLeftover sends.
enum class LeftoverSignal : uint8_t {
  kInterrupt,  // SIGINT to the process: the first rung of the stop ladder
  kKill,       // SIGKILL to its whole process group: the last rung
};

enum class StopReason : uint8_t {
  kNone,       // exited on its own
  kTimeout,    // spec.timeout expired
  kCancelled,  // Stop(..., kCancelled): an operator asked
  kShutdown,   // Stop(..., kShutdown): the daemon is stopping
};

std::string_view StopReasonName(StopReason reason);  // "none", "timeout", ...

struct FinishedProcess {
  RunHandle handle = 0;
  // The exit status when the child exited, or -1 when a signal ended it.
  int exit_code = -1;
  // The signal that ended the child, or 0.
  int term_signal = 0;
  // Why the stop ladder ran, if it did.
  StopReason stop_reason = StopReason::kNone;
  // True when SIGKILL had to be sent because kill_grace ran out.
  bool killed = false;
  // Output tails (see max_output_bytes) and whether anything was dropped.
  std::string stdout_data;
  std::string stderr_data;
  bool output_truncated = false;
  // OK, or the first error writing spec.log_path after Start (a full disk,
  // say). The log stops at that point; the output tails above are complete.
  Status log_status;
  // Output bytes written to spec.log_path, and whether max_log_bytes cut it.
  uint64_t log_bytes = 0;
  bool log_truncated = false;
  MonotonicTime started;
  MonotonicTime finished;
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;

  // Launches a child. Errors: NotFound (no such binary, or not on PATH),
  // PermissionDenied (not executable), InvalidArgument (exec format error,
  // empty argv, bad working directory), ResourceExhausted (fork limits).
  virtual Result<RunHandle> Start(const ProcessSpec& spec) = 0;

  // Non-blocking: every child that finished since the last call, in the order
  // they finished. A child handed out by Wait() is not repeated here.
  virtual std::vector<FinishedProcess> Reap() = 0;

  // Blocks until `handle` finishes and returns it. For one-shot callers (the
  // `run` command, health checks); the daemon's loop uses Reap().
  virtual FinishedProcess Wait(RunHandle handle) = 0;

  // Begins the stop ladder for one child. Idempotent: a second call while
  // the ladder runs changes nothing. Unknown or finished handles are ignored.
  virtual void Stop(RunHandle handle, StopReason reason) = 0;

  // Stop() for every running child.
  virtual void StopAll(StopReason reason) = 0;

  // How many children are running.
  virtual size_t running() const = 0;

  // The identity of a child that has not exited, or nullopt. The scheduler
  // records it in the state while a job step runs.
  virtual std::optional<ProcessIdentity> Identify(RunHandle handle) const = 0;

  // Leftovers: processes of an earlier daemon (found in the state at
  // start-up) that may have outlived it. They are not this runner's
  // children, so nothing reaps or times them here: the caller polls
  // LeftoverRunning and climbs the ladder itself.
  // True while `id` runs; a zombie, a recycled pid or another boot is not it.
  virtual bool LeftoverRunning(const ProcessIdentity& id) = 0;
  // Sends `signal` when `id` still runs; a no-op otherwise.
  virtual void SignalLeftover(const ProcessIdentity& id, LeftoverSignal signal) = 0;

  // `callback` runs on the runner's I/O thread whenever a child finishes, so
  // that an owner sleeping on a condition variable can wake up and Reap().
  // Set it before the first Start().
  virtual void SetOnFinished(std::function<void()> callback) = 0;
};

}  // namespace provisioner::platform
