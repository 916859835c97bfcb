// The fake `tofu` run as a real process, checked against the contract of
// shared/reference/opentofu-cli.md and read back with the real UI parser.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/fake_tofu_env.h"
#include "support/test_util.h"
#include "tofu/ui_stream.h"

namespace provisioner::tofu {
namespace {

#ifdef FAKE_TOFU_BINARY

using nlohmann::json;
using testing::FakeTofuEnv;
using testing::ProcessResult;
using testing::ReadFileOrDie;
using testing::Subprocess;
using testing::WriteFileOrDie;
using namespace std::chrono_literals;

struct Stream {
  std::vector<UiEvent> events;
  UiStreamSummary summary;

  std::string Types() const {
    std::string out;
    for (const UiEvent& e : events) out += std::string(UiEventTypeName(e.type)) + " ";
    return out;
  }
  std::vector<const UiEvent*> Of(UiEventType type) const {
    std::vector<const UiEvent*> out;
    for (const UiEvent& e : events) {
      if (e.type == type) out.push_back(&e);
    }
    return out;
  }
};

Stream Parse(const std::string& out) {
  Stream s;
  s.summary = ParseUiStream(out, &s.events);
  return s;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

json ReadJson(const std::string& path) { return json::parse(ReadFileOrDie(path)); }

std::vector<json> LogRecords(const FakeTofuEnv& env) {
  std::vector<json> records;
  for (const std::string& line : env.LogLines()) records.push_back(json::parse(line));
  return records;
}

// The last record of `event` ("start"/"exit") in the invocation log.
json LastRecord(const FakeTofuEnv& env, const std::string& event) {
  std::vector<json> records = LogRecords(env);
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    if ((*it)["event"] == event) return *it;
  }
  FAIL("no " << event << " record in the invocation log");
  return {};
}

std::vector<std::string> StateResourceAddrs(const json& state) {
  std::vector<std::string> addrs;
  for (const json& r : state["resources"])
    addrs.push_back(r["type"].get<std::string>() + "." + r["name"].get<std::string>());
  return addrs;
}

void Init(const FakeTofuEnv& env, std::map<std::string, std::string> extra = {}) {
  ProcessResult r = env.Run({"init", "-input=false", "-no-color"}, std::move(extra));
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
}

// DESIGN.md §5 argv.
const std::vector<std::string> kPlanArgs = {"plan",       "-input=false",       "-no-color",
                                            "-json",      "-detailed-exitcode", "-lock-timeout=5s",
                                            "-out=tfplan"};
const std::vector<std::string> kApplyArgs = {"apply", "-input=false",     "-no-color",
                                             "-json", "-lock-timeout=5s", "tfplan"};
const std::vector<std::string> kDestroyArgs = {"destroy", "-input=false",  "-no-color",
                                               "-json",   "-auto-approve", "-lock-timeout=5s"};

TEST_SUITE("tofu_fake") {
  TEST_CASE("tofu_fake: version, human and -json") {
    FakeTofuEnv env;
    ProcessResult r = env.Run({"version", "-json"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out ==
          "{\n  \"terraform_version\": \"1.12.6\",\n  \"platform\": "
          "\"linux_amd64\",\n"
          "  \"provider_selections\": {}\n}\n");
    Init(env);
    json after = json::parse(env.Run({"version", "-json"}).out);
    CHECK(after["provider_selections"] == json{{"registry.opentofu.org/hashicorp/null", "3.2.3"}});
    ProcessResult human = env.Run({"-version"});
    CHECK(human.exit_code == 0);
    CHECK(human.out ==
          "OpenTofu v1.12.6\non linux_amd64\n+ provider "
          "registry.opentofu.org/hashicorp/null v3.2.3\n");
    env.WriteControl(R"({"version": "1.13.0-dev"})");
    CHECK(json::parse(env.Run({"--version", "-json"}).out)["terraform_version"] == "1.13.0-dev");
  }

  TEST_CASE("tofu_fake: deploy cycle init, plan 2, apply plan file, plan 0") {
    FakeTofuEnv env;
    ProcessResult init = env.Run({"init", "-input=false", "-no-color", "-backend-config=bucket=b1",
                                  "-backend-config=key=team/app.tfstate"});
    REQUIRE(init.exit_code == 0);
    CHECK(init.out.find("OpenTofu has been successfully initialized!") != std::string::npos);
    CHECK(init.out.find("You may now begin working") == std::string::npos);  // TF_IN_AUTOMATION
    CHECK(init.out.find("\x1b[") == std::string::npos);                      // -no-color
    CHECK(Exists(env.Work(".terraform")));
    CHECK(Exists(env.Work(".terraform.lock.hcl")));
    json recorded = ReadJson(env.Work(".terraform/fake_init.json"));
    CHECK(recorded["backend_config"] == json{"bucket=b1", "key=team/app.tfstate"});
    CHECK(recorded["input"] == false);

    ProcessResult plan = env.Run(kPlanArgs);
    REQUIRE_MESSAGE(plan.exit_code == 2, plan.err);
    Stream p = Parse(plan.out);
    CHECK(p.Types() == "version planned_change planned_change change_summary ");
    CHECK(p.events[1].message == "null_resource.web: Plan to create");
    CHECK(p.events[2].resource->addr == "null_resource.db");
    CHECK(p.summary.changes->add == 2);
    CHECK(p.summary.changes->operation == "plan");
    CHECK(p.events[3].message == "Plan: 2 to add, 0 to change, 0 to destroy.");
    CHECK(p.summary.not_json_lines == 0);
    CHECK(p.summary.malformed_lines == 0);
    CHECK(Exists(env.Work("tfplan")));
    CHECK_FALSE(Exists(env.Work(".terraform.tfstate.lock.info")));  // released

    ProcessResult apply = env.Run(kApplyArgs);
    REQUIRE_MESSAGE(apply.exit_code == 0, apply.err);
    Stream a = Parse(apply.out);
    // A saved plan: planned changes, hooks, summary, outputs; no refresh, no
    // plan summary (reference §1.5).
    CHECK(a.Types() ==
          "version planned_change planned_change apply_start apply_complete "
          "apply_start "
          "apply_complete change_summary outputs ");
    CHECK(a.summary.changes->operation == "apply");
    CHECK(a.summary.changes->add == 2);
    CHECK(a.events[7].message == "Apply complete! Resources: 2 added, 0 changed, 0 destroyed.");
    CHECK(a.events[3].message == "null_resource.web: Creating...");
    const UiEvent& done = a.events[4];
    CHECK(done.message ==
          "null_resource.web: Creation complete after 0s [id=" + done.id_value + "]");
    CHECK(done.id_key == "id");

    json state = ReadJson(env.Work("terraform.tfstate"));
    CHECK(state["version"] == 4);
    CHECK(state["terraform_version"] == "1.12.6");
    CHECK(state["serial"] == 1);
    CHECK(state["lineage"].get<std::string>().size() == 36);
    CHECK(StateResourceAddrs(state) ==
          std::vector<std::string>{"null_resource.web", "null_resource.db"});
    CHECK(state["resources"][0]["instances"][0]["attributes"]["id"] == done.id_value);
    CHECK(state["resources"][0]["provider"] ==
          "provider[\"registry.opentofu.org/hashicorp/null\"]");
    CHECK(a.summary.FindResource("null_resource.db")->status == ResourceStatus::kApplied);

    ProcessResult again = env.Run(kPlanArgs);
    REQUIRE(again.exit_code == 0);
    Stream g = Parse(again.out);
    CHECK(g.Types() ==
          "version refresh_start refresh_complete refresh_start "
          "refresh_complete change_summary ");
    CHECK(g.events[1].message ==
          "null_resource.web: Refreshing state... [id=" + done.id_value + "]");
    CHECK(g.summary.changes->add == 0);

    // Without -detailed-exitcode a plan with changes still exits 0.
    env.WriteControl(
        R"({"resources": ["null_resource.web", "null_resource.db", "null_resource.cache"]})");
    CHECK(env.Run({"plan", "-json"}).exit_code == 0);
    CHECK(env.Run(kPlanArgs).exit_code == 2);
  }

  TEST_CASE("tofu_fake: a stale plan file is refused") {
    FakeTofuEnv env;
    Init(env);
    REQUIRE(env.Run(kPlanArgs).exit_code == 2);
    ProcessResult direct = env.Run({"apply", "-json", "-auto-approve"});
    REQUIRE(direct.exit_code == 0);
    Stream d = Parse(direct.out);
    // Without a plan file the plan half comes first (reference §1.5).
    CHECK(d.Types() ==
          "version planned_change planned_change change_summary apply_start "
          "apply_complete "
          "apply_start apply_complete change_summary outputs ");
    ProcessResult stale = env.Run(kApplyArgs);
    CHECK(stale.exit_code == 1);
    Stream s = Parse(stale.out);
    CHECK(s.summary.ErrorSummary() == "Saved plan is stale");
    CHECK(s.Of(UiEventType::kApplyStart).empty());
    CHECK(ReadJson(env.Work("terraform.tfstate"))["serial"] == 1);
  }

  TEST_CASE("tofu_fake: destroy empties the state and prints no outputs") {
    FakeTofuEnv env;
    Init(env);
    WriteFileOrDie(env.Work("terraform.tfvars.json"), R"({"region": "eu-west-1"})");
    REQUIRE(env.Run({"apply", "-json", "-auto-approve"}).exit_code == 0);
    json before = ReadJson(env.Work("terraform.tfstate"));
    std::string web_id = before["resources"][0]["instances"][0]["attributes"]["id"];

    ProcessResult r = env.Run(kDestroyArgs);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    Stream s = Parse(r.out);
    CHECK(s.Types() ==
          "version refresh_start refresh_complete refresh_start "
          "refresh_complete planned_change "
          "planned_change change_summary outputs apply_start apply_complete "
          "apply_start "
          "apply_complete change_summary ");
    for (const UiEvent* e : s.Of(UiEventType::kPlannedChange)) CHECK(e->action == "delete");
    CHECK(s.events[8].outputs.size() == 1);
    CHECK(s.events[8].outputs[0].action == "delete");
    const UiEvent* first_destroy = s.Of(UiEventType::kApplyStart)[0];
    CHECK(first_destroy->resource->addr == "null_resource.db");  // reverse order
    const UiEvent* web_start = s.Of(UiEventType::kApplyStart)[1];
    CHECK(web_start->message == "null_resource.web: Destroying... [id=" + web_id + "]");
    CHECK(s.Of(UiEventType::kApplyComplete)[1]->message ==
          "null_resource.web: Destruction complete after 0s");
    CHECK(s.events.back().message == "Destroy complete! Resources: 2 destroyed.");
    CHECK(s.summary.changes->operation == "destroy");
    CHECK(s.summary.changes->remove == 2);
    CHECK(s.Of(UiEventType::kChangeSummary)[0]->changes->operation == "plan");

    json after = ReadJson(env.Work("terraform.tfstate"));
    CHECK(after["resources"].empty());
    CHECK(after["outputs"].empty());
    CHECK(after["serial"] == 2);
    CHECK(after["lineage"] == before["lineage"]);
    CHECK(ReadJson(env.Work("terraform.tfstate.backup"))["serial"] == 1);
    ProcessResult show = env.Run({"show", "-json"});
    CHECK(show.exit_code == 0);
    CHECK(show.out == "{\"format_version\":\"1.0\"}\n");
    CHECK(env.Run({"output", "-json"}).out == "{}\n");
  }

  TEST_CASE("tofu_fake: argument and precondition errors") {
    FakeTofuEnv env;
    SUBCASE("plan before init") {
      ProcessResult r = env.Run(kPlanArgs);
      CHECK(r.exit_code == 1);
      Stream s = Parse(r.out);
      CHECK(s.Types() == "version diagnostic ");
      CHECK(s.summary.ErrorSummary() ==
            "Backend initialization required, please run \"tofu init\"");
    }
    SUBCASE("apply -json without plan file or -auto-approve") {
      Init(env);
      ProcessResult r = env.Run({"apply", "-json", "-input=false"});
      CHECK(r.exit_code == 1);
      Stream s = Parse(r.out);
      CHECK(s.Types() == "version diagnostic ");
      REQUIRE(s.summary.diagnostics.size() == 1);
      CHECK(s.summary.diagnostics[0].summary == "Plan file or auto-approve required");
      CHECK(s.summary.diagnostics[0].detail ==
            "OpenTofu cannot ask for interactive approval when -json is set. "
            "You can either "
            "apply a saved plan file, or enable the -auto-approve option.");
      CHECK(Parse(env.Run({"destroy", "-json"}).out).summary.ErrorSummary() ==
            "Plan file or auto-approve required");
    }
    SUBCASE("unknown subcommand") {
      ProcessResult r = env.Run({"frobnicate", "-json"});
      CHECK(r.exit_code == 1);
      CHECK(r.out.empty());
      CHECK(r.err.rfind("OpenTofu has no command named \"frobnicate\".", 0) == 0);
    }
    SUBCASE("unknown flag") {
      ProcessResult r = env.Run({"plan", "-bogus"});
      CHECK(r.exit_code == 1);
      CHECK(r.err.find("flag provided but not defined: -bogus") != std::string::npos);
    }
    SUBCASE("bad -chdir") {
      ProcessResult r = env.Run({"-chdir=nope", "plan"});
      CHECK(r.exit_code == 1);
      CHECK(r.err.rfind("Error handling -chdir option: chdir nope:", 0) == 0);
    }
    SUBCASE("missing plan file") {
      Init(env);
      ProcessResult r = env.Run({"apply", "-json", "missing.plan"});
      CHECK(r.exit_code == 1);
      CHECK(Parse(r.out).summary.ErrorSummary() ==
            "Failed to load \"missing.plan\" as a plan file");
    }
    SUBCASE("misconfigured fake is loud") {
      env.WriteControl(R"({"scenario": "no_such_scenario"})");
      ProcessResult r = env.Run({"version"});
      CHECK(r.exit_code == 3);
      CHECK(r.err.find("unknown scenario \"no_such_scenario\"") != std::string::npos);
      env.WriteControl(R"({"slow_second": 1})");
      CHECK(env.Run({"version"}).err.find("unknown control key \"slow_second\"") !=
            std::string::npos);
    }
  }

  TEST_CASE("tofu_fake: state lock held by another process") {
    FakeTofuEnv env;
    Init(env);
    // Given a holder of the workspace's state lock,
    auto holder = Subprocess::Start(
        {testing::kFakeTofuBinary, "__hold-lock", env.work_dir(), "--who", "alice@workstation"},
        env.Env(), env.work_dir(), /*stdin_pipe=*/true);
    REQUIRE(holder->WaitForOutput("\n", 10s));
    REQUIRE(holder->out().rfind("locked ", 0) == 0);
    const std::string lock_id = holder->out().substr(7, holder->out().size() - 8);
    json info = ReadJson(env.Work(".terraform.tfstate.lock.info"));
    CHECK(info["ID"] == lock_id);
    CHECK(info["Who"] == "alice@workstation");
    std::string created = info["Created"];  // RFC 3339 in the file, Go's String() in the message
    REQUIRE(created.back() == 'Z');
    created.pop_back();
    created[created.find('T')] = ' ';
    created += " +0000 UTC";

    // when a plan waits up to -lock-timeout=2s (fake time, 0.05 real s per s),
    auto start = std::chrono::steady_clock::now();
    ProcessResult r = env.Run(kPlanArgs, {{"FAKE_TOFU_TIME_SCALE", "0.05"}});
    auto waited = std::chrono::steady_clock::now() - start;

    // then it retried for the whole timeout and failed with the holder's info.
    CHECK(r.exit_code == 1);
    CHECK(waited >= 100ms);
    Stream s = Parse(r.out);
    CHECK(s.Types() == "version state_lock_acquire diagnostic ");
    REQUIRE(s.summary.diagnostics.size() == 1);
    const Diagnostic& d = s.summary.diagnostics[0];
    CHECK(d.summary == "Error acquiring the state lock");
    CHECK(d.detail ==
          "Error message: resource temporarily unavailable\n"
          "Lock Info:\n"
          "  ID:        " +
              lock_id +
              "\n"
              "  Path:      terraform.tfstate\n"
              "  Operation: OperationTypeApply\n"
              "  Who:       alice@workstation\n"
              "  Version:   1.12.6\n"
              "  Created:   " +
              created +
              "\n"
              "  Info:      \n"
              "\n\n"
              "OpenTofu acquires a state lock to protect the state from being "
              "written\n"
              "by multiple users at the same time. Please resolve the issue "
              "above and try\n"
              "again. For most commands, you can disable locking with the "
              "\"-lock=false\"\n"
              "flag, but this is not recommended.");
    REQUIRE(s.summary.state_lock.has_value());
    CHECK(s.summary.state_lock->id == lock_id);
    CHECK(s.summary.state_lock->who == "alice@workstation");
    CHECK_FALSE(Exists(env.Work("tfplan")));
    CHECK(LastRecord(env, "exit")["exit_code"] == 1);

    // Human rendering with -no-color goes to stderr.
    ProcessResult human = env.Run({"plan", "-no-color", "-input=false"});
    CHECK(human.exit_code == 1);
    CHECK(human.err.rfind("\nError: Error acquiring the state lock\n\nError "
                          "message: resource "
                          "temporarily unavailable\nLock Info:\n  ID:        " +
                              lock_id,
                          0) == 0);

    // Once the holder lets go, the lock and its info file are gone.
    holder->CloseStdin();
    CHECK(holder->Wait(10s).exit_code == 0);
    CHECK_FALSE(Exists(env.Work(".terraform.tfstate.lock.info")));
    CHECK(env.Run(kPlanArgs).exit_code == 2);
  }

  TEST_CASE("tofu_fake: lock_held scenario, with and without release") {
    FakeTofuEnv env;
    Init(env);
    SUBCASE("held for the whole run, no timeout") {
      env.WriteControl(R"({"scenario": "lock_held"})");
      ProcessResult r = env.Run({"plan", "-json", "-lock-timeout=0s"});
      CHECK(r.exit_code == 1);
      Stream s = Parse(r.out);
      CHECK(s.Types() == "version diagnostic ");  // no wait, no "Acquiring" line
      REQUIRE(s.summary.state_lock.has_value());
      CHECK(s.summary.state_lock->who == "ci-runner@other-host");
      CHECK(s.summary.state_lock->operation == "OperationTypeApply");
      CHECK_FALSE(Exists(env.Work(".terraform.tfstate.lock.info")));  // the holder cleaned up
    }
    SUBCASE("released after 1.5 s, acquired on a retry") {
      env.WriteControl(
          R"({"scenario": "lock_held", "lock_held_seconds": 1.5, "time_scale": 0.05})");
      ProcessResult r = env.Run(kPlanArgs);
      CHECK_MESSAGE(r.exit_code == 2, r.out);
      Stream s = Parse(r.out);
      CHECK(s.Types() ==
            "version state_lock_acquire planned_change planned_change "
            "change_summary ");
      CHECK_FALSE(s.summary.state_lock.has_value());
    }
  }

  TEST_CASE("tofu_fake: interrupt during a slow apply") {
    for (int sig : {SIGINT, SIGTERM}) {  // identical semantics (reference §2.2)
      CAPTURE(sig);
      FakeTofuEnv env;
      Init(env);
      env.WriteControl(
          R"({"resources": ["null_resource.a", "null_resource.b", "null_resource.c"],
                         "slow_resource": "null_resource.b", "slow_seconds": 30,
                         "time_scale": 0.01})");
      REQUIRE(env.Run(kPlanArgs).exit_code == 2);
      // Given an apply busy with a 30 s resource,
      auto apply = env.Start(kApplyArgs);
      REQUIRE(apply->WaitForOutput("null_resource.b: Creating...", 10s));
      CHECK(Exists(env.Work(".terraform.tfstate.lock.info")));
      // when one signal arrives,
      apply->Signal(sig);
      ProcessResult r = apply->Wait(10s);
      // then the in-flight resource finishes, nothing new starts, and the state
      // is saved and the lock released before exit 1.
      CHECK_FALSE(r.timed_out);
      CHECK(r.exit_code == 1);
      Stream s = Parse(r.out);
      std::string without_logs;
      size_t first_log = 0, b_start = 0, b_complete = 0;
      for (size_t i = 0; i < s.events.size(); ++i) {
        const UiEvent& e = s.events[i];
        if (e.type == UiEventType::kLog) {
          if (first_log == 0) first_log = i;
          continue;
        }
        without_logs += std::string(UiEventTypeName(e.type)) + " ";
        if (e.resource && e.resource->addr == "null_resource.b") {
          if (e.type == UiEventType::kApplyStart) b_start = i;
          if (e.type == UiEventType::kApplyComplete) b_complete = i;
        }
      }
      CHECK(without_logs ==
            "version planned_change planned_change planned_change apply_start "
            "apply_complete "
            "apply_start apply_progress apply_progress apply_complete "
            "diagnostic ");
      // The interrupt lines come while b is in flight (the heartbeats around
      // them depend on scheduling, so only this order is asserted).
      CHECK(b_start < first_log);
      CHECK(first_log < b_complete);
      CHECK(s.summary.interrupted);
      CHECK_FALSE(s.summary.cancelled);
      CHECK(s.Of(UiEventType::kLog)[0]->message ==
            "\nInterrupt received.\nPlease wait for OpenTofu to exit or data "
            "loss may occur.\n"
            "Gracefully shutting down...\n");
      CHECK(s.Of(UiEventType::kLog)[1]->message == "Stopping operation...");
      CHECK(s.Of(UiEventType::kApplyProgress)[0]->message ==
            "null_resource.b: Still creating... [10s elapsed]");
      CHECK(*s.Of(UiEventType::kApplyProgress)[1]->elapsed_seconds == 20);
      CHECK(s.Of(UiEventType::kApplyComplete)[1]->message.rfind(
                "null_resource.b: Creation complete after 30s [id=", 0) == 0);
      CHECK(s.summary.ErrorSummary() == "execution halted");
      CHECK(s.summary.FindResource("null_resource.c")->status == ResourceStatus::kPlanned);
      json state = ReadJson(env.Work("terraform.tfstate"));
      CHECK(StateResourceAddrs(state) ==
            std::vector<std::string>{"null_resource.a", "null_resource.b"});
      CHECK_FALSE(Exists(env.Work(".terraform.tfstate.lock.info")));
      json exit_record = LastRecord(env, "exit");
      CHECK(exit_record["exit_code"] == 1);
      CHECK(exit_record["signals"] == json{sig == SIGINT ? "SIGINT" : "SIGTERM"});
      // The next plan is not blocked and only wants the missing resource.
      ProcessResult next = env.Run(kPlanArgs);
      CHECK(next.exit_code == 2);
      Stream n = Parse(next.out);
      REQUIRE(n.Of(UiEventType::kPlannedChange).size() == 1);
      CHECK(n.Of(UiEventType::kPlannedChange)[0]->resource->addr == "null_resource.c");
    }
  }

  TEST_CASE("tofu_fake: an interrupt during the last resource still halts the apply") {
    // Real Terraform 1.11 (tests/integration/terraform_test.cc, README.md):
    // PostApply of the resource in flight returns "execution halted" after a
    // stop, so no interrupted apply reports "Apply complete!" or exits 0.
    FakeTofuEnv env;
    Init(env);
    env.WriteControl(R"({"resources": ["null_resource.a", "null_resource.b"],
                         "slow_resource": "null_resource.b", "slow_seconds": 30,
                         "time_scale": 0.01})");
    REQUIRE(env.Run(kPlanArgs).exit_code == 2);
    // Given an apply busy with its last resource,
    auto apply = env.Start(kApplyArgs);
    REQUIRE(apply->WaitForOutput("null_resource.b: Creating...", 10s));
    // when one SIGINT arrives,
    apply->Signal(SIGINT);
    ProcessResult r = apply->Wait(10s);
    // then that resource completes and is saved, but the apply ends halted:
    // no apply summary, no outputs, exit 1.
    CHECK(r.exit_code == 1);
    Stream s = Parse(r.out);
    CHECK(s.Of(UiEventType::kApplyComplete).size() == 2);
    CHECK(s.Of(UiEventType::kChangeSummary).empty());
    CHECK(s.Of(UiEventType::kOutputs).empty());
    CHECK(s.events.back().type == UiEventType::kDiagnostic);
    CHECK(s.summary.ErrorSummary() == "execution halted");
    CHECK(s.summary.interrupted);
    CHECK(StateResourceAddrs(ReadJson(env.Work("terraform.tfstate"))) ==
          std::vector<std::string>{"null_resource.a", "null_resource.b"});
    CHECK_FALSE(Exists(env.Work(".terraform.tfstate.lock.info")));
  }

