// Faults injected into the real daemon while it serves (issue 13, "Faults"):
//
//   - the state filesystem full (a 64 KiB tmpfs) and read-only (a read-only
//     bind mount over the state dir), both inside a mount namespace of the
//     daemon's own (`unshare -m`), so nothing outside the test changes;
//   - the config file deleted, the templates dir removed and the tofu binary
//     replaced by a broken one;
//   - a tofu that floods stdout with 100 MB, prints megabyte lines of broken
//     UTF-8, leaves a grandchild holding its pipes (in its process group or
//     in a session of its own), or never exits.
//
// Each one must leave the daemon running, say what is wrong in its log, on
// /health (or /health/deep) and in an alert-worthy metric, and recover once
// the fault is gone; the misbehaving tofu must not leak descriptors, threads
// or memory of the daemon (read from /proc/<daemon pid>/).
//
// The mount-namespace tests skip with a message where unshare or mount is
// refused, and fail instead under PROVISIONER_REQUIRE_TOOLS=1.
#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "integration/daemon_harness.h"

namespace provisioner::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The deep checks are cached for 30 s (docs/api.md): a change shows within
// that, plus a probe's own time.
constexpr seconds kDeepCache{30};
constexpr seconds kDeepWait = kDeepCache + seconds(15);

constexpr const char* kUnshare = "/usr/bin/unshare";
constexpr const char* kNsenter = "/usr/bin/nsenter";
constexpr const char* kMount = "/usr/bin/mount";
constexpr const char* kUmount = "/usr/bin/umount";

std::map<std::string, std::string> ToolEnv() { return {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}}; }

// Why mount namespaces cannot be used here ("" when they can): the tools,
// and a tmpfs plus a read-only bind mount in a new namespace.
const std::string& MountNamespaceProblem() {
  static const std::string problem = [] {
    for (const char* tool : {kUnshare, kNsenter, kMount, kUmount}) {
      if (::access(tool, X_OK) != 0) return std::string(tool) + " is not installed";
    }
    TempDir dir;
    ProcessResult r = RunProcess(
        {kUnshare, "-m", "--propagation", "private", "--", "/bin/sh", "-c",
         "mount -t tmpfs -o size=64k tmpfs \"$0\" && mount --bind -o ro \"$0\" \"$0\" && "
         "umount \"$0\" && umount \"$0\"",
         dir.path()},
        ToolEnv(), dir.path(), seconds(20));
    if (r.exit_code != 0) {
      return "mount namespaces are refused here (unshare -m, then mount -t tmpfs): exit " +
             std::to_string(r.exit_code) + ": " + r.err;
    }
    return std::string();
  }();
  return problem;
}

// True (after saying why, or failing under PROVISIONER_REQUIRE_TOOLS) when
// the test cannot run here.
bool NoMountNamespace() {
  const std::string& problem = MountNamespaceProblem();
  return !problem.empty() && ToolMissing(problem);
}

// A wrapper for DaemonHarness::Start: the daemon runs in a mount namespace
// of its own, after `setup` (shell, in the harness root) ran there.
std::vector<std::string> InOwnMountNamespace(const std::string& setup) {
  return {kUnshare,  "-m", "--propagation",           "private", "--",
          "/bin/sh", "-c", setup + " && exec \"$@\"", "sh"};
}

