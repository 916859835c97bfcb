#include "support/fake_process_runner.h"

#include <csignal>
#include <thread>

#include "support/fake_clock.h"
#include "support/test_util.h"

namespace provisioner::testing {
namespace {

using platform::FinishedProcess;
using platform::OutputStream;
using platform::ProcessSpec;
using platform::RunHandle;
using platform::StopReason;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Argv = std::vector<std::string>;

ProcessSpec Spec(Argv argv) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.kill_grace = seconds(120);
  return spec;
}

TEST_SUITE("platform") {
  TEST_CASE("platform: FakeProcessRunner picks the outcome by argv") {
    // Given a table: an exact argv, two nested prefixes, a matcher, a default
    FakeClock clock;
    FakeProcessRunner runner(clock);
    runner.SetFinishImmediately(true);
    runner.OnArgv({"tofu", "version"}, {ScriptedProcess::Exits(10)});
    runner.OnPrefix({"tofu"}, {ScriptedProcess::Exits(11)});
    runner.OnPrefix({"tofu", "plan"}, {ScriptedProcess::Exits(12)});
    runner.OnMatch("in /srv", [](const ProcessSpec& s) { return s.working_dir == "/srv"; },
                   {ScriptedProcess::Exits(13)});
    runner.SetDefault(ScriptedProcess::Exits(14));

    struct Case {
      Argv argv;
      std::string working_dir;
      int expected;
    };
    const std::vector<Case> cases = {
        {{"tofu", "version"}, "", 10},           // exact beats prefixes
        {{"tofu", "version", "-json"}, "", 11},  // not exact: prefix "tofu"
        {{"tofu", "plan", "-out=p"}, "", 12},    // the longest prefix wins
        {{"tofu", "apply"}, "/srv", 11},         // prefixes beat matchers
        {{"git", "fetch"}, "/srv", 13},          // matcher
        {{"git", "fetch"}, "", 14},              // default
    };
    for (const Case& c : cases) {
      CAPTURE(c.argv[0]);
      CAPTURE(c.expected);
      ProcessSpec spec = Spec(c.argv);
      spec.working_dir = c.working_dir;
      auto handle = runner.Start(spec);
      REQUIRE_OK(handle);
      std::vector<FinishedProcess> done = runner.Reap();
      REQUIRE(done.size() == 1);
      CHECK(done[0].handle == *handle);
      CHECK(done[0].exit_code == c.expected);
    }
    std::vector<Argv> expected_argv;
    for (const Case& c : cases) expected_argv.push_back(c.argv);
    CHECK(runner.started_argv() == expected_argv);
  }

  TEST_CASE(
      "platform: FakeProcessRunner plays a sequence, and the last outcome "
      "repeats") {
    // Given "init fails to start once, then apply fails, then succeeds"
    FakeClock clock;
    FakeProcessRunner runner(clock);
    runner.SetFinishImmediately(true);
    runner.OnPrefix({"tofu", "init"}, {ScriptedProcess::FailsToStart(Status::NotFound("tofu")),
                                       ScriptedProcess::Exits(0)});
    runner.OnPrefix({"tofu", "apply"}, {ScriptedProcess::Exits(1), ScriptedProcess::Exits(0)});

    CHECK(runner.Start(Spec({"tofu", "init"})).status().IsNotFound());
    CHECK_OK(runner.Start(Spec({"tofu", "init"})));
    std::vector<int> codes;
    for (int i = 0; i < 3; ++i) {
      REQUIRE_OK(runner.Start(Spec({"tofu", "apply"})));
      codes.push_back(runner.Reap().back().exit_code);
    }
    CHECK(codes == std::vector<int>{1, 0, 0});
    // The failed start is not among the started processes
    REQUIRE(runner.rejected().size() == 1);
    CHECK(runner.rejected()[0].argv == Argv{"tofu", "init"});
    CHECK(runner.started().size() == 4);
  }

  TEST_CASE("platform: FakeProcessRunner delivers scripted output") {
    FakeClock clock;
    FakeProcessRunner runner(clock);
    runner.OnArgv({"tofu", "plan"},
                  {ScriptedProcess::Exits(2)
                       .Print(OutputStream::kStdout, R"({"type":"version"})")
                       .Print(OutputStream::kStderr, "warning")
                       .Print(OutputStream::kStdout, R"({"type":"change_summary"})")});
    std::vector<std::pair<OutputStream, std::string>> lines;
    ProcessSpec spec = Spec({"tofu", "plan"});
    spec.on_line = [&](OutputStream s, std::string_view line) {
      lines.emplace_back(s, std::string(line));
    };
    spec.max_output_bytes = 20;
    auto handle = runner.Start(spec);
    REQUIRE_OK(handle);
    // Lines arrive during Start, in order
    CHECK(lines == std::vector<std::pair<OutputStream, std::string>>{
                       {OutputStream::kStdout, R"({"type":"version"})"},
                       {OutputStream::kStderr, "warning"},
                       {OutputStream::kStdout, R"({"type":"change_summary"})"}});
    REQUIRE(runner.Finish(*handle));
    std::vector<FinishedProcess> done = runner.Reap();
    REQUIRE(done.size() == 1);
    CHECK(done[0].exit_code == 2);
    // And the tails are capped like the real runner's
    CHECK(done[0].stdout_data == R"(":"change_summary"})"
                                 "\n");  // last 20 bytes
    CHECK(done[0].stderr_data == "warning\n");
    CHECK(done[0].output_truncated);
  }

  TEST_CASE("platform: FakeProcessRunner runs until the test finishes it") {
    // Given two started processes and a finish callback
    FakeClock clock;
    FakeProcessRunner runner(clock);
    runner.OnArgv({"b"}, {ScriptedProcess::KilledBy(SIGSEGV)});
    int notified = 0;
    runner.SetOnFinished([&] { ++notified; });
    RunHandle a = *runner.Start(Spec({"a"}));
    clock.Advance(seconds(5));
    RunHandle b = *runner.Start(Spec({"b"}));
    CHECK(runner.running() == 2);
    CHECK(runner.Reap().empty());
    // When the test finishes them in the opposite order
    clock.Advance(seconds(7));
    CHECK(runner.Finish(b));
    CHECK(runner.Finish(a, ScriptedExit{3, 0}));
    CHECK_FALSE(runner.Finish(a));
    // Then Reap returns them in finishing order, with the clock's timestamps
    std::vector<FinishedProcess> done = runner.Reap();
    REQUIRE(done.size() == 2);
    CHECK(done[0].handle == b);
    CHECK(done[0].exit_code == -1);
    CHECK(done[0].term_signal == SIGSEGV);
    CHECK(done[1].handle == a);
    CHECK(done[1].exit_code == 3);
    CHECK(done[1].finished - done[1].started == seconds(12));
    CHECK(done[0].finished - done[0].started == seconds(7));
    CHECK(notified == 2);
    CHECK(runner.running() == 0);
  }

  TEST_CASE("platform: FakeProcessRunner Stop follows the script") {
    FakeClock clock;
    FakeProcessRunner runner(clock);
    runner.OnArgv({"hangs"}, {ScriptedProcess::Exits(0).IgnoresInterrupt()});

    SUBCASE("tofu's answer to SIGINT: exit 1 at once") {
      RunHandle h = *runner.Start(Spec({"tofu", "apply"}));
      runner.Stop(h, StopReason::kCancelled);
      runner.Stop(h, StopReason::kShutdown);  // recorded, changes nothing
      std::vector<FinishedProcess> done = runner.Reap();
      REQUIRE(done.size() == 1);
      CHECK(done[0].exit_code == 1);
      CHECK(done[0].stop_reason == StopReason::kCancelled);
      CHECK_FALSE(done[0].killed);
      REQUIRE(runner.stops().size() == 2);
      CHECK(runner.stops()[0].reason == StopReason::kCancelled);
      CHECK(runner.stops()[1].reason == StopReason::kShutdown);
    }
    SUBCASE("a process that ignores SIGINT is killed after kill_grace") {
      ProcessSpec spec = Spec({"hangs"});
      spec.kill_grace = seconds(30);
      RunHandle h = *runner.Start(spec);
      runner.Stop(h, StopReason::kShutdown);
      clock.Advance(seconds(30) - milliseconds(1));
      CHECK(runner.Reap().empty());
      clock.Advance(milliseconds(1));
      std::vector<FinishedProcess> done = runner.Reap();
      REQUIRE(done.size() == 1);
      CHECK(done[0].killed);
      CHECK(done[0].term_signal == SIGKILL);
      CHECK(done[0].stop_reason == StopReason::kShutdown);
    }
    SUBCASE("StopAll records one call per running process") {
      RunHandle a = *runner.Start(Spec({"x"}));
      RunHandle b = *runner.Start(Spec({"hangs"}));
      runner.StopAll(StopReason::kShutdown);
      REQUIRE(runner.stops().size() == 2);
      CHECK(runner.stops()[0].handle == a);
      CHECK(runner.stops()[1].handle == b);
      CHECK(runner.running_handles() == std::vector<RunHandle>{b});
    }
  }

  TEST_CASE("platform: FakeProcessRunner timeout follows the clock") {
    FakeClock clock;
    FakeProcessRunner runner(clock);
    ProcessSpec spec = Spec({"tofu", "apply"});
    spec.timeout = seconds(600);
    RunHandle h = *runner.Start(spec);
    clock.Advance(seconds(599));
    CHECK(runner.Reap().empty());
    clock.Advance(seconds(1));
    std::vector<FinishedProcess> done = runner.Reap();
    REQUIRE(done.size() == 1);
    CHECK(done[0].handle == h);
    CHECK(done[0].stop_reason == StopReason::kTimeout);
    CHECK(done[0].exit_code == 1);
    CHECK(runner.stops().empty());  // no Stop() call was made
  }

  TEST_CASE("platform: FakeProcessRunner Wait blocks until another thread finishes") {
    FakeClock clock;
    FakeProcessRunner runner(clock);
    runner.OnArgv({"x"}, {ScriptedProcess::Exits(5)});
    RunHandle h = *runner.Start(Spec({"x"}));
    std::thread finisher([&] { runner.Finish(h); });
    FinishedProcess f = runner.Wait(h);
    finisher.join();
    CHECK(f.handle == h);
    CHECK(f.exit_code == 5);
    CHECK(runner.Reap().empty());
    CHECK(runner.Wait(h).exit_code == -1);  // already handed out
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
