// A real Prometheus (Debian's /usr/bin/prometheus, 2.42) for tests: started
// on a free loopback port with a scrape config of the test's choosing, and
// queried through its HTTP API. Also promtool's `check metrics`.
//
// Header-only, like fake_tofu_env.h; only tests use it.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::testing {

inline constexpr const char* kPrometheusBinary = "/usr/bin/prometheus";
inline constexpr const char* kPromtoolBinary = "/usr/bin/promtool";

// A loopback port that was free a moment ago. Whoever binds it next races
// other processes for it; PrometheusServer retries on "address already in
// use".
inline int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Percent-encodes everything but RFC 3986 unreserved characters.
inline std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// `promtool check metrics` on `exposition` (its stdin).
inline ProcessResult PromtoolCheckMetrics(const std::string& exposition) {
  auto p = Subprocess::Start({kPromtoolBinary, "check", "metrics"}, {{"PATH", "/usr/bin:/bin"}}, "",
                             /*stdin_pipe=*/true);
  p->WriteStdin(exposition);
  p->CloseStdin();
  return p->Wait(std::chrono::seconds(60));
}

class PrometheusServer {
 public:
  // PromQL -> the value Prometheus must report, as its API writes it ("1").
  using Expectations = std::vector<std::pair<std::string, std::string>>;

  static bool Available() { return ::access(kPrometheusBinary, X_OK) == 0; }

  // Starts Prometheus with a 1 s scrape interval and `scrape_configs`, the
  // YAML list under that key (items indented by two spaces), and waits until
  // it serves its API. Fails the test when it cannot start.
  explicit PrometheusServer(const std::string& scrape_configs) {
    WriteFileOrDie(dir_.Join("prometheus.yml"),
                   "global:\n"
                   "  scrape_interval: 1s\n"
                   "  scrape_timeout: 1s\n"
                   "  evaluation_interval: 1s\n"
                   "scrape_configs:\n" +
                       scrape_configs);
    for (int attempt = 0; attempt < 3 && !process_; ++attempt) {
      port_ = FreeLoopbackPort();
      auto p =
          Subprocess::Start({kPrometheusBinary, "--config.file=" + dir_.Join("prometheus.yml"),
                             "--storage.tsdb.path=" + dir_.Join("data-" + std::to_string(attempt)),
                             "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                            {{"PATH", "/usr/bin:/bin"}, {"HOME", dir_.path()}}, dir_.path());
      // Start-up on a loaded 2-core machine can take several seconds.
      if (p->WaitForOutput("Server is ready to receive web requests", std::chrono::seconds(90),
                           /*on_stderr=*/true)) {
        process_ = std::move(p);
      } else {
        const bool port_taken = p->err().find("address already in use") != std::string::npos;
        INFO("prometheus stderr:\n", p->err());
        REQUIRE(port_taken);  // anything else is a real failure
      }
    }
    REQUIRE(process_ != nullptr);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_connection_timeout(5);
    client_->set_read_timeout(10);
  }

  // Prometheus goes first (its process group, SIGKILL), which also closes
  // its keep-alive connections to the targets.
  ~PrometheusServer() {
    client_.reset();
    process_.reset();
  }

  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  int port() const { return port_; }
  bool Running() { return process_->Running(); }
  const std::string& err() const { return process_->err(); }

  // The value of a one-series instant query, or nullopt (no answer, an
  // error, or not exactly one series).
  std::optional<std::string> Query(const std::string& promql) {
    auto res = client_->Get(("/api/v1/query?query=" + UrlEncode(promql)).c_str());
    if (!res || res->status != 200) return std::nullopt;
    nlohmann::json j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || j.value("status", "") != "success") return std::nullopt;
    const nlohmann::json& result = j["data"]["result"];
    if (!result.is_array() || result.size() != 1) return std::nullopt;
    return result[0]["value"][1].get<std::string>();
  }

  // /api/v1/targets' activeTargets (an empty array when unavailable).
  nlohmann::json ActiveTargets() {
    auto res = client_->Get("/api/v1/targets");
    if (!res || res->status != 200) return nlohmann::json::array();
    nlohmann::json j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j["data"]["activeTargets"].is_array()) return nlohmann::json::array();
    return j["data"]["activeTargets"];
  }

  // Queries until every expectation holds: true; false at the deadline or
  // when Prometheus exits, after printing its stderr, the targets and the
  // last values. Between rounds `wait_next(deadline)` waits for something
  // new to query (false: give up); by default a 50 ms poll.
  bool WaitFor(const Expectations& expected, std::chrono::milliseconds timeout,
               const std::function<bool(std::chrono::steady_clock::time_point)>& wait_next = {}) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last;
    for (;;) {
      bool all = true;
      last.clear();
      for (const auto& [promql, value] : expected) {
        std::optional<std::string> got = Query(promql);
        all = all && got == value;
        last += promql + " = " + got.value_or("(none)") + " (want " + value + ")\n";
      }
      if (all) return true;
      const bool more = Running() && (wait_next ? wait_next(deadline) : PollPause(deadline));
      if (!more) {
        MESSAGE("last values:\n", last, "targets: ", ActiveTargets().dump(),
                "\nprometheus stderr:\n", err());
        return false;
      }
    }
  }

 private:
  static bool PollPause(std::chrono::steady_clock::time_point deadline) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return true;
  }

  TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace provisioner::testing
