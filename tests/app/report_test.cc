// `provisioner report`: the counts, rates, p95 and savings computed from a
// job history, and the window parsing (docs/operations.md, "Reports").
#include "app/report.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "base/time_format.h"
#include "support/test_util.h"

namespace provisioner::app {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const SystemTime kSince = *ParseRfc3339("2026-11-26T00:00:00Z");
const SystemTime kUntil = kSince + hours(24 * 7);

ReportJob Job(std::string workspace, std::string operation, std::string result, SystemTime start,
              seconds took) {
  return {.id = "",
          .workspace = std::move(workspace),
          .operation = std::move(operation),
          .result = std::move(result),
          .started_at = start,
          .finished_at = start + took};
}

const ReportRow& Row(const Report& r, const std::string& name) {
  for (const ReportRow& row : r.workspaces) {
    if (row.workspace == name) return row;
  }
  FAIL("no row for " << name);
  return r.total;
}

TEST_SUITE("app") {
  TEST_CASE("report: counts, success rate without cancelled or interrupted jobs, and p95") {
    std::vector<ReportJob> jobs;
    // 20 deploys of a taking 1..20 minutes: p95 by nearest rank is the 19th.
    for (int i = 1; i <= 20; ++i) {
      jobs.push_back(Job("a", "deploy", "succeeded", kSince + hours(i), minutes(i)));
    }
    jobs.push_back(Job("a", "destroy", "failed", kSince + hours(30), seconds(10)));
    jobs.push_back(Job("a", "destroy", "timeout", kSince + hours(31), seconds(10)));
    jobs.push_back(Job("a", "destroy", "cancelled", kSince + hours(32), seconds(5)));
    jobs.push_back(Job("a", "destroy", "interrupted", kSince + hours(33), seconds(5)));
    jobs.push_back(Job("b", "destroy", "no_changes", kSince + hours(2), seconds(30)));
    const Report r = BuildReport(jobs, {}, kSince, kUntil);

    REQUIRE(r.workspaces.size() == 2);
    const ReportRow& a = Row(r, "a");
    CHECK(a.deploys == 20);
    CHECK(a.destroys == 4);
    CHECK(a.failures == 2);
    CHECK(a.successes == 20);
    REQUIRE(a.success_rate().has_value());
    CHECK(*a.success_rate() == doctest::Approx(20.0 / 22));
    REQUIRE(a.p95_seconds.has_value());
    CHECK(*a.p95_seconds == 19 * 60.0);
    const ReportRow& b = Row(r, "b");
    CHECK(*b.success_rate() == 1.0);
    CHECK(*b.p95_seconds == 30.0);
    CHECK(r.total.deploys == 20);
    CHECK(r.total.destroys == 5);
    CHECK(r.total.failures == 2);
    CHECK(*r.total.success_rate() == doctest::Approx(21.0 / 23));
    // Neither a nor b is in the config: no savings are claimed for them.
    CHECK(r.total.saved_seconds == 0);
    CHECK_FALSE(r.total.saved_cost.has_value());
  }

  TEST_CASE("report: savings count only the time known to be destroyed, inside the window") {
    std::vector<ReportWorkspace> config = {
        {.name = "sched", .deploy_scheduled = true, .cost_per_hour = 2.0},
        {.name = "idle-destroyed", .deploy_scheduled = true, .destroyed_now = true},
        {.name = "destroyed-lately",
         .deploy_scheduled = true,
         .destroyed_now = true,
         .destroyed_since = kUntil - hours(5)},
        {.name = "idle-deployed", .deploy_scheduled = true},
        {.name = "unscheduled", .deploy_scheduled = false, .destroyed_now = true},
        {.name = "was-destroyed", .deploy_scheduled = true},
        {.name = "new", .deploy_scheduled = true},
        {.name = "broken", .deploy_scheduled = true},
    };
    // The job before the window destroyed it: destroyed from the start.
    config[5].before_window =
        Job("was-destroyed", "destroy", "succeeded", kSince - hours(6), minutes(3));
    std::vector<ReportJob> jobs = {
        // Destroyed from 18:10 to 08:00 the next day: 13h50m.
        Job("sched", "destroy", "succeeded", kSince + hours(18), minutes(10)),
        Job("sched", "deploy", "succeeded", kSince + hours(32), minutes(5)),
        Job("was-destroyed", "deploy", "succeeded", kSince + hours(3), minutes(5)),
        // Never ran before: its state before the first deploy is unknown.
        Job("new", "deploy", "succeeded", kSince + hours(3), minutes(5)),
        // Destroyed for an hour, then a deploy failed part-way: unknown after.
        Job("broken", "destroy", "succeeded", kSince + hours(1), minutes(0)),
        Job("broken", "deploy", "failed", kSince + hours(2), minutes(1)),
        // A job cancelled while queued changes nothing.
        {.id = "q",
         .workspace = "sched",
         .operation = "deploy",
         .result = "cancelled",
         .finished_at = kSince + hours(20)},
    };
    const Report r = BuildReport(jobs, config, kSince, kUntil);
    CHECK(Row(r, "sched").saved_seconds == 13 * 3600.0 + 50 * 60);
    CHECK(*Row(r, "sched").saved_cost == doctest::Approx((13 + 50.0 / 60) * 2.0));
    CHECK(Row(r, "idle-destroyed").saved_seconds == 7 * 24 * 3600.0);
    CHECK_FALSE(Row(r, "idle-destroyed").saved_cost.has_value());
    CHECK(Row(r, "destroyed-lately").saved_seconds == 5 * 3600.0);
    CHECK(Row(r, "idle-deployed").saved_seconds == 0);
    CHECK(Row(r, "unscheduled").saved_seconds == 0);
    CHECK(Row(r, "was-destroyed").saved_seconds == 3 * 3600.0);
    CHECK(Row(r, "new").saved_seconds == 0);
    CHECK(Row(r, "broken").saved_seconds == 3600.0);
    CHECK(r.total.saved_seconds ==
          13 * 3600.0 + 50 * 60 + 7 * 24 * 3600.0 + 5 * 3600.0 + 3 * 3600.0 + 3600.0);
    // Only workspaces with a cost add to the total cost.
    CHECK(*r.total.saved_cost == doctest::Approx((13 + 50.0 / 60) * 2.0));
    // Every configured workspace has a row, with or without jobs.
    CHECK(r.workspaces.size() == config.size());
  }

  TEST_CASE("report: --since takes days, config durations and RFC 3339 times") {
    const SystemTime now = kUntil;
    CHECK(*ParseSince("7d", now) == now - hours(24 * 7));
    CHECK(*ParseSince("36h", now) == now - hours(36));
    CHECK(*ParseSince("1h30m", now) == now - minutes(90));
    CHECK(*ParseSince("2026-11-30T12:00:00Z", now) == *ParseRfc3339("2026-11-30T12:00:00Z"));
    for (const char* bad : {"", "7", "d", "-1d", "7w", "yesterday", "2026-13-01T00:00:00Z"}) {
      CAPTURE(bad);
      auto r = ParseSince(bad, now);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == Status::Code::kInvalidArgument);
      CHECK(r.status().message().find("--since \"" + std::string(bad) + "\"") != std::string::npos);
    }
    CHECK(ParseSince("2027-01-01T00:00:00Z", now).status().message().find("in the future") !=
          std::string::npos);
  }

