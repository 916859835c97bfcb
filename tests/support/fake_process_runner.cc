#include "support/fake_process_runner.h"

#include <algorithm>
#include <csignal>

namespace provisioner::testing {

using platform::FinishedProcess;
using platform::OutputStream;
using platform::ProcessSpec;
using platform::RunHandle;
using platform::StopReason;

ScriptedProcess ScriptedProcess::Exits(int code) {
  ScriptedProcess p;
  p.exit.exit_code = code;
  return p;
}

ScriptedProcess ScriptedProcess::KilledBy(int signal) {
  ScriptedProcess p;
  p.exit = ScriptedExit{-1, signal};
  return p;
}

ScriptedProcess ScriptedProcess::FailsToStart(Status status) {
  ScriptedProcess p;
  p.start_error = std::move(status);
  return p;
}

ScriptedProcess& ScriptedProcess::Print(OutputStream stream, std::string line) {
  lines.emplace_back(stream, std::move(line));
  return *this;
}

ScriptedProcess& ScriptedProcess::IgnoresInterrupt() {
  on_interrupt.reset();
  return *this;
}

ScriptedProcess& ScriptedProcess::LogFails(Status error) {
  log_status = std::move(error);
  return *this;
}

ScriptedProcess FakeProcessRunner::Rule::Take() {
  if (outcomes.empty()) return ScriptedProcess::Exits(0);
  const ScriptedProcess& p = outcomes[std::min(next, outcomes.size() - 1)];
  ++next;
  return p;
}

struct FakeProcessRunner::Running {
  RunHandle handle = 0;
  ScriptedProcess script;
  std::chrono::milliseconds timeout{0};
  std::chrono::milliseconds kill_grace{0};
  MonotonicTime started;
  std::string stdout_data;
  std::string stderr_data;
  bool truncated = false;
  StopReason stop_reason = StopReason::kNone;
  std::optional<MonotonicTime> kill_at;
};

FakeProcessRunner::FakeProcessRunner(Clock& clock) : clock_(clock) {}

FakeProcessRunner::~FakeProcessRunner() = default;

void FakeProcessRunner::OnArgv(std::vector<std::string> argv,
                               std::vector<ScriptedProcess> outcomes) {
  std::lock_guard<std::mutex> lock(mu_);
  exact_[std::move(argv)] = Rule{std::move(outcomes)};
}

void FakeProcessRunner::OnPrefix(std::vector<std::string> prefix,
                                 std::vector<ScriptedProcess> outcomes) {
  std::lock_guard<std::mutex> lock(mu_);
  prefixes_[std::move(prefix)] = Rule{std::move(outcomes)};
}

void FakeProcessRunner::OnMatch(std::string name, std::function<bool(const ProcessSpec&)> matches,
                                std::vector<ScriptedProcess> outcomes) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Matcher& m : matchers_) {
    if (m.name == name) {
      m.matches = std::move(matches);
      m.rule = Rule{std::move(outcomes)};
      return;
    }
  }
  matchers_.push_back(Matcher{std::move(name), std::move(matches), Rule{std::move(outcomes)}});
}

void FakeProcessRunner::SetDefault(ScriptedProcess outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  default_ = std::move(outcome);
}

void FakeProcessRunner::SetFinishImmediately(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  finish_immediately_ = on;
}

ScriptedProcess FakeProcessRunner::LookupLocked(const ProcessSpec& spec) {
  if (auto it = exact_.find(spec.argv); it != exact_.end()) {
    return it->second.Take();
  }
  Rule* longest = nullptr;
  size_t longest_size = 0;
  for (auto& [prefix, rule] : prefixes_) {
    const bool matches = prefix.size() <= spec.argv.size() &&
                         std::equal(prefix.begin(), prefix.end(), spec.argv.begin());
    if (matches && (longest == nullptr || prefix.size() > longest_size)) {
      longest = &rule;
      longest_size = prefix.size();
    }
  }
  if (longest != nullptr) return longest->Take();
  for (Matcher& m : matchers_) {
    if (m.matches(spec)) return m.rule.Take();
  }
  return default_;
}

