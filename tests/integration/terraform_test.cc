// The real daemon driving a real Terraform (>= 1.6, the OpenTofu fork point,
// which shares tofu's machine-readable contract): scheduled and manual jobs,
// a variable change applied by the next fire, SIGTERM in the middle of a
// slow apply, and a state lock held by another Terraform. The template uses
// only the built-in `terraform_data` resource, so nothing is downloaded, and
// a `local-exec` sleep makes an apply as slow as a test needs.
//
// Without `terraform` on PATH the suite is skipped with a message. A binary
// that is there but does not run skips too, or fails under
// PROVISIONER_REQUIRE_TOOLS=1.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "integration/daemon_harness.h"
#include "platform/posix_file_system.h"
#include "platform/process_info.h"
#include "support/postgres_server.h"
#include "tofu/tofu_client.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

constexpr std::string_view kTemplate = R"(variable "size" {
  type    = string
  default = "small"
}

# How long the provisioner of terraform_data.slow sleeps. A change replaces
# that resource, so its provisioner runs again.
variable "sleep_seconds" {
  type    = number
  default = 0
}

resource "terraform_data" "app" {
  input = var.size
}

resource "terraform_data" "slow" {
  triggers_replace = [var.sleep_seconds]

  provisioner "local-exec" {
    command = "sleep ${var.sleep_seconds}"
  }
}

output "size" {
  value = terraform_data.app.output
}
)";

// An empty CLI config: Terraform reads no ~/.terraformrc and warns about no
// missing file, whatever the machine sets.
constexpr std::string_view kCliConfigName = "terraform.rc";

// What the suite found: the binary, or why it cannot run.
struct TerraformProbe {
  std::string path;     // "" when `terraform` is not on PATH
  std::string problem;  // why the binary does not work, or ""
  std::string version;  // `terraform version -json` output
};

const TerraformProbe& Probe() {
  static const TerraformProbe probe = [] {
    TerraformProbe p;
    const char* path_var = std::getenv("PATH");
    auto found = platform::FindExecutable("terraform", path_var != nullptr ? path_var : "");
    if (!found.ok()) return p;
    p.path = *found;
    TempDir home;
    WriteFileOrDie(home.Join(std::string(kCliConfigName)), "");
    ProcessResult r = RunProcess({p.path, "version", "-json"},
                                 {{"PATH", "/usr/bin:/bin"},
                                  {"HOME", home.path()},
                                  {"LANG", "C.UTF-8"},
                                  {"CHECKPOINT_DISABLE", "1"},
                                  {"TF_CLI_CONFIG_FILE", home.Join(std::string(kCliConfigName))}},
                                 home.path(), seconds(30));
    if (r.exit_code != 0 || r.out.find("\"terraform_version\"") == std::string::npos) {
      p.problem = p.path + " version -json failed (exit " + std::to_string(r.exit_code) +
                  "): " + r.out + r.err;
    }
    p.version = r.out;
    return p;
  }();
  return probe;
}

// True (after saying why) when the suite cannot run here.
bool TerraformUnavailable() {
  const TerraformProbe& p = Probe();
  if (p.path.empty()) {
    MESSAGE("skipped: terraform is not on PATH");
    return true;
  }
  if (p.problem.empty()) return false;
  if (MissingToolAction(std::getenv("PROVISIONER_REQUIRE_TOOLS")) == MissingTool::kFail) {
    FAIL_CHECK(p.problem);
  } else {
    MESSAGE("skipped: ", p.problem);
  }
  return true;
}

// A DaemonHarness whose template is real HCL and whose opentofu.binary is
// Terraform.
class TerraformDaemon {
 public:
  TerraformDaemon() {
    WriteFileOrDie(h.root_.Join("templates/t/main.tf"), kTemplate);
    WriteFileOrDie(cli_config(), "");
  }

  std::string cli_config() const { return h.root_.Join(std::string(kCliConfigName)); }
  std::string workspace_dir(const std::string& name) const {
    return h.state_dir() + "/workspaces/" + name;
  }