  TEST_CASE("report: the table and the JSON") {
    const std::vector<ReportWorkspace> config = {
        {.name = "web", .deploy_scheduled = true, .cost_per_hour = 1.5}};
    std::vector<ReportJob> jobs = {
        Job("web", "destroy", "succeeded", kUntil - hours(10), minutes(2)),
        Job("gone", "deploy", "failed", kSince + hours(1), seconds(75)),
    };
    const Report r = BuildReport(jobs, config, kSince, kUntil);
    std::ostringstream table;
    PrintReport(table, r);
    CHECK(table.str() ==
          "Jobs started from 2026-11-26T00:00:00Z to 2026-12-03T00:00:00Z\n"
          "\n"
          "WORKSPACE  DEPLOYS  DESTROYS  FAILURES  SUCCESS    P95  SAVED  SAVED COST\n"
          "gone             1         0         1     0.0%  1m15s   0.0h           -\n"
          "web              0         1         0   100.0%     2m  10.0h       14.95\n"
          "TOTAL            1         1         1    50.0%     2m  10.0h       14.95\n");

    const nlohmann::json j = nlohmann::json::parse(ReportJson(r));
    CHECK(j["since"] == "2026-11-26T00:00:00Z");
    CHECK(j["until"] == "2026-12-03T00:00:00Z");
    REQUIRE(j["workspaces"].size() == 2);
    const nlohmann::json& web = j["workspaces"][1];
    CHECK(web["workspace"] == "web");
    CHECK(web["destroys"] == 1);
    CHECK(web["success_rate"] == 1.0);
    CHECK(web["p95_duration_seconds"] == 120.0);
    CHECK(web["saved_seconds"] == 9 * 3600.0 + 58 * 60);
    CHECK(web["saved_cost"].get<double>() == doctest::Approx((9 + 58.0 / 60) * 1.5));
    CHECK(j["workspaces"][0]["saved_cost"].is_null());
    CHECK(j["total"]["failures"] == 1);
    CHECK_FALSE(j["total"].contains("workspace"));
  }
}

}  // namespace
}  // namespace provisioner::app
