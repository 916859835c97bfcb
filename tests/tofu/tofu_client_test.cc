// The tofu client against the fake tofu, through the real process runner.
#include "tofu/tofu_client.h"

#include <nlohmann/json.hpp>

#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "platform/posix_process_runner.h"
#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::tofu {
namespace {

using testing::FakeTofuEnv;

// The subcommand and flags of every tofu start in the invocation log, in
// order, each as "cmd arg arg ...".
std::vector<std::string> Invocations(const FakeTofuEnv& fake) {
  std::vector<std::string> out;
  for (const std::string& line : fake.LogLines()) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("event", "") != "start") continue;
    std::string s;
    for (const auto& a : j["argv"]) {
      if (!s.empty()) s += ' ';
      s += a.get<std::string>();
    }
    out.push_back(s);
  }
  return out;
}

// The recorded environment of the n-th tofu start.
nlohmann::json EnvOf(const FakeTofuEnv& fake, size_t n) {
  size_t seen = 0;
  for (const std::string& line : fake.LogLines()) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("event", "") != "start") continue;
    if (seen++ == n) return j["env"];
  }
  return nullptr;
}

struct Fixture {
  FakeTofuEnv fake;
  platform::PosixClock clock;
  platform::PosixFileSystem fs;
  platform::PosixProcessRunner runner{clock};

  // The spec the daemon would build: env from BuildEnv with a daemon
  // environment holding a secret that is not in pass_env.
  TofuJobSpec Spec(Operation op) {
    EnvInputs in;
    in.daemon_env = {{"PATH", fake.bin_dir() + ":/usr/bin:/bin"},
                     {"HOME", "/root"},
                     {"AWS_REGION", "eu-west-1"},
                     {"DAEMON_SECRET", "hunter2"},
                     {"FAKE_TOFU_LOG", fake.log_path()},
                     {"FAKE_TOFU_CONTROL", fake.control_path()},
                     {"FAKE_TOFU_RECORD_ENV", "DAEMON_SECRET,PATH,HOME,TEAM"}};
    in.pass_env = {"AWS_*", "FAKE_TOFU_*"};
    in.global_env = {{"TEAM", "global"}};
    in.workspace_env = {{"TEAM", "web"}};
    in.plugin_cache_dir = "/var/cache/provisioner/plugin-cache";
    TofuJobSpec spec;
    spec.operation = op;
    spec.binary = "tofu";
    spec.workspace_dir = fake.work_dir();
    spec.env = BuildEnv(in);
    spec.backend_config = {{"bucket", "state"}, {"key", "dev/terraform.tfstate"}};
    spec.lock_timeout = std::chrono::seconds(3);
    spec.timeout = std::chrono::seconds(60);
    spec.kill_grace = std::chrono::seconds(5);
    spec.log_path = fake.Work("job.log");
    return spec;
  }

  JobOutcome Run(TofuJobSpec spec, std::vector<Step>* progress_steps = nullptr) {
    std::mutex mu;
    TofuJob job(runner, fs, clock, std::move(spec), [&](Step s, const UiEvent& e) {
      if (progress_steps == nullptr || e.type != UiEventType::kApplyComplete) return;
      std::lock_guard<std::mutex> lock(mu);
      progress_steps->push_back(s);
    });
    return RunToCompletion(runner, job);
  }
};