  TEST_CASE("tofu_fake: an interrupt while waiting for the state lock") {
    // Real Terraform 1.11: the interrupt line only ("Stopping operation..."
    // comes from the running operation, which never started), then the lock
    // error, exit 1.
    FakeTofuEnv env;
    Init(env);
    auto holder = Subprocess::Start({testing::kFakeTofuBinary, "__hold-lock", env.work_dir()},
                                    env.Env(), env.work_dir(), /*stdin_pipe=*/true);
    REQUIRE(holder->WaitForOutput("\n", 10s));
    // Given a plan waiting up to 60 fake seconds (3 real) for the lock,
    std::vector<std::string> args = kPlanArgs;
    args[5] = "-lock-timeout=60s";
    auto plan = env.Start(args, {{"FAKE_TOFU_TIME_SCALE", "0.05"}});
    REQUIRE(plan->WaitForOutput("\"type\":\"state_lock_acquire\"", 10s));
    // when it is interrupted,
    plan->Signal(SIGINT);
    ProcessResult r = plan->Wait(10s);
    // then it gives up at once with the lock error.
    CHECK(r.exit_code == 1);
    Stream s = Parse(r.out);
    CHECK(s.Types() == "version state_lock_acquire log diagnostic ");
    CHECK(s.summary.interrupted);
    CHECK(s.summary.ErrorSummary() == "Error acquiring the state lock");
    CHECK(r.out.find("Stopping operation...") == std::string::npos);
    // Human mode alike: the interrupt text without "Stopping operation...".
    auto human = env.Start({"plan", "-no-color", "-input=false", "-lock-timeout=60s"},
                           {{"FAKE_TOFU_TIME_SCALE", "0.05"}});
    REQUIRE(human->WaitForOutput("Acquiring state lock", 10s));
    human->Signal(SIGINT);
    ProcessResult h = human->Wait(10s);
    CHECK(h.exit_code == 1);
    CHECK(h.out.find("Gracefully shutting down...\n") != std::string::npos);
    CHECK(h.out.find("Stopping operation...") == std::string::npos);
    CHECK(h.err.rfind("\nError: Error acquiring the state lock\n", 0) == 0);
    holder->CloseStdin();
    CHECK(holder->Wait(10s).exit_code == 0);
  }

