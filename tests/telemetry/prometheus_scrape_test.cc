// A real Prometheus (Debian's /usr/bin/prometheus, 2.42) scrapes
// Metrics::Serialize() from a tiny HTTP endpoint and answers queries about it.
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/fake_clock.h"
#include "support/prometheus_server.h"
#include "support/test_util.h"
#include "telemetry/metrics.h"

namespace provisioner::telemetry {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

// /metrics on 127.0.0.1:<port 0>, counting scrapes so that the test can wait
// for the next one instead of sleeping.
class Endpoint {
 public:
  explicit Endpoint(Metrics& metrics) {
    server_.set_keep_alive_timeout(1);
    server_.Get("/metrics", [this, &metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.Serialize(), std::string(Metrics::kContentType));
      std::lock_guard<std::mutex> lock(mu_);
      ++scrapes_;
      cv_.notify_all();
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
  }
  // Serves on a thread of its own. Separate from the constructor so that the
  // test can fork Prometheus while it is still single-threaded.
  void Start() {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Endpoint() {
    if (!thread_.joinable()) return;
    // stop() before listen_after_bind() is running would be lost
    // (reference/debian-libraries.md §1.8).
    const auto deadline = steady_clock::now() + seconds(30);
    while (!server_.is_running() && steady_clock::now() < deadline) std::this_thread::yield();
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  int scrapes() {
    std::lock_guard<std::mutex> lock(mu_);
    return scrapes_;
  }
  // Waits until more than `seen` scrapes happened; false at the deadline.
  bool WaitForScrapeAfter(int seen, steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return scrapes_ > seen; });
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  int scrapes_ = 0;
};

TEST_SUITE("telemetry") {
  TEST_CASE("telemetry: a real Prometheus scrapes the exposition") {
    if (testing::ExecutableMissing(testing::kPrometheusBinary)) return;
    // Given a daemon's metrics with three deploys of workspace w,
    testing::FakeClock clock;
    Metrics metrics(BuildInfo{"1.2.3", "abc", "GNU-12"}, clock);
    for (int i = 0; i < 3; ++i) metrics.JobFinished("w", "deploy", "succeeded", seconds(90));
    metrics.SetGaugeSource([] {
      GaugeSnapshot g;
      WorkspaceGauges w;
      w.name = "w";
      w.deployed = true;
      w.saved_seconds = 7.5;
      g.workspaces.push_back(w);
      g.jobs_running = 2;
      return g;
    });
    Endpoint endpoint(metrics);

    // and a Prometheus on loopback scraping it every second (started while
    // this process has no other thread, then the endpoint starts serving;
    // declared after the endpoint, so that it stops first),
    testing::PrometheusServer prometheus(
        "  - job_name: provisioner\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:" +
        std::to_string(endpoint.port()) + "']\n");
    endpoint.Start();

    const std::string deployments =
        R"(provisioner_deployments_total{workspace="w",operation="deploy",result="succeeded"})";
    // Waits, one scrape at a time, until every query has its value. A scrape
    // that lands between the queries and reading the count only costs one
    // more interval.
    auto wait_for = [&](const testing::PrometheusServer::Expectations& expected) {
      return prometheus.WaitFor(expected, seconds(60), [&](steady_clock::time_point deadline) {
        return endpoint.WaitForScrapeAfter(endpoint.scrapes(), deadline);
      });
    };

    // then it reports the target up and the daemon's values,
    CHECK(wait_for(
        {{R"(up{job="provisioner"})", "1"},
         {deployments, "3"},
         {R"(provisioner_workspace_deployed{workspace="w"})", "1"},
         {R"(provisioner_estimated_savings_seconds_total{workspace="w"})", "7.5"},
         {"provisioner_jobs_running_total", "2"},
         {R"(provisioner_build_info{version="1.2.3"})", "1"},
         {R"(provisioner_deployment_duration_seconds_bucket{workspace="w",le="120"})", "3"}}));
    // and follows a new event at the next scrapes.
    metrics.JobFinished("w", "deploy", "succeeded", seconds(90));
    CHECK(wait_for({{deployments, "4"}}));

    // The scrape itself had no error.
    nlohmann::json targets = prometheus.ActiveTargets();
    REQUIRE(targets.size() == 1);
    CHECK(targets[0]["health"] == "up");
    CHECK(targets[0]["lastError"] == "");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::telemetry
