// FakeProcessRunner: a ProcessRunner that runs nothing, for scheduler tests.
//
// Tests describe processes as data: a table of scripted outcomes keyed by
// argv (an exact argv, an argv prefix, or a named matcher), and the fake
// records every Start() and Stop() [ninja FakeCommandRunner commands_ran_,
// without its if-chain on the command line]. Time comes from the injected
// clock (a FakeClock), so timeouts and the kill_grace ladder follow
// `clock.Advance()`:
//
//   FakeClock clock;
//   FakeProcessRunner runner(clock);
//   // plan reports changes (exit 2) and prints one JSON line
//   runner.OnPrefix({"tofu", "plan"},
//                   {ScriptedProcess::Exits(2).Print(
//                       OutputStream::kStdout, R"({"type":"version"})")});
//   // the first apply fails, later ones succeed
//   runner.OnPrefix({"tofu", "apply"},
//                   {ScriptedProcess::Exits(1), ScriptedProcess::Exits(0)});
//   ... scheduler.Tick();
//   CHECK(runner.started_argv() == std::vector<std::vector<std::string>>{...});
//   runner.FinishAll();
//   ... scheduler.Tick();  // Reap() hands the results back
//
// Thread-safety: all methods may be called from any thread; callbacks
// (spec.on_line, SetOnFinished) run without the fake's lock.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "platform/process_runner.h"

namespace provisioner::testing {

// How a process ends: an exit code, or a signal (then exit_code is -1).
struct ScriptedExit {
  int exit_code = 0;
  int term_signal = 0;
};

// What one started process does.
struct ScriptedProcess {
  // Non-OK: Start() returns it and nothing runs.
  Status start_error;
  // Delivered through spec.on_line, in order, during Start().
  std::vector<std::pair<platform::OutputStream, std::string>> lines;
  // How it ends on its own (Finish(), or at once in finish-immediately mode).
  ScriptedExit exit;
  // How it answers the SIGINT of Stop() or a timeout. The default is tofu's:
  // it stops at once with exit 1. nullopt: it ignores SIGINT and runs until
  // kill_grace has passed on the clock (then it ends by SIGKILL, killed =
  // true) or until the test calls Finish().
  std::optional<ScriptedExit> on_interrupt = ScriptedExit{1, 0};
  // What FinishedProcess::log_status reports: the error the real runner met
  // writing spec.log_path (a full disk mid-step, say). The fake writes no log.
  Status log_status;

  static ScriptedProcess Exits(int code);
  static ScriptedProcess KilledBy(int signal);
  static ScriptedProcess FailsToStart(Status status);
  // Appends one line of output.
  ScriptedProcess& Print(platform::OutputStream stream, std::string line);
  // Makes it ignore SIGINT (see on_interrupt).
  ScriptedProcess& IgnoresInterrupt();
  // Makes the runner report `error` writing the job log (see log_status).
  ScriptedProcess& LogFails(Status error);
};

class FakeProcessRunner final : public platform::ProcessRunner {
 public:
  // The clock is not owned; timestamps and deadlines use its Monotonic().
  explicit FakeProcessRunner(Clock& clock);
  ~FakeProcessRunner() override;
  FakeProcessRunner(const FakeProcessRunner&) = delete;
  FakeProcessRunner& operator=(const FakeProcessRunner&) = delete;

  // ---- the script ----
  // Which rule answers a Start(): the rule for exactly its argv, else the
  // longest matching prefix rule, else the first matcher (in the order
  // added) that accepts the spec, else the default. A rule holds a sequence
  // of outcomes: each Start takes the next and the last one repeats. Adding
  // a rule for the same key again replaces it.
  void OnArgv(std::vector<std::string> argv, std::vector<ScriptedProcess> outcomes);
  void OnPrefix(std::vector<std::string> prefix, std::vector<ScriptedProcess> outcomes);
  void OnMatch(std::string name, std::function<bool(const platform::ProcessSpec&)> matches,
               std::vector<ScriptedProcess> outcomes);
  // Initially ScriptedProcess::Exits(0).
  void SetDefault(ScriptedProcess outcome);