  // The config with the given workspaces (YAML lines starting "  - ").
  // Retries come after 1 s, 2 s, 2 s; Terraform waits 1 s for a state lock.
  void WriteConfig(const std::string& workspaces) {
    std::string text =
        "server: {listen: \"127.0.0.1:0\"}\n"
        "scheduler: {timezone: UTC, max_concurrent_jobs: 2, kill_grace: 5s,\n"
        "            retry: {max_attempts: 4, backoff: 1s, max_backoff: 2s}}\n"
        "opentofu:\n";
    text += "  binary: \"" + Probe().path + "\"\n";
    text += "  lock_timeout: 1s\n  plugin_cache_dir: cache\n";
    text += "  env: {CHECKPOINT_DISABLE: \"1\", TF_CLI_CONFIG_FILE: \"" + cli_config() + "\"}\n";
    text +=
        "state: {dir: state}\n"
        "logging: {level: debug, format: text}\n"
        "templates_dir: templates\n"
        "workspaces:\n";
    WriteFileOrDie(h.config_path(), text + workspaces);
  }

  // The environment the daemon gives Terraform (DESIGN.md §5), for a
  // Terraform the test runs itself.
  std::map<std::string, std::string> TerraformEnv() {
    std::map<std::string, std::string> env = h.fake().Env();
    return {{"PATH", env["PATH"]},
            {"HOME", env["HOME"]},
            {"LANG", env["LANG"]},
            {"CHECKPOINT_DISABLE", "1"},
            {"TF_CLI_CONFIG_FILE", cli_config()},
            {"TF_IN_AUTOMATION", "1"},
            {"TF_INPUT", "0"}};
  }

  // `provisioner ARGS... --server URL`.
  ProcessResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {PROVISIONER_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--server");
    argv.push_back(h.url());
    return RunProcess(argv, h.fake().Env(), h.root_.path(), seconds(60));
  }

  nlohmann::json TerraformState(const std::string& name) {
    return nlohmann::json::parse(ReadFileOrDie(workspace_dir(name) + "/terraform.tfstate"));
  }

  // Waits until the history of `name` holds `n` records; returns them.
  std::vector<state::JobRecord> WaitHistory(const std::string& name, size_t n,
                                            std::chrono::milliseconds timeout = seconds(30)) {
    std::vector<state::JobRecord> history;
    bool done = WaitUntil(
        [&] {
          history = h.History(name);
          return history.size() >= n;
        },
        timeout);
    // Built before the assertion: doctest evaluates a message while it
    // reports, and an assertion inside it (History's) would deadlock there.
    const std::string summary = Join(h.HistorySummary(name), ", ");
    REQUIRE_MESSAGE(done, "history of " << name << ": " << summary << "\ndaemon log:\n"
                                        << h.daemon().err());
    return history;
  }

  DaemonHarness h;
};

std::string JobLog(const state::JobRecord& job) { return ReadFileOrDie(job.log_path); }

bool Has(const std::string& text, std::string_view needle) {
  return text.find(needle) != std::string::npos;
}

// Resource name -> instance status ("" or "tainted") in a Terraform state.
std::map<std::string, std::string> Resources(const nlohmann::json& tfstate) {
  std::map<std::string, std::string> out;
  for (const auto& r : tfstate["resources"]) {
    for (const auto& i : r["instances"]) {
      out[r["type"].get<std::string>() + "." + r["name"].get<std::string>()] =
          i.value("status", "");
    }
  }
  return out;
}

// ---- the unit's sandbox (tests/sandbox/sandbox_exec.cc) ----

// Group name -> members (syscalls and @groups), from the real
// `systemd-analyze syscall-filter`.
std::map<std::string, std::vector<std::string>> SyscallGroups() {
  ProcessResult r = RunProcess({"/usr/bin/systemd-analyze", "syscall-filter", "--no-pager"},
                               {{"PATH", "/usr/bin:/bin"}}, "/");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::map<std::string, std::vector<std::string>> groups;
  std::string group;
  for (std::string_view line : Split(r.out, '\n')) {
    if (line.starts_with("@")) {
      group = std::string(Trim(line));
    } else if (!line.starts_with(" ")) {
      group.clear();  // a blank line, or the closing "# ..." list of ungrouped calls
    } else if (!group.empty() && !Trim(line).starts_with("#") && !Trim(line).empty()) {
      groups[group].push_back(std::string(Trim(line)));
    }
  }
  return groups;
}

