#include "platform/posix_process_runner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/strings.h"
#include "platform/file_lock.h"
#include "platform/posix_clock.h"
#include "platform/process_info.h"
#include "platform/process_stats.h"
#include "support/test_util.h"

namespace provisioner::platform {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TempDir;

// A spec for `/bin/sh -c script`. The timeout is a safety net: a runner bug
// that leaves a child hanging fails the test with kTimeout instead of hanging
// the test binary.
ProcessSpec Sh(std::string script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", std::move(script)};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.timeout = seconds(30);
  spec.kill_grace = seconds(5);
  return spec;
}

// Collects on_line calls; the test thread can wait for a line to arrive.
class Lines {
 public:
  std::function<void(OutputStream, std::string_view)> Callback() {
    return [this](OutputStream stream, std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      (stream == OutputStream::kStdout ? out_ : err_).emplace_back(line);
      cv_.notify_all();
    };
  }
  // The first stdout line that starts with `prefix`, within 10 s.
  std::optional<std::string> WaitForStdout(std::string_view prefix) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<std::string> found;
    cv_.wait_for(lock, seconds(10), [&] {
      for (const std::string& line : out_) {
        if (line.rfind(prefix, 0) == 0) found = line;
      }
      return found.has_value();
    });
    return found;
  }
  std::vector<std::string> out() {
    std::lock_guard<std::mutex> lock(mu_);
    return out_;
  }
  std::vector<std::string> err() {
    std::lock_guard<std::mutex> lock(mu_);
    return err_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> out_;
  std::vector<std::string> err_;
};

// A runner whose finish callback wakes the test thread, so that tests can
// wait for a result with a deadline instead of blocking in Wait() forever.
class Harness {
 public:
  explicit Harness(PosixProcessRunner::Options options = {}) : runner{clock, options} {
    runner.SetOnFinished([this] {
      std::lock_guard<std::mutex> lock(mu_);
      ++finishes_;
      cv_.notify_all();
    });
  }

  RunHandle StartOrDie(const ProcessSpec& spec) {
    auto handle = runner.Start(spec);
    REQUIRE_OK(handle);
    return *handle;
  }

  // Waits until `n` children in all have finished (the callback ran); false
  // after `limit`. Reaps nothing.
  bool WaitFinishes(uint64_t n, seconds limit = seconds(20)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return finishes_ >= n; });
  }

  // Reaps until `handle` has finished; nullopt after `limit`.
  std::optional<FinishedProcess> Await(RunHandle handle, seconds limit = seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      uint64_t seen;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen = finishes_;
      }
      for (FinishedProcess& f : runner.Reap()) done_[f.handle] = std::move(f);
      auto it = done_.find(handle);
      if (it != done_.end()) {
        FinishedProcess result = std::move(it->second);
        done_.erase(it);
        return result;
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_until(lock, deadline, [&] { return finishes_ != seen; })) {
        return std::nullopt;
      }
    }
  }

  FinishedProcess Run(const ProcessSpec& spec) {
    auto result = Await(StartOrDie(spec));
    REQUIRE(result.has_value());
    return std::move(*result);
  }

 private:
  // Declared before the runner: its callback uses them until it is gone.
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t finishes_ = 0;
  std::map<RunHandle, FinishedProcess> done_;

 public:
  PosixClock clock;
  PosixProcessRunner runner;
};

int PidfdOpen(int pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// True when `pid` has exited (or is gone) within `limit`; waits on a pidfd.
bool EndsWithin(int pid, milliseconds limit) {
  int fd = PidfdOpen(pid);
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  int n = ::poll(&p, 1, static_cast<int>(limit.count()));
  ::close(fd);
  return n == 1;
}

bool IsAlive(int pid) { return !EndsWithin(pid, milliseconds(0)); }

// The children of this process (zombies included) as pid -> state letter.
std::map<int, char> ChildrenOfSelf() {
  std::map<int, char> out;
  const int self = ::getpid();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::FILE* f = std::fopen((entry.path() / "stat").c_str(), "r");
    if (f == nullptr) continue;  // it went away
    char buf[1024];
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    (void)std::fclose(f);  // read-only: nothing to lose
    std::string stat(buf, n);
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 && ppid == self) {
      out[std::stoi(name)] = state;
    }
  }
  return out;
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

