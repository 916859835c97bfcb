// `provisioner run deploy|destroy` with the real binary and the fake tofu.
#include "integration/daemon_harness.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

std::vector<std::string> RunArgv(DaemonHarness& h, const std::string& op, const std::string& ws) {
  return {PROVISIONER_BINARY, "run", op, "--config", h.config_path(), "--workspace", ws};
}

TEST_SUITE("integration") {
  TEST_CASE("integration: run deploy shows progress and exits 0, and run destroy too") {
    DaemonHarness h;
    h.fake().WriteControl(R"({"resources": ["null_resource.web", "null_resource.db"]})");
    h.WriteConfig("  - {name: w, template: t, variables: {greeting: hi}}\n");
    ProcessResult deploy = RunProcess(RunArgv(h, "deploy", "w"), h.fake().Env(), h.root_.path());
    CHECK_MESSAGE(deploy.exit_code == 0, deploy.err);
    CHECK(deploy.out.find("deploy w (template t, tofu ") != std::string::npos);
    CHECK(deploy.out.find("] apply: null_resource.web: Creation complete after 0s") !=
          std::string::npos);
    CHECK(deploy.out.find("deploy w: succeeded (2 added, 0 changed, 0 destroyed)") !=
          std::string::npos);
    CHECK(deploy.out.find("log: " + h.state_dir() + "/jobs/w/run-") != std::string::npos);
    // The workspace directory holds the template and the variables.
    CHECK(ReadFileOrDie(h.state_dir() + "/workspaces/w/terraform.tfvars.json") ==
          "{\"greeting\":\"hi\"}\n");

    ProcessResult destroy = RunProcess(RunArgv(h, "destroy", "w"), h.fake().Env(), h.root_.path());
    CHECK_MESSAGE(destroy.exit_code == 0, destroy.err);
    CHECK(destroy.out.find("destroy w: succeeded (0 added, 0 changed, 2 destroyed)") !=
          std::string::npos);
  }

  TEST_CASE("integration: run exits 1 when the job fails and 2 on bad usage") {
    DaemonHarness h;
    h.fake().WriteControl(R"({"scenario": "fail_apply"})");
    h.WriteConfig("  - {name: w, template: t}\n");
    ProcessResult failed = RunProcess(RunArgv(h, "deploy", "w"), h.fake().Env(), h.root_.path());
    CHECK(failed.exit_code == 1);
    CHECK(failed.err.find("deploy w: failed") != std::string::npos);
    CHECK(failed.out.find("apply: Error: ") != std::string::npos);

    ProcessResult unknown =
        RunProcess(RunArgv(h, "deploy", "nope"), h.fake().Env(), h.root_.path());
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err ==
          "provisioner: --workspace: no workspace \"nope\" in " + h.config_path() + "\n");
    ProcessResult bad_op = RunProcess(RunArgv(h, "redeploy", "w"), h.fake().Env(), h.root_.path());
    CHECK(bad_op.exit_code == 2);

    // Without tofu anywhere: a clear failure, exit 1.
    ProcessResult no_tofu = RunProcess(RunArgv(h, "deploy", "w"),
                                       h.fake().Env({{"PATH", "/usr/bin:/bin"}}), h.root_.path());
    CHECK(no_tofu.exit_code == 1);
    CHECK(no_tofu.err.find("cannot find tofu: tofu: not found on PATH") != std::string::npos);
  }

  TEST_CASE("integration: Ctrl-C during run stops tofu gracefully through the ladder") {
    DaemonHarness h;
    h.fake().WriteControl(R"({"resources": 5, "apply_seconds": 1})");
    h.WriteConfig("  - {name: w, template: t}\n");
    auto run = Subprocess::Start(RunArgv(h, "deploy", "w"), h.fake().Env(), h.root_.path());
    REQUIRE(run->WaitForOutput("Creating...", seconds(20)));
    run->Signal(SIGINT);
    ProcessResult r = run->Wait(seconds(30));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("interrupt received, stopping tofu gracefully") != std::string::npos);
    CHECK(r.err.find("deploy w: cancelled") != std::string::npos);
    bool saw_sigint = false;
    for (const std::string& line : h.fake().LogLines()) {
      if (line.find("\"event\":\"exit\"") != std::string::npos &&
          line.find("\"command\":\"apply\"") != std::string::npos) {
        saw_sigint = line.find("SIGINT") != std::string::npos;
      }
    }
    CHECK(saw_sigint);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
