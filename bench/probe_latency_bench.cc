// HTTP benchmarks (issue 6): probe latency under load, and what request
// instrumentation costs.
//
//   build/probe_latency_bench --benchmark_filter=Probes                (about 1.5 min)
//   build/probe_latency_bench --benchmark_filter='Instrument|Health'   (about 1 min)
//
// Needs the fake tofu (a test target) and wrk (/usr/bin/wrk).
//
// BM_ProbesUnderLoad/idle:64/jobs:4 — target: /health, /ready and
// /health/deep answer within 100 ms while max_concurrent_jobs jobs run and 64
// idle keep-alive connections are open. It starts the real `provisioner
// serve` (100 workspaces, the fake tofu as opentofu.binary with a slow apply),
// starts `jobs` deploys through POST /api/v1/workspaces/NAME/deploy, waits
// until each job is inside its slow apply, opens `idle` keep-alive
// connections and keeps them open, then probes the three endpoints in turn
// for 30 s the way a kubelet does: a new connection per probe, one GET,
// "Connection: close". A probe's latency runs from connect() to the last byte
// of the reply. The daemon closes a keep-alive connection after 2 s without a
// request (and cpp-httplib ties a worker to a connection until then), so each
// idle connection sends one GET /health per second to stay open, and holds
// one of the daemon's workers the whole time (cpp-httplib's
// one-worker-per-connection model, reference/debian-libraries.md §1.4). The
// daemon's pool starts with 8 workers and grows to 512 while all are busy;
// idle:96 and idle:256 check that open connections beyond the old fixed
// pool of 96 no longer starve the probes.
// The job count is checked (/metrics) before and after the window.
//
// BM_RequestInstrumentation — the CPU cost of instrumenting one request, as
// http::Server does it: two monotonic clock reads and HttpMetricsObserver's
// OnRequestStarted / OnRequestFinished (the in-flight gauge, the requests
// counter and the duration histogram of prometheus-cpp).
//
// BM_RequestInstrumentationFloor — the same prometheus-cpp updates with the
// series resolved once, for comparison: what caching the children would save.
//
// BM_HealthHandler — the CPU cost of the daemon's /health handler, for
// comparison.
//
// BM_InstrumentationAB — the instrumentation end to end: two http::Server
// instances in this process, with the daemon's thread count and timeouts and
// one constant /health handler (a body the size of the daemon's /health),
// one without a RequestObserver and one with the daemon's
// HttpMetricsObserver, loaded in turn by wrk (bench/wrk_report.lua) with the
// settings of bench/http_load.sh. AB_PAIRS pairs (default 5) of
// WRK_DURATION runs (default 5s) with WRK_THREADS (2) and WRK_CONNECTIONS
// (16), alternating which goes first; medians.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/telemetry_adapters.h"
#include "base/log.h"
#include "http/health.h"
#include "http/http_test_support.h"
#include "http/server.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "platform/posix_process_runner.h"
#include "telemetry/metrics.h"

// prometheus-cpp directly, for BM_RequestInstrumentationFloor only.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

// Both come from CMakeLists.txt; the fake tofu only with PROVISIONER_BUILD_TESTS.
#ifndef FAKE_TOFU_BINARY
#define FAKE_TOFU_BINARY ""
#endif
#ifndef PROVISIONER_BENCH_DIR
#define PROVISIONER_BENCH_DIR "bench"
#endif