void Expand(const std::map<std::string, std::vector<std::string>>& groups, const std::string& name,
            std::set<std::string>* out) {
  if (!name.starts_with("@")) {
    out->insert(name);
    return;
  }
  auto it = groups.find(name);
  REQUIRE_MESSAGE(it != groups.end(), "systemd-analyze knows no group " << name);
  for (const std::string& member : it->second) Expand(groups, member, out);
}

// The unit's SystemCallFilter=@system-service, then ~@privileged
// @resources (systemd always adds @default to an allow list), one name
// per line in `path`.
void WriteUnitAllowList(const std::string& path) {
  const auto groups = SyscallGroups();
  std::set<std::string> allowed, denied;
  Expand(groups, "@default", &allowed);
  Expand(groups, "@system-service", &allowed);
  Expand(groups, "@privileged", &denied);
  Expand(groups, "@resources", &denied);
  std::string text;
  for (const std::string& name : allowed) {
    if (denied.count(name) == 0) text += name + "\n";
  }
  REQUIRE(!text.empty());
  WriteFileOrDie(path, text);
}

// True (after saying why) when the sandbox harness cannot run here: it
// needs root for its mount namespace.
bool SandboxUnavailable() {
  std::string problem;
  if (::geteuid() != 0) problem = "the sandbox harness needs root (mount namespace, setuid)";
  if (ExecutableMissing("/usr/bin/systemd-analyze")) problem = "systemd-analyze is missing";
  if (problem.empty()) return false;
  if (MissingToolAction(std::getenv("PROVISIONER_REQUIRE_TOOLS")) == MissingTool::kFail) {
    FAIL_CHECK(problem);
  } else {
    MESSAGE("skipped: ", problem);
  }
  return true;
}

constexpr const char* kNobody = "65534:65534";

