// Every HTTP endpoint and the CLI client, against the real daemon.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "integration/daemon_harness.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

std::string Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":\"");
  if (at == std::string::npos) return "";
  at += key.size() + 4;
  return json.substr(at, json.find('"', at) - at);
}

struct Api {
  DaemonHarness h;
  std::unique_ptr<httplib::Client> client;

  explicit Api(const std::string& workspaces, const std::string& control = "{}") {
    h.fake().WriteControl(control);
    h.WriteConfig(workspaces);
    h.Start();
    client = std::make_unique<httplib::Client>("127.0.0.1", h.port());
    client->set_read_timeout(std::chrono::seconds(60));
  }

  httplib::Result Get(const std::string& path) { return client->Get(path); }
  httplib::Result Post(const std::string& path, const std::string& body = "{}") {
    return client->Post(path, body, "application/json");
  }

  // Waits until GET /api/v1/jobs/{id} says the job finished; returns its JSON.
  std::string WaitFinished(const std::string& id) {
    std::string last;
    bool done = WaitUntil(
        [&] {
          auto r = Get("/api/v1/jobs/" + id);
          last = r ? r->body : "";
          return r && r->status == 200 && Field(r->body, "status") == "finished";
        },
        seconds(30));
    REQUIRE_MESSAGE(done, "job " << id << " did not finish: " << last);
    return last;
  }

  ProcessResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {PROVISIONER_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--server");
    argv.push_back(h.url());
    return RunProcess(argv, h.fake().Env(), h.root_.path(), seconds(60));
  }
};

