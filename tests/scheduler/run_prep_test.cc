// PrepareRun: what the daemon's jobs and `provisioner run` share before tofu
// starts (directory, lock, template, log directory, spec).
#include "scheduler/run_prep.h"

#include <sys/stat.h>

#include <list>

#include "config/config_parse.h"
#include "platform/filename.h"
#include "platform/posix_file_system.h"
#include "support/test_util.h"

namespace provisioner::scheduler {
namespace {

using testing::TempDir;

struct Fixture {
  TempDir tmp;
  platform::PosixFileSystem fs;
  std::shared_ptr<const config::Config> config;
  std::map<std::string, std::string> env{{"PATH", "/usr/bin"}};
  std::list<config::WorkspaceConfig> workspaces;  // what the requests point to

  Fixture() {
    REQUIRE(::mkdir(tmp.Join("templates").c_str(), 0755) == 0);
    REQUIRE(::mkdir(tmp.Join("templates/t").c_str(), 0755) == 0);
    testing::WriteFileOrDie(tmp.Join("templates/t/main.tf"), "# template\n");
    auto parsed =
        config::ParseConfig("state: {dir: " + tmp.Join("state") +
                                "}\nopentofu: {plugin_cache_dir: " + tmp.Join("cache") +
                                "}\ntemplates_dir: " + tmp.Join("templates") +
                                "\nworkspaces:\n  - {name: w, template: t, variables: {size: 2}}\n"
                                "  - {name: gone, template: t}\n",
                            "test.yaml");
    REQUIRE(parsed.ok());
    config = parsed.config;
  }

  RunRequest Request(const std::string& workspace, const std::string& template_name = "t") {
    RunRequest r;
    r.config = config.get();
    r.workspace = workspace;
    config::WorkspaceConfig& ws = workspaces.emplace_back(*config->FindWorkspace("w"));
    ws.name = workspace;
    ws.template_name = template_name;
    r.workspace_config = &ws;
    r.operation = tofu::Operation::kDeploy;
    r.binary = "/usr/bin/tofu";
    r.log_path = platform::JobLogFileName(config->state.dir, workspace, "job-1");
    r.daemon_env = &env;
    return r;
  }
};

TEST_SUITE("scheduler") {
  TEST_CASE("scheduler: PrepareRun materializes, locks and builds the job spec") {
    Fixture f;
    auto prepared = PrepareRun(f.fs, f.Request("w"));
    REQUIRE(std::holds_alternative<PreparedRun>(prepared));
    const PreparedRun& run = std::get<PreparedRun>(prepared);
    const std::string dir = platform::WorkspaceDirName(f.config->state.dir, "w");
    CHECK(run.workspace_dir == dir);
    CHECK(run.lock != nullptr);
    CHECK(f.fs.Stat(dir + "/main.tf").ok());
    CHECK(testing::ReadFileOrDie(dir + "/terraform.tfvars.json").find("\"size\"") !=
          std::string::npos);
    CHECK(f.fs.Stat(platform::WorkspaceJobsDirName(f.config->state.dir, "w")).ok());
    CHECK(f.fs.Stat(f.tmp.Join("cache")).ok());
    CHECK(run.spec.binary == "/usr/bin/tofu");
    CHECK(run.spec.workspace_dir == dir);
    CHECK(run.spec.log_path == platform::JobLogFileName(f.config->state.dir, "w", "job-1"));
    CHECK(run.spec.env.at("TF_IN_AUTOMATION") == "1");
  }

  TEST_CASE("scheduler: PrepareRun refuses a busy directory (retryable) and a bad template (not)") {
    Fixture f;
    auto first = PrepareRun(f.fs, f.Request("w"));
    REQUIRE(std::holds_alternative<PreparedRun>(first));
    // While the first job holds the workspace's lock, a second one waits.
    auto second = PrepareRun(f.fs, f.Request("w"));
    REQUIRE(std::holds_alternative<RunNotPrepared>(second));
    CHECK(std::get<RunNotPrepared>(second).retryable);
    CHECK(std::get<RunNotPrepared>(second).error.find("is in use by another provisioner job") !=
          std::string::npos);
    // A template that is not there is a config problem: no retry helps.
    auto missing = PrepareRun(f.fs, f.Request("gone", "nope"));
    REQUIRE(std::holds_alternative<RunNotPrepared>(missing));
    CHECK_FALSE(std::get<RunNotPrepared>(missing).retryable);
  }
}

}  // namespace
}  // namespace provisioner::scheduler