// Runs `argv` in the mount namespace of process `pid`.
void InNamespaceOf(pid_t pid, std::vector<std::string> argv) {
  std::vector<std::string> full = {kNsenter, "-t", std::to_string(pid), "-m", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  ProcessResult r = RunProcess(full, ToolEnv(), "/", seconds(20));
  REQUIRE_MESSAGE(r.exit_code == 0, Join(full, " ") << ": " << r.err);
}

// /proc/<pid>: what a leak would make grow.
struct ProcStats {
  size_t fds = 0;
  long threads = 0;
  long rss_kib = 0;
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif
#else
constexpr bool kUnderAsan = false;
#endif

ProcStats ReadProcStats(pid_t pid) {
  ProcStats s;
  const std::string dir = "/proc/" + std::to_string(pid);
  DIR* fds = ::opendir((dir + "/fd").c_str());
  REQUIRE(fds != nullptr);
  while (dirent* e = ::readdir(fds)) s.fds += e->d_name[0] != '.';
  ::closedir(fds);
  const std::string status = ReadFileOrDie(dir + "/status");  // outlives the views
  for (std::string_view line : Split(status, '\n')) {
    if (line.starts_with("Threads:")) s.threads = std::stol(std::string(line.substr(8)));
    if (line.starts_with("VmRSS:")) s.rss_kib = std::stol(std::string(line.substr(6)));
  }
  return s;
}

// True when `pid` has exited: gone, or a zombie (an orphan's zombie waits
// for a PID 1 that may never reap it, in a container).
bool Exited(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return true;
  const char state = stat[close + 2];
  return state == 'Z' || state == 'X';
}

std::string Describe(const ProcStats& s) {
  return std::to_string(s.fds) + " fds, " + std::to_string(s.threads) + " threads, " +
         std::to_string(s.rss_kib / 1024) + " MiB RSS";
}

// The value of one series (name with its labels, as exposed) in a scrape, or
// -1 when it is absent.
double Sample(const std::string& scrape, const std::string& series) {
  for (std::string_view line : Split(scrape, '\n')) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::stod(std::string(line.substr(series.size() + 1)));
    }
  }
  return -1;
}

std::string HealthSeries(const std::string& check, const std::string& status) {
  return "provisioner_health_check{check=\"" + check + "\",status=\"" + status + "\"}";
}

// The daemon's HTTP API, for one test.
struct Api {
  explicit Api(int port) : client("127.0.0.1", port) { client.set_read_timeout(seconds(60)); }

  nlohmann::json GetJson(const std::string& path, int* status = nullptr) {
    auto r = client.Get(path);
    REQUIRE_MESSAGE(r, "GET " << path << " failed");
    if (status != nullptr) *status = r->status;
    // Strict: a reply that is not valid JSON (or not valid UTF-8) fails here.
    return nlohmann::json::parse(r->body);
  }
  std::string Scrape() {
    auto r = client.Get("/metrics");
    REQUIRE(r);
    return r->body;
  }
  httplib::Result Post(const std::string& path, const std::string& body = "{}") {
    return client.Post(path, body, "application/json");
  }

  // check name -> {status, message} of a probe's reply.
  static std::map<std::string, std::pair<std::string, std::string>> Checks(
      const nlohmann::json& reply) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    for (const auto& c : reply["checks"]) {
      out[c["name"].get<std::string>()] = {c["status"].get<std::string>(),
                                           c["message"].get<std::string>()};
    }
    return out;
  }

  // Polls `path` until `ok` holds for its reply; the last reply otherwise.
  nlohmann::json WaitProbe(const std::string& path,
                           const std::function<bool(const nlohmann::json&)>& ok,
                           std::chrono::milliseconds timeout, int* status = nullptr) {
    nlohmann::json last;
    WaitUntil(
        [&] {
          last = GetJson(path, status);
          return ok(last);
        },
        timeout);
    return last;
  }

  // Deploys `workspace` and waits for the job to finish; returns its JSON.
  nlohmann::json DeployAndWait(const std::string& workspace, seconds timeout = seconds(60)) {
    auto r = Post("/api/v1/workspaces/" + workspace + "/deploy");
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 202, r->body);
    const std::string id = nlohmann::json::parse(r->body)["job_id"].get<std::string>();
    nlohmann::json job;
    const bool finished = WaitUntil(
        [&] {
          job = GetJson("/api/v1/jobs/" + id);
          return job.value("status", "") == "finished";
        },
        timeout);
    REQUIRE_MESSAGE(finished, "job " << id << " did not finish: " << job.dump());
    return job;
  }

  httplib::Client client;
};

bool CheckIs(const nlohmann::json& reply, const std::string& check, const std::string& status) {
  auto checks = Api::Checks(reply);
  return checks.count(check) > 0 && checks[check].first == status;
}

