// The real daemon's /metrics as Prometheus tooling sees it: a real
// Prometheus (Debian's /usr/bin/prometheus, 2.42) scrapes it through basic
// auth, and promtool checks a scrape taken after a job ran.
#include <httplib.h>

#include "http/auth.h"
#include "integration/daemon_harness.h"
#include "support/prometheus_server.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

std::string Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":\"");
  if (at == std::string::npos) return "";
  at += key.size() + 4;
  return json.substr(at, json.find('"', at) - at);
}

// Deploys `workspace` over the API and waits until the job finished.
void DeployAndWait(httplib::Client& client, const std::string& workspace) {
  auto deploy =
      client.Post("/api/v1/workspaces/" + workspace + "/deploy", "{}", "application/json");
  REQUIRE(deploy);
  REQUIRE(deploy->status == 202);
  const std::string id = Field(deploy->body, "job_id");
  REQUIRE_FALSE(id.empty());
  std::string last;
  const bool finished = WaitUntil(
      [&] {
        auto r = client.Get("/api/v1/jobs/" + id);
        last = r ? r->body : "";
        return Field(last, "status") == "finished";
      },
      seconds(30));
  REQUIRE_MESSAGE(finished, "job " << id << " did not finish: " << last);
  CHECK(Field(last, "result") == "succeeded");
}

// The exposition without the families named `name` (its HELP, TYPE and
// samples).
std::string WithoutFamily(const std::string& exposition, const std::string& name) {
  std::string out;
  for (std::string_view line : Split(exposition, '\n')) {
    if (line.empty()) continue;
    if (line == "# HELP " + name || line.starts_with("# HELP " + name + " ") ||
        line.starts_with("# TYPE " + name + " ") || line.starts_with(name + "{") ||
        line.starts_with(name + " ")) {
      continue;
    }
    out.append(line);
    out.push_back('\n');
  }
  return out;
}