Result<RunHandle> FakeProcessRunner::Start(const ProcessSpec& spec) {
  RunHandle handle;
  ScriptedProcess script;
  bool immediate;
  {
    std::lock_guard<std::mutex> lock(mu_);
    script = LookupLocked(spec);
    if (!script.start_error.ok()) {
      rejected_.push_back(spec);
      return script.start_error;
    }
    handle = next_handle_++;
    if (spec.collect_with_wait) waited_.push_back(handle);
    started_.push_back(StartedProcess{handle, spec});
    auto process = std::make_unique<Running>();
    process->handle = handle;
    process->script = script;
    process->timeout = spec.timeout;
    process->kill_grace = spec.kill_grace;
    process->started = clock_.Monotonic();
    // The tails the real runner keeps: raw bytes, the last max_output_bytes.
    for (const auto& [stream, line] : script.lines) {
      std::string& tail =
          stream == OutputStream::kStdout ? process->stdout_data : process->stderr_data;
      tail.append(line).push_back('\n');
      if (tail.size() > spec.max_output_bytes) {
        tail.erase(0, tail.size() - spec.max_output_bytes);
        process->truncated = true;
      }
    }
    running_[handle] = std::move(process);
    immediate = finish_immediately_;
  }
  if (spec.on_line) {
    for (const auto& [stream, line] : script.lines) spec.on_line(stream, line);
  }
  if (immediate) Finish(handle);
  return handle;
}

void FakeProcessRunner::FinishLocked(RunHandle handle, ScriptedExit exit, bool killed) {
  auto it = running_.find(handle);
  Running& p = *it->second;
  FinishedProcess done;
  done.handle = handle;
  done.exit_code = exit.term_signal != 0 ? -1 : exit.exit_code;
  done.term_signal = exit.term_signal;
  done.stop_reason = p.stop_reason;
  done.killed = killed;
  done.stdout_data = std::move(p.stdout_data);
  done.stderr_data = std::move(p.stderr_data);
  done.output_truncated = p.truncated;
  done.log_status = p.script.log_status;
  done.started = p.started;
  done.finished = clock_.Monotonic();
  running_.erase(it);
  finished_.push_back(std::move(done));
  finished_cv_.notify_all();
}

void FakeProcessRunner::NotifyFinished() {
  std::function<void()> callback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    callback = on_finished_;
  }
  if (callback) callback();
}

bool FakeProcessRunner::Finish(RunHandle handle) {
  std::optional<ScriptedExit> exit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = running_.find(handle);
    if (it == running_.end()) return false;
    exit = it->second->script.exit;
  }
  return Finish(handle, *exit);
}

bool FakeProcessRunner::Finish(RunHandle handle, ScriptedExit exit) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_.count(handle) == 0) return false;
    FinishLocked(handle, exit, /*killed=*/false);
  }
  NotifyFinished();
  return true;
}

size_t FakeProcessRunner::FinishAll() {
  size_t count = 0;
  for (RunHandle handle : running_handles()) count += Finish(handle) ? 1 : 0;
  return count;
}

// A process that answers SIGINT finishes here, and `process` is gone after.
void FakeProcessRunner::StopLocked(Running& process, StopReason reason, MonotonicTime now) {
  if (process.stop_reason != StopReason::kNone) return;
  process.stop_reason = reason;
  if (process.script.on_interrupt) {
    FinishLocked(process.handle, *process.script.on_interrupt,
                 /*killed=*/false);
  } else {
    process.kill_at = now + process.kill_grace;
  }
}

void FakeProcessRunner::CheckDeadlines() {
  size_t finished = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const MonotonicTime now = clock_.Monotonic();
    std::vector<RunHandle> handles;
    for (const auto& [handle, process] : running_) handles.push_back(handle);
    for (RunHandle handle : handles) {
      Running& p = *running_.at(handle);
      if (p.stop_reason == StopReason::kNone && p.timeout.count() > 0 &&
          now >= p.started + p.timeout) {
        StopLocked(p, StopReason::kTimeout, now);
        if (running_.count(handle) == 0) {
          ++finished;
          continue;
        }
      }
      if (p.kill_at && now >= *p.kill_at) {
        FinishLocked(handle, ScriptedExit{-1, SIGKILL}, /*killed=*/true);
        ++finished;
      }
    }
  }
  for (size_t i = 0; i < finished; ++i) NotifyFinished();
}