  // ---- time and completion ----
  // When on, every process finishes inside Start() with its scripted exit.
  // Off (the default): a process runs until Finish(), Stop() or a deadline.
  void SetFinishImmediately(bool on);
  // Ends a running process with its scripted exit, or with `exit`. False if
  // the handle is not running.
  bool Finish(platform::RunHandle handle);
  bool Finish(platform::RunHandle handle, ScriptedExit exit);
  // Finish() for every running process, in start order; returns how many.
  size_t FinishAll();
  // Applies the clock: a spec.timeout that expired stops the process with
  // kTimeout; a process that ignores SIGINT past its kill_grace is killed.
  // Reap() calls it first, so Advance() + Tick() is enough.
  void CheckDeadlines();

  // ---- leftovers (processes of an earlier daemon) ----
  // Identify(h) of a running fake process is {1000000 + h, h, kFakeBootId}.
  static constexpr const char* kFakeBootId = "fake-boot";
  // Makes LeftoverRunning(id) true until the leftover ends: a SIGINT ends it
  // when `honours_interrupt`, a kill always, and EndLeftover() on demand.
  void AddLeftover(const platform::ProcessIdentity& id, bool honours_interrupt);
  void EndLeftover(const platform::ProcessIdentity& id);
  struct LeftoverSignalCall {
    platform::ProcessIdentity id;
    platform::LeftoverSignal signal = platform::LeftoverSignal::kInterrupt;
  };
  std::vector<LeftoverSignalCall> leftover_signals() const;

  // ---- records ----
  struct StartedProcess {
    platform::RunHandle handle = 0;
    platform::ProcessSpec spec;
  };
  struct StopCall {
    platform::RunHandle handle = 0;
    platform::StopReason reason = platform::StopReason::kNone;
  };
  // Every successful Start(), in order.
  std::vector<StartedProcess> started() const;
  std::vector<std::vector<std::string>> started_argv() const;
  // The specs whose Start() returned a scripted start_error.
  std::vector<platform::ProcessSpec> rejected() const;
  // Every Stop() call, StopAll() as one call per running process.
  std::vector<StopCall> stops() const;
  // The processes still running, in start order.
  std::vector<platform::RunHandle> running_handles() const;

  // ---- ProcessRunner ----
  Result<platform::RunHandle> Start(const platform::ProcessSpec& spec) override;
  std::vector<platform::FinishedProcess> Reap() override;
  // Blocks until the process finishes: with the finish-immediately mode off,
  // another thread (or a deadline seen by CheckDeadlines) must end it. An
  // unknown or already handed-out handle returns at once with exit_code -1.
  platform::FinishedProcess Wait(platform::RunHandle handle) override;
  void Stop(platform::RunHandle handle, platform::StopReason reason) override;
  void StopAll(platform::StopReason reason) override;
  size_t running() const override;
  void SetOnFinished(std::function<void()> callback) override;
  std::optional<platform::ProcessIdentity> Identify(platform::RunHandle handle) const override;
  bool LeftoverRunning(const platform::ProcessIdentity& id) override;
  void SignalLeftover(const platform::ProcessIdentity& id,
                      platform::LeftoverSignal signal) override;

 private:
  struct Rule {
    std::vector<ScriptedProcess> outcomes;
    size_t next = 0;
    ScriptedProcess Take();
  };
  struct Matcher {
    std::string name;
    std::function<bool(const platform::ProcessSpec&)> matches;
    Rule rule;
  };
  struct Running;

  ScriptedProcess LookupLocked(const platform::ProcessSpec& spec);
  void StopLocked(Running& process, platform::StopReason reason, MonotonicTime now);
  void FinishLocked(platform::RunHandle handle, ScriptedExit exit, bool killed);
  void NotifyFinished();

  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable finished_cv_;
  // All guarded by mu_.
  std::map<std::vector<std::string>, Rule> exact_;
  std::map<std::vector<std::string>, Rule> prefixes_;
  std::vector<Matcher> matchers_;
  ScriptedProcess default_ = ScriptedProcess::Exits(0);
  bool finish_immediately_ = false;
  platform::RunHandle next_handle_ = 1;
  std::map<platform::RunHandle, std::unique_ptr<Running>> running_;
  std::deque<platform::FinishedProcess> finished_;
  std::vector<platform::RunHandle> waited_;
  std::vector<StartedProcess> started_;
  std::vector<platform::ProcessSpec> rejected_;
  std::vector<StopCall> stops_;
  std::function<void()> on_finished_;
  std::vector<std::pair<platform::ProcessIdentity, bool>> leftovers_;  // id, honours SIGINT
  std::vector<LeftoverSignalCall> leftover_signals_;
};

}  // namespace provisioner::testing