TEST_SUITE("integration") {
  TEST_CASE("integration: a real Prometheus scrapes the daemon") {
    // Given the daemon with two workspaces and basic auth, When a
    // Prometheus on loopback scrapes its /metrics every second with the
    // credentials, Then it reports the target up with the configured
    // workspace count, and follows a deploy done over the API.
    if (ExecutableMissing(kPrometheusBinary)) return;
    auto hash = http::HashBcrypt("scrape-pw", 4);
    REQUIRE_OK(hash);
    DaemonHarness h;
    h.UseWebConfig("basic_auth_users:\n  prometheus: " + *hash + "\n");
    h.WriteConfig("  - {name: alpha, template: t}\n  - {name: beta, template: t}\n");
    h.Start();
    PrometheusServer prometheus(ScrapeJobWithBasicAuth(h, "scrape-pw"));

    CHECK(prometheus.WaitFor(
        {{R"(up{job="provisioner"})", "1"},
         {R"(sum(provisioner_workspaces_total{job="provisioner"}))", "2"},
         {R"(provisioner_workspaces_total{job="provisioner",status="unknown"})", "2"},
         {R"(count(provisioner_workspace_deployed{job="provisioner"}))", "2"},
         {R"(provisioner_templates_total{job="provisioner"})", "1"},
         {R"(provisioner_build_info{job="provisioner"})", "1"}},
        seconds(30)));

    auto client = std::make_unique<httplib::Client>("127.0.0.1", h.port());
    client->set_basic_auth("prometheus", "scrape-pw");
    client->set_read_timeout(seconds(30));
    DeployAndWait(*client, "alpha");
    CHECK(prometheus.WaitFor(
        {{R"(provisioner_deployments_total{job="provisioner",workspace="alpha",operation="deploy",result="succeeded"})",
          "1"},
         {R"(provisioner_workspace_deployed{job="provisioner",workspace="alpha"})", "1"},
         {R"(provisioner_workspaces_total{job="provisioner",status="deployed"})", "1"}},
        seconds(30)));

    nlohmann::json targets = prometheus.ActiveTargets();
    REQUIRE(targets.size() == 1);
    CHECK(targets[0]["health"] == "up");
    CHECK(targets[0]["lastError"] == "");
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: the daemon exports its deep checks, queue and last state save") {
    // Given a daemon nobody probes, When Prometheus scrapes it, Then the deep
    // checks are there anyway (the daemon runs them every minute), with the
    // fake tofu available, and the state was saved at start-up.
    DaemonHarness h;
    h.WriteConfig("  - {name: alpha, template: t}\n");
    h.Start();
    httplib::Client client("127.0.0.1", h.port());
    std::string text;
    const bool seen = WaitUntil(
        [&] {
          auto r = client.Get("/metrics");
          text = r ? r->body : "";
          return text.find("provisioner_health_check{") != std::string::npos;
        },
        seconds(30));
    CAPTURE(text);
    REQUIRE(seen);
    CHECK(text.find(
              "provisioner_health_check{check=\"opentofu_available\",status=\"healthy\"} 1\n") !=
          std::string::npos);
    CHECK(
        text.find("provisioner_health_check{check=\"scheduler_running\",status=\"healthy\"} 1\n") !=
        std::string::npos);
    CHECK(text.find("\nprovisioner_jobs_queued 0\n") != std::string::npos);
    CHECK(text.find("\nprovisioner_state_save_failures_total 0\n") != std::string::npos);
    CHECK(text.find("\nprovisioner_state_last_save_timestamp_seconds 0\n") == std::string::npos);
    CHECK(text.find("\nprovisioner_state_last_save_timestamp_seconds ") != std::string::npos);
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: promtool checks a scrape of the daemon after a job ran") {
    // Given the daemon after a deploy (so that job, tofu-step and HTTP
    // histograms have series), When promtool checks a real scrape, Then it
    // reports exactly the three gauges whose binding names end in _total
    // (DESIGN.md §8, docs/metrics.md), and nothing else: the savings counter
    // is in seconds.
    if (ExecutableMissing(kPromtoolBinary)) return;
    DaemonHarness h;
    h.WriteConfig("  - {name: alpha, template: t}\n  - {name: beta, template: t}\n");
    h.Start();
    httplib::Client client("127.0.0.1", h.port());
    client.set_read_timeout(seconds(30));
    DeployAndWait(client, "alpha");

    auto scrape = client.Get("/metrics");
    REQUIRE(scrape);
    REQUIRE(scrape->status == 200);
    const std::string& text = scrape->body;
    CAPTURE(text);
    for (const char* series :
         {"provisioner_deployment_duration_seconds_bucket{workspace=\"alpha\",operation="
          "\"deploy\",",
          "provisioner_tofu_operation_duration_seconds_bucket{",
          "http_request_duration_seconds_bucket{",
          "provisioner_deployments_total{workspace=\"alpha\",operation=\"deploy\",result="
          "\"succeeded\"} 1",
          "provisioner_estimated_savings_seconds_total{workspace=\"alpha\"}", "process_open_fds ",
          "# TYPE provisioner_workspaces_total gauge\n"}) {
      CAPTURE(series);
      CHECK(text.find(series) != std::string::npos);
    }
    CHECK(text.find("_hours") == std::string::npos);

    const ProcessResult full = PromtoolCheckMetrics(text);
    CHECK(full.exit_code == 3);
    CHECK(full.out == "");
    CHECK(full.err ==
          "provisioner_jobs_running_total non-counter metrics should not have \"_total\" suffix\n"
          "provisioner_templates_total non-counter metrics should not have \"_total\" suffix\n"
          "provisioner_workspaces_total non-counter metrics should not have \"_total\" suffix\n");

    std::string rest = text;
    for (const char* family : {"provisioner_jobs_running_total", "provisioner_templates_total",
                               "provisioner_workspaces_total"}) {
      const size_t before = rest.size();
      rest = WithoutFamily(rest, family);
      REQUIRE(rest.size() < before);
    }
    const ProcessResult clean = PromtoolCheckMetrics(rest);
    CHECK(clean.exit_code == 0);
    CHECK(clean.out == "");
    CHECK(clean.err == "");
    CHECK(h.Stop() == 0);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