void MakeFile(const std::string& path, std::string_view content, mode_t mode) {
  testing::WriteFileOrDie(path, content);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// The pid printed on a stdout line "orphan <pid>".
int OrphanPid(Lines& lines) {
  auto line = lines.WaitForStdout("orphan ");
  REQUIRE(line.has_value());
  auto pid = ParseUint(line->substr(7));
  REQUIRE(pid.has_value());
  return static_cast<int>(*pid);
}

// A step that leaves `command` running in a session of its own, prints
// "orphan <pid>" and goes on only once the orphan has left its process
// group (it writes $READY after setsid()), so that the group kill at the
// step's exit cannot catch it first. `rest` runs after that. `wrapper`
// (env -i, say) runs the orphan's shell.
ProcessSpec Escaping(const TempDir& dir, const std::string& command, const std::string& rest,
                     const std::string& wrapper = "") {
  ProcessSpec spec = Sh("setsid " + wrapper + " /bin/sh -c 'echo x > \"$0\"; exec " + command +
                        "' \"$READY\" </dev/null >/dev/null 2>&1 & echo orphan $!; "
                        "while [ ! -s \"$READY\" ]; do :; done; " +
                        rest);
  spec.env["READY"] = dir.Join("ready");
  return spec;
}

// Runs a step that leaves `sleep 300` behind and then runs `rest`, to its
// end; the orphan's pid.
int RunLeavingOrphan(Harness& h, Lines& lines, const std::string& rest) {
  TempDir dir;
  ProcessSpec spec = Escaping(dir, "sleep 300", rest);
  spec.on_line = lines.Callback();
  CHECK(h.Run(spec).exit_code == 0);
  return OrphanPid(lines);
}

TEST_SUITE("platform") {
  TEST_CASE("platform: PosixProcessRunner reports exit codes") {
    // Given children that exit with 0, 3 and 255
    Harness h;
    for (int code : {0, 3, 255}) {
      CAPTURE(code);
      // When each runs to completion
      FinishedProcess f = h.Run(Sh("exit " + std::to_string(code)));
      // Then the exit code is reported and no stop ladder ran
      CHECK(f.exit_code == code);
      CHECK(f.term_signal == 0);
      CHECK(f.stop_reason == StopReason::kNone);
      CHECK_FALSE(f.killed);
      CHECK_FALSE(f.output_truncated);
      CHECK(f.finished >= f.started);
    }
    CHECK(h.runner.running() == 0);
  }

  TEST_CASE("platform: PosixProcessRunner reports a child killed by a signal") {
    // Given a child that sends itself SIGTERM
    Harness h;
    FinishedProcess f = h.Run(Sh("kill -TERM $$; sleep 5"));
    // Then the signal is reported instead of an exit code
    CHECK(f.exit_code == -1);
    CHECK(f.term_signal == SIGTERM);
    CHECK(f.stop_reason == StopReason::kNone);
    CHECK_FALSE(f.killed);
  }

  TEST_CASE("platform: PosixProcessRunner Stop sends SIGINT and records the reason") {
    // Given a child that dies on SIGINT (default disposition)
    Harness h;
    ProcessSpec spec;
    spec.argv = {"/bin/sleep", "300"};
    spec.timeout = seconds(30);
    spec.kill_grace = seconds(20);
    RunHandle handle = h.StartOrDie(spec);
    // When it is cancelled
    h.runner.Stop(handle, StopReason::kCancelled);
    auto f = h.Await(handle);
    REQUIRE(f.has_value());
    // Then SIGINT ended it, well before kill_grace, without SIGKILL
    CHECK(f->term_signal == SIGINT);
    CHECK(f->exit_code == -1);
    CHECK(f->stop_reason == StopReason::kCancelled);
    CHECK_FALSE(f->killed);
    CHECK(StopReasonName(f->stop_reason) == "cancelled");
    // And stopping a finished or unknown handle is ignored
    h.runner.Stop(handle, StopReason::kShutdown);
    h.runner.Stop(987654, StopReason::kShutdown);
  }

  TEST_CASE(
      "platform: PosixProcessRunner sends SIGINT to the child pid only, not "
      "its group") {
    // Given a child whose grandchild (same process group) dies on SIGINT, and
    // which, on SIGINT, SIGTERMs the grandchild and reports how it ended:
    // 130 = SIGINT reached the grandchild (group delivery), 143 = it did not.
    Lines lines;  // outlives the runner that calls it
    Harness h;
    // (A background job of sh starts with SIGINT ignored, hence `env`; the
    // grandchild says "gc-ready" once SIGINT is back to its default.)
    ProcessSpec spec =
        Sh("env --default-signal=INT /bin/sh -c 'echo gc-ready; exec "
           "/bin/sleep 300' & gc=$!\n"
           "trap ':' INT\n"
           "echo ready\n"
           "wait $gc\n"
           "kill -TERM $gc; wait $gc; echo gc-status=$?\n");
    spec.on_line = lines.Callback();
    RunHandle handle = h.StartOrDie(spec);
    REQUIRE(lines.WaitForStdout("ready"));
    REQUIRE(lines.WaitForStdout("gc-ready"));
    // When it is stopped
    h.runner.Stop(handle, StopReason::kCancelled);
    auto f = h.Await(handle);
    REQUIRE(f.has_value());
    // Then only the child saw SIGINT; it exited on its own
    std::vector<std::string> out = lines.out();
    REQUIRE(out.size() == 3);
    CHECK(out.back() == "gc-status=143");
    CHECK(f->exit_code == 0);
    CHECK(f->stop_reason == StopReason::kCancelled);
    CHECK_FALSE(f->killed);
  }

  TEST_CASE(
      "platform: PosixProcessRunner escalates to SIGKILL of the group after "
      "kill_grace") {
    // Given a child that ignores SIGINT and a grandchild in its group
    Lines lines;  // outlives the runner that calls it
    Harness h;
    ProcessSpec spec = Sh("trap '' INT; /bin/sleep 300 & echo gc=$!; wait; wait; wait");
    spec.kill_grace = milliseconds(200);
    spec.on_line = lines.Callback();
    RunHandle handle = h.StartOrDie(spec);
    auto gc_line = lines.WaitForStdout("gc=");
    REQUIRE(gc_line);
    const int grandchild = std::stoi(gc_line->substr(3));
    REQUIRE(IsAlive(grandchild));
    // When it is stopped twice (the second call must change nothing)
    h.runner.Stop(handle, StopReason::kCancelled);
    h.runner.Stop(handle, StopReason::kShutdown);
    auto f = h.Await(handle);
    REQUIRE(f.has_value());
    // Then SIGKILL ended it after the grace period, with the first reason
    CHECK(f->killed);
    CHECK(f->term_signal == SIGKILL);
    CHECK(f->stop_reason == StopReason::kCancelled);
    CHECK(f->finished - f->started >= milliseconds(200));
    // And the grandchild died with the group
    CHECK(EndsWithin(grandchild, seconds(5)));
  }

  TEST_CASE(
      "platform: PosixProcessRunner timeout runs the stop ladder with "
      "kTimeout") {
    Harness h;
    SUBCASE("a child that stops on SIGINT") {
      ProcessSpec spec;
      spec.argv = {"/bin/sleep", "300"};
      spec.timeout = milliseconds(200);
      spec.kill_grace = seconds(20);
      FinishedProcess f = h.Run(spec);
      CHECK(f.stop_reason == StopReason::kTimeout);
      CHECK(f.term_signal == SIGINT);
      CHECK_FALSE(f.killed);
      CHECK(f.finished - f.started >= milliseconds(200));
    }
    SUBCASE("a child that ignores SIGINT") {
      ProcessSpec spec = Sh("trap '' INT; while :; do /bin/sleep 1; done");
      spec.timeout = milliseconds(100);
      spec.kill_grace = milliseconds(100);
      FinishedProcess f = h.Run(spec);
      CHECK(f.stop_reason == StopReason::kTimeout);
      CHECK(f.term_signal == SIGKILL);
      CHECK(f.killed);
      CHECK(f.finished - f.started >= milliseconds(200));
    }
  }

  TEST_CASE("platform: PosixProcessRunner StopAll stops every child") {
    Harness h;
    std::vector<RunHandle> handles;
    ProcessSpec spec;
    spec.argv = {"/bin/sleep", "300"};
    spec.timeout = seconds(30);
    for (int i = 0; i < 3; ++i) handles.push_back(h.StartOrDie(spec));
    CHECK(h.runner.running() == 3);
    h.runner.StopAll(StopReason::kShutdown);
    for (RunHandle handle : handles) {
      auto f = h.Await(handle);
      REQUIRE(f.has_value());
      CHECK(f->stop_reason == StopReason::kShutdown);
      CHECK(f->term_signal == SIGINT);
    }
    CHECK(h.runner.running() == 0);
  }

  TEST_CASE("platform: PosixProcessRunner kills the group when the child exits") {
    // Given a child that leaves a grandchild behind in its group and exits 0
    // once the test writes to a FIFO
    TempDir dir;
    const std::string fifo = dir.Join("go");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    Lines lines;  // outlives the runner that calls it
    Harness h;
    ProcessSpec spec = Sh("/bin/sleep 300 & echo gc=$!; read x < '" + fifo + "'; exit 0");
    spec.on_line = lines.Callback();
    RunHandle handle = h.StartOrDie(spec);
    auto gc_line = lines.WaitForStdout("gc=");
    REQUIRE(gc_line);
    const int grandchild = std::stoi(gc_line->substr(3));
    REQUIRE(IsAlive(grandchild));
    // When the child exits
    int w = ::open(fifo.c_str(), O_WRONLY);
    REQUIRE(w >= 0);
    REQUIRE(::write(w, "go\n", 3) == 3);
    ::close(w);
    auto f = h.Await(handle);
    REQUIRE(f.has_value());
    // Then it exited normally and its orphan was killed
    CHECK(f->exit_code == 0);
    CHECK(f->stop_reason == StopReason::kNone);
    CHECK(EndsWithin(grandchild, seconds(5)));
  }

  TEST_CASE(
      "platform: PosixProcessRunner does not hang on a grandchild that escaped "
      "the group") {
    // Given a child whose grandchild moves to its own session (out of reach of
    // the group kill) and keeps stdout open; the child exits once the test,
    // having seen the grandchild's pid, writes to a FIFO
    TempDir dir;
    const std::string fifo = dir.Join("go");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    Lines lines;
    Harness h;
    ProcessSpec spec =
        Sh("/usr/bin/setsid /bin/sh -c 'echo gc=$$; exec /bin/sleep 300' &\n"
           "read x < '" +
           fifo + "'; exit 0");
    spec.on_line = lines.Callback();
    RunHandle handle = h.StartOrDie(spec);
    auto gc_line = lines.WaitForStdout("gc=");
    REQUIRE(gc_line);
    const int escaped = std::stoi(gc_line->substr(3));
    int w = ::open(fifo.c_str(), O_WRONLY);
    REQUIRE(w >= 0);
    REQUIRE(::write(w, "go\n", 3) == 3);
    ::close(w);
    // When the child exits
    auto f = h.Await(handle, seconds(10));
    // Then the runner gives up on the pipe after the drain bound
    REQUIRE(f.has_value());
    CHECK(f->exit_code == 0);
    CHECK(IsAlive(escaped));  // out of the group's reach, as expected
    ::kill(escaped, SIGKILL);
    CHECK(EndsWithin(escaped, seconds(5)));
  }

  TEST_CASE("platform: PosixProcessRunner leaves no zombies and no children") {
    const std::map<int, char> before = ChildrenOfSelf();
    {
      Harness h;
      std::vector<RunHandle> handles;
      for (int i = 0; i < 5; ++i) {
        handles.push_back(h.StartOrDie(Sh("exit " + std::to_string(i))));
      }
      for (RunHandle handle : handles) REQUIRE(h.Await(handle).has_value());
      // After Reap, with the runner still alive
      CHECK(ChildrenOfSelf() == before);
    }
    CHECK(ChildrenOfSelf() == before);
  }

  TEST_CASE(
      "platform: PosixProcessRunner destructor kills and reaps running "
      "children") {
    const std::map<int, char> before = ChildrenOfSelf();
    int child_pid = 0;
    int grandchild = 0;
    {
      Lines lines;
      Harness h;
      ProcessSpec spec = Sh("trap '' INT TERM; /bin/sleep 300 & echo gc=$!; wait; wait");
      spec.on_line = lines.Callback();
      RunHandle handle = h.StartOrDie(spec);
      auto gc_line = lines.WaitForStdout("gc=");
      REQUIRE(gc_line);
      grandchild = std::stoi(gc_line->substr(3));
      auto pid = h.runner.PidForTesting(handle);
      REQUIRE(pid);
      child_pid = *pid;
    }
    CHECK(EndsWithin(child_pid, milliseconds(0)));
    CHECK(EndsWithin(grandchild, seconds(5)));
    CHECK(ChildrenOfSelf() == before);
  }

  TEST_CASE("platform: PosixProcessRunner keeps up with 10 MB of output") {
    // Given a child that writes 10 MiB of 37-byte lines, a 1 MiB tail and a log
    TempDir dir;
    const std::string line = "0123456789abcdefghijklmnopqrstuvwxyz";
    const size_t total = 10 << 20;
    std::string expected;
    expected.reserve(total + line.size() + 1);
    while (expected.size() < total) expected.append(line).push_back('\n');
    expected.resize(total);

    struct Count {
      std::mutex mu;
      size_t lines = 0;
      size_t bad = 0;
      std::string last;
    } count;
    Harness h;
    ProcessSpec spec = Sh("yes " + line + " | head -c " + std::to_string(total));
    spec.max_output_bytes = 1 << 20;
    spec.log_path = dir.Join("job.log");
    spec.on_line = [&](OutputStream stream, std::string_view l) {
      std::lock_guard<std::mutex> lock(count.mu);
      ++count.lines;
      if (stream != OutputStream::kStdout || line.rfind(l, 0) != 0) ++count.bad;
      count.last = l;
    };
    // When it runs
    FinishedProcess f = h.Run(spec);
    // Then it finished on its own (never blocked on a full pipe)
    CHECK(f.exit_code == 0);
    CHECK(f.stop_reason == StopReason::kNone);
    CHECK_OK(f.log_status);
    // And the log has every byte, in order
    CHECK(testing::ReadFileOrDie(spec.log_path) == expected);
    // And memory holds only the last 1 MiB
    CHECK(f.output_truncated);
    CHECK(f.stdout_data.size() == spec.max_output_bytes);
    CHECK(f.stdout_data == expected.substr(total - spec.max_output_bytes));
    CHECK(f.stderr_data.empty());
    // And every line reached on_line, the partial last one at exit
    std::lock_guard<std::mutex> lock(count.mu);
    CHECK(count.lines == (total + line.size()) / (line.size() + 1));
    CHECK(count.bad == 0);
    CHECK(count.last == line.substr(0, total % (line.size() + 1)));
  }

  TEST_CASE("platform: PosixProcessRunner: a 100 MB line, capped tails, nothing left behind") {
    // Given a runner and the descriptors and threads of this process,
    TempDir dir;
    struct Pieces {
      std::mutex mu;
      size_t count = 0;
      size_t bytes = 0;
      size_t longest = 0;
    } pieces;  // outlives the runner that calls it
    Harness h;
    // (each count includes the descriptor the listing itself has open)
    auto count = [](const char* dir) {
      size_t n = 0;
      for (auto it = std::filesystem::directory_iterator(dir); it != std::filesystem::end(it);
           ++it) {
        ++n;
      }
      return n;
    };
    auto count_fds = [&] { return count("/proc/self/fd"); };
    auto count_threads = [&] { return count("/proc/self/task"); };
    const size_t fds = count_fds();
    const size_t threads = count_threads();
    // When a child writes one 100 MB line (no newline until the end) to
    // stdout and a line to stderr, with 1 MiB tails and a log,
    ProcessSpec spec = Sh("head -c 100000000 /dev/zero | tr '\\0' x; echo; echo done >&2");
    spec.max_output_bytes = 1 << 20;
    spec.log_path = dir.Join("job.log");
    spec.on_line = [&](OutputStream stream, std::string_view line) {
      if (stream != OutputStream::kStdout) return;
      std::lock_guard<std::mutex> lock(pieces.mu);
      ++pieces.count;
      pieces.bytes += line.size();
      pieces.longest = std::max(pieces.longest, line.size());
    };
    FinishedProcess f = h.Run(spec);
    // then it finished, the tails hold the last 1 MiB only,
    CHECK(f.exit_code == 0);
    CHECK(f.output_truncated);
    CHECK(f.stdout_data.size() == spec.max_output_bytes);
    CHECK(f.stdout_data == std::string((1 << 20) - 1, 'x') + "\n");
    CHECK(f.stderr_data == "done\n");
    // on_line got the line in pieces of at most 1 MiB,
    {
      std::lock_guard<std::mutex> lock(pieces.mu);
      CHECK(pieces.bytes == 100'000'000);
      CHECK(pieces.longest == (1u << 20));
      CHECK(pieces.count == 100'000'000 / (1 << 20) + 1);
    }
    // the log stops at the default 64 MiB with one line that says so,
    struct stat st {};
    REQUIRE(::stat(spec.log_path.c_str(), &st) == 0);
    CHECK(f.log_bytes == (uint64_t{64} << 20));
    CHECK(f.log_truncated);
    CHECK(st.st_size > (int64_t{64} << 20));
    CHECK(st.st_size < (int64_t{64} << 20) + 200);
    CHECK_OK(f.log_status);
    // and the runner holds no descriptor and no thread more than before
    // (the I/O thread closes the child's pidfd just after handing it out).
    CHECK(testing::WaitUntil([&] { return count_fds() == fds; }, seconds(5)));
    CHECK(count_fds() == fds);
    CHECK(count_threads() == threads);
  }

  TEST_CASE("platform: PosixProcessRunner delivers lines in order on both streams") {
    // Given a child that interleaves stdout and stderr, writes an empty line,
    // a 2,500,000-byte line and ends both streams without a newline
    Lines lines;  // outlives the runner that calls it
    Harness h;
    ProcessSpec spec =
        Sh("echo o1; echo e1 >&2; echo o2; printf 'e2\\n\\ne3\\n' >&2; echo o3\n"
           "head -c 2500000 /dev/zero | tr '\\0' a; echo\n"
           "printf 'o-last'; printf 'e-last' >&2");
    spec.on_line = lines.Callback();
    FinishedProcess f = h.Run(spec);
    REQUIRE(f.exit_code == 0);
    std::vector<std::string> out = lines.out();
    // Then each stream's lines arrive in order; long lines in 1 MiB pieces
    REQUIRE(out.size() == 7);
    CHECK(out[0] == "o1");
    CHECK(out[1] == "o2");
    CHECK(out[2] == "o3");
    CHECK(out[3] == std::string(1 << 20, 'a'));
    CHECK(out[4] == std::string(1 << 20, 'a'));
    CHECK(out[5] == std::string(2500000 - 2 * (1 << 20), 'a'));
    CHECK(out[6] == "o-last");
    CHECK(lines.err() == std::vector<std::string>{"e1", "e2", "", "e3", "e-last"});
    // And the tails keep the raw bytes, newlines included
    CHECK(f.stderr_data == "e1\ne2\n\ne3\ne-last");
    CHECK(f.stdout_data.size() == 9 + 2500001 + 6);
  }

  TEST_CASE("platform: PosixProcessRunner reports a log that cannot be written") {
    Harness h;
    SUBCASE("missing directory: Start fails and nothing runs") {
      TempDir dir;
      ProcessSpec spec = Sh("exit 0");
      spec.log_path = dir.Join("missing/job.log");
      auto r = h.runner.Start(spec);
      CHECK(r.status().IsNotFound());
      CHECK(r.status().message().find(spec.log_path) != std::string::npos);
      CHECK(h.runner.running() == 0);
    }
    SUBCASE("a full disk: log_status says so, the tail is complete") {
      ProcessSpec spec = Sh("echo hello");
      spec.log_path = "/dev/full";
      FinishedProcess f = h.Run(spec);
      CHECK(f.exit_code == 0);
      CHECK(f.log_status.code() == Status::Code::kResourceExhausted);
      CHECK(f.stdout_data == "hello\n");
    }
  }

  TEST_CASE("platform: PosixProcessRunner start errors") {
    TempDir dir;
    Harness h;
    ProcessSpec spec;
    spec.env = {{"PATH", "/usr/bin:/bin"}};
    SUBCASE("missing binary by path") {
      spec.argv = {dir.Join("no-such-tofu")};
      auto r = h.runner.Start(spec);
      CHECK(r.status().IsNotFound());
      CHECK(r.status().message().find(dir.Join("no-such-tofu")) != std::string::npos);
    }
    SUBCASE("missing binary on PATH: the message names the binary and the PATH") {
      spec.argv = {"provisioner-no-such-tofu", "version"};
      auto r = h.runner.Start(spec);
      CHECK(r.status().IsNotFound());
      CHECK(r.status().message().find("provisioner-no-such-tofu") != std::string::npos);
      CHECK(r.status().message().find("PATH=/usr/bin:/bin") != std::string::npos);
    }
    SUBCASE("the daemon's own PATH is not searched") {
      spec.env = {{"HOME", "/"}};  // no PATH; the test process has /usr/bin on its PATH
      spec.argv = {"true"};
      CHECK(h.runner.Start(spec).status().IsNotFound());
    }
    SUBCASE("permission denied") {
      MakeFile(dir.Join("tool"), "#!/bin/sh\nexit 0\n", 0644);
      spec.argv = {dir.Join("tool")};
      auto r = h.runner.Start(spec);
      CHECK(r.status().code() == Status::Code::kPermissionDenied);
      spec.argv = {"tool"};
      spec.env["PATH"] = dir.path();
      r = h.runner.Start(spec);
      CHECK(r.status().code() == Status::Code::kPermissionDenied);
      CHECK(r.status().message().find(dir.Join("tool")) != std::string::npos);
    }
    SUBCASE("exec format error") {
      MakeFile(dir.Join("garbage"), std::string("\x01\x02\x03 not a program\n", 18), 0755);
      spec.argv = {dir.Join("garbage")};
      auto r = h.runner.Start(spec);
      CHECK(r.status().IsInvalidArgument());
      CHECK(r.status().message().find("exec format error") != std::string::npos);
    }
    SUBCASE("missing working directory") {
      spec.argv = {"/bin/true"};
      spec.working_dir = dir.Join("gone");
      auto r = h.runner.Start(spec);
      CHECK(r.status().IsInvalidArgument());
      CHECK(r.status().message().find("working directory " + dir.Join("gone")) !=
            std::string::npos);
    }
    SUBCASE("empty argv") { CHECK(h.runner.Start(spec).status().IsInvalidArgument()); }
    SUBCASE("bad environment name") {
      spec.argv = {"/bin/true"};
      spec.env["A=B"] = "x";
      CHECK(h.runner.Start(spec).status().IsInvalidArgument());
    }
    CHECK(h.runner.running() == 0);
    CHECK(h.runner.Reap().empty());
  }

  TEST_CASE("platform: PosixProcessRunner resolves argv[0] on the child's PATH") {
    // Given an executable in a directory that is only on the child's PATH,
    // after a relative entry and a missing directory
    TempDir dir;
    MakeFile(dir.Join("mytool"), "#!/bin/sh\necho \"mytool $1\"\n", 0755);
    Harness h;
    ProcessSpec spec;
    spec.argv = {"mytool", "arg"};
    spec.env = {{"PATH", "relative:/nonexistent:" + dir.path()}};
    FinishedProcess f = h.Run(spec);
    CHECK(f.exit_code == 0);
    CHECK(f.stdout_data == "mytool arg\n");
  }

  TEST_CASE("platform: PosixProcessRunner environment is exactly spec.env") {
    // Given a variable in the test process's environment
    REQUIRE(::setenv("PROVISIONER_TEST_SECRET", "leaked", 1) == 0);
    Harness h;
    ProcessSpec spec;
    spec.argv = {"/usr/bin/env"};
    spec.env = {{"PATH", "/usr/bin:/bin"}, {"TF_IN_AUTOMATION", "1"}, {"EMPTY", ""}};
    FinishedProcess f = h.Run(spec);
    ::unsetenv("PROVISIONER_TEST_SECRET");
    // Then the child sees spec.env and nothing else
    CHECK(f.exit_code == 0);
    std::vector<std::string> env = SplitLines(f.stdout_data);
    std::sort(env.begin(), env.end());
    CHECK(env == std::vector<std::string>{"EMPTY=", "PATH=/usr/bin:/bin", "TF_IN_AUTOMATION=1"});
  }

  TEST_CASE(
      "platform: PosixProcessRunner sets the working directory in the child "
      "only") {
    TempDir dir;
    const std::string before = std::filesystem::current_path();
    Harness h;
    ProcessSpec spec;
    spec.argv = {"/bin/pwd", "-P"};
    spec.working_dir = dir.path();
    FinishedProcess f = h.Run(spec);
    CHECK(f.exit_code == 0);
    CHECK(f.stdout_data == std::filesystem::canonical(dir.path()).string() + "\n");
    CHECK(std::filesystem::current_path() == before);
  }

  TEST_CASE("platform: PosixProcessRunner child reads EOF from stdin") {
    Harness h;
    // cat would block forever on an inherited terminal or pipe; the spec's
    // timeout would then fail this test with kTimeout.
    ProcessSpec spec = Sh("cat; echo \"cat=$?\"; readlink /proc/self/fd/0");
    spec.timeout = seconds(10);
    FinishedProcess f = h.Run(spec);
    CHECK(f.stop_reason == StopReason::kNone);
    CHECK(f.stdout_data == "cat=0\n/dev/null\n");
  }

  TEST_CASE("platform: PosixProcessRunner resets the signal mask and dispositions") {
    // Given the daemon's setup: SIGPIPE ignored (cpp-httplib does it) and
    // SIGINT/SIGTERM/SIGHUP blocked in the starting thread (for a signalfd)
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction old_pipe {};
    REQUIRE(::sigaction(SIGPIPE, &ignore, &old_pipe) == 0);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &block, &old_mask) == 0);

    Harness h;
    ProcessSpec spec;
    spec.argv = {"/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"};
    auto handle = h.runner.Start(spec);

    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    REQUIRE_OK(handle);
    auto f = h.Await(*handle);
    REQUIRE(f.has_value());
    // Then the child blocks and ignores nothing
    CHECK(f->stdout_data == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  }

  TEST_CASE(
      "platform: PosixProcessRunner child inherits no descriptor but 0, 1 and "
      "2") {
    // Given descriptors without close-on-exec, as cpp-httplib's accept() makes:
    // a listening socket, both ends of a TCP connection and a plain pipe
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    int client = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    int accepted = ::accept(listener, nullptr, nullptr);
    REQUIRE(accepted >= 0);
    int plain_pipe[2];
    REQUIRE(::pipe(plain_pipe) == 0);
    for (int fd : {listener, client, accepted, plain_pipe[0], plain_pipe[1]}) {
      REQUIRE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0);
    }

    // When a child runs
    Harness h;
    ProcessSpec spec;
    spec.argv = {"/bin/sleep", "300"};
    spec.timeout = seconds(30);
    RunHandle handle = h.StartOrDie(spec);
    auto pid = h.runner.PidForTesting(handle);
    REQUIRE(pid);
    // Then, seen from outside while it runs (once it has exec'd: before
    // that, the runner's close-on-exec status pipe is still open), it holds
    // exactly 0, 1 and 2
    const std::string exe = "/proc/" + std::to_string(*pid) + "/exe";
    REQUIRE(testing::WaitUntil(
        [&] {
          std::error_code ec;
          return std::filesystem::read_symlink(exe, ec).filename() == "sleep";
        },
        seconds(10)));
    std::map<std::string, std::string> fds;
    const std::string fd_dir = "/proc/" + std::to_string(*pid) + "/fd";
    for (const auto& entry : std::filesystem::directory_iterator(fd_dir)) {
      std::error_code ec;
      fds[entry.path().filename()] = std::filesystem::read_symlink(entry.path(), ec).string();
    }
    h.runner.Stop(handle, StopReason::kCancelled);
    REQUIRE(h.Await(handle).has_value());
    CHECK(h.runner.PidForTesting(handle) == std::nullopt);
    for (int fd : {listener, client, accepted, plain_pipe[0], plain_pipe[1]}) {
      ::close(fd);
    }

    REQUIRE(fds.size() == 3);
    CHECK(fds["0"] == "/dev/null");
    CHECK(fds["1"].rfind("pipe:", 0) == 0);
    CHECK(fds["2"].rfind("pipe:", 0) == 0);
    CHECK(fds["1"] != fds["2"]);
  }

  TEST_CASE("platform: PosixProcessRunner Wait and Reap hand out each child once") {
    Harness h;
    RunHandle a = h.StartOrDie(Sh("exit 1"));
    RunHandle b = h.StartOrDie(Sh("exit 2"));
    // Wait blocks for its own child
    FinishedProcess fa = h.runner.Wait(a);
    CHECK(fa.handle == a);
    CHECK(fa.exit_code == 1);
    // Reap never returns a child that Wait handed out
    auto fb = h.Await(b);
    REQUIRE(fb.has_value());
    CHECK(fb->exit_code == 2);
    CHECK(h.runner.Reap().empty());
    // A handle already handed out, or never started, returns at once
    FinishedProcess again = h.runner.Wait(a);
    CHECK(again.handle == a);
    CHECK(again.exit_code == -1);
    CHECK(h.runner.Wait(424242).exit_code == -1);
    // Waiting for a child that has already finished returns it
    RunHandle c = h.StartOrDie(Sh("exit 4"));
    FinishedProcess fc = h.runner.Wait(c);
    CHECK(fc.exit_code == 4);
  }

  TEST_CASE("platform: PosixProcessRunner keeps a collect_with_wait child from Reap") {
    // Given a child that a one-shot caller will Wait() for, and a loop on
    // another thread that Reaps the same runner (the daemon's health check),
    Harness h;
    ProcessSpec spec = Sh("exit 7");
    spec.collect_with_wait = true;
    RunHandle handle = h.StartOrDie(spec);
    // when the child exits and the loop Reaps before Wait() is called,
    REQUIRE(h.WaitFinishes(1));
    CHECK(h.runner.Reap().empty());
    // then Wait() still gets its result (without the flag Reap took it, and
    // the health check saw "exit -1").
    FinishedProcess f = h.runner.Wait(handle);
    CHECK(f.handle == handle);
    CHECK(f.exit_code == 7);
    CHECK(h.runner.running() == 0);
  }

  TEST_CASE("platform: PosixProcessRunner Start and Wait from several threads") {
    Harness h;
    constexpr int kThreads = 4;
    constexpr int kEach = 8;
    std::vector<std::vector<int>> codes(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          auto handle = h.runner.Start(Sh("exit " + std::to_string(t * 10 + i)));
          codes[t].push_back(handle.ok() ? h.runner.Wait(*handle).exit_code : -100);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < kEach; ++i) CHECK(codes[t][i] == t * 10 + i);
    }
    CHECK(h.runner.running() == 0);
  }

  TEST_CASE("platform: PosixProcessRunner hands inherit_fd to the child as descriptor 3") {
    // Given a flock held by the daemon and handed to a child
    TempDir tmp;
    const std::string path = tmp.Join("ws.lock");
    auto lock = FileLock::TryAcquire(path);
    REQUIRE_OK(lock);
    Harness h;
    ProcessSpec spec = Sh("ls -l /proc/self/fd/; exec sleep 300");
    spec.inherit_fd = (*lock)->fd();
    spec.timeout = seconds(30);
    std::mutex mu;
    std::string out;
    spec.on_line = [&](OutputStream, std::string_view line) {
      std::lock_guard<std::mutex> g(mu);
      out += std::string(line) + "\n";
    };
    RunHandle handle = h.StartOrDie(spec);
    auto pid = h.runner.PidForTesting(handle);
    REQUIRE(pid);
    REQUIRE(testing::WaitUntil(
        [&] {
          std::error_code ec;
          return std::filesystem::read_symlink("/proc/" + std::to_string(*pid) + "/exe", ec)
                     .filename() == "sleep";
        },
        seconds(10)));
    // Then the child saw it as 3 and nothing above it (ls's own directory
    // descriptor aside)
    {
      std::lock_guard<std::mutex> g(mu);
      CHECK(out.find(" 3 -> " + path) != std::string::npos);
      CHECK(out.find(" 5 -> ") == std::string::npos);
    }
    // And when the daemon lets go of its copy, the child still holds the lock
    lock->reset();
    CHECK_FALSE(FileLock::TryAcquire(path).ok());
    h.runner.Stop(handle, StopReason::kCancelled);
    REQUIRE(h.Await(handle).has_value());
    CHECK(FileLock::TryAcquire(path).ok());
  }

  TEST_CASE("platform: PosixProcessRunner cuts the log at max_log_bytes, not the tails") {
    TempDir tmp;
    Harness h;
    ProcessSpec spec = Sh("head -c 5000 /dev/zero | tr '\\0' x; echo; echo end");
    spec.log_path = tmp.Join("job.log");
    spec.max_log_bytes = 1000;
    RunHandle handle = h.StartOrDie(spec);
    auto done = h.Await(handle);
    REQUIRE(done.has_value());
    CHECK(done->exit_code == 0);
    CHECK(done->log_bytes == 1000);
    CHECK(done->log_truncated);
    CHECK(done->log_status.ok());
    CHECK(done->stdout_data.size() == 5000 + 1 + 4);  // the tail has it all
    const std::string log = testing::ReadFileOrDie(spec.log_path);
    CHECK(log.starts_with(std::string(1000, 'x') + "\n[provisioner: job log truncated after 1000"));
    CHECK(log.find("end") == std::string::npos);
    CHECK(log.size() < 1200);
  }

  TEST_CASE("platform: PosixProcessRunner rejects a standard descriptor as inherit_fd") {
    Harness h;
    ProcessSpec spec = Sh("exit 0");
    spec.inherit_fd = 1;
    auto started = h.runner.Start(spec);
    REQUIRE_FALSE(started.ok());
    CHECK(started.status().code() == Status::Code::kInvalidArgument);
  }

  TEST_CASE("platform: a child's identity finds it again from another runner, once only") {
    // Given a child of one runner (the daemon before a crash)
    Harness first;
    ProcessSpec spec;
    spec.argv = {"/bin/sleep", "300"};
    spec.timeout = seconds(60);
    RunHandle handle = first.StartOrDie(spec);
    auto id = first.runner.Identify(handle);
    REQUIRE(id.has_value());
    CHECK(id->pid == first.runner.PidForTesting(handle));
    CHECK(id->boot_id == BootId());
    CHECK_FALSE(id->boot_id.empty());

    // Then a second runner (the restarted daemon) sees it running, and does
    // not take a different start time or boot for it
    Harness second;
    CHECK(second.runner.LeftoverRunning(*id));
    ProcessIdentity recycled = *id;
    recycled.start_ticks += 1;
    CHECK_FALSE(second.runner.LeftoverRunning(recycled));
    ProcessIdentity other_boot = *id;
    other_boot.boot_id = "00000000-0000-0000-0000-000000000000";
    CHECK_FALSE(second.runner.LeftoverRunning(other_boot));
    second.runner.SignalLeftover(recycled, LeftoverSignal::kKill);  // not it: nothing happens
    CHECK(second.runner.LeftoverRunning(*id));

    // When the second runner kills it, it is gone
    second.runner.SignalLeftover(*id, LeftoverSignal::kKill);
    auto finished = first.Await(handle);
    REQUIRE(finished.has_value());
    CHECK(finished->term_signal == SIGKILL);
    CHECK_FALSE(second.runner.LeftoverRunning(*id));
    CHECK_FALSE(first.runner.Identify(handle).has_value());
  }

  TEST_CASE("platform: SignalLeftover interrupts with SIGINT to the process only") {
    Harness first;
    ProcessSpec spec = Sh("trap 'exit 7' INT; echo trapped; sleep 300 & wait");
    std::atomic<bool> trapped{false};
    spec.on_line = [&](OutputStream, std::string_view line) {
      if (line == "trapped") trapped = true;
    };
    RunHandle handle = first.StartOrDie(spec);
    REQUIRE(testing::WaitUntil([&] { return trapped.load(); }, seconds(10)));
    auto id = first.runner.Identify(handle);
    REQUIRE(id.has_value());
    Harness second;
    second.runner.SignalLeftover(*id, LeftoverSignal::kInterrupt);
    auto finished = first.Await(handle);
    REQUIRE(finished.has_value());
    CHECK(finished->exit_code == 7);
  }

  // A grandchild that calls setsid() leaves the step's process group, so the
  // group kill at the step's exit misses it. The daemon's runner is a child
  // subreaper and kills what an exited step left behind.
  TEST_CASE("platform: an orphan that escaped with setsid dies with its step (reap_orphans)") {
    {
      // Without the option it outlives its step.
      Harness plain;
      Lines lines;
      const int pid = RunLeavingOrphan(plain, lines, "exit 0");
      CHECK_FALSE(EndsWithin(pid, milliseconds(1500)));
      ::kill(pid, SIGKILL);
    }
    Harness h(PosixProcessRunner::Options{.reap_orphans = true});
    Lines lines;
    const int pid = RunLeavingOrphan(h, lines, "echo step $PROVISIONER_STEP");
    CHECK(EndsWithin(pid, seconds(10)));
    // The variable that ties it to its step: "<runner's pid>.<n>".
    auto step = lines.WaitForStdout("step ");
    REQUIRE(step.has_value());
    CHECK(step->starts_with("step " + std::to_string(ProcessId()) + "."));
  }

  TEST_CASE("platform: an orphan of a step that still runs is left alone until the step ends") {
    Harness h(PosixProcessRunner::Options{.reap_orphans = true});
    TempDir dir;
    Lines lines;
    ProcessSpec spec = Escaping(dir, "sleep 300", "exec sleep 300");
    spec.on_line = lines.Callback();
    const RunHandle running = h.StartOrDie(spec);
    const int pid = OrphanPid(lines);
    // Another step's exit sweeps the orphans; this one's step still runs.
    CHECK(h.Run(Sh("exit 0")).exit_code == 0);
    CHECK_FALSE(EndsWithin(pid, milliseconds(2000)));
    h.runner.Stop(running, StopReason::kCancelled);
    REQUIRE(h.Await(running).has_value());
    CHECK(EndsWithin(pid, seconds(10)));
  }

  TEST_CASE("platform: an orphan without its step's variable is reaped when it exits") {
    Harness h(PosixProcessRunner::Options{.reap_orphans = true});
    TempDir dir;
    Lines lines;
    // env -i: nothing ties it to its step, so it is left to run; once it
    // exits, the runner, now its parent, reaps it: no zombie stays.
    ProcessSpec spec = Escaping(dir, "sleep 1", "exit 0", "env -i");
    spec.on_line = lines.Callback();
    CHECK(h.Run(spec).exit_code == 0);
    const int pid = OrphanPid(lines);
    auto stat = ReadProcStat(pid);
    REQUIRE_OK(stat);
    CHECK(stat->ppid == static_cast<uint64_t>(ProcessId()));  // reparented to the runner's process
    CHECK(testing::WaitUntil(
        [&] { return ReadProcStat(pid).status().code() == Status::Code::kNotFound; }, seconds(15)));
  }

  TEST_CASE("platform: ReadProcStat reads any process, and NotFound for none") {
    CHECK(ReadProcStat(ProcessId())->state == 'R');
    CHECK(ReadProcStat(ProcessId())->starttime_ticks > 0);
    CHECK(ReadProcStat(0).status().code() == Status::Code::kNotFound);
    CHECK(ReadProcStat(std::numeric_limits<int32_t>::max()).status().code() ==
          Status::Code::kNotFound);
  }
}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::platform
