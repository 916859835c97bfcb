// The real `provisioner serve` with the fake tofu: fires at their time,
// crashes, downtime, graceful stops, live config edits, systemd notify.
#include <nlohmann/json.hpp>

#include "integration/daemon_harness.h"
#include "platform/process_stats.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

TEST_SUITE("integration") {
  TEST_CASE(
      "integration: a workspace deploys at its deploy fire and is destroyed at its destroy fire") {
    // Given a workspace whose deploy fires 2 s from now and destroy 4 s from now,
    DaemonHarness h;
    SystemTime deploy = WholeSecondsFromNow(2);
    SystemTime destroy = deploy + seconds(2);
    h.WriteConfig("  - {name: w, template: t, schedule: {deploy: \"" + OneShot(deploy) +
                  "\", destroy: \"" + OneShot(destroy) + "\"}}\n");
    // when the daemon runs through both fires,
    h.Start();
    REQUIRE(h.WaitLog({"job finished", "operation=deploy", "trigger=schedule"}, seconds(20)));
    REQUIRE(h.WaitLog({"job finished", "operation=destroy", "trigger=schedule"}, seconds(20)));
    CHECK(h.Stop() == 0);
    // then both jobs are in the history with their triggers and change counts
    // (the first one converged to last year's fires at start-up).
    auto history = h.History("w");
    CHECK(h.HistorySummary("w") == std::vector<std::string>{"destroy catch_up succeeded",
                                                            "deploy schedule succeeded",
                                                            "destroy schedule succeeded"});
    REQUIRE(history.size() == 3);
    CHECK(history[1].scheduled_for == deploy);
    CHECK(history[1].changes == state::Changes{2, 0, 0});
    CHECK(history[2].scheduled_for == destroy);
    CHECK(history[2].changes == state::Changes{0, 0, 2});
    CHECK(*history[1].started_at >= deploy);
    CHECK(h.ReadState().workspaces.at("w").actual == state::Actual::kDestroyed);
  }

  TEST_CASE("integration: kill -9 during an apply, then a restart: interrupted, reconciled once") {
    DaemonHarness h;
    // The first apply (start-up catch-up) is quick; the scheduled one is slow.
    h.fake().WriteControl(R"({"time_scale": 0.5, "sequence": {
      "plan": ["changes", "drift"],
      "apply": [{}, {"scenario": "drift", "slow_seconds": 8}]}})");
    SystemTime deploy = WholeSecondsFromNow(3);
    h.WriteConfig("  - {name: w, template: t, schedule: {deploy: \"" + OneShot(deploy) + "\"}}\n");
    h.Start();
    REQUIRE(h.WaitLog({"job started", "operation=deploy", "trigger=schedule"}, seconds(20)));
    REQUIRE(WaitUntil([&] { return h.FakeStarts("apply") == 2; }, std::chrono::seconds(20)));
    h.daemon().Signal(SIGKILL);
    h.daemon().Wait(seconds(10));
    CHECK(h.ReadState().workspaces.at("w").running.has_value());

    h.Start();
    REQUIRE(h.WaitLog({"job finished", "operation=deploy", "trigger=catch_up"}, seconds(30)));
    CHECK(h.Stop() == 0);
    CHECK(h.HistorySummary("w") == std::vector<std::string>{"deploy catch_up succeeded",
                                                            "deploy schedule interrupted",
                                                            "deploy catch_up succeeded"});
    CHECK_FALSE(h.ReadState().workspaces.at("w").running.has_value());
  }

  TEST_CASE("integration: a tofu that outlived a kill -9 is stopped before its workspace runs") {
    // Given a scheduled apply that hangs, deaf to SIGINT and silent (so that
    // no write to its dead pipe ends it),
    DaemonHarness h;
    h.fake().WriteControl(R"({"time_scale": 0.5, "sequence": {
      "plan": ["changes", "drift"],
      "apply": [{}, {"scenario": "drift", "ignore_signals": true, "slow_seconds": 3600,
                     "heartbeat_seconds": 3600},
                {"scenario": "drift"}]}})");
    SystemTime deploy = WholeSecondsFromNow(3);
    h.WriteConfig("  - {name: w, template: t, schedule: {deploy: \"" + OneShot(deploy) + "\"}}\n");
    h.Start();
    REQUIRE(WaitUntil([&] { return h.FakeStarts("apply") == 2; }, seconds(20)));
    int64_t pid = 0;
    for (const std::string& line : h.fake().LogLines()) {
      const nlohmann::json record = nlohmann::json::parse(line);
      if (record["event"] == "start" && record["command"] == "apply") pid = record["pid"];
    }
    REQUIRE(pid > 0);
    const auto started = platform::ReadProcStat(pid);
    REQUIRE_OK(started);
    // Should the test fail, the hang must not outlive it.
    struct KillOnExit {
      int64_t pid;
      uint64_t ticks;
      ~KillOnExit() {
        auto now = platform::ReadProcStat(pid);
        if (now.ok() && now->starttime_ticks == ticks) ::kill(static_cast<pid_t>(pid), SIGKILL);
      }
    } cleanup{pid, started->starttime_ticks};
    // A step's pid reaches state.json with the save at the end of the tick
    // that started it, a moment after the fake's journal says it started
    // (docs/operations.md, "A tofu that outlives its daemon").
    REQUIRE(WaitUntil(
        [&] {
          const auto running = h.ReadState().workspaces.at("w").running;
          return running && running->process && running->process->pid == pid;
        },
        seconds(10)));
    // when the daemon is killed and started again,
    h.daemon().Signal(SIGKILL);
    h.daemon().Wait(seconds(10));
    auto alive = [&] {
      auto stat = platform::ReadProcStat(pid);
      return stat.ok() && stat->state != 'Z';
    };
    REQUIRE(alive());  // nothing ties it to the daemon
    const auto recorded = h.ReadState().workspaces.at("w").running;
    REQUIRE(recorded.has_value());
    REQUIRE(recorded->process.has_value());
    CHECK(recorded->process->pid == pid);
    h.Start();

    // then the next apply in that directory starts only once the leftover is
    // gone (SIGINT, then SIGKILL to its group after kill_grace), never
    // alongside it.
    REQUIRE(WaitUntil([&] { return h.FakeStarts("apply") == 3; }, seconds(30)));
    CHECK_FALSE(alive());
    CHECK(h.LogHas({"still running", "sent SIGINT", "workspace=w"}));
    REQUIRE(h.WaitLog({"job finished", "operation=deploy", "trigger=catch_up"}, seconds(30)));
    CHECK(h.LogHas({"outlived kill_grace", "sent SIGKILL to its group", "workspace=w"}));
    CHECK(h.Stop() == 0);
    CHECK(h.HistorySummary("w") == std::vector<std::string>{"deploy catch_up succeeded",
                                                            "deploy schedule interrupted",
                                                            "deploy catch_up succeeded"});
  }

  TEST_CASE(
      "integration: downtime across a destroy: one catch-up destroy, or none without catch_up") {
    for (bool catch_up : {true, false}) {
      CAPTURE(catch_up);
      // Given a deployed workspace whose daemon went down before a destroy fire
      // that has passed since,
      DaemonHarness h;
      SystemTime deploy = WholeSecondsFromNow(-60);
      SystemTime destroy = WholeSecondsFromNow(-30);
      h.WriteConfig("  - {name: w, template: t, schedule: {deploy: \"" + OneShot(deploy) +
                        "\", destroy: \"" + OneShot(destroy) + "\"}}\n",
                    catch_up ? "" : ", catch_up: false");
      state::State s;
      s.last_seen = deploy + seconds(15);
      s.workspaces["w"].actual = state::Actual::kDeployed;
      s.workspaces["w"].last_fire = deploy;
      REQUIRE(::mkdir(h.state_dir().c_str(), 0755) == 0);
      WriteFileOrDie(h.state_dir() + "/state.json", state::StateToJson(s));
      // when it comes back,
      h.Start();
      if (catch_up) {
        // then the destroy runs once, as a catch-up;
        REQUIRE(h.WaitLog({"job finished", "operation=destroy", "trigger=catch_up"}, seconds(20)));
        CHECK(h.Stop() == 0);
        CHECK(h.HistorySummary("w") == std::vector<std::string>{"destroy catch_up succeeded"});
      } else {
        // or, without catch_up, it is reported missed (by the first tick, before
        // the start-up line) and nothing runs.
        CHECK(h.Stop() == 0);
        CHECK(h.LogHas({"destroy fire due", "missed", "workspace=w"}));
        CHECK(h.HistorySummary("w").empty());
        CHECK(h.ReadState().workspaces.at("w").actual == state::Actual::kDeployed);
      }
    }
  }

  TEST_CASE("integration: SIGTERM during a slow apply stops tofu gracefully and exits 0") {
    DaemonHarness h;
    // Three resources of 1 s each: a signal lands while one is in flight.
    h.fake().WriteControl(R"({"resources": 3, "apply_seconds": 2, "time_scale": 0.5})");
    h.WriteConfig("  - {name: w, template: t, schedule: {deploy: \"0 0 1 1 *\"}}\n");
    h.Start();  // converges to the New Year deploy: a deploy starts at once
    REQUIRE(WaitUntil([&] { return h.FakeStarts("apply") == 1; }, seconds(20)));
    CHECK(h.Stop() == 0);
    // The fake saw SIGINT (not SIGKILL), finished the resource in flight, and
    // exited on its own.
    bool saw_sigint = false;
    for (const std::string& line : h.fake().LogLines()) {
      if (line.find("\"event\":\"exit\"") != std::string::npos &&
          line.find("\"command\":\"apply\"") != std::string::npos) {
        saw_sigint = line.find("\"signals\":[\"SIGINT\"]") != std::string::npos;
      }
    }
    CHECK(saw_sigint);
    state::State s = h.ReadState();
    CHECK_FALSE(s.workspaces.at("w").running.has_value());
    REQUIRE(s.workspaces.at("w").last_job.has_value());
    CHECK(*s.workspaces.at("w").last_job->result == state::JobResult::kInterrupted);
    CHECK(h.HistorySummary("w") == std::vector<std::string>{"deploy catch_up interrupted"});
  }

  TEST_CASE(
      "integration: config edits add, change and remove workspaces, and a broken edit is "
      "rejected") {
    DaemonHarness h;
    h.WriteConfig(
        "  - {name: a, template: t}\n"
        "  - {name: b, template: t}\n");
    h.Start();
    // An atomic rename, as Ansible does it.
    h.WriteConfig(
        "  - {name: a, template: t, schedule: {deploy: \"0 8 * * *\"}}\n"
        "  - {name: c, template: t}\n",
        "", /*atomic_rename=*/true);
    REQUIRE(
        h.WaitLog({"config reloaded: 1 added (c); 1 removed (b); 1 changed (a: schedule.deploy)"},
                  seconds(20)));
    // A broken edit, in place.
    h.WriteConfig("  - {name: a, template: missing-template}\n");
    REQUIRE(h.WaitLog({"config reload rejected with 1 error(s); still running the previous config"},
                      seconds(20)));
    CHECK(h.daemon().Running());
    // SIGHUP with a fixed file reloads again.
    h.WriteConfig(
        "  - {name: a, template: t}\n"
        "  - {name: c, template: t}\n");
    REQUIRE(h.WaitLog({"config reloaded", "1 changed (a: schedule.deploy)"}, seconds(20)));
    CHECK(h.Stop() == 0);
    state::State s = h.ReadState();
    CHECK(s.workspaces.at("b").orphaned);
    CHECK_FALSE(s.workspaces.at("c").orphaned);
  }

  TEST_CASE("integration: systemd notify: READY, RELOADING, WATCHDOG and STOPPING") {
    DaemonHarness h;
    NotifySocket notify;
    h.WriteConfig("  - {name: a, template: t}\n");
    h.Start({{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "1000000"}});
    std::vector<std::string> seen;
    std::string ready = notify.ReceiveUntil("READY=1", seconds(10), &seen);
    CHECK(ready.starts_with("READY=1\nSTATUS=1 workspaces"));
    CHECK_FALSE(notify.ReceiveUntil("WATCHDOG=1", seconds(5), &seen).empty());
    h.daemon().Signal(SIGHUP);
    std::string reloading = notify.ReceiveUntil("RELOADING=1", seconds(10), &seen);
    CHECK(reloading.find("MONOTONIC_USEC=") != std::string::npos);
    CHECK_FALSE(notify.ReceiveUntil("READY=1", seconds(10), &seen).empty());
    h.daemon().Signal(SIGTERM);
    CHECK(notify.ReceiveUntil("STOPPING=1", seconds(10), &seen).starts_with("STOPPING=1"));
    ProcessResult r = h.daemon().Wait(seconds(20));
    CHECK(r.exit_code == 0);
  }

  TEST_CASE("integration: serve fails fast on a bad config or an unusable state dir") {
    DaemonHarness h;
    h.WriteConfig("  - {name: Bad_Name, template: t}\n");
    ProcessResult bad = RunProcess({PROVISIONER_BINARY, "serve", "--config", h.config_path()},
                                   h.fake().Env(), h.root_.path());
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("workspaces[0].name: \"Bad_Name\" is not a valid name") !=
          std::string::npos);

    h.WriteConfig("  - {name: a, template: t}\n");
    WriteFileOrDie(h.state_dir(), "a file where the state dir should be");
    ProcessResult unusable = RunProcess({PROVISIONER_BINARY, "serve", "--config", h.config_path()},
                                        h.fake().Env(), h.root_.path());
    CHECK(unusable.exit_code == 1);
    CHECK(unusable.err.find("state.dir " + h.state_dir() + " is not usable") != std::string::npos);
    REQUIRE(::unlink(h.state_dir().c_str()) == 0);

    ProcessResult missing =
        RunProcess({PROVISIONER_BINARY, "serve", "--config", "/nonexistent.yaml"}, h.fake().Env(),
                   h.root_.path());
    CHECK(missing.exit_code == 2);
    CHECK(missing.err ==
          "provisioner: cannot read config: open /nonexistent.yaml: No such file or directory\n");

    // A second daemon on the same state dir refuses to start.
    h.Start();
    ProcessResult second = RunProcess({PROVISIONER_BINARY, "serve", "--config", h.config_path()},
                                      h.fake().Env(), h.root_.path());
    CHECK(second.exit_code == 1);
    CHECK(second.err.find("another provisioner daemon is using") != std::string::npos);
    CHECK(h.Stop() == 0);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