namespace provisioner {
namespace {

// The daemon's HTTP pool (kMinHttpThreads, kMaxHttpThreads in src/app/daemon.cc).
constexpr int kMinHttpThreads = 8;
constexpr int kMaxHttpThreads = 512;

using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

constexpr int kWorkspaces = 100;
constexpr auto kProbeWindow = seconds(30);
constexpr auto kProbeGap = milliseconds(20);
constexpr auto kProbeTimeout = milliseconds(2000);
constexpr auto kIdleRefresh = milliseconds(1000);
constexpr double kTargetMs = 100;

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- a minimal HTTP/1.1 client over blocking sockets ----

// A loopback connection with Nagle off, as the probes and wrk use.
int Connect(int port) {
  int fd = http::testing::ConnectLoopback(port);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

using http::testing::SendAll;

struct Reply {
  int status = 0;
  std::string body;
};

// Reads one reply framed by Content-Length (every route used here sets it).
bool ReadReply(int fd, Steady::time_point deadline, Reply* out) {
  std::string buf;
  size_t header_end = std::string::npos;
  size_t need = 0;
  char chunk[16384];
  while (true) {
    if (header_end == std::string::npos) {
      header_end = buf.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        if (buf.compare(0, 5, "HTTP/") != 0 || buf.size() < 12) return false;
        out->status = std::atoi(buf.c_str() + 9);
        std::string head = buf.substr(0, header_end);
        std::transform(head.begin(), head.end(), head.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        size_t cl = head.find("\r\ncontent-length:");
        if (cl == std::string::npos) return false;
        need = header_end + 4 + std::strtoul(head.c_str() + cl + 17, nullptr, 10);
      }
    }
    if (header_end != std::string::npos && buf.size() >= need) {
      out->body = buf.substr(header_end + 4, need - header_end - 4);
      return true;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Steady::now()).count();
    if (left <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) return false;
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

std::string Get(const std::string& path, bool close) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}

// One request on a connection of its own.
bool Fetch(int port, const std::string& request, milliseconds timeout, Reply* out) {
  const auto deadline = Steady::now() + timeout;
  int fd = Connect(port);
  if (fd < 0) return false;
  bool ok = SendAll(fd, request) && ReadReply(fd, deadline, out);
  ::close(fd);
  return ok;
}

// ---- the daemon ----

class Daemon {
 public:
  // Starts `provisioner serve` with exactly `env`; its stderr goes to log_path.
  Daemon(const std::string& config, const std::string& log_path,
         const std::vector<std::string>& env)
      : log_path_(log_path) {
    std::vector<char*> c_env;
    for (const std::string& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
    c_env.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int null_fd = ::open("/dev/null", O_RDWR);
      dup2(null_fd, 0);
      dup2(null_fd, 1);
      dup2(log_fd, 2);
      const char* argv[] = {PROVISIONER_BINARY, "serve", "--config", config.c_str(), nullptr};
      execve(argv[0], const_cast<char**>(argv), c_env.data());
      _exit(127);
    }
  }
  ~Daemon() {
    if (pid_ > 0 && !reaped_) Stop();
  }

  // The port from the start-up line, or 0 after 30 s.
  int WaitPort() {
    const auto deadline = Steady::now() + seconds(30);
    while (Steady::now() < deadline) {
      const std::string log = Slurp(log_path_);
      size_t at = log.find("listening on port ");
      if (at != std::string::npos) return std::atoi(log.c_str() + at + 18);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return 0;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return 0;
  }

  // SIGTERM, then SIGKILL after 60 s; the exit code, or -1.
  int Stop() {
    if (reaped_) return -1;
    kill(pid_, SIGTERM);
    const auto deadline = Steady::now() + seconds(60);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (Steady::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  const std::string& log_path() const { return log_path_; }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// The value of an unlabelled sample in a Prometheus exposition, or -1.
double Sample(const std::string& exposition, const std::string& name) {
  const std::string needle = "\n" + name + " ";
  size_t at = exposition.find(needle);
  if (at == std::string::npos) return -1;
  return std::strtod(exposition.c_str() + at + needle.size(), nullptr);
}

// Keeps `count` keep-alive connections open: each sends GET /health every
// kIdleRefresh and reconnects when the daemon closed it.
class IdleConnections {
 public:
  IdleConnections(int port, int count) : port_(port), fds_(static_cast<size_t>(count), -1) {
    for (int& fd : fds_) Open(&fd);
    thread_ = std::thread([this] { Run(); });
  }
  ~IdleConnections() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  int open() const { return open_; }
  int min_open() const { return min_open_; }
  int reconnects() const { return reconnects_; }

 private:
  bool Open(int* fd) {
    if (*fd >= 0) ::close(*fd);
    *fd = Connect(port_);
    if (*fd < 0) return false;
    return Refresh(*fd);
  }
  bool Refresh(int fd) {
    Reply r;
    return SendAll(fd, Get("/health", false)) && ReadReply(fd, Steady::now() + seconds(5), &r) &&
           r.status == 200;
  }
  void Run() {
    while (!stop_) {
      const auto next = Steady::now() + kIdleRefresh;
      int open = 0;
      for (int& fd : fds_) {
        if (fd >= 0 && Refresh(fd)) {
          ++open;
          continue;
        }
        ++reconnects_;
        if (Open(&fd)) ++open;
      }
      open_ = open;
      min_open_ = std::min(min_open_.load(), open);
      while (!stop_ && Steady::now() < next) std::this_thread::sleep_for(milliseconds(10));
    }
  }

  const int port_;
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::atomic<int> open_{0};
  std::atomic<int> min_open_{1 << 30};
  std::atomic<int> reconnects_{0};
  std::thread thread_;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

void BM_ProbesUnderLoad(benchmark::State& state) {
  if (std::string_view(FAKE_TOFU_BINARY).empty()) {
    state.SkipWithError("built without the fake tofu (PROVISIONER_BUILD_TESTS=OFF)");
    return;
  }
  const int idle = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  std::string pattern = "/tmp/provisioner-probe-XXXXXX";
  const std::string dir = mkdtemp(pattern.data());
  std::filesystem::create_directories(dir + "/templates/t");
  std::ofstream(dir + "/templates/t/main.tf") << "# the fake tofu ignores HCL\n";
  // A slow apply: the first resource takes an hour (a signal ends it at once).
  std::ofstream(dir + "/control.json") << R"({"scenario": "slow", "slow_seconds": 3600})";
  std::string yaml = "server: {listen: \"127.0.0.1:0\"}\n";
  yaml += "scheduler: {timezone: UTC, max_concurrent_jobs: " + std::to_string(jobs) +
          ", kill_grace: 5s}\n";
  yaml += std::string("opentofu: {binary: ") + FAKE_TOFU_BINARY +
          ", plugin_cache_dir: cache, lock_timeout: 20s, pass_env: [\"FAKE_TOFU_*\"]}\n";
  yaml += "state: {dir: state}\nlogging: {level: info, format: text}\ntemplates_dir: templates\n";
  yaml += "workspaces:\n";
  for (int i = 0; i < kWorkspaces; ++i) {
    yaml += "  - {name: ws-" + std::to_string(1000 + i) + ", template: t}\n";
  }
  std::ofstream(dir + "/config.yaml") << yaml;
  const std::string fake_log = dir + "/fake_tofu.log";

  auto daemon = std::make_unique<Daemon>(
      dir + "/config.yaml", dir + "/daemon.log",
      std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8",
                               "FAKE_TOFU_CONTROL=" + dir + "/control.json",
                               "FAKE_TOFU_LOG=" + fake_log});
  const int port = daemon->WaitPort();
  auto fail = [&](const std::string& why) {
    state.SkipWithError((why + "; daemon log: " + daemon->log_path()).c_str());
    daemon->Stop();
  };
  if (port == 0) return fail("the daemon did not start");

  for (int i = 0; i < jobs; ++i) {
    Reply r;
    const std::string path = "/api/v1/workspaces/ws-" + std::to_string(1000 + i) + "/deploy";
    const std::string post = "POST " + path +
                             " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    if (!Fetch(port, post, seconds(10), &r) || r.status != 202) {
      return fail("POST " + path + " answered " + std::to_string(r.status) + " " + r.body);
    }
  }
  // Every job inside its slow apply: `jobs` apply starts in the fake's log.
  auto applies = [&fake_log] {
    std::istringstream in(Slurp(fake_log));
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.find("\"event\":\"start\"") != std::string::npos &&
          line.find("\"command\":\"apply\"") != std::string::npos) {
        ++n;
      }
    }
    return n;
  };
  auto running = [port] {
    Reply r;
    if (!Fetch(port, Get("/metrics", true), seconds(10), &r) || r.status != 200) return -1.0;
    return Sample(r.body, "provisioner_jobs_running_total");
  };
  const auto ready_deadline = Steady::now() + seconds(60);
  while (applies() < jobs || running() != jobs) {
    if (Steady::now() >= ready_deadline) return fail("the jobs did not reach their apply");
    std::this_thread::sleep_for(milliseconds(100));
  }

  const std::vector<std::string> endpoints = {"/health", "/ready", "/health/deep"};
  std::map<std::string, std::vector<double>> latencies;
  std::map<std::string, int> failures;
  int over_target = 0;
  int running_after = 0;
  int idle_min_open = 0;
  int idle_reconnects = 0;
  std::string first_failure;  // shown as the benchmark's label
  for (auto _ : state) {
    {
      IdleConnections keep(port, idle);
      std::this_thread::sleep_for(seconds(1));
      const auto end = Steady::now() + kProbeWindow;
      for (size_t i = 0; Steady::now() < end; ++i) {
        const std::string& path = endpoints[i % endpoints.size()];
        Reply r;
        const auto t0 = Steady::now();
        const bool ok = Fetch(port, Get(path, true), kProbeTimeout, &r);
        const double ms = Ms(Steady::now() - t0);
        latencies[path].push_back(ms);
        if (!ok || r.status != 200) {
          ++failures[path];
          if (first_failure.empty()) {
            first_failure = path + ": " +
                            (ok ? std::to_string(r.status) + " " + r.body.substr(0, 600)
                                : std::string("no reply"));
          }
        }
        if (ms > kTargetMs) ++over_target;
        std::this_thread::sleep_for(kProbeGap);
      }
      idle_min_open = keep.min_open();
      idle_reconnects = keep.reconnects();
    }
    // After the idle connections are gone: with all workers taken, this
    // request would wait too.
    running_after = static_cast<int>(running());
  }

  for (const std::string& path : endpoints) {
    const std::string name = path == "/health" ? "health" : path == "/ready" ? "ready" : "deep";
    const std::vector<double>& v = latencies[path];
    state.counters[name + "_p50_ms"] = Percentile(v, 50);
    state.counters[name + "_p99_ms"] = Percentile(v, 99);
    state.counters[name + "_max_ms"] = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
    state.counters[name + "_n"] = static_cast<double>(v.size());
    state.counters[name + "_failed"] = failures[path];
  }
  state.counters["over_100ms"] = over_target;
  state.counters["jobs_running"] = running_after;
  state.counters["idle_open_min"] = idle_min_open;
  state.counters["idle_reconnects"] = idle_reconnects;
  if (!first_failure.empty()) state.SetLabel(first_failure);
  const int exit_code = daemon->Stop();
  state.counters["daemon_exit"] = exit_code;
  if (running_after != jobs) {
    state.SkipWithError("the jobs were no longer all running at the end of the window");
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ProbesUnderLoad)
    ->ArgNames({"idle", "jobs"})
    ->Args({64, 4})
    ->Args({96, 4})   // the old fixed pool's size
    ->Args({256, 4})  // half the pool's maximum
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

// ---- instrumentation ----

class NullSink final : public log::Sink {
 public:
  void Write(const log::Record&) override {}
};

void BM_RequestInstrumentation(benchmark::State& state) {
  static platform::PosixClock clock;
  static telemetry::Metrics metrics(telemetry::BuildInfo{"0.1.0", "bench", "bench"}, clock);
  static app::HttpMetricsObserver observer(metrics);
  for (auto _ : state) {
    const MonotonicTime start = clock.Monotonic();
    observer.OnRequestStarted();
    const MonotonicTime end = clock.Monotonic();
    observer.OnRequestFinished("GET", "/health", 200, end - start);
  }
}
BENCHMARK(BM_RequestInstrumentation)->Threads(1)->Threads(2)->UseRealTime();

// The floor of the same work with the children resolved once (what a cache
// of Counter*/Histogram* per method, route and status would leave): the
// in-flight gauge, one counter increment and one histogram observation on
// prometheus-cpp objects, and the two clock reads. For comparison only.
void BM_RequestInstrumentationFloor(benchmark::State& state) {
  static platform::PosixClock clock;
  static prometheus::Registry registry;
  static prometheus::Gauge& in_flight =
      prometheus::BuildGauge().Name("bench_in_flight").Register(registry).Add({});
  static prometheus::Counter& requests =
      prometheus::BuildCounter()
          .Name("bench_requests_total")
          .Register(registry)
          .Add({{"method", "GET"}, {"endpoint", "/health"}, {"status", "200"}});
  static prometheus::Histogram& duration =
      prometheus::BuildHistogram()
          .Name("bench_duration_seconds")
          .Register(registry)
          .Add({{"method", "GET"}, {"endpoint", "/health"}},
               prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25, 0.5, 1, 2.5, 5, 10});
  for (auto _ : state) {
    const MonotonicTime start = clock.Monotonic();
    in_flight.Increment();
    const MonotonicTime end = clock.Monotonic();
    in_flight.Decrement();
    requests.Increment();
    duration.Observe(std::chrono::duration<double>(end - start).count());
  }
}
BENCHMARK(BM_RequestInstrumentationFloor)->Threads(1)->Threads(2)->UseRealTime();

// The daemon's /health handler alone (HealthChecker::Health: the snapshot,
// three checks, the JSON), for comparison with the instrumentation.
void BM_HealthHandler(benchmark::State& state) {
  platform::PosixClock clock;
  platform::PosixFileSystem fs;
  platform::PosixProcessRunner runner(clock);
  auto health = std::make_shared<http::DaemonHealth>();
  health->started_at = clock.Now();
  health->last_tick = clock.Monotonic();
  health->scheduler_running = true;
  health->config_path = "/tmp/provisioner-http-load-XXXXXX/config.yaml";
  health->state_dir = "/tmp/provisioner-http-load-XXXXXX/state";
  health->templates_dir = "/tmp/provisioner-http-load-XXXXXX/templates";
  std::mutex mu;
  http::HealthChecker checker(
      http::HealthOptions{.version = "0.1.0"},
      [&]() -> std::shared_ptr<const http::DaemonHealth> {
        std::lock_guard<std::mutex> lock(mu);
        return health;
      },
      clock, fs, runner);
  size_t bytes = 0;
  for (auto _ : state) {
    http::Response r = checker.Health();
    bytes = r.body.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["body_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_HealthHandler);

// A /health body the size of the daemon's (about 500 bytes).
const std::string& HealthBody() {
  static const std::string body =
      "{\"status\":\"healthy\",\"checks\":[{\"name\":\"scheduler_running\",\"status\":\"healthy\","
      "\"message\":\"scheduler is running\",\"last_check\":\"2026-01-01T00:00:00.000Z\","
      "\"duration_ms\":0.000},{\"name\":\"config_loaded\",\"status\":\"healthy\",\"message\":"
      "\"config loaded from /tmp/provisioner-http-load-XXXXXX/config.yaml\",\"last_check\":"
      "\"2026-01-01T00:00:00.000Z\",\"duration_ms\":0.000},{\"name\":\"state_loaded\","
      "\"status\":\"healthy\",\"message\":\"state loaded from /tmp/provisioner-http-load-XXXXXX/"
      "state\",\"last_check\":\"2026-01-01T00:00:00.000Z\",\"duration_ms\":0.000}],"
      "\"timestamp\":\"2026-01-01T00:00:00.000Z\",\"version\":\"0.1.0\"}";
  return body;
}

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

struct WrkResult {
  bool ok = false;
  double rps = 0;
  double p50_us = 0;
  double p95_us = 0;
  double p99_us = 0;
  double errors = 0;
  double cpu_us_per_request = 0;  // this process's CPU time (the servers) per request
};

double ProcessCpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

WrkResult RunWrk(int port) {
  const std::string cmd = "wrk -t" + EnvOr("WRK_THREADS", "2") + " -c" +
                          EnvOr("WRK_CONNECTIONS", "16") + " -d" + EnvOr("WRK_DURATION", "5s") +
                          " --timeout 5s -s " PROVISIONER_BENCH_DIR
                          "/wrk_report.lua http://127.0.0.1:" +
                          std::to_string(port) + "/health 2>&1";
  WrkResult out;
  const double cpu_before = ProcessCpuUs();
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::string text;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  if (pclose(p) != 0) return out;
  const double cpu_us = ProcessCpuUs() - cpu_before;
  size_t at = text.find("WRK_RESULT ");
  if (at == std::string::npos) return out;
  std::istringstream fields(text.substr(at + 11, text.find('\n', at) - at - 11));
  std::map<std::string, double> kv;
  for (std::string f; fields >> f;) {
    size_t eq = f.find('=');
    if (eq != std::string::npos) kv[f.substr(0, eq)] = std::strtod(f.c_str() + eq + 1, nullptr);
  }
  out.rps = kv["rps"];
  out.p50_us = kv["p50_us"];
  out.p95_us = kv["p95_us"];
  out.p99_us = kv["p99_us"];
  out.errors = kv["connect_errors"] + kv["read_errors"] + kv["write_errors"] + kv["status_errors"] +
               kv["timeouts"];
  out.cpu_us_per_request = kv["requests"] > 0 ? cpu_us / kv["requests"] : 0;
  out.ok = true;
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void BM_InstrumentationAB(benchmark::State& state) {
  // The daemon's malloc setting (kMallocArenas in src/app/daemon.cc): the
  // request metrics allocate, so arena contention is part of their cost.
  mallopt(M_ARENA_MAX, 2);
  platform::PosixClock clock;
  NullSink sink;
  log::Logger logger(clock, sink, log::Level::kWarn);
  telemetry::Metrics metrics(telemetry::BuildInfo{"0.1.0", "bench", "bench"}, clock);
  app::HttpMetricsObserver observer(metrics);
  // The daemon's listener settings (src/app/daemon.cc, src/http/server.h).
  http::ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.min_threads = kMinHttpThreads;
  options.max_threads = kMaxHttpThreads;
  std::unique_ptr<http::Server> servers[2];
  for (int i = 0; i < 2; ++i) {
    auto created = http::Server::Create(options, logger, i == 0 ? nullptr : &observer);
    if (!created.ok()) {
      state.SkipWithError(created.status().message().c_str());
      return;
    }
    servers[i] = std::move(*created);
    servers[i]->Route(
        http::Method::kGet, "/health",
        [](const http::Request&) { return http::Response::Json(200, HealthBody()); },
        http::RouteOptions{.anonymous = true});
    if (Status s = servers[i]->Start(); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      return;
    }
  }
  const int pairs = std::max(1, std::atoi(EnvOr("AB_PAIRS", "5").c_str()));
  std::vector<double> p50[2], p95[2], p99[2], rps[2], cpu[2], p95_change, rps_change;
  double errors = 0;
  for (auto _ : state) {
    for (int pair = 0; pair < pairs; ++pair) {
      WrkResult r[2];
      for (int k = 0; k < 2; ++k) {
        const int i = (pair + k) % 2;  // alternate which goes first
        r[i] = RunWrk(servers[i]->port());
        if (!r[i].ok) {
          state.SkipWithError("wrk failed (is it installed?)");
          break;
        }
        p50[i].push_back(r[i].p50_us);
        p95[i].push_back(r[i].p95_us);
        p99[i].push_back(r[i].p99_us);
        rps[i].push_back(r[i].rps);
        cpu[i].push_back(r[i].cpu_us_per_request);
        errors += r[i].errors;
      }
      if (!r[0].ok || !r[1].ok) break;
      p95_change.push_back(100.0 * (r[1].p95_us - r[0].p95_us) / r[0].p95_us);
      rps_change.push_back(100.0 * (r[1].rps - r[0].rps) / r[0].rps);
    }
  }
  for (auto& s : servers) s->Stop();
  state.counters["off_p50_us"] = Median(p50[0]);
  state.counters["on_p50_us"] = Median(p50[1]);
  state.counters["off_p95_us"] = Median(p95[0]);
  state.counters["on_p95_us"] = Median(p95[1]);
  state.counters["off_p99_us"] = Median(p99[0]);
  state.counters["on_p99_us"] = Median(p99[1]);
  state.counters["off_rps"] = Median(rps[0]);
  state.counters["on_rps"] = Median(rps[1]);
  state.counters["off_cpu_us_per_req"] = Median(cpu[0]);
  state.counters["on_cpu_us_per_req"] = Median(cpu[1]);
  state.counters["p95_change_pct"] = Median(p95_change);
  state.counters["p95_change_min_pct"] =
      p95_change.empty() ? 0 : *std::min_element(p95_change.begin(), p95_change.end());
  state.counters["p95_change_max_pct"] =
      p95_change.empty() ? 0 : *std::max_element(p95_change.begin(), p95_change.end());
  state.counters["rps_change_pct"] = Median(rps_change);
  state.counters["pairs"] = static_cast<double>(p95_change.size());
  state.counters["errors"] = errors;
}
BENCHMARK(BM_InstrumentationAB)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace provisioner

BENCHMARK_MAIN();
