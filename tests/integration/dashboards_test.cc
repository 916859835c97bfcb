// The Grafana dashboards (monitoring/grafana/dashboards) against real data:
// every PromQL expression they hold, as extract_exprs.py prints it, is
// evaluated by a real Prometheus (Debian's /usr/bin/prometheus, 2.42) that
// has scraped a real daemon after deploy and destroy jobs against the fake
// tofu (operations-kit issue 11: "every expression returns data").
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "http/auth.h"
#include "integration/daemon_harness.h"
#include "support/prometheus_server.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

// Debian's interpreter: extract_exprs.py needs the standard library only.
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kExtractScript =
    PROVISIONER_SOURCE_DIR "/monitoring/tests/grafana/extract_exprs.py";

// Grafana's built-in variables for a run of half a minute, scraped every
// second (extract_exprs.py's defaults are for a 1 h dashboard at 15 s). Grafana
// would make $__rate_interval max($__interval + 1 s, 4 s) = 11 s; 15 s keeps a
// few samples in the window when a scrape comes late on a loaded machine.
// Windows written into the dashboards ([3m]) stay as they are.
const std::vector<std::string> kWindows = {
    "__interval=10s", "__interval_ms=10000", "__rate_interval=15s",
    "__range=5m",     "__range_s=300",       "__range_ms=300000",
};
constexpr const char* kRateWindow = "15s";  // __rate_interval above
// Samples a series created by the test's last action must have in the rate
// window before the expressions are evaluated (2 make a rate; 10 of 15
// possible tolerate late scrapes).
constexpr int kSamplesInWindow = 10;

// Expressions that may be empty in this scenario although the scenario meets
// their `empty_when` condition (or they have none): (dashboard uid, panel,
// refId) -> why. Keep it empty unless a panel truly cannot have data here.
const std::vector<std::tuple<std::string, std::string, std::string, std::string>> kEmptyHere = {};

// One expression of extract_exprs.py's output.
struct DashboardExpr {
  std::string dashboard, uid, panel, ref_id, expr, kind;
  std::optional<std::string> empty_when;
  std::string Name() const { return dashboard + " / " + panel + " / " + ref_id; }
};

// Every panel target and template-variable query of the three dashboards,
// with kWindows substituted.
std::vector<DashboardExpr> ExtractExprs() {
  std::vector<std::string> argv = {kPython, "-B", kExtractScript, "--variables"};
  for (const std::string& w : kWindows) {
    argv.push_back("--set");
    argv.push_back(w);
  }
  const ProcessResult r = RunProcess(argv, {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}},
                                     PROVISIONER_SOURCE_DIR, seconds(60));
  REQUIRE_FALSE(r.timed_out);
  REQUIRE_MESSAGE(r.exit_code == 0, "extract_exprs.py failed:\n" << r.err);
  CHECK(r.err == "");
  std::vector<DashboardExpr> out;
  for (std::string_view line : Split(r.out, '\n')) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: " << line);
    DashboardExpr e;
    e.dashboard = j.at("dashboard").get<std::string>();
    e.uid = j.at("uid").get<std::string>();
    e.panel = j.at("panel").get<std::string>();
    e.ref_id = j.at("refId").get<std::string>();
    e.expr = j.at("expr").get<std::string>();
    e.kind = j.at("kind").get<std::string>();
    if (!j.at("empty_when").is_null()) e.empty_when = j.at("empty_when").get<std::string>();
    out.push_back(std::move(e));
  }
  return out;
}

// What Prometheus answered to an instant query.
struct Answer {
  bool accepted = false;  // HTTP 200 and "status": "success"
  std::string error;      // when not accepted
  size_t samples = 0;     // vector elements, or 1 for a scalar
  size_t nan = 0;         // of which NaN
  std::string shown;      // the first values, for messages
};

