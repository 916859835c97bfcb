// The daemon's shutdown against the real binary: SIGTERM while a job runs,
// another waits in the queue, and a client follows the queued one. The
// sequence and its deadline are in docs/operations.md ("Stop").
#include <httplib.h>

#include "integration/daemon_harness.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

// The harness's config with one job at a time; kill_grace 5 s.
void WriteOneJobConfig(DaemonHarness& h, const std::string& workspaces) {
  WriteFileOrDie(h.config_path(),
                 "server: {listen: \"127.0.0.1:0\"}\n"
                 "scheduler: {timezone: UTC, max_concurrent_jobs: 1, kill_grace: 5s}\n"
                 "opentofu: {lock_timeout: 20s, plugin_cache_dir: cache, "
                 "pass_env: [\"FAKE_TOFU_*\"]}\n"
                 "state: {dir: state}\n"
                 "logging: {level: debug, format: text}\n"
                 "templates_dir: templates\n"
                 "workspaces:\n" +
                     workspaces);
}

// The value of an unlabelled series in a scrape, or -1.
double Sample(const std::string& scrape, const std::string& name) {
  for (std::string_view line : Split(scrape, '\n')) {
    if (line.starts_with(name + " ")) return std::stod(std::string(line.substr(name.size() + 1)));
  }
  return -1;
}

TEST_SUITE("integration") {
  TEST_CASE("integration: SIGTERM while a client follows a queued job ends in seconds, saved") {
    // Given one job slot, `a` in a slow apply and `b` queued behind it,
    DaemonHarness h;
    h.fake().WriteControl(R"({"resources": 2, "apply_seconds": 120})");
    WriteOneJobConfig(h,
                      "  - {name: a, template: t, schedule: {deploy: \"0 0 1 1 *\"}}\n"
                      "  - {name: b, template: t, schedule: {deploy: \"0 0 1 1 *\"}}\n");
    h.Start();
    REQUIRE(WaitUntil([&] { return h.FakeStarts("apply") == 1; }, seconds(20)));
    httplib::Client client("127.0.0.1", h.port());
    auto b = client.Get("/api/v1/workspaces/b");
    REQUIRE(b);
    REQUIRE_MESSAGE(b->body.find("\"status\":\"pending\"") != std::string::npos, b->body);

    // and `provisioner deploy b --wait` following b's log,
    auto cli = Subprocess::Start(
        {PROVISIONER_BINARY, "deploy", "b", "--wait", "--server", h.url()}, h.fake().Env(),
        h.root_.path());
    REQUIRE(cli->WaitForOutput("queued as job", seconds(20), /*on_stderr=*/false, 0));
    // (the scrape itself is one request in flight; the follower is the other)
    REQUIRE(WaitUntil(
        [&] {
          auto m = client.Get("/metrics");
          return m && Sample(m->body, "http_requests_in_flight") >= 2;
        },
        seconds(20)));

    // when the daemon gets SIGTERM,
    h.daemon().Signal(SIGTERM);
    // then it exits 0 well within kill_grace (5 s) plus the drain margin,
    ProcessResult daemon = h.daemon().Wait(seconds(40));
    REQUIRE_FALSE(daemon.timed_out);
    CHECK(daemon.exit_code == 0);
    CHECK(h.LogHas({"stopped; state saved"}));

    // the follower was told why its job ended, and exits non-zero,
    ProcessResult follower = cli->Wait(seconds(20));
    REQUIRE_FALSE(follower.timed_out);
    CHECK(follower.exit_code == 1);
    CHECK_MESSAGE(follower.err.find("the daemon is shutting down") != std::string::npos,
                  follower.out << follower.err);

    // and the state says what happened: a interrupted, b cancelled before it
    // started, nothing running.
    state::State s = h.ReadState();
    CHECK_FALSE(s.workspaces.at("a").running.has_value());
    CHECK_FALSE(s.workspaces.at("b").running.has_value());
    CHECK(h.HistorySummary("a") == std::vector<std::string>{"deploy catch_up interrupted"});
    REQUIRE(h.History("b").size() == 1);
    CHECK(*h.History("b")[0].result == state::JobResult::kCancelled);
    CHECK(h.History("b")[0].error.find("the daemon is shutting down") != std::string::npos);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
