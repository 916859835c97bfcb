// Process plumbing of the fake: unbuffered output, clocks, signals, children
// and the one exit path that records the exit code.
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>

#include "fake_tofu.h"

namespace fake_tofu {
namespace {

constexpr int kMaxRecordedSignals = 32;
volatile sig_atomic_t g_signal_count = 0;
volatile sig_atomic_t g_signals[kMaxRecordedSignals];
int g_wake_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  int saved_errno = errno;
  int n = g_signal_count;
  if (n < kMaxRecordedSignals) g_signals[n] = sig;
  g_signal_count = n + 1;
  char byte = 0;
  // A full pipe already guarantees a wake-up; the result does not matter.
  ssize_t ignored = write(g_wake_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved_errno;
}

std::string FormatTime(std::chrono::system_clock::time_point t, bool utc, const char* fmt) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  if (utc) {
    gmtime_r(&secs, &tm);
  } else {
    localtime_r(&secs, &tm);
  }
  char buf[64];
  std::strftime(buf, sizeof(buf), fmt, &tm);
  return buf;
}

int64_t Nanos(std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns % 1000000000;
}

// Go trims trailing zeros of the fraction in both String() and RFC3339Nano.
std::string GoFraction(int64_t nanos) {
  if (nanos == 0) return "";
  char buf[16];
  std::snprintf(buf, sizeof(buf), ".%09lld", static_cast<long long>(nanos));
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  return s;
}

std::mt19937_64& Rng() {
  static std::mt19937_64 rng(std::random_device{}() ^ (static_cast<uint64_t>(getpid()) << 32));
  return rng;
}

void KillAndReap(int* pid, int sig) {
  if (*pid <= 0) return;
  kill(*pid, sig);
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  *pid = -1;
}

void ReleaseForExit(bool keep_lock_info) {
  ExitHooks& hooks = CurrentExitHooks();
  if (hooks.lock_fd >= 0) {
    if (!keep_lock_info && !hooks.lock_info_path.empty()) unlink(hooks.lock_info_path.c_str());
    close(hooks.lock_fd);
    hooks.lock_fd = -1;
  }
  if (hooks.holder_pipe >= 0) {
    close(hooks.holder_pipe);  // EOF: the holder removes its lock info and exits
    hooks.holder_pipe = -1;
  }
  if (hooks.holder_pid > 0) {
    int status = 0;
    while (waitpid(hooks.holder_pid, &status, 0) < 0 && errno == EINTR) {
    }
    hooks.holder_pid = -1;
  }
  KillAndReap(&hooks.provider_pid, SIGKILL);
}

void RecordExit(int code) {
  Invocation& inv = CurrentInvocation();
  if (inv.log_path.empty()) return;
  Json record;
  record["event"] = "exit";
  record["pid"] = getpid();
  record["command"] = inv.command;
  record["scenario"] = inv.scenario;
  record["step"] = inv.step;
  record["exit_code"] = code;
  record["signals"] = SignalNames();
  AppendLogRecord(record);
}

}  // namespace

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // a closed pipe: like tofu, keep going and let SIGPIPE decide
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string HclogTimestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char base[32];
  std::strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  long offset = tm.tm_gmtoff;
  if (offset == 0) {
    std::snprintf(out, sizeof(out), "%s.%06lldZ", base, static_cast<long long>(Nanos(now) / 1000));
  } else {
    char sign = offset < 0 ? '-' : '+';
    long abs = offset < 0 ? -offset : offset;
    std::snprintf(out, sizeof(out), "%s.%06lld%c%02ld:%02ld", base,
                  static_cast<long long>(Nanos(now) / 1000), sign, abs / 3600, (abs % 3600) / 60);
  }
  return out;
}

std::string GoTimeString(std::chrono::system_clock::time_point t) {
  return FormatTime(t, true, "%Y-%m-%d %H:%M:%S") + GoFraction(Nanos(t)) + " +0000 UTC";
}

std::string Rfc3339Nano(std::chrono::system_clock::time_point t) {
  return FormatTime(t, true, "%Y-%m-%dT%H:%M:%S") + GoFraction(Nanos(t)) + "Z";
}

std::string RandomUuid() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    out.push_back(kHex[Rng()() % 16]);
  }
  return out;
}

std::string RandomDigits(int n) {
  std::string out;
  out.push_back(static_cast<char>('1' + Rng()() % 9));
  for (int i = 1; i < n; ++i) out.push_back(static_cast<char>('0' + Rng()() % 10));
  return out;
}