  TEST_CASE("tofu_fake: ignore_sigint stops only on the second signal") {
    FakeTofuEnv env;
    Init(env);
    env.WriteControl(R"({"scenario": "ignore_sigint", "time_scale": 0.01})");  // 36 s real
    auto apply = env.Start({"apply", "-json", "-auto-approve", "-input=false"});
    REQUIRE(apply->WaitForOutput("null_resource.web: Creating...", 10s));
    apply->Signal(SIGINT);
    REQUIRE(apply->WaitForOutput("Stopping operation...", 10s));
    // Still working after the first signal: more heartbeats arrive.
    size_t after_first = apply->out().size();
    REQUIRE(apply->WaitForOutput("Still creating...", 10s, false, after_first));
    CHECK(apply->Running());
    CHECK(apply->out().find("execution halted") == std::string::npos);

    apply->Signal(SIGINT);
    auto start = std::chrono::steady_clock::now();
    ProcessResult r = apply->Wait(10s);
    CHECK(std::chrono::steady_clock::now() - start < 5s);  // reference §2.2: within 5 s
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    Stream s = Parse(r.out);
    CHECK(s.summary.interrupted);
    CHECK(s.summary.cancelled);
    CHECK(s.summary.ErrorSummary() == "operation canceled");
    CHECK(s.events.back().type == UiEventType::kDiagnostic);
    CHECK(s.Of(UiEventType::kLog).back()->message ==
          "\nTwo interrupts received. Exiting immediately. Note that data loss "
          "may have occurred.\n");
    CHECK(s.Of(UiEventType::kApplyComplete).empty());
    CHECK_FALSE(Exists(env.Work(".terraform.tfstate.lock.info")));
    CHECK(LastRecord(env, "exit")["signals"] == json{"SIGINT", "SIGINT"});
  }

