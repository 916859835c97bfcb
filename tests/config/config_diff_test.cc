#include "config/config_diff.h"

#include "config/config_parse.h"
#include "support/test_util.h"

namespace provisioner::config {
namespace {

std::shared_ptr<const Config> Load(std::string_view text) {
  ParseResult r = ParseConfig(text, "c.yaml");
  REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors[0].ToString()));
  return r.config;
}

TEST_SUITE("config") {
  TEST_CASE("config: Diff lists added, removed and changed workspaces with fields") {
    // Given a config with three workspaces,
    auto before = Load(R"(scheduler: {max_concurrent_jobs: 4}
workspaces:
  - {name: a, template: t, schedule: {deploy: "0 8 * * *", destroy: "0 19 * * *"}}
  - {name: b, template: t, env: {TOKEN: one}}
  - {name: c, template: t})");
    // when b's env and a's deploy time change, c goes and d arrives,
    auto after = Load(R"(scheduler: {max_concurrent_jobs: 8}
workspaces:
  - {name: d, template: t}
  - {name: a, template: t, schedule: {deploy: "0 7 * * *", destroy: "0 19 * * *"}}
  - {name: b, template: t, env: {TOKEN: two}, variables: {x: 1}})");
    ConfigDiff diff = Diff(*before, *after);
    // then the diff says exactly that, without secret values.
    CHECK(diff.added == std::vector<std::string>{"d"});
    CHECK(diff.removed == std::vector<std::string>{"c"});
    REQUIRE(diff.changed.size() == 2);
    CHECK(diff.changed[0].name == "a");
    CHECK(diff.changed[0].fields == std::vector<std::string>{"schedule.deploy"});
    CHECK(diff.changed[1].name == "b");
    CHECK(diff.changed[1].fields == std::vector<std::string>{"variables", "env"});
    CHECK(diff.settings == std::vector<std::string>{"scheduler.max_concurrent_jobs"});
    CHECK(diff.Summary() ==
          "1 added (d); 1 removed (c); 2 changed (a: schedule.deploy; b: variables, env); "
          "settings: scheduler.max_concurrent_jobs");
    CHECK(diff.Summary().find("two") == std::string::npos);
  }

  TEST_CASE("config: Diff of identical configs is empty") {
    auto a = Load("workspaces: [{name: a, template: t}]");
    auto b = Load("workspaces: [{name: a, template: t}]");
    ConfigDiff diff = Diff(*a, *b);
    CHECK(diff.empty());
    CHECK(diff.Summary() == "no changes");
  }

  TEST_CASE("config: Diff summary shortens long lists") {
    std::string before = "workspaces: []";
    std::string after = "workspaces:\n";
    for (int i = 0; i < 25; ++i) after += "  - {name: w" + std::to_string(i) + ", template: t}\n";
    ConfigDiff diff = Diff(*Load(before), *Load(after));
    CHECK(diff.added.size() == 25);
    CHECK(diff.Summary() == "25 added (w0, w1, w2, w3, w4, w5, w6, w7, w8, w9 and 15 more)");
  }

  TEST_CASE("config: WorkspacesFingerprint sees what workspaces do, not how a node runs") {
    const std::string a =
        "  - {name: a, template: t, variables: {n: 1}, schedule: {deploy: \"0 8 * * *\"}}\n";
    const std::string b = "  - {name: b, template: t, labels: {team: x}, cost_per_hour: 2}\n";
    const auto base = Load("workspaces:\n" + a + b);
    const std::string print = WorkspacesFingerprint(*base);
    // Order in the file, labels, costs and the node's own settings do not
    // count;
    CHECK(WorkspacesFingerprint(*Load("workspaces:\n" + b + a)) == print);
    CHECK(WorkspacesFingerprint(
              *Load("server: {listen: \"127.0.0.1:9\"}\nha: {node_name: other}\nworkspaces:\n" + a +
                    "  - {name: b, template: t}\n")) == print);
    // what a workspace does does.
    for (const std::string& changed : {
             std::string("  - {name: a, template: t, variables: {n: 2}, schedule: {deploy: \"0 8 "
                         "* * *\"}}\n"),
             std::string("  - {name: a, template: t, variables: {n: 1}, schedule: {deploy: \"0 9 "
                         "* * *\"}}\n"),
             std::string("  - {name: a, template: u, variables: {n: 1}, schedule: {deploy: \"0 8 "
                         "* * *\"}}\n"),
             std::string("  - {name: a, template: t, variables: {n: 1}, enabled: false, "
                         "schedule: {deploy: \"0 8 * * *\"}}\n"),
             std::string("  - {name: a, template: t, variables: {n: 1}, env: {X: y}, "
                         "schedule: {deploy: \"0 8 * * *\"}}\n"),
         }) {
      CAPTURE(changed);
      CHECK(WorkspacesFingerprint(*Load("workspaces:\n" + changed + b)) != print);
    }
    CHECK(WorkspacesFingerprint(*Load("workspaces:\n" + a)) != print);
    CHECK(WorkspacesFingerprint(*Load("scheduler: {catch_up: false}\nworkspaces:\n" + a + b)) !=
          print);
    // Per workspace (WorkspaceFingerprint): a change to a leaves b's alone.
    const auto other = Load("workspaces:\n  - {name: a, template: t, variables: {n: 2}}\n" + b);
    CHECK(WorkspaceFingerprint(*other, other->workspaces[0]) !=
          WorkspaceFingerprint(*base, base->workspaces[0]));
    CHECK(WorkspaceFingerprint(*other, other->workspaces[1]) ==
          WorkspaceFingerprint(*base, base->workspaces[1]));
  }
}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::config