// Waits until any line of the daemon's log, earlier ones included, holds
// every token (DaemonHarness::WaitLog only looks past what it consumed).
bool Logged(DaemonHarness& h, const std::vector<std::string>& tokens,
            std::chrono::milliseconds timeout = seconds(10)) {
  return WaitUntil(
      [&] {
        h.daemon().WaitForOutput("\n", milliseconds(20), /*on_stderr=*/true,
                                 h.daemon().err().size());
        return h.LogHas(tokens);
      },
      timeout);
}

// Fills the filesystem holding `dir` with `dir`/filler until it is full.
void FillUp(const std::string& dir) {
  const std::string path = dir + "/filler";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const std::string chunk(4096, 'x');
  int err = 0;
  for (int i = 0; i < 1'000'000 && err == 0; ++i) {
    if (::write(fd, chunk.data(), chunk.size()) < 0) err = errno;
  }
  ::close(fd);
  REQUIRE_MESSAGE(err == ENOSPC, "filling " << dir << " ended with errno " << err);
}

// The config of the fault tests: one job at a time, a short kill_grace.
void WriteFaultConfig(DaemonHarness& h, const std::string& workspaces) {
  WriteFileOrDie(h.config_path(),
                 "server: {listen: \"127.0.0.1:0\"}\n"
                 "scheduler: {timezone: UTC, max_concurrent_jobs: 1, kill_grace: 2s}\n"
                 "opentofu: {lock_timeout: 20s, plugin_cache_dir: cache, "
                 "pass_env: [\"FAKE_TOFU_*\"]}\n"
                 "state: {dir: state}\n"
                 "logging: {level: info, format: text}\n"
                 "templates_dir: templates\n"
                 "workspaces:\n" +
                     workspaces);
}

// Replaces the file at `path` atomically (rename over it).
void Replace(const std::string& path, const std::string& content, mode_t mode) {
  const std::string tmp = path + ".new";
  WriteFileOrDie(tmp, content);
  REQUIRE(::chmod(tmp.c_str(), mode) == 0);
  REQUIRE(::rename(tmp.c_str(), path.c_str()) == 0);
}

