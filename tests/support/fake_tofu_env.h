// Test helpers for the fake `tofu` (tests/support/fake_tofu, README.md
// there): a sandbox that installs it as `tofu` in a private bin dir, and a
// small child-process driver that waits on pipes and a pidfd, never on sleeps.
//
// Header-only so that any test can include it; only tests use it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/test_util.h"

namespace provisioner::testing {

#ifdef FAKE_TOFU_BINARY
inline constexpr const char* kFakeTofuBinary = FAKE_TOFU_BINARY;
#endif

struct ProcessResult {
  int exit_code = -1;   // -1 when a signal ended the child
  int term_signal = 0;  // the signal that ended it, or 0
  bool timed_out = false;
  std::string out;
  std::string err;
};

// One child process with its stdout and stderr on pipes. The destructor
// kills (SIGKILL, whole process group) and reaps a child still running.
class Subprocess {
 public:
  // Starts argv (argv[0] a path) with exactly `env`, in `cwd`, in its own
  // process group. stdin is /dev/null unless `stdin_pipe`.
  static std::unique_ptr<Subprocess> Start(const std::vector<std::string>& argv,
                                           const std::map<std::string, std::string>& env,
                                           const std::string& cwd, bool stdin_pipe = false) {
    auto p = std::unique_ptr<Subprocess>(new Subprocess());
    int out[2], err[2], in[2] = {-1, -1};
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    if (stdin_pipe) REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> c_argv, c_env;
    for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
    c_argv.push_back(nullptr);
    for (std::string& e : env_strings) c_env.push_back(e.data());
    c_env.push_back(nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      setpgid(0, 0);
      int null_fd = open("/dev/null", O_RDONLY);
      dup2(stdin_pipe ? in[0] : null_fd, 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
      execve(c_argv[0], c_argv.data(), c_env.data());
      _exit(127);
    }
    setpgid(pid, pid);  // also here: no race with the child's own call
    close(out[1]);
    close(err[1]);
    if (stdin_pipe) {
      close(in[0]);
      p->stdin_fd_ = in[1];
    }
    p->pid_ = pid;
    p->out_fd_ = out[0];
    p->err_fd_ = err[0];
    fcntl(p->out_fd_, F_SETFL, O_NONBLOCK);
    fcntl(p->err_fd_, F_SETFL, O_NONBLOCK);
    p->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    return p;
  }

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess() {
    if (!reaped_) {
      kill(-pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
    }
    for (int fd : {out_fd_, err_fd_, stdin_fd_, pidfd_}) {
      if (fd >= 0) close(fd);
    }
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return result_.out; }
  const std::string& err() const { return result_.err; }

  void Signal(int sig) { REQUIRE(kill(pid_, sig) == 0); }
  void WriteStdin(std::string_view data) {
    REQUIRE(stdin_fd_ >= 0);
    REQUIRE(write(stdin_fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  }
  void CloseStdin() {
    if (stdin_fd_ >= 0) close(stdin_fd_);
    stdin_fd_ = -1;
  }

  // Reads output until stdout (or stderr) holds `needle` after `from` bytes:
  // true; false when the child exits or the deadline passes first.
  bool WaitForOutput(std::string_view needle, std::chrono::milliseconds timeout,
                     bool on_stderr = false, size_t from = 0) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string& text = on_stderr ? result_.err : result_.out;
    while (text.find(needle, std::min(from, text.size())) == std::string::npos) {
      if (exited_ || std::chrono::steady_clock::now() >= deadline) return false;
      Pump(deadline);
    }
    return true;
  }

  // True while the child has not exited (checked without blocking).
  bool Running() {
    if (exited_) return false;
    pollfd pfd{pidfd_, POLLIN, 0};
    return pidfd_ >= 0 ? poll(&pfd, 1, 0) == 0 : kill(pid_, 0) == 0;
  }

  // Reads everything until the child exits, then reaps it. At the deadline
  // the process group is killed and `timed_out` set.
  ProcessResult Wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
      if (std::chrono::steady_clock::now() >= deadline) {
        result_.timed_out = true;
        kill(-pid_, SIGKILL);
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      }
      Pump(deadline);
    }
    Drain();
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    if (WIFEXITED(status)) result_.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result_.term_signal = WTERMSIG(status);
    return result_;
  }

 private:
  Subprocess() = default;

  // One poll round over the pipes and the pidfd. A grandchild may keep the
  // pipes open after the child exits, so the child's exit (pidfd), not EOF,
  // ends the wait.
  void Pump(std::chrono::steady_clock::time_point deadline) {
    // A pipe at EOF leaves the set (fd -1 is ignored), or poll would spin.
    pollfd fds[3] = {{out_eof_ ? -1 : out_fd_, POLLIN, 0},
                     {err_eof_ ? -1 : err_fd_, POLLIN, 0},
                     {pidfd_, POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    int timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()) + 1);
    if (pidfd_ < 0) timeout_ms = std::min(timeout_ms, 10);  // no pidfd: poll waitpid
    int n = poll(fds, pidfd_ >= 0 ? 3 : 2, timeout_ms);
    if (n < 0) return;
    Drain();
    if (pidfd_ >= 0) {
      exited_ = (fds[2].revents & POLLIN) != 0;
    } else {
      siginfo_t info{};  // WNOWAIT: look without reaping, Wait() reaps
      exited_ = waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                info.si_pid != 0;
    }
  }

  void Drain() {
    char buf[65536];
    struct Stream {
      int fd;
      std::string* text;
      bool* eof;
    };
    for (Stream s :
         {Stream{out_fd_, &result_.out, &out_eof_}, Stream{err_fd_, &result_.err, &err_eof_}}) {
      ssize_t n;
      while ((n = read(s.fd, buf, sizeof(buf))) > 0) s.text->append(buf, static_cast<size_t>(n));
      if (n == 0) *s.eof = true;
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int stdin_fd_ = -1;
  int pidfd_ = -1;
  bool out_eof_ = false;
  bool err_eof_ = false;
  bool exited_ = false;
  bool reaped_ = false;
  ProcessResult result_;
};

inline ProcessResult RunProcess(const std::vector<std::string>& argv,
                                const std::map<std::string, std::string>& env,
                                const std::string& cwd,
                                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return Subprocess::Start(argv, env, cwd)->Wait(timeout);
}

#ifdef FAKE_TOFU_BINARY
// A sandbox for running the fake as `tofu`:
//   <tmp>/bin/tofu -> the fake binary (symlink)
//   <tmp>/work/    the workspace (working directory of runs)
//   <tmp>/control.json, <tmp>/invocations.jsonl
class FakeTofuEnv {
 public:
  FakeTofuEnv() {
    REQUIRE(::mkdir(dir_.Join("bin").c_str(), 0755) == 0);
    REQUIRE(::mkdir(dir_.Join("work").c_str(), 0755) == 0);
    REQUIRE(::symlink(kFakeTofuBinary, tofu_path().c_str()) == 0);
    WriteControl("{}");  // the fake refuses a control file that does not exist
  }

  std::string bin_dir() const { return dir_.Join("bin"); }
  std::string tofu_path() const { return dir_.Join("bin/tofu"); }
  std::string work_dir() const { return dir_.Join("work"); }
  std::string log_path() const { return dir_.Join("invocations.jsonl"); }
  std::string control_path() const { return dir_.Join("control.json"); }
  std::string Work(std::string_view name) const { return work_dir() + "/" + std::string(name); }

  void WriteControl(std::string_view json) { WriteFileOrDie(control_path(), json); }

  // A complete environment (nothing inherited): PATH with the fake first,
  // HOME, LANG, the fake's log and control file, the daemon's automation
  // variables, then `extra` (which may override any of these; an empty value
  // removes the variable).
  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) const {
    std::map<std::string, std::string> env = {
        {"PATH", bin_dir() + ":/usr/bin:/bin"},
        {"HOME", dir_.path()},
        {"LANG", "C.UTF-8"},
        {"TZ", "UTC"},
        {"TF_IN_AUTOMATION", "1"},
        {"TF_INPUT", "0"},
        {"FAKE_TOFU_LOG", log_path()},
        {"FAKE_TOFU_CONTROL", control_path()},
    };
    for (auto& [k, v] : extra) {
      if (v.empty()) {
        env.erase(k);
      } else {
        env[k] = v;
      }
    }
    return env;
  }

  // `tofu <args...>` in the workspace with Env(extra).
  ProcessResult Run(const std::vector<std::string>& args,
                    std::map<std::string, std::string> extra = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
    return RunProcess(Argv(args), Env(std::move(extra)), work_dir(), timeout);
  }
  std::unique_ptr<Subprocess> Start(const std::vector<std::string>& args,
                                    std::map<std::string, std::string> extra = {},
                                    bool stdin_pipe = false) const {
    return Subprocess::Start(Argv(args), Env(std::move(extra)), work_dir(), stdin_pipe);
  }

  std::vector<std::string> Argv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {tofu_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // The invocation log, one JSON text per line ("" when absent).
  std::vector<std::string> LogLines() const {
    std::vector<std::string> lines;
    std::string text;
    if (::access(log_path().c_str(), F_OK) == 0) text = ReadFileOrDie(log_path());
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      lines.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
    return lines;
  }

 private:
  TempDir dir_;
};
#endif  // FAKE_TOFU_BINARY

}  // namespace provisioner::testing