Answer Evaluate(httplib::Client& prometheus, const std::string& expr) {
  Answer a;
  auto res = prometheus.Post("/api/v1/query", httplib::Params{{"query", expr}});
  if (!res) {
    a.error = "no answer: " + httplib::to_string(res.error());
    return a;
  }
  nlohmann::json j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status != 200 || j.is_discarded() || j.value("status", "") != "success") {
    a.error = "HTTP " + std::to_string(res->status) + ": " + res->body;
    return a;
  }
  a.accepted = true;
  const nlohmann::json& data = j["data"];
  const std::string type = data.value("resultType", "");
  std::vector<std::string> values;
  if (type == "vector") {
    for (const nlohmann::json& s : data["result"])
      values.push_back(s["value"][1].get<std::string>());
  } else if (type == "scalar") {
    values.push_back(data["result"][1].get<std::string>());
  } else {
    a.error = "unexpected resultType " + type;
  }
  a.samples = values.size();
  for (const std::string& v : values) {
    if (v == "NaN") ++a.nan;
    if (a.shown.size() < 60) a.shown += (a.shown.empty() ? "" : " ") + v;
  }
  return a;
}

// POSTs `{}` to the daemon's `path`; checks the status, returns the reply.
nlohmann::json Post(httplib::Client& api, const std::string& path, int want_status) {
  auto r = api.Post(path, "{}", "application/json");
  REQUIRE_MESSAGE(r, "POST " << path << ": " << httplib::to_string(r.error()));
  REQUIRE_MESSAGE(r->status == want_status, "POST " << path << ": " << r->status << " " << r->body);
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  REQUIRE_MESSAGE(!j.is_discarded(), r->body);
  return j;
}

// A manual deploy or destroy of `workspace`, waited for; it must succeed.
void RunJob(httplib::Client& api, const std::string& workspace, const std::string& operation) {
  const nlohmann::json accepted =
      Post(api, "/api/v1/workspaces/" + workspace + "/" + operation, 202);
  const std::string id = accepted.value("job_id", "");
  REQUIRE_FALSE(id.empty());
  nlohmann::json job;
  const bool finished = WaitUntil(
      [&] {
        auto r = api.Get("/api/v1/jobs/" + id);
        if (!r || r->status != 200) return false;
        job = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
        return !job.is_discarded() && job.value("status", "") == "finished";
      },
      seconds(30));
  REQUIRE_MESSAGE(finished, "job " << id << " did not finish: " << job.dump());
  CHECK_MESSAGE(job.value("result", "") == "succeeded", job.dump());
}