  TEST_CASE("tofu_fake: crash prints the banner and exits 11") {
    FakeTofuEnv env;
    Init(env);
    ProcessResult r = env.Run(kPlanArgs, {{"FAKE_TOFU_SCENARIO", "crash"}});
    CHECK(r.exit_code == 11);
    CHECK(r.err.find("!!!!!!!!!!!!!!!!!!!!!!!!!!! OPENTOFU CRASH "
                     "!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n"
                     "OpenTofu crashed!") != std::string::npos);
    CHECK(r.err.find("panic: runtime error: invalid memory address") != std::string::npos);
    CHECK(r.err.find("goroutine ") != std::string::npos);
    Stream s = Parse(r.out);
    CHECK(s.Types() == "version ");
    CHECK(s.summary.error_count == 0);
    // Merged with stderr, the banner is recognised.
    CHECK(ParseUiStream(r.out + r.err).ErrorSummary() == "OpenTofu crashed");
    // A panic skips the deferred unlock: the info file stays, the fcntl lock
    // does not.
    CHECK(Exists(env.Work(".terraform.tfstate.lock.info")));
    CHECK(LastRecord(env, "exit")["exit_code"] == 11);
    CHECK(env.Run(kPlanArgs).exit_code == 2);

    ProcessResult apply =
        env.Run({"apply", "-json", "-auto-approve"}, {{"FAKE_TOFU_SCENARIO", "crash"}});
    CHECK(apply.exit_code == 11);
    CHECK(Parse(apply.out).Of(UiEventType::kApplyStart).size() == 1);
    CHECK(Parse(apply.out).Of(UiEventType::kApplyComplete).empty());
    CHECK(ReadFileOrDie(env.Work("terraform.tfstate")).empty());  // nothing persisted
  }

