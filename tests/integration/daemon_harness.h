// Running the real `provisioner serve` in tests: a temp dir with a template,
// a config file, the fake tofu on PATH, and helpers that wait on the
// daemon's log output or on files with a deadline (never a bare sleep).
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/strings.h"
#include "base/time_format.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "state/history.h"
#include "state/state_json.h"
#include "state/state_store.h"
#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::testing {

// A 6-field cron expression that fires at `t` (UTC, whole seconds) once a
// year: tests use it for fires a few seconds ahead or behind.
inline std::string OneShot(SystemTime t) {
  std::string s = FormatUtc(t);  // 2026-11-23T14:00:03Z
  auto num = [&s](size_t pos) { return std::to_string(std::stoi(s.substr(pos, 2))); };
  return num(17) + " " + num(14) + " " + num(11) + " " + num(8) + " " + num(5) + " *";
}

inline SystemTime WholeSecondsFromNow(int seconds) {
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  return SystemTime(now + std::chrono::seconds(seconds));
}

// A process as /proc shows it.
struct ProcessEntry {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  char state = '?';     // R, S, D, Z (zombie), ...
  std::string comm;     // the executable's short name
  std::string cmdline;  // the arguments joined with spaces
};

// Every process in /proc. A process that exits while it is read is left out.
inline std::vector<ProcessEntry> ListProcesses() {
  std::vector<ProcessEntry> out;
  DIR* proc = ::opendir("/proc");
  REQUIRE(proc != nullptr);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  while (dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    const std::string dir = std::string("/proc/") + e->d_name;
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const std::string stat = slurp(dir + "/stat");
    size_t open = stat.find('(');
    size_t close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    ProcessEntry p;
    p.pid = static_cast<pid_t>(std::atoi(e->d_name));
    p.comm = stat.substr(open + 1, close - open - 1);
    std::istringstream rest(stat.substr(close + 1));
    long ppid = 0, pgid = 0;
    if (!(rest >> p.state >> ppid >> pgid)) continue;
    p.ppid = static_cast<pid_t>(ppid);
    p.pgid = static_cast<pid_t>(pgid);
    p.cmdline = slurp(dir + "/cmdline");
    while (!p.cmdline.empty() && p.cmdline.back() == '\0') p.cmdline.pop_back();
    for (char& c : p.cmdline) c = c == '\0' ? ' ' : c;
    out.push_back(std::move(p));
  }
  ::closedir(proc);
  return out;
}

// The children of `ppid`.
inline std::vector<ProcessEntry> ChildProcesses(pid_t ppid) {
  std::vector<ProcessEntry> out;
  for (ProcessEntry& p : ListProcesses()) {
    if (p.ppid == ppid) out.push_back(std::move(p));
  }
  return out;
}

// The processes of group `pgid` that have not exited (zombies, which only
// wait for their parent to reap them, are left out).
inline std::vector<ProcessEntry> LiveProcessesInGroup(pid_t pgid) {
  std::vector<ProcessEntry> out;
  for (ProcessEntry& p : ListProcesses()) {
    if (p.pgid == pgid && p.state != 'Z' && p.state != 'X') out.push_back(std::move(p));
  }
  return out;
}

class DaemonHarness {
 public:
  DaemonHarness() {
    REQUIRE(::mkdir(root_.Join("templates").c_str(), 0755) == 0);
    REQUIRE(::mkdir(root_.Join("templates/t").c_str(), 0755) == 0);
    WriteFileOrDie(root_.Join("templates/t/main.tf"), "# fake tofu ignores HCL\n");
  }
  ~DaemonHarness() {
    if (!daemon_) return;
    if (daemon_->Running()) {
      daemon_->Signal(SIGKILL);
      daemon_->Wait(std::chrono::seconds(10));
    }
    // Under the sanitizer builds a report in the daemon ends it (halt_on_error), which a test
    // that only talks HTTP may never notice: every report fails the test that ran it.
    for (std::string_view line : Split(daemon_->err(), '\n')) {
      if (line.starts_with("SUMMARY: ") && line.find("Sanitizer") != std::string_view::npos) {
        FAIL_CHECK("the daemon's sanitizer report:\n" << daemon_->err());
        break;
      }
    }
  }