std::vector<FinishedProcess> FakeProcessRunner::Reap() {
  CheckDeadlines();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<FinishedProcess> out;
  for (auto it = finished_.begin(); it != finished_.end();) {
    if (std::find(waited_.begin(), waited_.end(), it->handle) != waited_.end()) {
      ++it;
      continue;
    }
    out.push_back(std::move(*it));
    it = finished_.erase(it);
  }
  return out;
}

FinishedProcess FakeProcessRunner::Wait(RunHandle handle) {
  std::unique_lock<std::mutex> lock(mu_);
  auto pending = [&] {
    return std::find_if(finished_.begin(), finished_.end(),
                        [&](const FinishedProcess& f) { return f.handle == handle; });
  };
  if (running_.count(handle) == 0 && pending() == finished_.end()) {
    FinishedProcess unknown;
    unknown.handle = handle;
    return unknown;
  }
  if (std::find(waited_.begin(), waited_.end(), handle) == waited_.end()) {
    waited_.push_back(handle);
  }
  finished_cv_.wait(lock, [&] { return pending() != finished_.end(); });
  auto it = pending();
  FinishedProcess result = std::move(*it);
  finished_.erase(it);
  waited_.erase(std::find(waited_.begin(), waited_.end(), handle));
  return result;
}

void FakeProcessRunner::Stop(RunHandle handle, StopReason reason) {
  bool finished = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stops_.push_back(StopCall{handle, reason});
    auto it = running_.find(handle);
    if (it == running_.end()) return;
    StopLocked(*it->second, reason, clock_.Monotonic());
    finished = running_.count(handle) == 0;
  }
  if (finished) NotifyFinished();
}

void FakeProcessRunner::StopAll(StopReason reason) {
  for (RunHandle handle : running_handles()) Stop(handle, reason);
}

size_t FakeProcessRunner::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_.size();
}

void FakeProcessRunner::SetOnFinished(std::function<void()> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  on_finished_ = std::move(callback);
}

std::optional<platform::ProcessIdentity> FakeProcessRunner::Identify(
    platform::RunHandle handle) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_.count(handle) == 0) return std::nullopt;
  return platform::ProcessIdentity{static_cast<int64_t>(1000000 + handle), handle, kFakeBootId};
}

void FakeProcessRunner::AddLeftover(const platform::ProcessIdentity& id, bool honours_interrupt) {
  std::lock_guard<std::mutex> lock(mu_);
  leftovers_.emplace_back(id, honours_interrupt);
}

void FakeProcessRunner::EndLeftover(const platform::ProcessIdentity& id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(leftovers_, [&](const auto& l) { return l.first == id; });
}

bool FakeProcessRunner::LeftoverRunning(const platform::ProcessIdentity& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return std::any_of(leftovers_.begin(), leftovers_.end(),
                     [&](const auto& l) { return l.first == id; });
}

void FakeProcessRunner::SignalLeftover(const platform::ProcessIdentity& id,
                                       platform::LeftoverSignal signal) {
  std::lock_guard<std::mutex> lock(mu_);
  leftover_signals_.push_back({id, signal});
  std::erase_if(leftovers_, [&](const auto& l) {
    return l.first == id && (signal == platform::LeftoverSignal::kKill || l.second);
  });
}

std::vector<FakeProcessRunner::LeftoverSignalCall> FakeProcessRunner::leftover_signals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leftover_signals_;
}

std::vector<FakeProcessRunner::StartedProcess> FakeProcessRunner::started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return started_;
}

std::vector<std::vector<std::string>> FakeProcessRunner::started_argv() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::vector<std::string>> out;
  for (const StartedProcess& s : started_) out.push_back(s.spec.argv);
  return out;
}

std::vector<ProcessSpec> FakeProcessRunner::rejected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rejected_;
}

std::vector<FakeProcessRunner::StopCall> FakeProcessRunner::stops() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stops_;
}

std::vector<RunHandle> FakeProcessRunner::running_handles() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RunHandle> out;
  for (const auto& [handle, process] : running_) out.push_back(handle);
  return out;
}

}  // namespace provisioner::testing
