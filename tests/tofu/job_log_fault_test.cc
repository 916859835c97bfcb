// Faults around one job's log and its error text (issue 13, "Faults"): the
// disk filling up while the log is written, at every write the job makes
// itself (the step headers, through the FileSystem) and in the runner's own
// writes of tofu's output (FinishedProcess::log_status), and a tofu whose
// "Error:" line is a megabyte of broken UTF-8.
#include <string>
#include <vector>

#include "base/strings.h"
#include "support/fake_clock.h"
#include "support/fake_process_runner.h"
#include "support/faulty_file_system.h"
#include "support/memory_file_system.h"
#include "support/test_util.h"
#include "tofu/tofu_client.h"

namespace provisioner::tofu {
namespace {

using platform::OutputStream;
using testing::FakeClock;
using testing::FakeProcessRunner;
using testing::FaultyFileSystem;
using testing::MemoryFileSystem;
using testing::ScriptedProcess;
using Op = FaultyFileSystem::Op;

constexpr const char* kLog = "/s/jobs/w/job.log";

Status DiskFull() {
  return Status::ResourceExhausted("append " + std::string(kLog), "No space left on device");
}

struct Fixture {
  MemoryFileSystem mem;
  FaultyFileSystem fs{mem};
  FakeClock clock;
  FakeProcessRunner runner{clock};

  Fixture() {
    REQUIRE_OK(mem.CreateDirs("/s/jobs/w"));
    REQUIRE_OK(mem.CreateDirs("/s/workspaces/w"));
    runner.SetFinishImmediately(true);
    // A deploy with changes: init, plan (exit 2), apply.
    runner.OnPrefix({"tofu", "init"}, {ScriptedProcess::Exits(0)});
    runner.OnPrefix(
        {"tofu", "plan"},
        {ScriptedProcess::Exits(2).Print(
            OutputStream::kStdout,
            R"({"@level":"info","@message":"Plan: 1 to add, 0 to change, 0 to destroy.","type":"change_summary","changes":{"add":1,"change":0,"import":0,"remove":0,"operation":"plan"}})")});
    runner.OnPrefix(
        {"tofu", "apply"},
        {ScriptedProcess::Exits(0).Print(
            OutputStream::kStdout,
            R"({"@level":"info","@message":"Apply complete! Resources: 1 added, 0 changed, 0 destroyed.","type":"change_summary","changes":{"add":1,"change":0,"import":0,"remove":0,"operation":"apply"}})")});
  }

  TofuJobSpec Spec() {
    TofuJobSpec spec;
    spec.operation = Operation::kDeploy;
    spec.binary = "tofu";
    spec.workspace_dir = "/s/workspaces/w";
    spec.env = {{"PATH", "/usr/bin"}};
    spec.log_path = kLog;
    return spec;
  }

  JobOutcome Run() {
    TofuJob job(runner, fs, clock, Spec(), nullptr);
    return RunToCompletion(runner, job);
  }
};

void CheckSucceeded(const JobOutcome& out) {
  CHECK(out.outcome == Outcome::kSucceeded);
  CHECK(out.error.empty());
  CHECK(out.exit_code == 0);
  REQUIRE(out.steps.size() == 3);
  REQUIRE(out.changes.has_value());
  CHECK(out.changes->operation == "apply");
  CHECK(out.changes->add == 1);
}

TEST_SUITE("tofu") {
  TEST_CASE("tofu: a full disk at any write of the job's log: the job's result holds, reported") {
    // Given a deploy whose log header writes are counted first,
    size_t appends = 0;
    {
      Fixture probe;
      JobOutcome out = probe.Run();
      CheckSucceeded(out);
      CHECK(out.log_error.empty());
      for (const std::string& call : probe.fs.calls()) appends += call == "append job.log";
    }
    // (three steps: a blank line, the command and its end each; the job's end)
    REQUIRE(appends == 10);
    for (size_t nth = 1; nth <= appends; ++nth) {
      CAPTURE(nth);
      // when the disk is full at the nth of them,
      Fixture f;
      f.fs.FailOn(Op::kAppend, static_cast<int>(nth), DiskFull());
      JobOutcome out = f.Run();
      REQUIRE(f.fs.fired());
      // then the job still succeeded, with its changes and exit code,
      CheckSucceeded(out);
      // and says its log is incomplete, and why.
      CHECK(out.log_error == "append /s/jobs/w/job.log: No space left on device");
    }
  }

  TEST_CASE("tofu: the runner's log write failing mid-step (ENOSPC) is reported, not fatal") {
    // Given a plan step during which the runner could not write tofu's output
    // to the log (it reports that in FinishedProcess::log_status),
    Fixture f;
    f.runner.OnPrefix(
        {"tofu", "plan"},
        {ScriptedProcess::Exits(2)
             .Print(
                 OutputStream::kStdout,
                 R"({"@level":"info","@message":"Plan: 1 to add, 0 to change, 0 to destroy.","type":"change_summary","changes":{"add":1,"change":0,"import":0,"remove":0,"operation":"plan"}})")
             .LogFails(Status::ResourceExhausted("job log: write", "No space left on device"))});
    // when the deploy runs,
    JobOutcome out = f.Run();
    // then the apply still ran and succeeded,
    CheckSucceeded(out);
    // and the first log error is kept (a later one does not replace it),
    CHECK(out.log_error == "job log: write: No space left on device");
    // while the job's own lines around the gap were still written.
    auto log = f.mem.ReadFile(kLog, platform::kNoSizeLimit);
    REQUIRE_OK(log);
    CHECK(log->find("# plan finished: exit 2") != std::string::npos);
    CHECK(log->find("# job succeeded") != std::string::npos);
  }

  TEST_CASE("tofu: a megabyte 'Error:' line of broken UTF-8 gives a short, valid job error") {
    // Given an init that fails after printing a 1 MiB "Error:" line with
    // invalid UTF-8 on stderr,
    Fixture f;
    const std::string line = "Error: \xc3\x28" + std::string(1 << 20, 'E') + "\xf0\x9f";
    f.runner.OnPrefix({"tofu", "init"},
                      {ScriptedProcess::Exits(1).Print(OutputStream::kStderr, line)});
    // when the deploy runs,
    JobOutcome out = f.Run();
    // then it failed with that error, cut to kMaxJobErrorBytes of valid
    // UTF-8 that says how long it was,
    CHECK(out.outcome == Outcome::kFailed);
    CHECK(out.error.size() <= kMaxJobErrorBytes);
    CHECK(out.error.size() > kMaxJobErrorBytes - 64);
    CHECK(FirstInvalidUtf8(out.error) == std::string::npos);
    CHECK(out.error.starts_with("\xef\xbf\xbd(EEEE"));  // U+FFFD for the bad byte
    CHECK(out.error.ends_with("EEE... (" + std::to_string(line.size() - 7) + " bytes)"));
    // and a short one is kept as it is.
    Fixture g;
    g.runner.OnPrefix({"tofu", "init"}, {ScriptedProcess::Exits(1).Print(
                                            OutputStream::kStderr, "Error: Failed to query")});
    CHECK(g.Run().error == "Failed to query");
  }
}

}  // namespace
}  // namespace provisioner::tofu