// A directory tree for a sandboxed run: `root` (read-only inside, like
// /etc and /usr) holds the binary, the config and the templates; state/
// and cache/ (writable, like StateDirectory= and CacheDirectory=) belong
// to the unprivileged user.
struct SandboxTree {
  SandboxTree() {
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    for (const char* d : {"state", "cache", "templates", "templates/t", "bin"}) {
      REQUIRE(::mkdir(dir.Join(d).c_str(), 0755) == 0);
    }
    for (const char* d : {"state", "cache"})
      REQUIRE(::chown(dir.Join(d).c_str(), 65534, 65534) == 0);
    // The build tree may be out of the user's reach (a checkout in /root).
    WriteFileOrDie(dir.Join("bin/provisioner"), ReadFileOrDie(PROVISIONER_BINARY));
    REQUIRE(::chmod(dir.Join("bin/provisioner").c_str(), 0755) == 0);
    WriteUnitAllowList(dir.Join("syscalls"));
  }
  std::vector<std::string> Argv(const std::vector<std::string>& command) const {
    std::vector<std::string> argv = {SANDBOX_EXEC_BINARY,
                                     "--syscalls",
                                     dir.Join("syscalls"),
                                     "--user",
                                     kNobody,
                                     "--bind-ro",
                                     dir.path(),
                                     "--bind",
                                     dir.Join("state"),
                                     "--bind",
                                     dir.Join("cache"),
                                     "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }
  TempDir dir;
};

TEST_SUITE("integration") {
  TEST_CASE("integration: terraform: a scheduled deploy and destroy") {
    if (TerraformUnavailable()) return;
    // Given a workspace whose deploy fires 3 s from now and destroy 2 s later,
    TerraformDaemon t;
    SystemTime deploy = WholeSecondsFromNow(3);
    SystemTime destroy = deploy + seconds(2);
    t.WriteConfig("  - {name: w, template: t, schedule: {deploy: \"" + OneShot(deploy) +
                  "\", destroy: \"" + OneShot(destroy) + "\"}}\n");
    // when the daemon runs through both fires with Terraform,
    t.h.Start();
    REQUIRE(t.h.WaitLog({"job finished", "operation=deploy", "trigger=schedule"}, seconds(30)));
    REQUIRE(t.h.WaitLog({"job finished", "operation=destroy", "trigger=schedule"}, seconds(30)));
    CHECK(t.h.Stop() == 0);
    // then Terraform's change summaries are in the history (the start-up
    // catch-up destroyed a workspace that had nothing yet),
    auto history = t.h.History("w");
    CHECK(t.h.HistorySummary("w") == std::vector<std::string>{"destroy catch_up succeeded",
                                                              "deploy schedule succeeded",
                                                              "destroy schedule succeeded"});
    REQUIRE(history.size() == 3);
    CHECK(history[0].changes == state::Changes{0, 0, 0});
    CHECK(history[1].scheduled_for == deploy);
    CHECK(*history[1].started_at >= deploy);
    CHECK(history[1].changes == state::Changes{2, 0, 0});
    CHECK(history[2].scheduled_for == destroy);
    CHECK(history[2].changes == state::Changes{0, 0, 2});
    for (const state::JobRecord& job : history) {
      CAPTURE(job.id);
      CHECK(job.exit_code == 0);
      CHECK(job.error.empty());
      // Terraform ran quiet and offline: no CLI-config or checkpoint noise.
      const std::string log = JobLog(job);
      CHECK_FALSE(Has(log, "Warning"));
      CHECK_FALSE(Has(log, "problems with the CLI configuration"));
    }
    CHECK(Has(JobLog(history[1]), "Apply complete! Resources: 2 added, 0 changed, 0 destroyed."));
    CHECK(Has(JobLog(history[2]), "Destroy complete! Resources: 2 destroyed."));
    // and Terraform's own state is empty again after two writes.
    nlohmann::json tfstate = t.TerraformState("w");
    CHECK(tfstate["resources"].empty());
    CHECK(tfstate["serial"].get<int>() >= 2);
    CHECK(t.h.ReadState().workspaces.at("w").actual == state::Actual::kDestroyed);
  }

  TEST_CASE("integration: terraform: provisioner deploy NAME --wait") {
    if (TerraformUnavailable()) return;
    // Given a workspace without a schedule,
    TerraformDaemon t;
    t.WriteConfig("  - {name: w, template: t, variables: {size: medium}}\n");
    t.h.Start();
    // when the CLI deploys it and waits, twice,
    ProcessResult first = t.Cli({"deploy", "w", "--wait"});
    ProcessResult second = t.Cli({"deploy", "w", "--wait"});
    CHECK(t.h.Stop() == 0);
    // then the first follows Terraform's progress to success, and the second
    // finds nothing to do (plan exit 0: no apply).
    CHECK_MESSAGE(first.exit_code == 0, first.out << first.err);
    CHECK(Has(first.out, "deploy of w queued as job "));
    CHECK(Has(first.out, "terraform_data.app: Creation complete after 0s [id="));
    CHECK(Has(first.out, "deploy w: succeeded (2 added, 0 changed, 0 destroyed)"));
    CHECK_MESSAGE(second.exit_code == 0, second.out << second.err);
    CHECK(Has(second.out, "deploy w: no_changes (0 added, 0 changed, 0 destroyed)"));
    CHECK(t.h.HistorySummary("w") ==
          std::vector<std::string>{"deploy manual succeeded", "deploy manual no_changes"});
    nlohmann::json tfstate = t.TerraformState("w");
    CHECK(tfstate["outputs"]["size"]["value"] == "medium");
    CHECK(Resources(tfstate) == std::map<std::string, std::string>{{"terraform_data.app", ""},
                                                                   {"terraform_data.slow", ""}});
  }

  TEST_CASE("integration: terraform: a changed variable is applied by the next deploy fire") {
    if (TerraformUnavailable()) return;
    // Given a deployed workspace whose deploy fires every 2 s,
    TerraformDaemon t;
    const std::string head = "  - {name: w, template: t, schedule: {deploy: \"*/2 * * * * *\"}, ";
    t.WriteConfig(head + "variables: {size: small}}\n");
    t.h.Start();
    std::vector<state::JobRecord> before = t.WaitHistory("w", 1);
    REQUIRE(before[0].result == state::JobResult::kSucceeded);
    REQUIRE(before[0].changes == state::Changes{2, 0, 0});
    // when the config changes one of its variables,
    t.WriteConfig(head + "variables: {size: large}}\n");
    REQUIRE(t.h.WaitLog({"config reloaded", "1 changed (w: variables)"}, seconds(20)));
    // then a later fire applies it as an in-place update,
    REQUIRE(t.h.WaitLog(
        {"job finished: 0 to add, 1 to change, 0 to destroy", "operation=deploy", "workspace=w"},
        seconds(20)));
    // and the fire after that finds nothing left to do.
    REQUIRE(t.h.WaitLog({"job finished", "operation=deploy", "result=no_changes"}, seconds(20)));
    CHECK(t.h.Stop() == 0);
    std::vector<state::JobRecord> history = t.h.History("w");
    auto update = std::find_if(history.begin(), history.end(), [](const state::JobRecord& j) {
      return j.changes == state::Changes{0, 1, 0};
    });
    REQUIRE(update != history.end());
    CHECK(update->trigger == state::Trigger::kSchedule);
    CHECK(update->result == state::JobResult::kSucceeded);
    CHECK_FALSE(update->drift);  // a config change, not a change outside Terraform
    CHECK(Has(JobLog(*update), "terraform_data.app: Modifications complete after"));
    // Every other fire found nothing to do.
    for (auto it = history.begin() + 1; it != history.end(); ++it) {
      if (it != update) CHECK(it->result == state::JobResult::kNoChanges);
    }
    nlohmann::json tfstate = t.TerraformState("w");
    CHECK(tfstate["outputs"]["size"]["value"] == "large");
  }

  TEST_CASE("integration: terraform: SIGTERM during a slow apply interrupts Terraform cleanly") {
    if (TerraformUnavailable()) return;
    // Given a workspace whose deploy (a catch-up at start) sleeps 60 s in a
    // provisioner,
    TerraformDaemon t;
    const std::string head = "  - {name: w, template: t, schedule: {deploy: \"0 0 1 1 *\"}, ";
    t.WriteConfig(head + "variables: {sleep_seconds: 60}}\n");
    t.h.Start();
    // when the daemon gets SIGTERM while Terraform's apply sleeps,
    pid_t terraform = 0;
    bool sleeping = WaitUntil(
        [&] {
          for (const ProcessEntry& p : ChildProcesses(t.h.daemon().pid())) {
            if (Has(p.cmdline, " apply ")) terraform = p.pid;
          }
          if (terraform == 0) return false;
          for (const ProcessEntry& p : LiveProcessesInGroup(terraform)) {
            if (p.comm == "sleep") return true;
          }
          return false;
        },
        seconds(30));
    REQUIRE_MESSAGE(sleeping, t.h.daemon().err());
    const std::string lock_info = t.workspace_dir("w") + "/.terraform.tfstate.lock.info";
    CHECK(::access(lock_info.c_str(), F_OK) == 0);
    CHECK(t.h.Stop() == 0);
    // then nothing of that Terraform is left: not it, not its provisioner,
    std::vector<ProcessEntry> left = LiveProcessesInGroup(terraform);
    for (const ProcessEntry& p : left) MESSAGE("left behind: ", p.pid, " ", p.cmdline);
    CHECK(left.empty());
    CHECK(::access(lock_info.c_str(), F_OK) != 0);
    // Terraform printed its interrupt and exited on its own (exit 1, not a
    // SIGKILL), and the job is recorded as interrupted.
    CHECK(t.h.HistorySummary("w") == std::vector<std::string>{"deploy catch_up interrupted"});
    state::State s = t.h.ReadState();
    CHECK_FALSE(s.workspaces.at("w").running.has_value());
    REQUIRE(s.workspaces.at("w").last_job.has_value());
    const state::JobRecord interrupted = *s.workspaces.at("w").last_job;
    CHECK(interrupted.result == state::JobResult::kInterrupted);
    CHECK(interrupted.exit_code == 1);
    const std::string log = JobLog(interrupted);
    CHECK(Has(log, R"(Interrupt received.\nPlease wait for Terraform to exit)"));
    CHECK(Has(log, "\"summary\":\"execution halted\""));
    CHECK(Has(log, "# apply finished: exit 1"));
    CHECK(Has(Resources(t.TerraformState("w"))["terraform_data.slow"], "tainted"));

    // When the daemon comes back with a quick provisioner,
    t.WriteConfig(head + "variables: {sleep_seconds: 0}}\n");
    t.h.Start();
    // then its catch-up deploy takes the state lock at once and replaces the
    // tainted resource.
    std::vector<state::JobRecord> history = t.WaitHistory("w", 2);
    CHECK(t.h.Stop() == 0);
    CHECK(t.h.HistorySummary("w") ==
          std::vector<std::string>{"deploy catch_up interrupted", "deploy catch_up succeeded"});
    CHECK(history[1].changes == state::Changes{1, 0, 1});
    CHECK_FALSE(Has(JobLog(history[1]), "Error acquiring the state lock"));
    CHECK(Resources(t.TerraformState("w")) ==
          std::map<std::string, std::string>{{"terraform_data.app", ""},
                                             {"terraform_data.slow", ""}});
  }

  TEST_CASE("integration: terraform: a state lock held by another Terraform, then a retry") {
    if (TerraformUnavailable()) return;
    // Given a deployed workspace,
    TerraformDaemon t;
    t.WriteConfig("  - {name: w, template: t, schedule: {deploy: \"0 0 1 1 *\"}}\n");
    t.h.Start();
    REQUIRE(t.WaitHistory("w", 1)[0].result == state::JobResult::kSucceeded);
    // and a second Terraform in its directory, holding the state lock while
    // its provisioner sleeps,
    auto holder = Subprocess::Start({Probe().path, "apply", "-input=false", "-no-color",
                                     "-auto-approve", "-var=sleep_seconds=60"},
                                    t.TerraformEnv(), t.workspace_dir("w"));
    REQUIRE_MESSAGE(holder->WaitForOutput("Executing:", seconds(30)), holder->out()
                                                                          << holder->err());
    const std::string lock_id = nlohmann::json::parse(
        ReadFileOrDie(t.workspace_dir("w") + "/.terraform.tfstate.lock.info"))["ID"];
    // when a manual deploy runs,
    ProcessResult cli = t.Cli({"deploy", "w", "--wait"});
    // then it fails on the lock, naming the holder's lock,
    CHECK(cli.exit_code == 1);
    CHECK_MESSAGE(Has(cli.err,
                      "deploy w: failed (0 added, 0 changed, 0 destroyed): "
                      "Error acquiring the state lock"),
                  cli.err);
    std::vector<state::JobRecord> history = t.h.History("w");
    REQUIRE(history.size() == 2);
    CHECK(history[1].trigger == state::Trigger::kManual);
    CHECK(history[1].result == state::JobResult::kFailed);
    CHECK(history[1].exit_code == 1);
    CHECK(history[1].error == "Error acquiring the state lock");
    const std::string failed_log = JobLog(history[1]);
    CHECK(Has(failed_log, "ID:        " + lock_id));
    CHECK(Has(failed_log, "\"type\":\"state_lock_acquire\""));
    // and once the other Terraform lets go (SIGINT, as a user's Ctrl-C),
    holder->Signal(SIGINT);
    ProcessResult released = holder->Wait(seconds(30));
    CHECK(released.exit_code == 1);
    CHECK(Has(released.out, "Interrupt received."));
    // Terraform kills only the provisioner's shell: its `sleep` lives on in
    // the holder's process group (which keeps the group id from reuse).
    ::kill(-holder->pid(), SIGKILL);
    // a retry succeeds: it replaces the resource the holder left tainted.
    history = t.WaitHistory("w", 3);
    bool succeeded = WaitUntil(
        [&] {
          history = t.h.History("w");
          return history.back().result == state::JobResult::kSucceeded;
        },
        seconds(30));
    CHECK(t.h.Stop() == 0);
    const std::string summary = Join(t.h.HistorySummary("w"), ", ");
    REQUIRE_MESSAGE(succeeded, summary);
    for (size_t i = 2; i + 1 < history.size(); ++i) {
      // Retries that ran before the holder let go failed on the lock too.
      CHECK(history[i].trigger == state::Trigger::kRetry);
      CHECK(history[i].error == "Error acquiring the state lock");
    }
    const state::JobRecord& retry = history.back();
    CHECK(retry.trigger == state::Trigger::kRetry);
    CHECK(retry.attempt == static_cast<int>(history.size()) - 1);
    CHECK(retry.changes == state::Changes{1, 0, 1});
    CHECK(Resources(t.TerraformState("w")) ==
          std::map<std::string, std::string>{{"terraform_data.app", ""},
                                             {"terraform_data.slow", ""}});
  }
  TEST_CASE("integration: sandbox: the harness applies the unit's restrictions") {
    if (SandboxUnavailable()) return;
    // Each restriction is seen from inside, so that a harness that applied
    // nothing would fail here rather than pass the Terraform test below.
    SandboxTree tree;
    // LeakSanitizer (in sanitizer builds) needs ptrace, which the filter
    // refuses, as it would under the unit.
    const std::map<std::string, std::string> env = {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
                                                    {"ASAN_OPTIONS", "detect_leaks=0"}};
    auto run = [&](const std::string& script) {
      return RunProcess(tree.Argv({"/bin/sh", "-c", script}), env, "/");
    };
    ProcessResult r =
        run("id -u; grep -E '^(NoNewPrivs|Seccomp|CapBnd|CapEff):' /proc/self/status");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(Has(r.out, "65534\n"));
    CHECK(Has(r.out, "NoNewPrivs:\t1"));
    CHECK(Has(r.out, "Seccomp:\t2"));
    CHECK(Has(r.out, "CapBnd:\t0000000000000000"));
    CHECK(Has(r.out, "CapEff:\t0000000000000000"));
    // ProtectSystem=strict, with the state dir writable and /tmp private.
    CHECK(run("touch " + tree.dir.Join("state/x")).exit_code == 0);
    CHECK(Has(run("touch " + tree.dir.Join("config.yaml")).err, "Read-only file system"));
    CHECK(Has(run("touch /var/lib/x").err, "Read-only file system"));
    CHECK(run("touch /tmp/x && test -z \"$(ls /tmp | grep -v '^x$' | grep -v provisioner-test)\"")
              .exit_code == 0);
    // The syscall filter: lowering one's own priority is allowed to any user,
    // but setpriority(2) is in @resources, which the unit takes away.
    r = run("renice -n 1 -p $$");
    CHECK(r.exit_code != 0);
    CHECK_MESSAGE(Has(r.err, "Operation not permitted"), r.err);
    // RestrictAddressFamilies and MemoryDenyWriteExecute, each next to what
    // stays allowed: errno 97 is EAFNOSUPPORT, 1 is EPERM.
    r = RunProcess(tree.Argv({"/usr/bin/python3", "-c", R"(
import mmap, socket
def attempt(what, f):
    try:
        f()
        print(what, "ok")
    except OSError as e:
        print(what, e.errno)
attempt("inet", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
attempt("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
attempt("rw", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE))
attempt("wx", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC))
)"}),
                   env, "/");
    CHECK_MESSAGE(r.out == "inet ok\nunix ok\nnetlink 97\nrw ok\nwx 1\n", r.out << r.err);
  }

  TEST_CASE("integration: terraform: deploy and destroy inside the unit's sandbox") {
    if (TerraformUnavailable() || SandboxUnavailable()) return;
    // Given the daemon started under the unit's sandbox as an unprivileged
    // user, with the real Terraform as its tofu,
    SandboxTree tree;
    const std::string cli_config = tree.dir.Join("terraform.rc");
    WriteFileOrDie(cli_config, "");
    WriteFileOrDie(tree.dir.Join("templates/t/main.tf"), kTemplate);
    WriteFileOrDie(tree.dir.Join("config.yaml"),
                   "server: {listen: \"127.0.0.1:0\"}\n"
                   "scheduler: {timezone: UTC, max_concurrent_jobs: 1, kill_grace: 5s}\n"
                   "opentofu:\n  binary: \"" +
                       Probe().path + "\"\n  plugin_cache_dir: " + tree.dir.Join("cache") +
                       "\n  env: {CHECKPOINT_DISABLE: \"1\", TF_CLI_CONFIG_FILE: \"" + cli_config +
                       "\"}\n"
                       "state: {dir: " +
                       tree.dir.Join("state") +
                       "}\n"
                       "logging: {level: debug, format: text}\n"
                       "templates_dir: " +
                       tree.dir.Join("templates") +
                       "\n"
                       "workspaces:\n  - {name: w, template: t}\n");
    const std::map<std::string, std::string> env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                                    {"HOME", tree.dir.Join("state")},
                                                    {"LANG", "C.UTF-8"},
                                                    {"ASAN_OPTIONS", "detect_leaks=0"}};
    auto daemon = Subprocess::Start(tree.Argv({tree.dir.Join("bin/provisioner"), "serve",
                                               "--config", tree.dir.Join("config.yaml")}),
                                    env, "/");
    REQUIRE_MESSAGE(daemon->WaitForOutput("listening on port ", seconds(20), true), daemon->err());
    REQUIRE(
        daemon->WaitForOutput("\n", seconds(5), true, daemon->err().find("listening on port ")));
    const std::string& log = daemon->err();
    const int port = std::stoi(log.substr(log.find("listening on port ") + 18));
    const std::string server = "http://127.0.0.1:" + std::to_string(port);
    // when an operator deploys and then destroys the workspace,
    ProcessResult deploy = RunProcess(
        {PROVISIONER_BINARY, "deploy", "w", "--wait", "--server", server}, env, "/", seconds(120));
    ProcessResult destroy = RunProcess(
        {PROVISIONER_BINARY, "destroy", "w", "--wait", "--server", server}, env, "/", seconds(120));
    daemon->Signal(SIGTERM);
    ProcessResult stopped = daemon->Wait(seconds(30));
    // then Terraform ran init, plan and apply inside the sandbox, and the
    // daemon stopped cleanly.
    INFO("daemon log:\n" << stopped.err);
    CHECK_MESSAGE(deploy.exit_code == 0, deploy.out << deploy.err);
    CHECK(Has(deploy.out, "Apply complete! Resources: 2 added, 0 changed, 0 destroyed."));
    CHECK_MESSAGE(destroy.exit_code == 0, destroy.out << destroy.err);
    CHECK(Has(destroy.out, "Destroy complete! Resources: 2 destroyed."));
    CHECK(stopped.exit_code == 0);
    // Nothing in the daemon's own log says a call was refused.
    CHECK_FALSE(Has(stopped.err, "Operation not permitted"));
    CHECK_FALSE(Has(stopped.err, " ERROR "));
    // The files were written by the unprivileged user.
    struct stat st {};
    REQUIRE(::stat(tree.dir.Join("state/state.json").c_str(), &st) == 0);
    CHECK(st.st_uid == 65534);
  }

  TEST_CASE("integration: terraform: HA's backend check reads what terraform init records") {
    if (TerraformUnavailable()) return;
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    TempDir root;
    WriteFileOrDie(root.Join(std::string(kCliConfigName)), "");
    const std::map<std::string, std::string> env = {
        {"PATH", "/usr/bin:/bin"}, {"HOME", root.path()},
        {"LANG", "C.UTF-8"},       {"CHECKPOINT_DISABLE", "1"},
        {"TF_IN_AUTOMATION", "1"}, {"TF_CLI_CONFIG_FILE", root.Join(std::string(kCliConfigName))}};
    // Initializes a working directory whose terraform block is `block`.
    auto init = [&](const std::string& name, const std::string& block,
                    std::vector<std::string> extra) {
      const std::string dir = root.Join(name);
      REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
      WriteFileOrDie(dir + "/main.tf", block + "resource \"terraform_data\" \"x\" {}\n");
      std::vector<std::string> argv = {Probe().path, "init", "-input=false", "-no-color"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      ProcessResult r = RunProcess(argv, env, dir, seconds(120));
      REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
      return dir;
    };
    platform::PosixFileSystem fs;
    // A pg backend on the test server: it locks (advisory locks).
    const std::string pg = init("pg", "terraform {\n  backend \"pg\" {}\n}\n",
                                {"-backend-config=conn_str=postgres://prov@127.0.0.1:" +
                                 std::to_string(server->port()) + "/postgres?sslmode=disable"});
    CHECK_OK(tofu::CheckLockingBackend(fs, pg, {}));
    // An explicit local backend, and none at all: the state stays on the node.
    const std::string local = init("local", "terraform {\n  backend \"local\" {}\n}\n", {});
    Status s = tofu::CheckLockingBackend(fs, local, {});
    CHECK(s.code() == Status::Code::kFailedPrecondition);
    CHECK(s.message().starts_with("the workspace's backend is \"local\""));
    const std::string none = init("none", "", {});
    s = tofu::CheckLockingBackend(fs, none, {});
    CHECK(s.code() == Status::Code::kFailedPrecondition);
    CHECK(s.message().starts_with("the workspace has no backend block"));
  }
}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
