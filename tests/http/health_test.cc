#include "http/health.h"

#include <sys/stat.h>

#include <thread>

#include "base/time_format.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "platform/posix_process_runner.h"
#include "support/fake_clock.h"
#include "support/fake_process_runner.h"
#include "support/test_util.h"

namespace provisioner::http {
namespace {

using testing::FakeClock;
using testing::FakeProcessRunner;
using testing::ScriptedProcess;
using testing::TempDir;

constexpr const char* kVersionJson =
    "{\n  \"terraform_version\": \"1.12.6\",\n  \"platform\": \"linux_amd64\",\n"
    "  \"provider_selections\": {}\n}";

struct Fixture {
  TempDir tmp;
  FakeClock clock;
  platform::PosixFileSystem fs;
  FakeProcessRunner runner{clock};
  std::shared_ptr<DaemonHealth> health = std::make_shared<DaemonHealth>();
  HealthChecker checker{HealthOptions{.version = "9.9.9"},
                        [this] { return std::shared_ptr<const DaemonHealth>(health); }, clock, fs,
                        runner};

  Fixture() {
    ::mkdir(tmp.Join("state").c_str(), 0755);
    ::mkdir(tmp.Join("templates").c_str(), 0755);
    ::mkdir(tmp.Join("templates/web").c_str(), 0755);
    testing::WriteFileOrDie(tmp.Join("tofu"), "#!/bin/sh\n");
    ::chmod(tmp.Join("tofu").c_str(), 0755);
    health->scheduler_running = true;
    health->last_tick = clock.Monotonic();
    health->config_path = "/etc/provisioner/config.yaml";
    health->state_dir = tmp.Join("state");
    health->templates_dir = tmp.Join("templates");
    health->templates = {"web"};
    health->tofu_binary = tmp.Join("tofu");
    runner.SetFinishImmediately(true);
    runner.OnPrefix(
        {tmp.Join("tofu"), "version", "-json"},
        {ScriptedProcess::Exits(0).Print(platform::OutputStream::kStdout, kVersionJson)});
  }
};

// "name=status" for every check of a reply, in order.
std::vector<std::string> Checks(const Response& r) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = r.body.find("{\"name\":\"", pos)) != std::string::npos) {
    size_t name_start = pos + 9;
    size_t name_end = r.body.find('"', name_start);
    size_t status = r.body.find("\"status\":\"", name_end) + 10;
    out.push_back(r.body.substr(name_start, name_end - name_start) + "=" +
                  r.body.substr(status, r.body.find('"', status) - status));
    pos = name_end;
  }
  return out;
}

