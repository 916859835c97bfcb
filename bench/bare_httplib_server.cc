// The baseline of bench/http_load.sh: cpp-httplib 0.11.4 as Debian ships it,
// answering a constant body on GET /health and GET /metrics, with nothing of
// provisioner in between (no guard, no routing of ours, no handler work, no
// metrics, no logging).
//
// It is configured like the daemon's listener (src/http/server.cc and
// src/app/daemon.cc), so that the only differences left are what provisioner
// adds on top of httplib: httplib's fixed pool of 96 workers (the daemon's
// grows from 8 to 512; both are idle-rich under wrk's 16 connections), read timeout
// 5 s, write timeout 10 s, keep-alive timeout 2 s, at most 100 requests per
// connection, TCP_NODELAY, SO_REUSEADDR instead of httplib's SO_REUSEPORT.
//
//   bare_httplib_server [--port N] [--health-body FILE] [--metrics-body FILE]
//
// Listens on 127.0.0.1 (port 0, the default, picks a free one), prints
// "port N" on stdout once bound, and serves until SIGTERM or SIGINT. The
// body files let the load script serve exactly the bytes the daemon
// answered, so that both servers put the same bytes on the wire.
//
// It also answers POST /v1/traces with 200 and `{}`, as an OTLP/HTTP
// collector acknowledges a full success: bench/job_tracing.sh uses it as a
// live receiver that costs next to no CPU (the body is read and dropped).
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace {

// The daemon's values (see the file comment).
constexpr size_t kThreads = 96;
constexpr time_t kReadTimeoutSeconds = 5;
constexpr time_t kWriteTimeoutSeconds = 10;
constexpr time_t kKeepAliveTimeoutSeconds = 2;
constexpr size_t kKeepAliveMaxRequests = 100;

constexpr const char* kHealthType = "application/json";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

bool ReadFile(const char* path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: bare_httplib_server [--port N] [--health-body FILE] "
               "[--metrics-body FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  std::string health_body =
      "{\"status\":\"healthy\",\"checks\":[],\"timestamp\":\"2026-01-01T00:00:00.000Z\","
      "\"version\":\"bare\"}";
  std::string metrics_body = "# TYPE bare_up gauge\nbare_up 1\n";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage();
    const char* value = argv[++i];
    if (arg == "--port") {
      port = std::atoi(value);
    } else if (arg == "--health-body") {
      if (!ReadFile(value, &health_body)) {
        std::fprintf(stderr, "cannot read %s\n", value);
        return 2;
      }
    } else if (arg == "--metrics-body") {
      if (!ReadFile(value, &metrics_body)) {
        std::fprintf(stderr, "cannot read %s\n", value);
        return 2;
      }
    } else {
      return Usage();
    }
  }

  // Block the stop signals before any thread exists, so that every thread
  // inherits the mask and only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  httplib::Server svr;
  svr.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  svr.set_read_timeout(kReadTimeoutSeconds, 0);
  svr.set_write_timeout(kWriteTimeoutSeconds, 0);
  svr.set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  svr.set_keep_alive_max_count(kKeepAliveMaxRequests);
  svr.set_tcp_nodelay(true);
  svr.set_socket_options([](socket_t fd) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  svr.Get("/health", [&health_body](const httplib::Request&, httplib::Response& res) {
    res.set_content(health_body, kHealthType);
  });
  svr.Get("/metrics", [&metrics_body](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_body, kMetricsType);
  });

  svr.Post("/v1/traces", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{}", "application/json");
  });

  bool bound = port == 0 ? (port = svr.bind_to_any_port("127.0.0.1")) > 0
                         : svr.bind_to_port("127.0.0.1", port);
  if (!bound) {
    std::fprintf(stderr, "cannot listen on 127.0.0.1:%d: %s\n", port, std::strerror(errno));
    return 1;
  }
  std::atomic<bool> returned{false};
  std::thread serving([&svr, &returned] {
    svr.listen_after_bind();
    returned = true;
  });
  // stop() is a no-op until listen_after_bind() runs (§1.8 of the library notes).
  while (!svr.is_running() && !returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (returned) {
    serving.join();
    std::fprintf(stderr, "the accept loop ended at once\n");
    return 1;
  }
  std::printf("port %d\n", port);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  svr.stop();
  serving.join();
  return 0;
}