  TEST_CASE("tofu_fake: invocation log records argv, cwd and filtered env") {
    FakeTofuEnv env;
    Init(env);
    // Given a run from the sandbox root with -chdir, TF_CLI_ARGS and a mixed
    // env,
    std::map<std::string, std::string> extra = {
        {"TF_CLI_ARGS", "-no-color -input=false"},
        {"TF_CLI_ARGS_plan", "-lock-timeout=7s '-out=my plan'"},
        {"AWS_REGION", "eu-west-1"},
        {"TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        {"OTEL_SERVICE_NAME", "provisioner"},
        {"MY_SETTING", "on"},
        {"UNRELATED_SECRET", "do-not-record"},
        {"FAKE_TOFU_RECORD_ENV", "MY_SETTING"},
    };
    std::string root = env.work_dir().substr(0, env.work_dir().rfind('/'));
    ProcessResult r =
        testing::RunProcess(env.Argv({"-chdir=work", "plan", "-json"}), env.Env(extra), root);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    // then the log holds what the fake received and what it made of it.
    json start = LastRecord(env, "start");
    CHECK(start["argv"] == json{"-chdir=work", "plan", "-json"});
    CHECK(start["args"] ==
          json{"plan", "-lock-timeout=7s", "-out=my plan", "-no-color", "-input=false", "-json"});
    CHECK(start["command"] == "plan");
    CHECK(start["chdir"] == "work");
    char real[PATH_MAX];
    REQUIRE(::realpath(env.work_dir().c_str(), real) != nullptr);
    CHECK(start["cwd"] == real);
    CHECK(start["env"] ==
          json{{"AWS_REGION", "eu-west-1"},
               {"MY_SETTING", "on"},
               {"OTEL_SERVICE_NAME", "provisioner"},
               {"TF_CLI_ARGS", "-no-color -input=false"},
               {"TF_CLI_ARGS_plan", "-lock-timeout=7s '-out=my plan'"},
               {"TF_INPUT", "0"},
               {"TF_IN_AUTOMATION", "1"},
               {"TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
    CHECK(start["pid"].get<int>() > 0);
    CHECK(Exists(env.Work("my plan")));  // the merged -out took effect
    json exit_record = LastRecord(env, "exit");
    CHECK(exit_record["pid"] == start["pid"]);
    CHECK(exit_record["exit_code"] == 0);
    CHECK(exit_record["signals"].empty());
    // One start and one exit record per invocation (init + plan).
    std::vector<json> records = LogRecords(env);
    REQUIRE(records.size() == 4);
    CHECK(records[0]["event"] == "start");
    CHECK(records[0]["argv"] == json{"init", "-input=false", "-no-color"});
    CHECK(records[1]["event"] == "exit");
  }

  TEST_CASE("tofu_fake: failures carry diagnostics with addresses") {
    FakeTofuEnv env;
    Init(env);
    SUBCASE("fail_plan") {
      ProcessResult r = env.Run(kPlanArgs, {{"FAKE_TOFU_SCENARIO", "fail_plan"}});
      CHECK(r.exit_code == 1);
      Stream s = Parse(r.out);
      CHECK(s.Types() == "version diagnostic ");
      REQUIRE(s.summary.diagnostics.size() == 1);
      const Diagnostic& d = s.summary.diagnostics[0];
      CHECK(d.summary == "Unsupported argument");
      CHECK(d.detail == "An argument named \"bogus\" is not expected here.");
      CHECK(d.address == "null_resource.web");
      REQUIRE(d.range.has_value());
      CHECK(d.range->filename == "main.tf");
      CHECK(d.range->start.line == 2);
      CHECK(d.range->start.column == 3);
      CHECK(s.summary.ErrorSummary() == "Unsupported argument (null_resource.web)");
      CHECK_FALSE(Exists(env.Work("tfplan")));
    }
    SUBCASE("fail_apply with a configured message") {
      env.WriteControl(
          R"({"scenario": "fail_apply", "fail_resource": "null_resource.web",
                         "fail_summary": "creating EC2 Instance: UnauthorizedOperation",
                         "fail_detail": "You are not authorized to perform this operation."})");
      ProcessResult r = env.Run({"apply", "-json", "-auto-approve", "-input=false"});
      CHECK(r.exit_code == 1);
      Stream s = Parse(r.out);
      CHECK(s.Types() ==
            "version planned_change planned_change change_summary apply_start "
            "apply_errored "
            "apply_start apply_complete diagnostic ");
      CHECK(s.Of(UiEventType::kApplyErrored)[0]->message ==
            "null_resource.web: Creation errored after 0s");
      CHECK(s.summary.ErrorSummary() ==
            "creating EC2 Instance: UnauthorizedOperation (null_resource.web)");
      CHECK(s.summary.diagnostics[0].detail == "You are not authorized to perform this operation.");
      CHECK(s.summary.changes->operation == "plan");  // no apply summary after a failure
      CHECK(s.summary.FindResource("null_resource.web")->status == ResourceStatus::kErrored);
      CHECK(s.summary.FindResource("null_resource.db")->status == ResourceStatus::kApplied);
      CHECK(StateResourceAddrs(ReadJson(env.Work("terraform.tfstate"))) ==
            std::vector<std::string>{"null_resource.db"});
    }
    SUBCASE("missing variable is reported, then satisfied") {
      env.WriteControl(R"({"scenario": "missing_variable"})");
      ProcessResult r = env.Run(kPlanArgs);
      CHECK(r.exit_code == 1);
      Stream s = Parse(r.out);
      CHECK(s.summary.ErrorSummary() == "No value for required variable");
      CHECK(s.summary.diagnostics[0].detail ==
            "The root module input variable \"region\" is not set, and has no "
            "default value. Use a "
            "-var or -var-file command line argument to provide a value for "
            "this variable.");
      CHECK(s.summary.diagnostics[0].range->filename == "variables.tf");
      CHECK(env.Run(kPlanArgs, {{"TF_VAR_region", "eu-west-1"}}).exit_code == 2);
      WriteFileOrDie(env.Work("terraform.tfvars.json"), R"({"region": "eu-west-1"})");
      CHECK(env.Run(kPlanArgs).exit_code == 2);
    }
  }

  TEST_CASE("tofu_fake: a control-file sequence fails the first plan only") {
    FakeTofuEnv env;
    Init(env);
    env.WriteControl(R"({"sequence": {"plan": ["fail_plan", "changes"]}})");
    CHECK(env.Run(kPlanArgs).exit_code == 1);
    CHECK(env.Run(kPlanArgs).exit_code == 2);
    CHECK(env.Run(kPlanArgs).exit_code == 2);  // the last step repeats
    std::vector<json> starts;
    for (const json& rec : LogRecords(env)) {
      if (rec["event"] == "start" && rec["command"] == "plan") starts.push_back(rec);
    }
    REQUIRE(starts.size() == 3);
    CHECK(starts[0]["scenario"] == "fail_plan");
    CHECK(starts[0]["step"] == 0);
    CHECK(starts[1]["scenario"] == "changes");
    CHECK(starts[2]["step"] == 2);
  }

  TEST_CASE("tofu_fake: drift is reported and repaired") {
    FakeTofuEnv env;
    Init(env);
    REQUIRE(env.Run({"apply", "-json", "-auto-approve"}).exit_code == 0);
    env.WriteControl(R"({"scenario": "drift", "drift_resource": "null_resource.db"})");
    ProcessResult plan = env.Run(kPlanArgs);
    CHECK(plan.exit_code == 2);
    Stream p = Parse(plan.out);
    CHECK(p.Types() ==
          "version refresh_start refresh_complete refresh_start "
          "refresh_complete resource_drift "
          "planned_change change_summary ");
    CHECK(p.events[5].message == "null_resource.db: Drift detected (update)");
    CHECK(p.events[6].action == "update");
    CHECK(p.summary.drift_detected);
    CHECK(p.summary.changes->change == 1);
    ProcessResult apply = env.Run(kApplyArgs);
    CHECK(apply.exit_code == 0);
    Stream a = Parse(apply.out);
    CHECK(a.Of(UiEventType::kApplyStart)[0]->message.rfind("null_resource.db: Modifying... [id=",
                                                           0) == 0);
    CHECK(a.summary.changes->change == 1);
    CHECK(ReadJson(env.Work("terraform.tfstate"))["serial"] == 2);
  }

  TEST_CASE("tofu_fake: variables become outputs, sensitive ones without value") {
    FakeTofuEnv env;
    Init(env);
    WriteFileOrDie(env.Work("terraform.tfvars.json"),
                   R"({"region": "eu-west-1", "token": "s3cr3t", "sizes": [1, 2]})");
    env.WriteControl(R"({"sensitive_variables": ["token"]})");
    ProcessResult plan = env.Run(kPlanArgs);
    REQUIRE(plan.exit_code == 2);
    Stream p = Parse(plan.out);
    REQUIRE(p.Of(UiEventType::kOutputs).size() == 1);
    const UiEvent* planned = p.Of(UiEventType::kOutputs)[0];
    REQUIRE(planned->outputs.size() == 3);
    CHECK(planned->outputs[0].action == "create");
    CHECK_FALSE(planned->outputs[0].value_json.has_value());

    ProcessResult apply = env.Run(kApplyArgs);
    REQUIRE(apply.exit_code == 0);
    CHECK(apply.out.find("s3cr3t") == std::string::npos);
    Stream a = Parse(apply.out);
    CHECK(a.events.back().message == "Outputs: 3");
    REQUIRE(a.summary.outputs.size() == 2);
    CHECK(a.summary.outputs[0].name == "region");
    CHECK(a.summary.outputs[0].value_json == std::optional<std::string>("\"eu-west-1\""));
    CHECK(a.summary.outputs[1].name == "sizes");
    CHECK(a.summary.outputs[1].type_json == R"(["tuple",["number","number"]])");
    CHECK(a.summary.outputs[1].value_json == std::optional<std::string>("[1,2]"));
    CHECK(a.summary.sensitive_outputs == std::vector<std::string>{"token"});

    // `output -json` prints sensitive values in plaintext (reference §4.2).
    json all = json::parse(env.Run({"output", "-json"}).out);
    CHECK(all["token"] == json{{"sensitive", true}, {"type", "string"}, {"value", "s3cr3t"}});
    CHECK(all["sizes"]["value"] == json{1, 2});
    ProcessResult raw = env.Run({"output", "-raw", "region"});
    CHECK(raw.exit_code == 0);
    CHECK(raw.out == "eu-west-1");  // no quotes, no newline
    CHECK(env.Run({"output", "-json", "region"}).out == "\"eu-west-1\"\n");
    ProcessResult missing = env.Run({"output", "nope"});
    CHECK(missing.exit_code == 1);
    CHECK(missing.err.rfind("\nError: Output \"nope\" not found", 0) == 0);
    CHECK(env.Run({"output", "-raw", "-json", "region"}).exit_code == 1);
    CHECK(env.Run({"output", "-raw", "sizes"}).exit_code == 1);
    ProcessResult human = env.Run({"output"});
    CHECK(human.out.find("token = <sensitive>\n") != std::string::npos);

    // A -var overrides the file and shows up as an output update.
    ProcessResult changed =
        env.Run({"plan", "-json", "-detailed-exitcode", "-var", "region=us-east-1"});
    CHECK(changed.exit_code == 2);
    Stream c = Parse(changed.out);
    CHECK(c.Of(UiEventType::kPlannedChange).empty());
    CHECK(c.Of(UiEventType::kOutputs)[0]->outputs[0].action == "update");
    CHECK(env.Run(kPlanArgs).exit_code == 0);
  }

  TEST_CASE("tofu_fake: slow resources emit heartbeats at the configured interval") {
    FakeTofuEnv env;
    Init(env);
    env.WriteControl(
        R"({"scenario": "slow", "slow_seconds": 25, "heartbeat_seconds": 10,
                       "time_scale": 0.01})");
    ProcessResult r = env.Run({"apply", "-json", "-auto-approve"});
    REQUIRE(r.exit_code == 0);
    Stream s = Parse(r.out);
    std::vector<const UiEvent*> beats = s.Of(UiEventType::kApplyProgress);
    REQUIRE(beats.size() == 2);
    CHECK(beats[0]->resource->addr == "null_resource.web");
    CHECK(*beats[0]->elapsed_seconds == 10);
    CHECK(beats[1]->message == "null_resource.web: Still creating... [20s elapsed]");
    CHECK(s.Of(UiEventType::kApplyComplete)[0]->message.rfind(
              "null_resource.web: Creation complete after 25s [id=", 0) == 0);
    CHECK(*s.Of(UiEventType::kApplyComplete)[0]->elapsed_seconds == 25);
    CHECK(s.summary.FindResource("null_resource.web")->elapsed_seconds == 25);
  }

  TEST_CASE("tofu_fake: junk on stderr and stdout does not disturb the stream") {
    FakeTofuEnv env;
    Init(env);
    ProcessResult r =
        env.Run(kPlanArgs, {{"FAKE_TOFU_SCENARIO", "stderr_junk"}, {"TF_LOG", "debug"}});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("[INFO]  OpenTofu version: 1.12.6") != std::string::npos);
    CHECK(r.err.find("[DEBUG] using github.com/hashicorp/go-tfe") != std::string::npos);
    CHECK(r.err.find("[TRACE]") == std::string::npos);  // filtered by level
    CHECK(r.err.find("\xff\xfe invalid UTF-8") != std::string::npos);
    Stream s = Parse(r.out);
    CHECK(s.summary.not_json_lines == 2);
    CHECK(s.summary.changes->add == 2);
    CHECK(s.events[0].type == UiEventType::kVersion);

    ProcessResult json_log = env.Run({"version"}, {{"TF_LOG", "JSON"}});
    UiEvent first = ParseUiLine(json_log.err.substr(0, json_log.err.find('\n')));
    CHECK(first.type == UiEventType::kUntyped);
    CHECK(first.message == "OpenTofu version: 1.12.6");
    std::string log_file = env.Work("tf.log");
    ProcessResult to_file = env.Run({"version"}, {{"TF_LOG", "trace"}, {"TF_LOG_PATH", log_file}});
    CHECK(to_file.err.empty());
    CHECK(ReadFileOrDie(log_file).find("[TRACE] Meta.Backend") != std::string::npos);
  }

  TEST_CASE("tofu_fake: misbehaviour keys: a flood, megabyte lines, a grandchild") {
    FakeTofuEnv env;
    Init(env);
    // A flood of 100-byte non-JSON lines, then the stream as usual.
    env.WriteControl(R"({"stdout_flood_bytes": 1000000})");
    ProcessResult flood = env.Run(kPlanArgs);
    CHECK(flood.exit_code == 2);
    Stream s = Parse(flood.out);
    CHECK(s.summary.not_json_lines == 10000);
    CHECK(s.summary.changes->add == 2);
    CHECK(flood.out.find("fake_tofu flood line 000000009999 ....") != std::string::npos);

    // One long line on each stream, with invalid UTF-8.
    env.WriteControl(R"({"long_line_bytes": 100000})");
    ProcessResult lines = env.Run(kPlanArgs);
    CHECK(lines.exit_code == 2);
    CHECK(lines.out.find("\xff\xfe" + std::string(50000, 'L') + "\xc3\x28") != std::string::npos);
    CHECK(lines.err.find("Error: \xc3\x28" + std::string(100000, 'E') + "\xf0\x9f\n") !=
          std::string::npos);

    // A grandchild that keeps the pipes: the run's output only ends with it.
    env.WriteControl(R"({"grandchild": "group", "grandchild_linger_seconds": 0.2})");
    ProcessResult held = env.Run(kPlanArgs);
    CHECK(held.exit_code == 2);
    bool logged = false;
    for (const std::string& line : env.LogLines()) {
      logged |= line.find("\"event\":\"grandchild\"") != std::string::npos &&
                line.find("\"setsid\":false") != std::string::npos;
    }
    CHECK(logged);

    // Anything but "", "group" or "setsid" is a misconfigured fake.
    env.WriteControl(R"({"grandchild": "yes"})");
    ProcessResult bad = env.Run(kPlanArgs);
    CHECK(bad.exit_code == 3);
    CHECK(bad.err.find("control key \"grandchild\"") != std::string::npos);
  }

  TEST_CASE("tofu_fake: TF_DATA_DIR and TF_WORKSPACE") {
    FakeTofuEnv env;
    std::map<std::string, std::string> custom = {{"TF_DATA_DIR", env.Work("data")},
                                                 {"TF_WORKSPACE", "staging"}};
    Init(env, custom);
    CHECK(Exists(env.Work("data/fake_init.json")));
    CHECK_FALSE(Exists(env.Work(".terraform")));
    CHECK(env.Run(kPlanArgs).exit_code == 1);  // not initialised without TF_DATA_DIR
    REQUIRE(env.Run({"apply", "-json", "-auto-approve"}, custom).exit_code == 0);
    CHECK(Exists(env.Work("terraform.tfstate.d/staging/terraform.tfstate")));
    CHECK_FALSE(Exists(env.Work("terraform.tfstate")));
  }

  TEST_CASE("tofu_fake: show -json of a plan file and of the state") {
    FakeTofuEnv env;
    Init(env);
    REQUIRE(env.Run(kPlanArgs).exit_code == 2);
    ProcessResult show = env.Run({"show", "-json", "tfplan"});
    REQUIRE(show.exit_code == 0);
    CHECK(std::count(show.out.begin(), show.out.end(), '\n') == 1);  // one compact line
    json plan = json::parse(show.out);
    CHECK(plan["format_version"] == "1.2");
    CHECK(plan["terraform_version"] == "1.12.6");
    REQUIRE(plan["resource_changes"].size() == 2);
    CHECK(plan["resource_changes"][0]["address"] == "null_resource.web");
    CHECK(plan["resource_changes"][0]["change"]["actions"] == json{"create"});
    CHECK(plan["errored"] == false);
    REQUIRE(env.Run(kApplyArgs).exit_code == 0);
    json state = json::parse(env.Run({"show", "-json"}).out);
    CHECK(state["format_version"] == "1.0");
    REQUIRE(state["values"]["root_module"]["resources"].size() == 2);
    CHECK(state["values"]["root_module"]["resources"][1]["address"] == "null_resource.db");
    CHECK(state["values"]["root_module"]["resources"][1]["provider_name"] ==
          "registry.opentofu.org/hashicorp/null");
    CHECK(env.Run({"show", "-json", "nope.plan"}).exit_code == 1);
  }

  TEST_CASE("tofu_fake: human output honours -no-color") {
    FakeTofuEnv env;
    Init(env);
    ProcessResult colour = env.Run({"plan", "-input=false"});
    CHECK(colour.exit_code == 0);
    CHECK(colour.out.find("\x1b[") != std::string::npos);
    ProcessResult plain = env.Run({"plan", "-input=false", "-no-color"});
    CHECK(plain.out.find("\x1b[") == std::string::npos);
    CHECK(plain.out.find("  # null_resource.web will be created\n") != std::string::npos);
    CHECK(plain.out.find("Plan: 2 to add, 0 to change, 0 to destroy.") != std::string::npos);
  }

  TEST_CASE("tofu_fake: init -json, v1.12 and legacy forms") {
    FakeTofuEnv env;
    ProcessResult r = env.Run({"init", "-json", "-input=false"}, {{"TF_IN_AUTOMATION", ""}});
    REQUIRE(r.exit_code == 0);
    Stream s = Parse(r.out);
    CHECK(s.events[0].type == UiEventType::kVersion);
    for (size_t i = 1; i < s.events.size(); ++i) CHECK(s.events[i].type == UiEventType::kUntyped);
    CHECK(s.events[1].message == "Initializing the backend...");
    CHECK(s.events.back().message.rfind("You may now begin working with OpenTofu.", 0) == 0);

    env.WriteControl(R"({"legacy_init_json": true, "fail_init": true})");
    ProcessResult legacy = env.Run({"init", "-json"});
    CHECK(legacy.exit_code == 1);
    Stream l = Parse(legacy.out);
    CHECK(l.Types() == "version output version diagnostic ");  // extra version per batch
    CHECK(l.events[1].message == "\nInitializing the backend...");
    CHECK(l.summary.ErrorSummary() == "Failed to query available provider packages");
  }

  TEST_CASE("tofu_fake: no_changes keeps every plan empty") {
    FakeTofuEnv env;
    Init(env);
    env.WriteControl(R"({"scenario": "no_changes"})");
    ProcessResult r = env.Run(kPlanArgs);
    CHECK(r.exit_code == 0);
    Stream s = Parse(r.out);
    CHECK(s.Types() == "version change_summary ");
    CHECK(s.events[1].message == "Plan: 0 to add, 0 to change, 0 to destroy.");
    ProcessResult apply = env.Run(kApplyArgs);
    CHECK(apply.exit_code == 0);
    Stream a = Parse(apply.out);
    CHECK(a.Types() == "version change_summary outputs ");
    CHECK(a.events[1].message == "Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
  }

  TEST_CASE("tofu_fake: hang ignores signals and its provider outlives a SIGKILL") {
    FakeTofuEnv env;
    Init(env);
    env.WriteControl(R"({"scenario": "hang", "provider_child": true, "time_scale": 0.01})");
    auto apply = env.Start({"apply", "-json", "-auto-approve"});
    REQUIRE(apply->WaitForOutput("null_resource.web: Creating...", 10s));
    int provider_pid = 0;
    for (const json& rec : LogRecords(env)) {
      if (rec["event"] == "provider") provider_pid = rec["pid"];
    }
    REQUIRE(provider_pid > 0);
    CHECK(::getpgid(provider_pid) == apply->pid());  // same process group
    apply->Signal(SIGINT);
    apply->Signal(SIGTERM);
    size_t after = apply->out().size();
    REQUIRE(apply->WaitForOutput("Still creating...", 10s, false, after));
    CHECK(apply->Running());
    CHECK(apply->out().find("Interrupt received") == std::string::npos);

    int provider_fd = static_cast<int>(syscall(SYS_pidfd_open, provider_pid, 0));
    REQUIRE(provider_fd >= 0);
    apply->Signal(SIGKILL);
    ProcessResult r = apply->Wait(10s);
    CHECK(r.term_signal == SIGKILL);
    CHECK(LastRecord(env, "start")["command"] == "apply");
    for (const json& rec : LogRecords(env)) {
      CHECK_FALSE((rec["event"] == "exit" && rec["command"] == "apply"));
    }
    // The plugin-like child survives its parent; only a group kill ends it.
    pollfd alive{provider_fd, POLLIN, 0};
    CHECK(::poll(&alive, 1, 0) == 0);
    REQUIRE(::kill(provider_pid, 0) == 0);
    REQUIRE(::kill(-::getpgid(provider_pid), SIGKILL) == 0);
    CHECK(::poll(&alive, 1, 10000) == 1);
    ::close(provider_fd);
  }

  TEST_CASE("tofu_fake: global -no-color and a broken TF_CLI_ARGS") {
    FakeTofuEnv env;
    Init(env);
    ProcessResult plain = env.Run({"-no-color", "plan", "-input=false"});
    CHECK(plain.exit_code == 0);
    CHECK(plain.out.find("\x1b[") == std::string::npos);
    CHECK(LastRecord(env, "start")["args"] == json{"plan", "-no-color", "-input=false"});

    ProcessResult broken = env.Run({"plan"}, {{"TF_CLI_ARGS", "-var 'a=b"}});
    CHECK(broken.exit_code == 1);
    CHECK(broken.err ==
          "Error parsing extra CLI args from TF_CLI_ARGS: invalid command line "
          "string\n");
    CHECK(LastRecord(env, "exit")["exit_code"] == 1);
  }

}  // TEST_SUITE

#else

TEST_CASE("tofu_fake: not built") {
  testing::ToolMissing("the fake_tofu target is not configured");
}

#endif  // FAKE_TOFU_BINARY

}  // namespace
}  // namespace provisioner::tofu