TEST_SUITE("integration") {
  TEST_CASE(
      "integration: faults: a full state filesystem: degraded, alerting, last good state "
      "kept, then recovery") {
    // Given the daemon with its state dir on a 64 KiB tmpfs of its own,
    if (NoMountNamespace()) return;
    DaemonHarness h;
    WriteFaultConfig(h, "  - {name: w, template: t}\n");
    REQUIRE(::mkdir(h.state_dir().c_str(), 0755) == 0);
    h.Start({}, InOwnMountNamespace("mount -t tmpfs -o size=64k,mode=0755 tmpfs state"));
    const pid_t pid = h.daemon().pid();
    const std::string state = "/proc/" + std::to_string(pid) + "/root" + h.state_dir();
    Api api(h.port());
    REQUIRE(CheckIs(api.GetJson("/health"), "state_saved", "healthy"));
    const std::string good = ReadFileOrDie(state + "/state.json");
    const double saved_at = Sample(api.Scrape(), "provisioner_state_last_save_timestamp_seconds");
    CHECK(saved_at > 0);

    // when the filesystem fills up and a change has to be saved,
    FillUp(state);
    auto pause = api.Post("/api/v1/workspaces/w/pause");
    REQUIRE(pause);
    // then the API does not claim it was saved,
    CHECK(pause->status != 202);
    CHECK(pause->status != 200);
    CHECK(pause->body.find("No space left on device") != std::string::npos);
    // the log says why,
    CHECK(h.WaitLog({"saving state failed", "No space left on device"}, seconds(10)));
    // /health is degraded (200, not a restart-worthy 503) and says why,
    int status = 0;
    nlohmann::json health = api.WaitProbe(
        "/health", [](const nlohmann::json& r) { return CheckIs(r, "state_saved", "degraded"); },
        seconds(10), &status);
    CHECK(status == 200);
    CHECK(health["status"] == "degraded");
    CHECK(Api::Checks(health)["state_saved"].second.find("No space left on device") !=
          std::string::npos);
    // the alert's metrics show it,
    const std::string scrape = api.Scrape();
    CHECK(Sample(scrape, "provisioner_state_save_failures_total") >= 1);
    CHECK(Sample(scrape, "provisioner_state_last_save_timestamp_seconds") == saved_at);
    // the last good state is what is on disk, and it loads,
    CHECK(ReadFileOrDie(state + "/state.json") == good);
    CHECK_OK(state::StateFromJson(good));
    // and the daemon keeps serving.
    CHECK(h.daemon().Running());
    CHECK(api.GetJson("/api/v1/workspaces")["workspaces"].size() == 1);

    // When space comes back, the next tick (a reload wakes one) saves again:
    REQUIRE(::unlink((state + "/filler").c_str()) == 0);
    auto reload = api.Post("/api/v1/reload");
    REQUIRE(reload);
    CHECK(reload->status == 200);
    health = api.WaitProbe(
        "/health", [](const nlohmann::json& r) { return r["status"] == "healthy"; }, seconds(20));
    CHECK(health["status"] == "healthy");
    CHECK(h.WaitLog({"state saved again after"}, seconds(10)));
    CHECK(Sample(api.Scrape(), "provisioner_state_last_save_timestamp_seconds") > saved_at);
    const std::string saved = ReadFileOrDie(state + "/state.json");
    auto reloaded = state::StateFromJson(saved);
    REQUIRE_OK(reloaded);
    CHECK(reloaded->workspaces.count("w") == 1);

    // And a stop while the disk is full again says that the final save
    // failed (exit 1), leaving the last good state in place.
    FillUp(state);
    // (an open directory keeps the tmpfs readable after its namespace ends)
    const int dir = ::open(state.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(dir >= 0);
    CHECK(h.Stop() == 1);
    CHECK(h.LogHas({"stopped; STATE NOT SAVED"}));
    std::string after;
    const int file = ::openat(dir, "state.json", O_RDONLY | O_CLOEXEC);
    CHECK(file >= 0);
    char buf[4096];
    for (ssize_t n; file >= 0 && (n = ::read(file, buf, sizeof buf)) > 0;) {
      after.append(buf, static_cast<size_t>(n));
    }
    if (file >= 0) ::close(file);
    ::close(dir);
    CHECK(after == saved);
  }

  TEST_CASE(
      "integration: faults: the job log's filesystem fills up mid-job: the result "
      "holds, the gap is logged and counted") {
    // Given the daemon with state/jobs (the job logs and journals) on a
    // 256 KiB tmpfs of its own, and a tofu whose plan prints 1 MB,
    if (NoMountNamespace()) return;
    DaemonHarness h;
    WriteFaultConfig(h, "  - {name: w, template: t}\n");
    REQUIRE(::mkdir(h.state_dir().c_str(), 0755) == 0);
    REQUIRE(::mkdir((h.state_dir() + "/jobs").c_str(), 0755) == 0);
    h.fake().WriteControl(R"({"sequence": {"plan": [{"stdout_flood_bytes": 1000000}]}})");
    h.Start({}, InOwnMountNamespace("mount -t tmpfs -o size=256k,mode=0755 tmpfs state/jobs"));
    const std::string jobs =
        "/proc/" + std::to_string(h.daemon().pid()) + "/root" + h.state_dir() + "/jobs";
    Api api(h.port());
    // when a deploy runs (its log overflows the filesystem in the plan),
    nlohmann::json job = api.DeployAndWait("w");
    // then it still succeeds, with its changes applied,
    CHECK(job["result"] == "succeeded");
    CHECK(job["changes"]["add"] == 2);
    // the daemon log says the job log is incomplete and why,
    CHECK(Logged(h, {"job log incomplete", "No space left on device",
                     "job_id=" + job["id"].get<std::string>()}));
    // an alert can count it,
    CHECK(Sample(api.Scrape(), "provisioner_job_log_write_failures_total") == 1);
    // the log holds what fitted, and the state knows how the job ended.
    struct stat st {};
    REQUIRE(::stat((jobs + "/w/" + job["id"].get<std::string>() + ".log").c_str(), &st) == 0);
    CHECK(st.st_size > 0);
    CHECK(st.st_size < 1'000'000);
    const state::State s = h.ReadState();
    REQUIRE(s.workspaces.at("w").last_job.has_value());
    CHECK(s.workspaces.at("w").last_job->id == job["id"]);
    CHECK(*s.workspaces.at("w").last_job->result == state::JobResult::kSucceeded);
    CHECK(s.workspaces.at("w").actual == state::Actual::kDeployed);
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: faults: a read-only state dir while serving, then writable again") {
    // Given the daemon in a mount namespace of its own,
    if (NoMountNamespace()) return;
    DaemonHarness h;
    WriteFaultConfig(h, "  - {name: w, template: t}\n");
    REQUIRE(::mkdir(h.state_dir().c_str(), 0755) == 0);
    h.Start({}, InOwnMountNamespace("true"));
    const pid_t pid = h.daemon().pid();
    Api api(h.port());
    REQUIRE(CheckIs(api.GetJson("/health/deep"), "state_accessible", "healthy"));
    const std::string good = ReadFileOrDie(h.state_dir() + "/state.json");

    // when its state dir becomes read-only (a read-only bind mount over it:
    // root ignores chmod 0555) and a change has to be saved,
    InNamespaceOf(pid, {kMount, "--bind", "-o", "ro", h.state_dir(), h.state_dir()});
    auto pause = api.Post("/api/v1/workspaces/w/pause");
    REQUIRE(pause);
    CHECK(pause->status != 202);
    CHECK(pause->body.find("Read-only file system") != std::string::npos);
    // then the log says why,
    CHECK(h.WaitLog({"saving state failed", "Read-only file system"}, seconds(10)));
    // /health is degraded,
    nlohmann::json health = api.WaitProbe(
        "/health", [](const nlohmann::json& r) { return CheckIs(r, "state_saved", "degraded"); },
        seconds(10));
    CHECK(health["status"] == "degraded");
    CHECK(Api::Checks(health)["state_saved"].second.find("Read-only file system") !=
          std::string::npos);
    // and /health/deep, once its cache has expired, finds the dir unusable
    int status = 0;
    nlohmann::json deep = api.WaitProbe(
        "/health/deep",
        [](const nlohmann::json& r) { return CheckIs(r, "state_accessible", "unhealthy"); },
        kDeepWait, &status);
    CHECK(CheckIs(deep, "state_accessible", "unhealthy"));
    CHECK(CheckIs(deep, "dependencies_available", "unhealthy"));
    CHECK(Api::Checks(deep)["state_accessible"].second.find("Read-only file system") !=
          std::string::npos);
    CHECK(status == 503);
    CHECK(Logged(h, {"health check state_accessible is unhealthy (was healthy)"}));
    // with the metrics an alert reads,
    const std::string scrape = api.Scrape();
    CHECK(Sample(scrape, "provisioner_state_save_failures_total") >= 1);
    CHECK(Sample(scrape, HealthSeries("state_saved", "degraded")) == 1);
    CHECK(Sample(scrape, HealthSeries("state_accessible", "unhealthy")) == 1);
    // while the last good state stays on disk.
    CHECK(ReadFileOrDie(h.state_dir() + "/state.json") == good);
    CHECK(h.daemon().Running());

    // When the dir is writable again, a tick saves and the checks recover.
    InNamespaceOf(pid, {kUmount, h.state_dir()});
    auto reload = api.Post("/api/v1/reload");
    REQUIRE(reload);
    CHECK(reload->status == 200);
    CHECK(h.WaitLog({"state saved again after"}, seconds(10)));
    deep = api.WaitProbe(
        "/health/deep", [](const nlohmann::json& r) { return r["status"] == "healthy"; },
        kDeepWait);
    CHECK(deep["status"] == "healthy");
    CHECK(Logged(h, {"health check state_accessible is healthy (was unhealthy)"}));
    CHECK(Sample(api.Scrape(), HealthSeries("state_accessible", "healthy")) == 1);
    CHECK(h.Stop() == 0);
  }

  TEST_CASE(
      "integration: faults: config deleted, templates removed, tofu broken while "
      "serving, then fixed") {
    // Given a serving daemon whose deep checks all pass,
    DaemonHarness h;
    WriteFaultConfig(h, "  - {name: w, template: t}\n");
    const std::string config = ReadFileOrDie(h.config_path());
    h.Start();
    Api api(h.port());
    REQUIRE(api.GetJson("/health/deep")["status"] == "healthy");

    // when the config file is deleted, the templates dir removed and tofu
    // replaced by a build that runs but fails (exit 1 on `version`),
    REQUIRE(::unlink(h.config_path().c_str()) == 0);
    const std::string templates = h.root_.Join("templates");
    REQUIRE(::rename(templates.c_str(), h.root_.Join("templates.gone").c_str()) == 0);
    Replace(h.fake().tofu_path(), "#!/bin/sh\necho 'tofu: this build is broken' >&2\nexit 1\n",
            0755);

    // then the log names each problem,
    CHECK(h.WaitLog({"config reload rejected", "No such file or directory"}, seconds(20)));
    // /health is degraded (the config) but 200,
    int status = 0;
    nlohmann::json health = api.WaitProbe(
        "/health", [](const nlohmann::json& r) { return CheckIs(r, "config_loaded", "degraded"); },
        seconds(10), &status);
    CHECK(status == 200);
    CHECK(health["status"] == "degraded");
    // /health/deep (once its cache expired) finds the templates and tofu,
    nlohmann::json deep = api.WaitProbe(
        "/health/deep",
        [](const nlohmann::json& r) {
          return CheckIs(r, "templates_available", "unhealthy") &&
                 CheckIs(r, "opentofu_available", "unhealthy");
        },
        kDeepWait, &status);
    auto checks = Api::Checks(deep);
    CHECK(checks["config_loaded"].first == "degraded");
    CHECK(checks["templates_available"].first == "unhealthy");
    CHECK(checks["templates_available"].second == "missing in " + templates + ": t");
    CHECK(checks["opentofu_available"].first == "unhealthy");
    CHECK(checks["opentofu_available"].second ==
          "tofu version -json failed (exit 1): tofu: this build is broken");
    CHECK(status == 503);
    CHECK(Logged(h, {"health check templates_available is unhealthy (was healthy)", "t"}));
    CHECK(Logged(h, {"health check opentofu_available is unhealthy (was healthy)"}));
    // each with a metric an alert reads,
    const std::string scrape = api.Scrape();
    CHECK(Sample(scrape, "provisioner_config_reload_failures_total") >= 1);
    CHECK(Sample(scrape, HealthSeries("templates_available", "unhealthy")) == 1);
    CHECK(Sample(scrape, HealthSeries("opentofu_available", "unhealthy")) == 1);
    CHECK(Sample(scrape, HealthSeries("config_loaded", "degraded")) == 1);
    // and a job fails with a clear error, not retried in a loop.
    nlohmann::json job = api.DeployAndWait("w");
    CHECK(job["result"] == "failed");
    CHECK_MESSAGE(job["error"].get<std::string>().find("template") != std::string::npos,
                  job.dump());
    CHECK(h.daemon().Running());

    // When everything is put back,
    WriteFileOrDie(h.config_path(), config);
    REQUIRE(::rename(h.root_.Join("templates.gone").c_str(), templates.c_str()) == 0);
    REQUIRE(::unlink(h.fake().tofu_path().c_str()) == 0);
    REQUIRE(::symlink(kFakeTofuBinary, h.fake().tofu_path().c_str()) == 0);
    // then the config is reloaded, every check recovers, and a job runs.
    CHECK(h.WaitLog({"config reloaded"}, seconds(20)));
    deep = api.WaitProbe(
        "/health/deep", [](const nlohmann::json& r) { return r["status"] == "healthy"; }, kDeepWait,
        &status);
    CHECK(deep["status"] == "healthy");
    CHECK(status == 200);
    CHECK(Logged(h, {"health check templates_available is healthy (was unhealthy)"}));
    CHECK(Logged(h, {"health check opentofu_available is healthy (was unhealthy)"}));
    CHECK(Sample(api.Scrape(), HealthSeries("opentofu_available", "healthy")) == 1);
    CHECK(api.DeployAndWait("w")["result"] == "succeeded");
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: faults: a misbehaving tofu: the limits hold and nothing leaks") {
    // Given a serving daemon that has run one ordinary job (so that every
    // thread and descriptor it keeps is there), and what /proc says of it,
    DaemonHarness h;
    WriteFaultConfig(h,
                     "  - {name: w, template: t}\n"
                     "  - {name: stuck, template: t, timeout: 3s}\n");
    h.Start();
    Api api(h.port());
    const pid_t pid = h.daemon().pid();
    REQUIRE(api.DeployAndWait("w")["result"] == "succeeded");
    ProcStats before;
    // (the HTTP worker of the last request may still be closing its socket)
    WaitUntil(
        [&] {
          ProcStats a = ReadProcStats(pid);
          ProcStats b = ReadProcStats(pid);
          before = b;
          return a.fds == b.fds && a.threads == b.threads;
        },
        seconds(5));
    MESSAGE("before: " << Describe(before));
    auto succeeded = [](const nlohmann::json& job) {
      return job["result"] == "succeeded" || job["result"] == "no_changes";
    };
    auto log_path = [&](const nlohmann::json& job) {
      return h.state_dir() + "/jobs/" + job["workspace"].get<std::string>() + "/" +
             job["id"].get<std::string>() + ".log";
    };
    auto run = [&](const std::string& control, const std::string& workspace = "w") {
      h.fake().WriteControl(control);
      ::unlink((h.fake().control_path() + ".counters").c_str());
      const auto t0 = std::chrono::steady_clock::now();
      nlohmann::json job = api.DeployAndWait(workspace, seconds(120));
      MESSAGE(
          control
          << ": " << job["result"] << " after "
          << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()
          << " ms; " << Describe(ReadProcStats(pid)));
      return job;
    };

    // When tofu floods stdout with 100 MB during its plan,
    nlohmann::json job = run(R"({"sequence": {"plan": [{"stdout_flood_bytes": 100000000}]}})");
    // then the job still succeeds, and its log took all it may (64 MiB).
    CHECK(succeeded(job));
    struct stat log_stat {};
    REQUIRE(::stat(log_path(job).c_str(), &log_stat) == 0);
    CHECK(log_stat.st_size > (int64_t{64} << 20));  // up to the job log's cap

    // When every step prints 1 MB lines of broken UTF-8 on stdout and stderr,
    job = run(R"({"long_line_bytes": 1048576})");
    CHECK(succeeded(job));
    // and when init then fails after its megabyte "Error:" line,
    job = run(R"({"long_line_bytes": 1048576, "fail_init": true})");
    // then the job failed with a short, valid error (GetJson parses strictly),
    CHECK(job["result"] == "failed");
    const std::string error = job["error"].get<std::string>();
    CHECK(error.size() <= 2048);
    CHECK(error.starts_with("\xef\xbf\xbd(EEEE"));
    CHECK(error.ends_with("bytes)"));
    // which the state and the history keep as they are.
    CHECK(h.ReadState().workspaces.at("w").last_job->error == error);
    CHECK(h.History("w").back().error == error);

    // When each step leaves a grandchild that ignores SIGINT and keeps the
    // pipes open, in tofu's process group,
    job = run(R"({"grandchild": "group", "grandchild_linger_seconds": 120})");
    // then the job ends with tofu (the group is killed), and none is left.
    CHECK(succeeded(job));
    std::vector<pid_t> grandchildren;
    for (const std::string& line : h.fake().LogLines()) {
      auto j = nlohmann::json::parse(line);
      if (j["event"] == "grandchild") grandchildren.push_back(j["pid"].get<pid_t>());
    }
    REQUIRE(grandchildren.size() >= 2);  // init and plan at least
    for (pid_t g : grandchildren) {
      CHECK_MESSAGE(WaitUntil([&] { return Exited(g); }, seconds(10)),
                    "grandchild " << g << " is still alive");
    }

    // When the grandchild escapes into a session of its own (setsid),
    job = run(R"({"sequence": {"plan": [{"grandchild": "setsid",
                                         "grandchild_linger_seconds": 120}]}})");
    // then the job still ends (the pipes are drained for at most a second
    // after tofu exits), and the grandchild, out of the group kill's reach
    // but reparented to the daemon (a child subreaper), is killed and reaped
    // once its step has exited.
    CHECK(succeeded(job));
    pid_t escaped = 0;
    for (const std::string& line : h.fake().LogLines()) {
      auto j = nlohmann::json::parse(line);
      if (j["event"] == "grandchild" && j["setsid"] == true) escaped = j["pid"].get<pid_t>();
    }
    REQUIRE(escaped > 0);
    CHECK_MESSAGE(WaitUntil([&] { return ::kill(escaped, 0) != 0 && errno == ESRCH; }, seconds(10)),
                  "the grandchild that called setsid " << escaped << " is still there");
    if (!Exited(escaped)) ::kill(escaped, SIGKILL);

    // When tofu never exits and ignores every signal,
    job = run(R"({"scenario": "hang"})", "stuck");
    // then the job times out through the ladder (SIGINT, kill_grace, SIGKILL),
    CHECK(job["result"] == "timeout");
    CHECK(job["error"] == "timed out after 3s during apply (killed after kill_grace)");
    // and no process of any job is left.
    CHECK(WaitUntil([&] { return ChildProcesses(pid).empty(); }, seconds(10)));

    // And the daemon has no more descriptors and threads than before (fewer
    // is no leak: an HTTP worker of the first requests may have been idle
    // long enough to end, with its connection, slow under the sanitizers),
    // and its memory did not keep the 100 MB.
    ProcStats after;
    const bool settled = WaitUntil(
        [&] {
          after = ReadProcStats(pid);
          return after.fds <= before.fds && after.threads <= before.threads;
        },
        seconds(10));
    MESSAGE("after: " << Describe(after));
    CHECK_MESSAGE(settled, "before: " << Describe(before) << "; after: " << Describe(after));
    // Under AddressSanitizer freed memory waits in its quarantine (up to
    // 256 MiB), so the resident set says nothing about a leak there; ASan's
    // own leak check at the daemon's exit covers that build.
    if (!kUnderAsan) CHECK(after.rss_kib - before.rss_kib < 48 * 1024);
    CHECK(h.Stop() == 0);
  }

  // A tofu (or a provider) that floods its output must not fill the state
  // filesystem, and with it every save of state.json: the job log stops at
  // 64 MiB of tofu output with one line that says so.
  TEST_CASE("integration: faults: a flooding tofu: the job log is capped") {
    DaemonHarness h;
    WriteFaultConfig(h, "  - {name: w, template: t}\n");
    h.fake().WriteControl(R"({"sequence": {"plan": [{"stdout_flood_bytes": 100000000}]}})");
    h.Start();
    Api api(h.port());
    nlohmann::json job = api.DeployAndWait("w", seconds(120));
    CHECK(job["result"] == "succeeded");
    const std::string log =
        ReadFileOrDie(h.state_dir() + "/jobs/w/" + job["id"].get<std::string>() + ".log");
    CHECK(log.size() <= (64u << 20) + 4096);
    CHECK(log.find("provisioner: job log truncated") != std::string::npos);
    // The job's own lines after the cap still tell how it ended.
    CHECK(log.find("# job succeeded") != std::string::npos);
    CHECK(h.Stop() == 0);
  }
}

}  // namespace
}  // namespace provisioner::testing