TEST_SUITE("http") {
  TEST_CASE("http: /health, /ready and /health/deep report every check") {
    Fixture f;
    Response h = f.checker.Health();
    CHECK(h.status == 200);
    CHECK(h.body.starts_with("{\"status\":\"healthy\",\"checks\":["));
    CHECK(h.body.find("\"version\":\"9.9.9\"") != std::string::npos);
    CHECK(Checks(h) == std::vector<std::string>{"scheduler_running=healthy",
                                                "config_loaded=healthy", "state_loaded=healthy",
                                                "state_saved=healthy"});
    Response ready = f.checker.Ready();
    CHECK(ready.status == 200);
    CHECK(Checks(ready).back() == "dependencies_available=healthy");
    Response deep = f.checker.Deep();
    CHECK(deep.status == 200);
    CHECK(Checks(deep) ==
          std::vector<std::string>{
              "scheduler_running=healthy", "config_loaded=healthy", "state_loaded=healthy",
              "state_saved=healthy", "dependencies_available=healthy", "opentofu_available=healthy",
              "state_accessible=healthy", "templates_available=healthy", "disk_space=healthy",
              "reconcile_age=healthy", "tracing_exporter=healthy"});
    CHECK(deep.body.find("\"message\":\"OpenTofu 1.12.6\"") != std::string::npos);
  }

  TEST_CASE(
      "http: HA: the coordination check names the role and what is wrong, degraded at worst") {
    Fixture f;
    DaemonHealth::Coordination c;
    f.checker.SetCoordination([&c] { return c; });
    c.leader = false;
    c.term = 4;
    c.holder = "node-a";
    auto message = [&] {
      Response h = f.checker.Health();
      CHECK(h.status == 200);
      const size_t at = h.body.find("{\"name\":\"coordination\"");
      REQUIRE(at != std::string::npos);
      return h.body.substr(at, h.body.find('}', at) - at);
    };
    CHECK(message().find("\"status\":\"healthy\",\"message\":\"standby; the leader is node-a "
                         "(term 4)\"") != std::string::npos);
    c.config_differs = true;
    CHECK(message().find("\"degraded\"") != std::string::npos);
    CHECK(message().find("this node's workspace config differs from the leader's") !=
          std::string::npos);
    // A leader that holds workspaces another node defines otherwise.
    c = DaemonHealth::Coordination{};
    c.leader = true;
    c.term = 5;
    c.held_workspaces = {{"qa", "node-b"}, {"web", "node-c"}};
    const std::string held = message();
    CHECK(held.find("\"degraded\"") != std::string::npos);
    CHECK(held.find("leader, term 5; 2 workspace(s) defined otherwise on other nodes get no job "
                    "(qa on node node-b, ...)") != std::string::npos);
    c.held_workspaces.clear();
    CHECK(message().find("\"status\":\"healthy\",\"message\":\"leader, term 5\"") !=
          std::string::npos);
  }

  TEST_CASE("http: HA: /ready is 200 on a standby that can relay the API to a leader") {
    Fixture f;
    DaemonHealth::Coordination c;
    f.checker.SetCoordination([&c] { return c; });
    auto role = [&] {
      Response r = f.checker.Ready();
      const size_t at = r.body.find("{\"name\":\"serving_role\"");
      REQUIRE(at != std::string::npos);
      return std::to_string(r.status) + " " + r.body.substr(at, r.body.find('}', at) - at);
    };
    c.leader = true;
    CHECK(role().find("200 {\"name\":\"serving_role\",\"status\":\"healthy\",\"message\":"
                      "\"leader: serves the API\"") == 0);
    c.leader = false;
    c.holder = "node-a";
    CHECK(role().find("200 {\"name\":\"serving_role\",\"status\":\"healthy\",\"message\":"
                      "\"HA standby: relays the API to the leader node-a\"") == 0);
    c.reachable = false;
    c.error = "postgresql: cannot connect";
    CHECK(role().find("503 {\"name\":\"serving_role\",\"status\":\"unhealthy\",\"message\":"
                      "\"HA standby: cannot relay the API to the leader: the database is "
                      "unreachable (postgresql: cannot connect)\"") == 0);
    c.reachable = true;
    c.holder.clear();
    CHECK(role().find("\"HA standby: no leader seen yet to relay the API to\"") !=
          std::string::npos);
    CHECK(f.checker.Ready().status == 503);
  }

  TEST_CASE("http: a stuck scheduler makes /health unhealthy with 503") {
    Fixture f;
    f.clock.Advance(std::chrono::seconds(91));
    Response h = f.checker.Health();
    CHECK(h.status == 503);
    CHECK(h.body.starts_with("{\"status\":\"unhealthy\""));
    CHECK(h.body.find("no scheduler tick for 91 s (stuck?)") != std::string::npos);
    f.health->last_tick = f.clock.Monotonic();
    CHECK(f.checker.Health().status == 200);
    f.health->shutting_down = true;
    CHECK(f.checker.Health().status == 503);
  }

  TEST_CASE("http: a rejected reload or a recovered state is degraded, still 200") {
    Fixture f;
    f.health->last_reload_ok = false;
    f.health->last_reload_error = "config.yaml:3:5: workspaces[0].name: bad";
    Response h = f.checker.Health();
    CHECK(h.status == 200);
    CHECK(h.body.starts_with("{\"status\":\"degraded\""));
    CHECK(Checks(h)[1] == "config_loaded=degraded");
    CHECK(h.body.find("was rejected (config.yaml:3:5: workspaces[0].name: bad)") !=
          std::string::npos);
    f.health->last_reload_ok = true;
    f.health->state_warning = "recovered from state.json.bak at start-up";
    CHECK(Checks(f.checker.Health())[2] == "state_loaded=degraded");
  }

  TEST_CASE(
      "http: failing state saves make /health degraded, never unhealthy, until one succeeds") {
    // Given a daemon whose saves of state.json fail (a full disk), When
    // /health is probed, Then it is degraded with 200 (a restart would lose
    // the changes held in memory), says how many saves failed since when and
    // why; once a save succeeds it is healthy again and says when.
    Fixture f;
    CHECK(f.checker.Health().body.find("\"message\":\"no save of " + f.tmp.Join("state") +
                                       "/state.json yet\"") != std::string::npos);
    f.health->state_save_error = "ResourceExhausted: write state.json.tmp: No space left on device";
    f.health->state_save_failures = 3;
    f.health->state_save_failing_since = *ParseRfc3339("2026-11-24T10:00:00Z");
    Response h = f.checker.Health();
    CHECK(h.status == 200);
    CHECK(h.body.starts_with("{\"status\":\"degraded\""));
    CHECK(Checks(h)[3] == "state_saved=degraded");
    CHECK(h.body.find("3 save(s) of " + f.tmp.Join("state") +
                      "/state.json failed in a row since 2026-11-24T10:00:00Z: ResourceExhausted: "
                      "write state.json.tmp: No space left on device; the changes are kept in "
                      "memory") != std::string::npos);
    CHECK(f.checker.Deep().status == 200);  // the deep probe agrees: degraded at worst

    f.health->state_save_error.clear();
    f.health->state_save_failures = 0;
    f.health->last_state_save = *ParseRfc3339("2026-11-24T10:05:00Z");
    h = f.checker.Health();
    CHECK(h.body.starts_with("{\"status\":\"healthy\""));
    CHECK(h.body.find("state.json saved at 2026-11-24T10:05:00Z") != std::string::npos);
  }

  TEST_CASE("http: a deep check whose status changes is reported once per change") {
    // Given a checker with an on-change callback, When templates go missing
    // and come back across deep runs, Then the callback hears of each change
    // once (with the previous status), and nothing while the status holds.
    Fixture f;
    std::vector<std::string> changes;
    f.checker.SetOnChange([&](const HealthChecker::Check& c, const std::string& before) {
      changes.push_back(c.name + ": " + before + " -> " + c.status);
    });
    (void)f.checker.Deep();
    CHECK(changes.empty());  // a healthy first run says nothing
    REQUIRE(::rename(f.tmp.Join("templates/web").c_str(), f.tmp.Join("web.moved").c_str()) == 0);
    f.clock.Advance(std::chrono::seconds(31));
    f.health->last_tick = f.clock.Monotonic();
    (void)f.checker.Deep();
    (void)f.checker.Deep();  // cached: unchanged
    CHECK(changes == std::vector<std::string>{"templates_available: healthy -> unhealthy"});
    REQUIRE(::rename(f.tmp.Join("web.moved").c_str(), f.tmp.Join("templates/web").c_str()) == 0);
    f.clock.Advance(std::chrono::seconds(31));
    f.health->last_tick = f.clock.Monotonic();
    (void)f.checker.Deep();
    CHECK(changes == std::vector<std::string>{"templates_available: healthy -> unhealthy",
                                              "templates_available: unhealthy -> healthy"});

    // A first run that finds a problem reports it.
    Fixture g;
    g.health->tofu_binary = "";
    g.health->tofu_problem = "tofu: not found on PATH";
    std::vector<std::string> first;
    g.checker.SetOnChange([&](const HealthChecker::Check& c, const std::string& before) {
      first.push_back(c.name + ": '" + before + "' -> " + c.status + ": " + c.message);
    });
    (void)g.checker.Deep();
    CHECK(first == std::vector<std::string>{
                       "dependencies_available: '' -> unhealthy: no tofu binary: tofu: not found "
                       "on PATH",
                       "opentofu_available: '' -> unhealthy: no tofu binary: tofu: not found on "
                       "PATH"});
  }

  TEST_CASE("http: deep checks find a missing tofu, a failing tofu and missing templates") {
    Fixture f;
    f.health->templates = {"web", "gone"};
    f.runner.OnPrefix({f.tmp.Join("tofu"), "version", "-json"}, {ScriptedProcess::Exits(1)});
    Response deep = f.checker.Deep();
    CHECK(deep.status == 503);
    auto checks = Checks(deep);
    CHECK(checks[5] == "opentofu_available=unhealthy");
    CHECK(checks[7] == "templates_available=unhealthy");
    CHECK(deep.body.find("missing in " + f.tmp.Join("templates") + ": gone") != std::string::npos);

    Fixture g;
    g.health->tofu_binary = "";
    g.health->tofu_problem = "tofu: not found on PATH (/usr/bin)";
    Response ready = g.checker.Ready();
    CHECK(ready.status == 503);
    CHECK(ready.body.find("no tofu binary: tofu: not found on PATH (/usr/bin)") !=
          std::string::npos);
  }

  TEST_CASE("http: a broken tofu binary: each way it breaks is told apart, with the real runner") {
    // Given tofu replaced by a file that is not executable, one that is not a
    // program, one that fails, one that prints junk and one that hangs, When
    // the deep checks run it (`tofu version -json`, a real child process),
    // Then opentofu_available is unhealthy with a message that says which.
    struct Case {
      const char* name;
      std::string content;
      mode_t mode;
      const char* dependencies;  // the status of dependencies_available
      const char* message;       // part of opentofu_available's message
    };
    const Case cases[] = {
        {"not executable", "#!/bin/sh\nexit 0\n", 0644, "unhealthy", "permission denied"},
        {"not a program", std::string("\x01\x02\x03 not a program\n", 18), 0755, "healthy",
         "exec format error"},
        {"fails", "#!/bin/sh\necho >&2; echo '  broken build' >&2\nexit 1\n", 0755, "healthy",
         "tofu version -json failed (exit 1): broken build\""},
        {"prints junk", "#!/bin/sh\necho '{not json'\n", 0755, "healthy",
         "tofu version -json failed (exit 0)"},
        {"hangs", "#!/bin/sh\nexec sleep 60\n", 0755, "healthy", "tofu version -json timed out"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.name);
      TempDir tmp;
      platform::PosixClock clock;
      platform::PosixFileSystem fs;
      platform::PosixProcessRunner runner(clock);
      auto health = std::make_shared<DaemonHealth>();
      ::mkdir(tmp.Join("state").c_str(), 0755);
      health->scheduler_running = true;
      health->last_tick = clock.Monotonic();
      health->state_dir = tmp.Join("state");
      health->templates_dir = tmp.Join("templates");
      health->tofu_binary = tmp.Join("tofu");
      health->tofu_env = {{"PATH", "/usr/bin:/bin"}};
      testing::WriteFileOrDie(health->tofu_binary, c.content);
      REQUIRE(::chmod(health->tofu_binary.c_str(), c.mode) == 0);
      HealthChecker checker(
          HealthOptions{.version = "9.9.9", .tofu_timeout = std::chrono::seconds(1)},
          [&] { return std::shared_ptr<const DaemonHealth>(health); }, clock, fs, runner);
      Response deep = checker.Deep();
      CHECK(deep.status == 503);
      auto checks = Checks(deep);
      CHECK(checks[4] == std::string("dependencies_available=") + c.dependencies);
      CHECK(checks[5] == "opentofu_available=unhealthy");
      CHECK_MESSAGE(deep.body.find(c.message) != std::string::npos, deep.body);
      CHECK(runner.running() == 0);
    }
  }

  TEST_CASE("http: the refresh runs the deep checks without a probe, and stops at once") {
    // Given a checker whose tofu is missing, When the refresh starts with a
    // long period, Then the deep checks run without any probe and LastDeep
    // says so; StopRefresh returns at once, long before the period ends; a
    // later probe updates LastDeep too.
    Fixture f;
    f.health->tofu_binary = "";
    f.health->tofu_problem = "tofu: not found on PATH";
    CHECK(f.checker.LastDeep().empty());
    f.checker.StartRefresh(std::chrono::hours(1));
    // Another thread runs it: wait for its result, with a deadline.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (f.checker.LastDeep().empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE_FALSE(f.checker.LastDeep().empty());
    const auto t0 = std::chrono::steady_clock::now();
    f.checker.StopRefresh();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    std::map<std::string, std::string> last = f.checker.LastDeep();
    CHECK(last["opentofu_available"] == "unhealthy");
    CHECK(last["scheduler_running"] == "healthy");
    CHECK(last.size() == 11);

    f.health->tofu_binary = f.tmp.Join("tofu");
    f.clock.Advance(std::chrono::seconds(31));  // past the deep cache
    (void)f.checker.Deep();
    CHECK(f.checker.LastDeep()["opentofu_available"] == "healthy");
  }

  TEST_CASE("http: deep results are cached, so a probe storm runs tofu once") {
    Fixture f;
    for (int i = 0; i < 5; ++i) f.checker.Deep();
    CHECK(f.runner.started().size() == 1);
    f.clock.Advance(std::chrono::seconds(31));
    f.health->last_tick = f.clock.Monotonic();
    f.checker.Deep();
    CHECK(f.runner.started().size() == 2);
    CHECK(f.runner.started()[0].spec.timeout == std::chrono::seconds(10));
  }

  TEST_CASE("http: probes at once share one run of each check") {
    // Given a /health/deep probe whose `tofu version -json` is still running,
    // When a second probe comes (an orchestrator, a blackbox exporter, the
    // daemon's own refresh), Then it waits for the first one's result instead
    // of running the check again: two runs of state_accessible at once would
    // remove each other's probe file and report unhealthy.
    Fixture f;
    f.runner.SetFinishImmediately(false);
    int first = 0;
    int second = 0;
    std::thread a([&] { first = f.checker.Deep().status; });
    REQUIRE(testing::WaitUntil([&] { return f.runner.started().size() == 1; },
                               std::chrono::seconds(10)));
    std::thread b([&] { second = f.checker.Deep().status; });
    const bool waited =
        testing::WaitUntil([&] { return f.checker.TEST_Waiting() == 1; }, std::chrono::seconds(10));
    f.runner.SetFinishImmediately(true);
    f.runner.FinishAll();
    a.join();
    b.join();
    CHECK(waited);
    CHECK(f.runner.started().size() == 1);
    CHECK(first == 200);
    CHECK(second == 200);
    CHECK(f.checker.LastDeep()["opentofu_available"] == "healthy");
    CHECK(f.checker.LastDeep()["state_accessible"] == "healthy");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::http