TEST_SUITE("integration") {
  TEST_CASE("integration: every Grafana dashboard expression returns data from a real Prometheus") {
    // Given a daemon with three workspaces (one toggled by a schedule every
    // 5 s with a cost, one run by hand with a cost, one on office hours that
    // converges at start-up) and a Prometheus scraping it every second,
    // When an operator deploys and destroys, pauses and resumes, Then every
    // expression of the dashboards is accepted and returns at least one
    // sample.
    if (ExecutableMissing(kPrometheusBinary) || ExecutableMissing(kPython)) return;
    const std::vector<DashboardExpr> exprs = ExtractExprs();
    REQUIRE(exprs.size() >= 3);  // three dashboards, at least a panel each

    auto scrape_hash = http::HashBcrypt("scrape-pw", 4);
    auto operator_hash = http::HashBcrypt("operator-pw", 4);
    REQUIRE_OK(scrape_hash);
    REQUIRE_OK(operator_hash);
    DaemonHarness h;
    h.UseWebConfig("basic_auth_users:\n  prometheus: " + *scrape_hash +
                   "\n  operator: " + *operator_hash + "\n");
    h.WriteConfig(
        "  - {name: toggler, template: t, cost_per_hour: 0.5,\n"
        "     schedule: {deploy: \"*/10 * * * * *\", destroy: \"5/10 * * * * *\"}}\n"
        "  - {name: manual, template: t, cost_per_hour: 1.25}\n"
        "  - {name: office, template: t,\n"
        "     schedule: {deploy: \"0 8 * * MON-FRI\", destroy: \"0 19 * * MON-FRI\"}}\n");
    h.Start();
    PrometheusServer prometheus(ScrapeJobWithBasicAuth(h, "scrape-pw"));
    REQUIRE(prometheus.WaitFor({{R"(up{job="provisioner"})", "1"},
                                {R"(sum(provisioner_workspaces_total{job="provisioner"}))", "3"}},
                               seconds(30)));

    // The operator's manual actions, while Prometheus watches.
    httplib::Client api("127.0.0.1", h.port());
    api.set_basic_auth("operator", "operator-pw");
    api.set_read_timeout(seconds(30));
    RunJob(api, "manual", "deploy");
    RunJob(api, "manual", "destroy");
    // A pause of the toggler long enough for one of its fires to be skipped.
    Post(api, "/api/v1/workspaces/toggler/pause", 200);
    httplib::Client scraper("127.0.0.1", h.port());
    scraper.set_basic_auth("prometheus", "scrape-pw");
    std::string metrics;
    const bool skipped = WaitUntil(
        [&] {
          auto r = scraper.Get("/metrics");
          metrics = r ? r->body : "";
          return metrics.find("outcome=\"skipped_paused\"") != std::string::npos;
        },
        seconds(30));
    REQUIRE_MESSAGE(skipped, "no fire of toggler was skipped while paused:\n", metrics);
    Post(api, "/api/v1/workspaces/toggler/resume", 200);
    // office's start-up convergence has finished too.
    std::string office;
    const bool settled = WaitUntil(
        [&] {
          auto r = api.Get("/api/v1/workspaces/office");
          office = r ? r->body : "";
          return office.find("\"status\":\"deployed\"") != std::string::npos ||
                 office.find("\"status\":\"destroyed\"") != std::string::npos;
        },
        seconds(30));
    CHECK_MESSAGE(settled, office);

    // Enough scrapes after the last action (the resume created its series)
    // for every rate window to hold many samples of every series.
    const std::string enough_samples =
        std::string("count_over_time(provisioner_manual_actions_total{job=\"provisioner\",") +
        "action=\"resume\"}[" + kRateWindow + "]) >= bool " + std::to_string(kSamplesInWindow);
    REQUIRE(prometheus.WaitFor({{enough_samples, "1"}, {R"(up{job="provisioner"})", "1"}},
                               seconds(40)));

    httplib::Client query("127.0.0.1", prometheus.port());
    query.set_connection_timeout(5);
    query.set_read_timeout(10);
    std::set<std::tuple<std::string, std::string, std::string>> allowed_empty;
    for (const auto& [uid, panel, ref, why] : kEmptyHere) allowed_empty.insert({uid, panel, ref});
    size_t with_data = 0, empty_allowed = 0;
    std::string nan_list;
    for (const DashboardExpr& e : exprs) {
      const Answer a = Evaluate(query, e.expr);
      CHECK_MESSAGE(a.accepted, "Prometheus refused ", e.Name(), ": ", e.expr, "\n", a.error);
      if (!a.accepted) continue;
      CHECK_MESSAGE(a.error.empty(), e.Name(), ": ", a.error);
      if (a.samples > 0) {
        ++with_data;
        if (a.nan > 0) nan_list += "\n  " + e.Name() + " (" + a.shown + ")";
        continue;
      }
      if (allowed_empty.count({e.uid, e.panel, e.ref_id}) != 0) {
        ++empty_allowed;
        continue;
      }
      // Every empty_when condition is met here (jobs ran, schedules fired,
      // costs are set, next actions exist, manual actions were taken).
      FAIL_CHECK("no data: ", e.Name(), ": ", e.expr,
                 e.empty_when
                     ? "\n  (its empty_when condition is met in this test: " + *e.empty_when + ")"
                     : std::string());
    }
    MESSAGE(exprs.size(), " dashboard expressions evaluated: ", with_data, " with data, ",
            empty_allowed, " empty as allowed by kEmptyHere; NaN (counts as data):",
            nan_list.empty() ? std::string(" none") : nan_list);
    CHECK(h.Stop() == 0);
  }
}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
