#include "scheduler/planner.h"

#include "base/time_format.h"
#include "config/config_parse.h"
#include "support/test_util.h"

namespace provisioner::scheduler {
namespace {

SystemTime T(const char* rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return *t;
}

std::string Str(const std::optional<SystemTime>& t) { return t ? FormatUtc(*t) : "none"; }

std::string Str(const std::optional<Action>& a) {
  return a ? std::string(ActionName(*a)) : std::string("none");
}

// A config whose only workspace `w` has the given schedule block.
std::shared_ptr<const config::Config> Config(const std::string& workspace_body,
                                             const std::string& scheduler = "{}") {
  auto r = config::ParseConfig(
      "scheduler: " + scheduler + "\nworkspaces:\n  - name: w\n    template: t\n" + workspace_body,
      "test.yaml");
  REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors[0].ToString()));
  return r.config;
}

const char* kOfficeHours =
    "    schedule: {deploy: \"0 8 * * MON-FRI\", destroy: \"0 19 * * MON-FRI\", timezone: "
    "Europe/Berlin}\n";

struct Case {
  const char* name;
  const char* now;
  const char* desired;  // "deploy", "destroy", "none"
  const char* since;    // UTC, or "none"
  const char* next_change;
};

void RunTable(const config::Config& c, const Overrides& ov, std::initializer_list<Case> cases) {
  Planner planner(c);
  for (const Case& k : cases) {
    CAPTURE(std::string(k.name));
    Plan p = planner.DesiredAt(c.workspaces[0], ov, T(k.now));
    CHECK(Str(p.desired) == k.desired);
    CHECK(Str(p.since) == k.since);
    CHECK(Str(p.next_change) == k.next_change);
  }
}