  std::string config_path() const { return root_.Join("config.yaml"); }
  // The `server:` mapping's contents for the next WriteConfig.
  std::string server_settings = "listen: \"127.0.0.1:0\"";
  // More top-level keys for the next WriteConfig (e.g. an `ha:` block), one
  // or more whole lines.
  std::string extra_config;

  // The port the daemon listens on, from its start-up log line.
  int port() {
    const std::string& text = daemon_->err();
    size_t at = text.find("listening on port ");
    REQUIRE(at != std::string::npos);
    return std::stoi(text.substr(at + 18));
  }
  std::string url() { return "http://127.0.0.1:" + std::to_string(port()); }
  // The URL when the web config turns TLS on.
  std::string https_url() { return "https://127.0.0.1:" + std::to_string(port()); }

  // Writes `yaml` as the web config file (exporter-toolkit format) and
  // points server.web_config_file at it, with `extra_server` settings
  // (", read_only: true") after it. Call before WriteConfig.
  void UseWebConfig(const std::string& yaml, const std::string& extra_server = "") {
    WriteFileOrDie(root_.Join("web.yml"), yaml);
    server_settings = "listen: \"127.0.0.1:0\", web_config_file: \"" + root_.Join("web.yml") +
                      "\"" + extra_server;
  }
  std::string state_dir() const { return root_.Join("state"); }
  FakeTofuEnv& fake() { return fake_; }
  Subprocess& daemon() { return *daemon_; }

  // Writes the config with common settings and the given workspaces list
  // (YAML, each line starting with "  - ").
  void WriteConfig(const std::string& workspaces, const std::string& extra_scheduler = "",
                   bool atomic_rename = false) {
    std::string text =
        "server: {" + server_settings +
        "}\n"
        "scheduler: {timezone: UTC, max_concurrent_jobs: 4, kill_grace: 5s" +
        extra_scheduler +
        "}\n"
        "opentofu: {lock_timeout: 20s, plugin_cache_dir: cache, pass_env: [\"FAKE_TOFU_*\"]}\n"
        "state: {dir: state}\n"
        "logging: {level: debug, format: text}\n" +
        extra_config +
        "templates_dir: templates\n"
        "workspaces:\n" +
        workspaces;
    if (!atomic_rename) {
      WriteFileOrDie(config_path(), text);
      return;
    }
    // How Ansible or Salt deploy a file: a temp file renamed over it.
    WriteFileOrDie(root_.Join(".config.yaml.tmp"), text);
    REQUIRE(::rename(root_.Join(".config.yaml.tmp").c_str(), config_path().c_str()) == 0);
  }

  // `wrapper` is an argv that runs the daemon's argv appended to it (e.g.
  // `unshare -m ... --`); it must exec the daemon, so that daemon().pid() is
  // the daemon's.
  void Start(std::map<std::string, std::string> extra_env = {},
             std::vector<std::string> wrapper = {}) {
    log_offset_ = 0;
    std::vector<std::string> argv = std::move(wrapper);
    for (const char* a : {PROVISIONER_BINARY, "serve", "--config"}) argv.push_back(a);
    argv.push_back(config_path());
    daemon_ = Subprocess::Start(argv, fake_.Env(std::move(extra_env)), root_.path());
    REQUIRE_MESSAGE(WaitLog({"daemon: provisioner", "started"}, std::chrono::seconds(20)),
                    "daemon did not start:\n"
                        << daemon_->err());
  }

  // Waits for a daemon log line (stderr) holding every token, after the
  // lines already consumed; returns false at the deadline or exit.
  bool WaitLog(const std::vector<std::string>& tokens, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const std::string& text = daemon_->err();
      while (true) {
        size_t nl = text.find('\n', log_offset_);
        if (nl == std::string::npos) break;
        std::string_view line(text.data() + log_offset_, nl - log_offset_);
        log_offset_ = nl + 1;
        bool all = true;
        for (const std::string& t : tokens) all = all && line.find(t) != std::string_view::npos;
        if (all) return true;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return false;
      if (!daemon_->WaitForOutput("\n", left, /*on_stderr=*/true, text.size())) return false;
    }
  }

