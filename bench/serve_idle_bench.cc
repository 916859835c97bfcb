// Issue 5 target: `provisioner serve` with 10,000 idle workspaces uses under
// 1% of a core and under 64 MB RSS.
//
//   build/serve_idle_bench                       (measures for 60 s)
//   build/serve_idle_bench --benchmark_filter=x  (skip)
//
// Starts the real binary on a config of 10,000 office-hours workspaces in
// five zones, with a state in which each already is what its schedule wants
// (so that the daemon is idle, not converging), lets it settle, then reads
// its CPU time and resident memory from /proc over a measurement window
// during which it is probed like in production: /metrics every 15 s (with
// Accept-Encoding: gzip, as Prometheus asks) and /health every 10 s.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "config/config_parse.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "scheduler/planner.h"
#include "state/state_store.h"

namespace provisioner {
namespace {

constexpr int kWorkspaces = 10'000;
constexpr auto kSettle = std::chrono::seconds(10);
constexpr auto kWindow = std::chrono::seconds(60);
const char* kZones[] = {"Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata",
                        "Australia/Lord_Howe"};

// A loopback port that was free a moment ago.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// utime + stime of a process, in clock ticks.
long long CpuTicks(pid_t pid) {
  std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

long long RssKiB(pid_t pid) {
  std::istringstream in(Slurp("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

void BM_ServeIdle(benchmark::State& state) {
  std::string pattern = "/tmp/provisioner-idle-XXXXXX";
  const std::string dir = mkdtemp(pattern.data());
  std::filesystem::create_directories(dir + "/templates/t");
  std::ofstream(dir + "/templates/t/main.tf") << "# idle\n";
  const int port = FreePort();
  std::string yaml = "server: {listen: \"127.0.0.1:" + std::to_string(port) +
                     "\"}\nopentofu: {binary: /bin/true}\nstate: {dir: state}\n"
                     "templates_dir: templates\nlogging: {level: warn}\nworkspaces:\n";
  for (int i = 0; i < kWorkspaces; ++i) {
    yaml += "  - {name: ws-" + std::to_string(i) +
            ", template: t, schedule: {deploy: \"0 8 * * MON-FRI\", destroy: \"0 19 * * MON-FRI\", "
            "timezone: " +
            kZones[i % 5] + "}}\n";
  }
  std::ofstream(dir + "/config.yaml") << yaml;
  config::ParseOptions options;
  options.base_dir = dir;
  auto parsed = config::ParseConfig(yaml, "config.yaml", options);
  if (!parsed.ok()) {
    state.SkipWithError("config did not parse");
    return;
  }
  platform::PosixClock clock;
  platform::PosixFileSystem fs;
  std::filesystem::create_directories(dir + "/state");
  scheduler::Planner planner(*parsed.config);
  state::State s;
  const SystemTime now = clock.Now();
  s.last_seen = now;
  for (const auto& ws : parsed.config->workspaces) {
    auto plan = planner.DesiredAt(ws, {}, now);
    state::WorkspaceState& st = s.workspaces[ws.name];
    st.actual = plan.desired == scheduler::Action::kDeploy ? state::Actual::kDeployed
                                                           : state::Actual::kDestroyed;
    st.last_fire = now;
  }
  state::JsonStateStore store(fs, clock, dir + "/state");
  if (!store.Save(s).ok()) {
    state.SkipWithError("cannot write the state");
    return;
  }

  pid_t pid = fork();
  if (pid == 0) {
    int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    execl(PROVISIONER_BINARY, PROVISIONER_BINARY, "serve", "--config",
          (dir + "/config.yaml").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(kSettle);
  const long long ticks = sysconf(_SC_CLK_TCK);
  const long long cpu_before = CpuTicks(pid);
  const auto start = std::chrono::steady_clock::now();
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(std::chrono::seconds(10));
  int scrapes = 0;
  int probes = 0;
  for (auto _ : state) {
    // One event every 5 s: a scrape at 0 and 15 s, a probe at 0, 10 and 20 s
    // of each 30 s.
    for (auto t = std::chrono::seconds(0); t < kWindow; t += std::chrono::seconds(5)) {
      if (t.count() % 15 == 0) {
        auto r = client.Get("/metrics", {{"Accept-Encoding", "gzip"}});
        if (r && r->status == 200) ++scrapes;
      }
      if (t.count() % 10 == 0) {
        auto r = client.Get("/health");
        if (r && r->status == 200) ++probes;
      }
      std::this_thread::sleep_for(std::chrono::seconds(5));
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long long cpu_after = CpuTicks(pid);
  const long long rss = RssKiB(pid);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::filesystem::remove_all(dir);

  state.counters["cpu_percent_of_a_core"] =
      100.0 * static_cast<double>(cpu_after - cpu_before) / static_cast<double>(ticks) / seconds;
  state.counters["rss_MiB"] = static_cast<double>(rss) / 1024.0;
  state.counters["workspaces"] = kWorkspaces;
  state.counters["scrapes"] = scrapes;
  state.counters["probes"] = probes;
  state.counters["exit_code"] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
BENCHMARK(BM_ServeIdle)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace provisioner

BENCHMARK_MAIN();
