// WorkspaceToJson / WorkspaceFromJson: one workspace's record on its own,
// for stores that keep a row per workspace.
#include "base/time_format.h"
#include "state/state_json.h"
#include "support/test_util.h"

namespace provisioner::state {
namespace {

SystemTime T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

WorkspaceState Sample() {
  WorkspaceState ws;
  ws.actual = Actual::kDeployed;
  ws.actual_since = T("2026-11-23T18:02:00.250Z");
  ws.manual.push_back({Operation::kDestroy, T("2026-11-23T20:00:00Z"), std::nullopt, "alice"});
  ws.pause = PauseWindow{T("2026-11-24T00:00:00Z"), std::nullopt, "bob"};
  JobRecord job;
  job.id = "20261123T190000Z-ffffff";
  job.workspace = "dev-env";
  job.started_at = T("2026-11-23T19:00:00Z");
  job.process = platform::ProcessIdentity{31337, 1234567890123, "boot"};
  ws.running = job;
  ws.retry = RetryState{Operation::kDeploy, 3, T("2026-11-23T18:10:00Z")};
  ws.orphaned = true;
  ws.saved_seconds = 7200.25;
  return ws;
}

TEST_SUITE("state") {
  TEST_CASE("state: a workspace's JSON is its entry in state.json, and round trips") {
    State s;
    s.workspaces["dev-env"] = Sample();
    const std::string one = WorkspaceToJson(s.workspaces["dev-env"]);
    CHECK(one.starts_with("{\"actual\":\"deployed\","));
    CHECK(one.find('\n') == std::string::npos);
    CHECK(StateToJson(s).find("\n\"dev-env\":" + one + "\n}}\n") != std::string::npos);

    auto back = WorkspaceFromJson(one, "dev-env");
    REQUIRE_OK(back);
    CHECK(*back == s.workspaces["dev-env"]);
    CHECK(WorkspaceToJson(*back) == one);
    auto defaults = WorkspaceFromJson(WorkspaceToJson(WorkspaceState{}), "x");
    REQUIRE_OK(defaults);
    CHECK(*defaults == WorkspaceState{});
  }

  TEST_CASE("state: a workspace's JSON errors are Corruption under workspaces.<name>") {
    struct Case {
      const char* text;
      const char* message;
    };
    const Case cases[] = {
        {"", "workspaces.dev-env: not valid JSON"},
        {"[]", "workspaces.dev-env: expected an object"},
        {R"({"actual":"up"})",
         "workspaces.dev-env.actual: \"up\" is not one of unknown, deployed, destroyed"},
        {R"({"manual":[{"operation":"deploy"}]})", "workspaces.dev-env.manual[0].at: missing"},
        {R"({"running":{"id":"x","process":{"pid":0}}})",
         "workspaces.dev-env.running.process.pid: expected a positive integer"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      auto ws = WorkspaceFromJson(c.text, "dev-env");
      REQUIRE_FALSE(ws.ok());
      CHECK(ws.status().IsCorruption());
      CHECK(ws.status().message().starts_with(c.message));
    }
  }
}

}  // namespace
}  // namespace provisioner::state