  // True when any log line so far, including those already waited past,
  // holds every token.
  bool LogHas(const std::vector<std::string>& tokens) {
    for (std::string_view line : Split(daemon_->err(), '\n')) {
      bool all = true;
      for (const std::string& t : tokens) all = all && line.find(t) != std::string_view::npos;
      if (all) return true;
    }
    return false;
  }

  // Stops the daemon with SIGTERM and returns its exit code.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    daemon_->Signal(SIGTERM);
    ProcessResult r = daemon_->Wait(timeout);
    REQUIRE_FALSE(r.timed_out);
    return r.exit_code;
  }

  // The history journal of a workspace, oldest first.
  std::vector<state::JobRecord> History(const std::string& workspace) {
    std::vector<state::JobRecord> out;
    std::string path = state_dir() + "/jobs/" + workspace + "/history.jsonl";
    if (::access(path.c_str(), F_OK) != 0) return out;
    const std::string text = ReadFileOrDie(path);
    for (std::string_view line : Split(text, '\n')) {
      if (line.empty()) continue;
      auto job = state::JobFromJson(line);
      REQUIRE_MESSAGE(job.ok(), job.status().ToString() << " in: " << line);
      out.push_back(*job);
    }
    return out;
  }

  // "deploy schedule succeeded" per history record.
  std::vector<std::string> HistorySummary(const std::string& workspace) {
    std::vector<std::string> out;
    for (const auto& j : History(workspace)) {
      out.push_back(std::string(state::OperationName(j.operation)) + " " +
                    std::string(state::TriggerName(j.trigger)) + " " +
                    std::string(j.result ? state::JobResultName(*j.result) : "running"));
    }
    return out;
  }

  // As the daemon would load it: a save in flight has state.json missing
  // between its two renames, and then the complete .tmp is the state.
  state::State ReadState() {
    platform::PosixFileSystem fs;
    platform::PosixClock clock;
    state::JsonStateStore store(fs, clock, state_dir());
    auto loaded = store.Load();
    REQUIRE_OK(loaded);
    REQUIRE_MESSAGE(!loaded->fresh, "no state in " << state_dir());
    return loaded->state;
  }

  // Fake tofu invocation-log lines that are "start" events of `command`.
  size_t FakeStarts(const std::string& command) {
    size_t n = 0;
    for (const std::string& line : fake_.LogLines()) {
      if (line.find("\"event\":\"start\"") != std::string::npos &&
          line.find("\"command\":\"" + command + "\"") != std::string::npos) {
        ++n;
      }
    }
    return n;
  }

  TempDir root_;

 private:
  FakeTofuEnv fake_;
  std::unique_ptr<Subprocess> daemon_;
  size_t log_offset_ = 0;
};

// A NOTIFY_SOCKET for the daemon: an AF_UNIX datagram socket in a temp dir.
class NotifySocket {
 public:
  NotifySocket() {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_ = dir_.Join("notify.sock");
    REQUIRE(path_.size() < sizeof addr.sun_path);
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() { ::close(fd_); }
  const std::string& path() const { return path_; }

  // The next datagram, or "" at the deadline.
  std::string Receive(std::chrono::milliseconds timeout) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  // Receives until a datagram contains `needle`; returns it, or "".
  std::string ReceiveUntil(std::string_view needle, std::chrono::milliseconds timeout,
                           std::vector<std::string>* seen = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      std::string msg = Receive(left);
      if (msg.empty()) continue;
      if (seen != nullptr) seen->push_back(msg);
      if (msg.find(needle) != std::string::npos) return msg;
    }
    return "";
  }

 private:
  TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

// A Prometheus scrape job (scrape_configs entry) for the daemon of `h`, with
// basic auth as user "prometheus" and `password` from a password_file.
inline std::string ScrapeJobWithBasicAuth(DaemonHarness& h, const std::string& password) {
  WriteFileOrDie(h.root_.Join("scrape.pw"), password);
  return "  - job_name: provisioner\n"
         "    basic_auth:\n"
         "      username: prometheus\n"
         "      password_file: " +
         h.root_.Join("scrape.pw") +
         "\n"
         "    static_configs:\n"
         "      - targets: ['127.0.0.1:" +
         std::to_string(h.port()) + "']\n";
}

}  // namespace provisioner::testing