TEST_SUITE("tofu") {
  TEST_CASE("tofu: deploy with changes runs init, plan and apply of the saved plan") {
    // Given a workspace with two resources to create,
    Fixture f;
    std::vector<Step> applied;
    // when a deploy runs,
    JobOutcome out = f.Run(f.Spec(Operation::kDeploy), &applied);
    // then the three steps ran with exactly DESIGN.md §5's argv,
    CHECK(out.outcome == Outcome::kSucceeded);
    CHECK(Invocations(f.fake) ==
          std::vector<std::string>{
              "init -input=false -no-color -backend-config=bucket=state "
              "-backend-config=key=dev/terraform.tfstate",
              "plan -input=false -no-color -json -detailed-exitcode -lock-timeout=3s "
              "-out=.provisioner.tfplan",
              "apply -input=false -no-color -json -lock-timeout=3s .provisioner.tfplan"});
    // with the outcome of each step and the apply's summary,
    REQUIRE(out.steps.size() == 3);
    CHECK(out.steps[1].exit_code == 2);
    CHECK(out.steps[2].exit_code == 0);
    REQUIRE(out.changes.has_value());
    CHECK(out.changes->operation == "apply");
    CHECK(out.changes->add == 2);
    CHECK(applied == std::vector<Step>{Step::kApply, Step::kApply});
    // and the plan file is gone (it can hold secrets).
    CHECK(f.fs.Stat(f.fake.Work(".provisioner.tfplan")).status().IsNotFound());
    const std::string log = testing::ReadFileOrDie(f.fake.Work("job.log"));
    CHECK(log.find("$ tofu plan -input=false") != std::string::npos);
    CHECK(log.find("# job succeeded") != std::string::npos);
  }

  TEST_CASE("tofu: deploy without changes stops after the plan") {
    Fixture f;
    f.fake.WriteControl(R"({"scenario": "no_changes"})");
    JobOutcome out = f.Run(f.Spec(Operation::kDeploy));
    CHECK(out.outcome == Outcome::kNoChanges);
    CHECK(Invocations(f.fake).size() == 2);
    CHECK(Invocations(f.fake)[1].starts_with("plan "));
    CHECK(out.exit_code == 0);
  }

  TEST_CASE("tofu: destroy runs init then destroy -auto-approve") {
    Fixture f;
    REQUIRE(f.Run(f.Spec(Operation::kDeploy)).outcome == Outcome::kSucceeded);
    JobOutcome out = f.Run(f.Spec(Operation::kDestroy));
    CHECK(out.outcome == Outcome::kSucceeded);
    auto inv = Invocations(f.fake);
    REQUIRE(inv.size() == 5);
    CHECK(inv[4] == "destroy -input=false -no-color -json -auto-approve -lock-timeout=3s");
    REQUIRE(out.changes.has_value());
    CHECK(out.changes->operation == "destroy");
    CHECK(out.changes->remove == 2);
  }

  TEST_CASE(
      "tofu: the environment is built explicitly, and the daemon's other variables stay out") {
    Fixture f;
    f.Run(f.Spec(Operation::kDeploy));
    nlohmann::json env = EnvOf(f.fake, 1);  // the plan
    REQUIRE(env.is_object());
    CHECK(env.value("AWS_REGION", "") == "eu-west-1");  // pass_env
    CHECK_FALSE(env.contains("DAEMON_SECRET"));         // not in pass_env
    CHECK(env.value("TEAM", "") == "web");              // workspace env wins over global
    CHECK(env.value("TF_IN_AUTOMATION", "") == "1");
    CHECK(env.value("TF_INPUT", "") == "0");
    CHECK(env.value("TF_PLUGIN_CACHE_DIR", "") == "/var/cache/provisioner/plugin-cache");
    CHECK(env.value("HOME", "") == "/root");
  }

  TEST_CASE("tofu: a held state lock fails the job as retryable, with the holder") {
    Fixture f;
    f.fake.WriteControl(
        R"({"scenario": "lock_held", "time_scale": 0.01, "lock_holder_who": "ci@other-host"})");
    JobOutcome out = f.Run(f.Spec(Operation::kDeploy));
    CHECK(out.outcome == Outcome::kFailed);
    CHECK(out.retryable);
    REQUIRE(out.state_lock.has_value());
    CHECK(out.state_lock->who == "ci@other-host");
    CHECK_FALSE(out.state_lock->id.empty());
    CHECK(out.error == "Error acquiring the state lock");
  }

  TEST_CASE("tofu: a variables error is not retryable") {
    Fixture f;
    f.fake.WriteControl(R"({"scenario": "missing_variable"})");
    JobOutcome out = f.Run(f.Spec(Operation::kDeploy));
    CHECK(out.outcome == Outcome::kFailed);
    CHECK_FALSE(out.retryable);
    CHECK(out.error.starts_with("No value for required variable"));
  }

  TEST_CASE("tofu: a timeout in the middle of an apply stops tofu gracefully") {
    // Given an apply of five resources of 1 s each,
    Fixture f;
    f.fake.WriteControl(R"({"resources": 5, "apply_seconds": 1})");
    TofuJobSpec spec = f.Spec(Operation::kDeploy);
    spec.timeout = std::chrono::seconds(3);
    // when the job's timeout expires during it,
    JobOutcome out = f.Run(spec);
    // then tofu got SIGINT, finished the resource in flight, and the job is a
    // timeout.
    CHECK(out.outcome == Outcome::kTimeout);
    CHECK(out.retryable);
    REQUIRE(out.steps.size() == 3);
    CHECK(out.steps[2].step == Step::kApply);
    CHECK(out.steps[2].stop_reason == platform::StopReason::kTimeout);
    CHECK(out.error.starts_with("timed out after 3s during apply"));
    bool saw_sigint = false;
    for (const std::string& line : f.fake.LogLines()) {
      if (line.find("\"event\":\"exit\"") != std::string::npos &&
          line.find("\"command\":\"apply\"") != std::string::npos) {
        saw_sigint = line.find("SIGINT") != std::string::npos;
      }
    }
    CHECK(saw_sigint);
  }

  TEST_CASE("tofu: a crash is a retryable failure") {
    Fixture f;
    f.fake.WriteControl(R"({"crash": "plan"})");
    JobOutcome out = f.Run(f.Spec(Operation::kDeploy));
    CHECK(out.outcome == Outcome::kFailed);
    CHECK(out.retryable);
    CHECK(out.exit_code == 11);
    CHECK(out.error == "OpenTofu crashed during plan (exit 11)");
  }

  TEST_CASE("tofu: a missing binary fails at start, not retryable") {
    Fixture f;
    TofuJobSpec spec = f.Spec(Operation::kDeploy);
    spec.binary = "tofu-that-does-not-exist";
    platform::PosixProcessRunner runner(f.clock);
    TofuJob job(runner, f.fs, f.clock, spec, nullptr);
    CHECK_FALSE(job.Start().ok());
    CHECK(job.done());
    CHECK(job.outcome().outcome == Outcome::kFailed);
    CHECK_FALSE(job.outcome().retryable);
    CHECK(job.outcome().error.find("tofu-that-does-not-exist") != std::string::npos);
  }

  TEST_CASE("tofu: BuildEnv layers its inputs in order") {
    EnvInputs in;
    // A TRACEPARENT of the daemon's own never reaches tofu, even when
    // pass_env matches it.
    in.daemon_env = {{"AWS_X", "1"}, {"GOOGLE_Y", "2"}, {"OTHER", "3"}, {"TRACEPARENT", "x"}};
    in.pass_env = {"AWS_*", "TRACE*"};
    in.global_env = {{"TF_INPUT", "1"}, {"A", "global"}};
    in.workspace_env = {{"A", "ws"}};
    in.plugin_cache_dir = "/cache";
    in.home_fallback = "/var/lib/provisioner";
    in.trace_env = {{"OTEL_TRACES_EXPORTER", "otlp"}};
    auto env = BuildEnv(in);
    std::string all;
    for (const auto& [k, v] : env) all += k + "=" + v + " ";
    INFO(all);
    CHECK(env == std::map<std::string, std::string>{
                     {"A", "ws"},
                     {"AWS_X", "1"},
                     {"HOME", "/var/lib/provisioner"},
                     {"LANG", "C.UTF-8"},
                     {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                     {"TF_INPUT", "0"},
                     {"TF_IN_AUTOMATION", "1"},
                     {"TF_PLUGIN_CACHE_DIR", "/cache"},
                     {"OTEL_TRACES_EXPORTER", "otlp"},
                 });
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::tofu