TEST_SUITE("integration") {
  TEST_CASE("integration: probes and metrics") {
    Api api("  - {name: w, template: t}\n");
    auto health = api.Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(health->body.starts_with("{\"status\":\"healthy\""));
    auto ready = api.Get("/ready");
    REQUIRE(ready);
    CHECK(ready->status == 200);
    CHECK(ready->body.find("\"name\":\"dependencies_available\",\"status\":\"healthy\"") !=
          std::string::npos);
    auto deep = api.Get("/health/deep");
    REQUIRE(deep);
    CHECK(deep->body.find("\"name\":\"opentofu_available\",\"status\":\"healthy\",\"message\":"
                          "\"OpenTofu 1.12.6\"") != std::string::npos);
    auto metrics = api.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 200);
    CHECK(metrics->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(metrics->body.find("provisioner_build_info{") != std::string::npos);
    CHECK(metrics->body.find("http_requests_total{endpoint=\"/health\"") != std::string::npos);
    CHECK(api.h.Stop() == 0);
  }

  TEST_CASE("integration: workspaces, manual deploy, jobs and logs over the API") {
    Api api("  - {name: w, template: t}\n");
    auto list = api.Get("/api/v1/workspaces");
    REQUIRE(list);
    CHECK(list->status == 200);
    CHECK(list->body.find("\"name\":\"w\"") != std::string::npos);
    auto missing = api.Get("/api/v1/workspaces/nope");
    REQUIRE(missing);
    CHECK(missing->status == 404);
    CHECK(missing->body ==
          "{\"error\":{\"code\":\"not_found\",\"message\":\"no workspace \\\"nope\\\"\"}}");

    auto deploy = api.Post("/api/v1/workspaces/w/deploy", R"({"until": "2099-01-01T00:00:00Z"})");
    REQUIRE(deploy);
    CHECK(deploy->status == 202);
    const std::string id = Field(deploy->body, "job_id");
    REQUIRE_FALSE(id.empty());
    // On disk before the reply.
    CHECK(api.h.ReadState().workspaces.at("w").manual.size() == 1);
    std::string job = api.WaitFinished(id);
    CHECK(Field(job, "result") == "succeeded");
    CHECK(Field(job, "trigger") == "manual");
    auto ws = api.Get("/api/v1/workspaces/w");
    REQUIRE(ws);
    CHECK(Field(ws->body, "status") == "deployed");
    CHECK(ws->body.find("\"source\":\"manual\"") != std::string::npos);

    auto log = api.Get("/api/v1/jobs/" + id + "/log");
    REQUIRE(log);
    CHECK(log->status == 200);
    CHECK(log->body.find("$ ") != std::string::npos);
    CHECK(log->body.find(" plan -input=false -no-color -json -detailed-exitcode") !=
          std::string::npos);
    auto jobs = api.Get("/api/v1/jobs?workspace=w&limit=5");
    REQUIRE(jobs);
    CHECK(jobs->body.find(id) != std::string::npos);
    auto bad = api.Post("/api/v1/workspaces/w/deploy", R"({"untill": 1})");
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK(api.h.Stop() == 0);
  }

  TEST_CASE("integration: pause, resume, cancel and reload over the API") {
    Api api("  - {name: w, template: t}\n",
            R"({"resources": 3, "apply_seconds": 30, "time_scale": 0.2})");
    auto pause = api.Post("/api/v1/workspaces/w/pause");
    REQUIRE(pause);
    CHECK(pause->status == 200);
    CHECK(api.h.ReadState().workspaces.at("w").pause.has_value());
    auto resume = api.Post("/api/v1/workspaces/w/resume");
    REQUIRE(resume);
    CHECK(resume->status == 200);

    auto deploy = api.Post("/api/v1/workspaces/w/deploy");
    REQUIRE(deploy);
    const std::string id = Field(deploy->body, "job_id");
    REQUIRE(WaitUntil([&] { return api.h.FakeStarts("apply") == 1; }, seconds(20)));
    auto cancel = api.Post("/api/v1/jobs/" + id + "/cancel");
    REQUIRE(cancel);
    CHECK(cancel->status == 202);
    CHECK(Field(api.WaitFinished(id), "result") == "cancelled");
    auto again = api.Post("/api/v1/jobs/" + id + "/cancel");
    REQUIRE(again);
    CHECK(again->status == 409);

    api.h.WriteConfig("  - {name: w, template: missing}\n");
    auto rejected = api.Post("/api/v1/reload");
    REQUIRE(rejected);
    CHECK(rejected->status == 409);
    CHECK(rejected->body.find("template \\\"missing\\\" not found") != std::string::npos);
    api.h.WriteConfig("  - {name: w, template: t}\n  - {name: x, template: t}\n");
    auto reloaded = api.Post("/api/v1/reload");
    REQUIRE(reloaded);
    CHECK(reloaded->status == 200);
    CHECK(reloaded->body.find("\"added\":[\"x\"]") != std::string::npos);
    CHECK(api.h.Stop() == 0);
  }

  TEST_CASE("integration: read-only mode refuses every POST with 403") {
    DaemonHarness h;
    h.server_settings = "listen: \"127.0.0.1:0\", read_only: true";
    h.WriteConfig("  - {name: w, template: t}\n");
    h.Start();
    httplib::Client client("127.0.0.1", h.port());
    auto r = client.Post("/api/v1/workspaces/w/deploy", "{}", "application/json");
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(r->body.find("\"code\":\"forbidden\"") != std::string::npos);
    auto get = client.Get("/api/v1/workspaces");
    REQUIRE(get);
    CHECK(get->status == 200);
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: the CLI client shows status, deploys with --wait, lists jobs and logs") {
    Api api("  - {name: w, template: t, labels: {team: web}}\n",
            R"({"resources": ["null_resource.web", "null_resource.db"]})");
    ProcessResult status = api.Cli({"status"});
    CHECK_MESSAGE(status.exit_code == 0, status.err);
    CHECK(status.out.starts_with("NAME  STATUS"));
    CHECK(status.out.find("\nw     ") != std::string::npos);

    ProcessResult deploy = api.Cli({"deploy", "w", "--wait"});
    CHECK_MESSAGE(deploy.exit_code == 0, deploy.err);
    CHECK(deploy.out.find("deploy of w queued as job ") != std::string::npos);
    CHECK(deploy.out.find("apply: null_resource.web: Creation complete") != std::string::npos);
    CHECK(deploy.out.find("deploy w: succeeded (2 added, 0 changed, 0 destroyed)") !=
          std::string::npos);

    ProcessResult jobs = api.Cli({"jobs", "--workspace", "w"});
    CHECK(jobs.exit_code == 0);
    CHECK(jobs.out.starts_with("ID  "));
    CHECK(jobs.out.find("succeeded") != std::string::npos);
    ProcessResult json = api.Cli({"status", "w", "--json"});
    CHECK(json.out.starts_with("{\"name\":\"w\""));

    ProcessResult unknown = api.Cli({"deploy", "nope"});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err == "provisioner: server answered HTTP 404: no workspace \"nope\"\n");

    ProcessResult down =
        RunProcess({PROVISIONER_BINARY, "status", "--server", "http://127.0.0.1:1"},
                   api.h.fake().Env(), api.h.root_.path());
    CHECK(down.exit_code == 1);
    CHECK(down.err.find("cannot reach http://127.0.0.1:1") != std::string::npos);
    CHECK(api.h.Stop() == 0);
  }

  TEST_CASE("integration: provisioner report sums the job history per workspace") {
    // Given a workspace that was deployed and destroyed, and one that never
    // ran, When `provisioner report` reads the daemon's history, Then it
    // counts each job once, with its result and duration, and a bad --since
    // is a usage error naming the flag.
    Api api("  - {name: w, template: t, cost_per_hour: 2}\n  - {name: idle, template: t}\n");
    REQUIRE(api.Cli({"deploy", "w", "--wait"}).exit_code == 0);
    REQUIRE(api.Cli({"destroy", "w", "--wait"}).exit_code == 0);

    ProcessResult json = api.Cli({"report", "--json"});
    REQUIRE_MESSAGE(json.exit_code == 0, json.err);
    const nlohmann::json r = nlohmann::json::parse(json.out);
    REQUIRE(r["workspaces"].size() == 2);
    const nlohmann::json& idle = r["workspaces"][0];
    const nlohmann::json& w = r["workspaces"][1];
    CHECK(idle["workspace"] == "idle");
    CHECK(idle["deploys"] == 0);
    CHECK(idle["success_rate"].is_null());
    CHECK(idle["p95_duration_seconds"].is_null());
    CHECK(w["workspace"] == "w");
    CHECK(w["deploys"] == 1);
    CHECK(w["destroys"] == 1);
    CHECK(w["failures"] == 0);
    CHECK(w["success_rate"] == 1.0);
    CHECK(w["p95_duration_seconds"].get<double>() >= 0);
    // No deploy schedule: no savings claimed, as in the metric.
    CHECK(w["saved_seconds"] == 0.0);
    CHECK(r["total"]["deploys"] == 1);
    CHECK(r["total"]["destroys"] == 1);

    ProcessResult table = api.Cli({"report", "--since", "1h"});
    CHECK(table.exit_code == 0);
    CHECK(table.out.starts_with("Jobs started from "));
    CHECK(table.out.find("\nw  ") != std::string::npos);
    CHECK(table.out.find("\nTOTAL  ") != std::string::npos);

    ProcessResult bad = api.Cli({"report", "--since", "last week"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.starts_with("provisioner: --since \"last week\": "));
    CHECK(api.h.Stop() == 0);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