TEST_SUITE("scheduler") {
  TEST_CASE("scheduler: planner office hours across Berlin's DST days") {
    auto c = Config(kOfficeHours);
    RunTable(*c, {},
             {
                 // Friday before spring forward: CET (+01:00).
                 {"friday day", "2026-03-27T12:00:00Z", "deploy", "2026-03-27T07:00:00Z",
                  "2026-03-27T18:00:00Z"},
                 {"friday night", "2026-03-27T20:00:00Z", "destroy", "2026-03-27T18:00:00Z",
                  "2026-03-30T06:00:00Z"},
                 // Sunday 2026-03-29 is the spring-forward day; nothing fires at weekends,
                 // and Monday 08:00 is CEST (+02:00), 06:00Z.
                 {"weekend", "2026-03-29T12:00:00Z", "destroy", "2026-03-27T18:00:00Z",
                  "2026-03-30T06:00:00Z"},
                 {"monday after", "2026-03-30T06:00:00Z", "deploy", "2026-03-30T06:00:00Z",
                  "2026-03-30T17:00:00Z"},
                 // Fall back on 2026-10-25: Monday 08:00 is CET again, 07:00Z.
                 {"friday before fall back", "2026-10-23T16:30:00Z", "deploy",
                  "2026-10-23T06:00:00Z", "2026-10-23T17:00:00Z"},
                 {"monday after fall back", "2026-10-26T07:00:00Z", "deploy",
                  "2026-10-26T07:00:00Z", "2026-10-26T18:00:00Z"},
             });
  }

  TEST_CASE("scheduler: planner applies the DST gap rule to a 02:30 schedule") {
    auto c = Config(
        "    schedule: {deploy: \"30 2 * * *\", destroy: \"30 3 * * *\", timezone: "
        "Europe/Berlin}\n");
    RunTable(*c, {},
             {
                 // 02:30 does not exist on 2026-03-29: the deploy fires at 03:00 CEST (01:00Z).
                 {"before gap", "2026-03-29T00:59:59Z", "destroy", "2026-03-28T02:30:00Z",
                  "2026-03-29T01:00:00Z"},
                 {"at gap end", "2026-03-29T01:00:00Z", "deploy", "2026-03-29T01:00:00Z",
                  "2026-03-29T01:30:00Z"},
                 // On 2026-10-25 02:30 occurs twice: only the first (CEST, 00:30Z) fires.
                 {"first 02:30", "2026-10-25T00:30:00Z", "deploy", "2026-10-25T00:30:00Z",
                  "2026-10-25T02:30:00Z"},
                 {"second 02:30 does not fire", "2026-10-25T01:45:00Z", "deploy",
                  "2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z"},
             });
  }

  TEST_CASE("scheduler: planner downtime across a destroy, with and without catch_up") {
    // Given office hours and a daemon down from 18:00 to 20:00 Berlin time on a
    // Tuesday (the 19:00 destroy happened while it was down),
    auto c = Config(kOfficeHours);
    Planner planner(*c);
    const auto& ws = c->workspaces[0];
    Overrides down;
    down.downtime = Window{T("2026-11-24T17:00:00Z"), T("2026-11-24T19:00:00Z")};
    // when it comes back with catch_up (no downtime window), the destroy counts;
    Plan caught_up = planner.DesiredAt(ws, {}, T("2026-11-24T19:00:00Z"));
    CHECK(Str(caught_up.desired) == "destroy");
    CHECK(Str(caught_up.since) == "2026-11-24T18:00:00Z");
    // without catch_up the fire in the downtime window is missed and the
    // workspace stays up until the next destroy.
    Plan missed = planner.DesiredAt(ws, down, T("2026-11-24T19:00:00Z"));
    CHECK(Str(missed.desired) == "deploy");
    CHECK(Str(missed.since) == "2026-11-24T07:00:00Z");
    CHECK(Str(missed.next_change) == "2026-11-25T07:00:00Z");
    auto fires =
        planner.FiresBetween(ws, down, T("2026-11-24T16:00:00Z"), T("2026-11-24T19:00:00Z"), 10);
    REQUIRE(fires.size() == 1);
    CHECK(fires[0].suppressed == Suppression::kMissed);
  }

  TEST_CASE("scheduler: planner manual deploy at night with and without until") {
    auto c = Config(kOfficeHours);
    Planner planner(*c);
    const auto& ws = c->workspaces[0];
    // A manual deploy at 21:00 (Tuesday, Berlin) until 23:00.
    Overrides until;
    until.manual.push_back({Action::kDeploy, T("2026-11-24T20:00:00Z"), T("2026-11-24T22:00:00Z")});
    Plan during = planner.DesiredAt(ws, until, T("2026-11-24T21:00:00Z"));
    CHECK(Str(during.desired) == "deploy");
    CHECK(during.source == Source::kManual);
    CHECK(Str(during.next_change) == "2026-11-24T22:00:00Z");
    Plan after = planner.DesiredAt(ws, until, T("2026-11-24T22:00:00Z"));
    CHECK(Str(after.desired) == "destroy");  // back to the 19:00 destroy
    CHECK(after.source == Source::kSchedule);
    CHECK(Str(after.since) == "2026-11-24T18:00:00Z");

    // Without until it holds until the next scheduled event replaces it.
    Overrides forever;
    forever.manual.push_back({Action::kDeploy, T("2026-11-24T20:00:00Z"), std::nullopt});
    Plan night = planner.DesiredAt(ws, forever, T("2026-11-25T03:00:00Z"));
    CHECK(Str(night.desired) == "deploy");
    CHECK(Str(night.next_change) == "2026-11-25T07:00:00Z");
    Plan next_evening = planner.DesiredAt(ws, forever, T("2026-11-25T18:00:00Z"));
    CHECK(Str(next_evening.desired) == "destroy");
    CHECK(next_evening.source == Source::kSchedule);
  }

  TEST_CASE("scheduler: planner pause suppresses scheduled fires and then ends") {
    auto c = Config(kOfficeHours);
    Planner planner(*c);
    const auto& ws = c->workspaces[0];
    // Paused 18:00-20:00 Berlin: the 19:00 destroy is skipped.
    Overrides ov;
    ov.pause = Window{T("2026-11-24T17:00:00Z"), T("2026-11-24T19:00:00Z")};
    Plan during = planner.DesiredAt(ws, ov, T("2026-11-24T18:30:00Z"));
    CHECK(during.paused);
    CHECK(Str(during.desired) == "deploy");
    CHECK(Str(during.next_change) == "2026-11-24T19:00:00Z");  // the pause ends
    Plan after = planner.DesiredAt(ws, ov, T("2026-11-24T19:30:00Z"));
    CHECK_FALSE(after.paused);
    CHECK(Str(after.desired) == "deploy");  // the skipped destroy stays skipped
    CHECK(Str(after.next_change) == "2026-11-25T07:00:00Z");
    // Manual actions still work during a pause.
    ov.manual.push_back({Action::kDestroy, T("2026-11-24T17:30:00Z"), std::nullopt});
    CHECK(Str(planner.DesiredAt(ws, ov, T("2026-11-24T18:00:00Z")).desired) == "destroy");
    // An open-ended pause has no end to wait for.
    Overrides open;
    open.pause = Window{T("2026-11-24T17:00:00Z"), std::nullopt};
    Plan frozen = planner.DesiredAt(ws, open, T("2026-11-30T12:00:00Z"));
    CHECK(Str(frozen.desired) == "deploy");
    CHECK(Str(frozen.next_change) == "none");
  }

  TEST_CASE("scheduler: planner deploy-only, destroy-only, protected and disabled") {
    {
      auto c = Config("    schedule: {deploy: \"0 * * * *\"}\n");
      Planner p(*c);
      Plan plan = p.DesiredAt(c->workspaces[0], {}, T("2026-11-24T10:30:00Z"));
      CHECK(Str(plan.desired) == "deploy");
      CHECK(Str(plan.since) == "2026-11-24T10:00:00Z");
      CHECK(Str(plan.next_change) == "2026-11-24T11:00:00Z");
    }
    {
      auto c = Config("    schedule: {destroy: \"0 22 * * *\"}\n");
      Planner p(*c);
      Plan plan = p.DesiredAt(c->workspaces[0], {}, T("2026-11-24T10:30:00Z"));
      CHECK(Str(plan.desired) == "destroy");
      CHECK(Str(plan.since) == "2026-11-23T22:00:00Z");
    }
    {
      auto c = Config(std::string(kOfficeHours) + "    protected: true\n");
      Planner p(*c);
      const auto& ws = c->workspaces[0];
      Plan plan = p.DesiredAt(ws, {}, T("2026-11-24T20:00:00Z"));
      CHECK(Str(plan.desired) == "deploy");  // the 19:00 destroy is refused
      CHECK(Str(plan.next_change) == "2026-11-25T07:00:00Z");
      auto fires = p.FiresBetween(ws, {}, T("2026-11-24T12:00:00Z"), T("2026-11-24T20:00:00Z"), 10);
      REQUIRE(fires.size() == 1);
      CHECK(fires[0].action == Action::kDestroy);
      CHECK(fires[0].suppressed == Suppression::kProtected);
      Overrides manual;
      manual.manual.push_back({Action::kDestroy, T("2026-11-24T19:30:00Z"), std::nullopt});
      CHECK(Str(p.DesiredAt(ws, manual, T("2026-11-24T20:00:00Z")).desired) == "destroy");
    }
    {
      auto c = Config(std::string(kOfficeHours) + "    enabled: false\n");
      Planner p(*c);
      Plan plan = p.DesiredAt(c->workspaces[0], {}, T("2026-11-24T12:00:00Z"));
      CHECK(plan.disabled);
      CHECK(Str(plan.desired) == "none");
      CHECK(Str(plan.next_change) == "none");
    }
  }

  TEST_CASE("scheduler: planner jitter is stable and within range") {
    for (const char* name : {"a", "dev-env", "team-x-123", "zzzzzzzz"}) {
      auto j = JitterFor(name, std::chrono::minutes(3));
      CHECK(j >= std::chrono::seconds(0));
      CHECK(j < std::chrono::minutes(3));
      CHECK(j == JitterFor(name, std::chrono::minutes(3)));
    }
    CHECK(JitterFor("x", std::chrono::milliseconds(0)) == std::chrono::seconds(0));
    CHECK(JitterFor("a", std::chrono::minutes(3)) != JitterFor("b", std::chrono::minutes(3)));

    auto c = Config(kOfficeHours, "{jitter: 3m}");
    Planner p(*c);
    const auto& ws = c->workspaces[0];
    const auto j = JitterFor("w", std::chrono::minutes(3));
    auto fires = p.NextFires(ws, {}, Action::kDeploy, T("2026-11-24T00:00:00Z"), 1);
    REQUIRE(fires.size() == 1);
    CHECK(fires[0].at == T("2026-11-24T07:00:00Z") + j);
    CHECK(fires[0].fire.at == T("2026-11-24T07:00:00Z"));
    // Desired state flips at the jittered instant, not at 08:00 sharp.
    if (j > std::chrono::seconds(0)) {
      CHECK(Str(p.DesiredAt(ws, {}, T("2026-11-24T07:00:00Z")).desired) == "destroy");
    }
    CHECK(Str(p.DesiredAt(ws, {}, T("2026-11-24T07:00:00Z") + j).desired) == "deploy");
  }

  TEST_CASE("scheduler: planner ties go to manual, then to destroy") {
    auto c = Config("    schedule: {deploy: \"0 12 * * *\", destroy: \"0 12 * * *\"}\n");
    Planner p(*c);
    const auto& ws = c->workspaces[0];
    CHECK(Str(p.DesiredAt(ws, {}, T("2026-11-24T12:00:00Z")).desired) == "destroy");
    Overrides ov;
    ov.manual.push_back({Action::kDeploy, T("2026-11-24T12:00:00Z"), std::nullopt});
    Plan plan = p.DesiredAt(ws, ov, T("2026-11-24T12:00:00Z"));
    CHECK(Str(plan.desired) == "deploy");
    CHECK(plan.source == Source::kManual);
  }

  TEST_CASE("scheduler: planner FiresBetween merges actions in time order") {
    auto c = Config(kOfficeHours);
    Planner p(*c);
    auto fires = p.FiresBetween(c->workspaces[0], {}, T("2026-11-23T00:00:00Z"),
                                T("2026-11-25T00:00:00Z"), 100);
    REQUIRE(fires.size() == 4);
    CHECK(fires[0].action == Action::kDeploy);
    CHECK(fires[0].at == T("2026-11-23T07:00:00Z"));
    CHECK(fires[1].action == Action::kDestroy);
    CHECK(fires[2].action == Action::kDeploy);
    CHECK(fires[3].at == T("2026-11-24T18:00:00Z"));
    // Strictly after `after`, and at most `limit`.
    CHECK(p.FiresBetween(c->workspaces[0], {}, T("2026-11-23T07:00:00Z"), T("2026-11-23T07:00:00Z"),
                         10)
              .empty());
    CHECK(p.FiresBetween(c->workspaces[0], {}, T("2026-11-23T00:00:00Z"), T("2026-12-25T00:00:00Z"),
                         3)
              .size() == 3);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::scheduler