std::string WhoAmI() {
  std::string user = "unknown";
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    user = pw->pw_name;
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "localhost");
  return user + "@" + host;
}

void InstallSignalHandlers() {
  if (pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    Err("fake_tofu: pipe2 failed\n");
    _exit(kExitFakeMisconfigured);
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking prompt read must see EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void DetachChildStdio() {
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    close(null_fd);
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

int SignalCount() { return g_signal_count; }

std::vector<std::string> SignalNames() {
  std::vector<std::string> names;
  int n = g_signal_count;
  for (int i = 0; i < n && i < kMaxRecordedSignals; ++i) {
    int sig = g_signals[i];
    names.push_back(sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : std::to_string(sig));
  }
  return names;
}

bool SleepUnlessSignalled(std::chrono::nanoseconds real, int seen) {
  auto deadline = std::chrono::steady_clock::now() + real;
  while (true) {
    if (SignalCount() > seen) return false;
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return true;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    pollfd pfd{g_wake_pipe[0], POLLIN, 0};
    if (ppoll(&pfd, 1, &ts, nullptr) > 0) {
      char buf[64];
      while (read(g_wake_pipe[0], buf, sizeof(buf)) > 0) {
      }
    }
  }
}

Invocation& CurrentInvocation() {
  static Invocation invocation;
  return invocation;
}

void AppendLogRecord(const Json& record) {
  const std::string& path = CurrentInvocation().log_path;
  if (path.empty()) return;
  std::string line = record.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // One write per record: O_APPEND keeps concurrent fakes' lines whole.
  WriteAll(fd, line);
  close(fd);
}

ExitHooks& CurrentExitHooks() {
  static ExitHooks hooks;
  return hooks;
}

void Exit(int code) {
  ReleaseForExit(/*keep_lock_info=*/false);
  // Like tofu's deferred span.End() + ForceFlush: after the lock is released,
  // before the exit record, so whoever sees the record can find the span.
  ExportCommandSpan(code);
  RecordExit(code);
  _exit(code);
}

void Crash() {
  static constexpr std::string_view kBanner =
      "!!!!!!!!!!!!!!!!!!!!!!!!!!! OPENTOFU CRASH !!!!!!!!!!!!!!!!!!!!!!!!!!!!";
  std::string text;
  text += "\n";
  text += kBanner;
  text +=
      "\n\nOpenTofu crashed! This is always indicative of a bug within "
      "OpenTofu.\n"
      "Please report the crash with OpenTofu[1] so that we can fix this.\n\n"
      "When reporting bugs, please include your OpenTofu version, the stack "
      "trace\n"
      "shown below, and any additional information which may help replicate "
      "the issue.\n\n"
      "[1]: https://github.com/opentofu/opentofu/issues\n\n";
  text += kBanner;
  text +=
      "\n\npanic: runtime error: invalid memory address or nil pointer "
      "dereference\n"
      "[signal SIGSEGV: segmentation violation code=0x1 addr=0x10 "
      "pc=0x2b1f3c4]\n\n"
      "goroutine 114 [running]:\n"
      "github.com/opentofu/opentofu/internal/"
      "tofu.(*NodeApplyableResourceInstance)."
      "managedResourceExecute(0xc000a1e2d0, {0x3a1b2c8, 0xc000b3c000})\n"
      "\t/home/runner/work/opentofu/opentofu/internal/tofu/"
      "node_resource_apply_instance.go:287 +0x3c4\n"
      "github.com/opentofu/opentofu/internal/"
      "tofu.(*NodeApplyableResourceInstance).Execute"
      "(0xc000a1e2d0, {0x3a1b2c8, 0xc000b3c000}, 0x2)\n"
      "\t/home/runner/work/opentofu/opentofu/internal/tofu/"
      "node_resource_apply_instance.go:137 +0xb4\n"
      "github.com/opentofu/opentofu/internal/"
      "tofu.(*ContextGraphWalker).Execute(...)\n"
      "\t/home/runner/work/opentofu/opentofu/internal/tofu/"
      "graph_walk_context.go:165 +0x9c\n"
      "created by github.com/opentofu/opentofu/internal/dag.(*Walker).Update "
      "in goroutine 98\n"
      "\t/home/runner/work/opentofu/opentofu/internal/dag/walk.go:372 +0x3d8\n";
  Err(text);
  // A panicking tofu does not run its deferred unlock: the fcntl lock dies
  // with the process, the lock-info file stays behind.
  ReleaseForExit(/*keep_lock_info=*/true);
  RecordExit(11);
  _exit(11);
}

}  // namespace fake_tofu
