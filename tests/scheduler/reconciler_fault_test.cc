// The reconciler when saving state.json fails (issue 13, "Faults"): a full
// disk or an I/O error at a save, injected with FaultyFileSystem around the
// real file system.
#include <sys/stat.h>

#include "base/time_format.h"
#include "config/config_parse.h"
#include "platform/posix_file_system.h"
#include "scheduler/reconciler.h"
#include "state/state_store.h"
#include "support/capture_sink.h"
#include "support/fake_clock.h"
#include "support/fake_process_runner.h"
#include "support/faulty_file_system.h"
#include "support/test_util.h"

namespace provisioner::scheduler {
namespace {

using testing::FakeClock;
using testing::FakeProcessRunner;
using testing::FaultyFileSystem;
using testing::TempDir;
using Op = FaultyFileSystem::Op;

Status DiskFull() {
  return Status::ResourceExhausted("write state.json.tmp", "No space left on device");
}

// Remembers every save the reconciler reports.
class SaveRecorder final : public Observer {
 public:
  void OnStateSaved(const Status& result, SystemTime) override { saves.push_back(result); }
  std::vector<Status> saves;
};

// A reconciler on a real state dir behind a FaultyFileSystem, with one
// workspace `w` that has no schedule (nothing runs unless asked).
class Harness {
 public:
  Harness()
      : clock_(*ParseRfc3339("2026-11-24T07:00:00Z")),
        runner_(clock_),
        logger_(clock_, sink_, log::Level::kDebug) {
    ::mkdir(tmp_.Join("state").c_str(), 0755);
    ::mkdir(tmp_.Join("templates").c_str(), 0755);
    ::mkdir(tmp_.Join("templates/t").c_str(), 0755);
    testing::WriteFileOrDie(tmp_.Join("templates/t/main.tf"), "# template\n");
    auto parsed = config::ParseConfig("state: {dir: " + tmp_.Join("state") +
                                          "}\nopentofu: {plugin_cache_dir: " + tmp_.Join("cache") +
                                          "}\ntemplates_dir: " + tmp_.Join("templates") +
                                          "\nworkspaces:\n  - {name: w, template: t}\n",
                                      "test.yaml");
    REQUIRE(parsed.ok());
    reconciler_ = std::make_unique<Reconciler>(
        ReconcilerDeps{clock_, faulty_, runner_, saves_, logger_, {{"PATH", "/usr/bin"}}},
        parsed.config, state::State{}, "tofu");
    REQUIRE_OK(reconciler_->Recover());
    reconciler_->Tick();
  }

  state::State OnDisk() {
    state::JsonStateStore store(posix_, clock_, tmp_.Join("state"));
    auto r = store.Load();
    REQUIRE_OK(r);
    return r->state;
  }

  CommandResult Apply(Command c) {
    auto future = reconciler_->Post(std::move(c));
    reconciler_->Tick();
    REQUIRE(future.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    return future.get();
  }

  TempDir tmp_;
  platform::PosixFileSystem posix_;
  FaultyFileSystem faulty_{posix_};
  FakeClock clock_;
  FakeProcessRunner runner_;
  testing::CaptureSink sink_;
  log::Logger logger_;
  SaveRecorder saves_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_SUITE("scheduler") {
  TEST_CASE("scheduler: a failed save is logged, reported and retried each tick until it works") {
    // Given a running reconciler on a disk that fills up, when the minute's
    // heartbeat save and then a command's save fail, then the command gets
    // the error, the observers and the log hear of each failure, every tick
    // tries again while the file on disk stays the last good one, and the
    // first tick after space is back saves.
    Harness h;
    const std::optional<SystemTime> good = h.OnDisk().last_seen;
    REQUIRE(good.has_value());
    h.faulty_.FailAlways(Op::kWrite, DiskFull());
    h.clock_.Advance(std::chrono::seconds(61));
    h.reconciler_->Tick();
    REQUIRE_FALSE(h.saves_.saves.empty());
    CHECK_FALSE(h.saves_.saves.back().ok());
    CHECK_FALSE(h.sink_.Find("saving state failed; will retry").empty());

    CommandResult r = h.Apply(PauseCommand{"w", std::nullopt, "alice"});
    CHECK(r.status.code() == Status::Code::kResourceExhausted);
    CHECK(r.status.message() == "write state.json.tmp: No space left on device");

    const size_t attempts = h.saves_.saves.size();
    h.clock_.Advance(std::chrono::seconds(1));
    h.reconciler_->Tick();
    CHECK(h.saves_.saves.size() > attempts);
    CHECK_FALSE(h.saves_.saves.back().ok());
    CHECK(h.OnDisk().last_seen == good);

    h.faulty_.Disarm();
    h.clock_.Advance(std::chrono::seconds(1));
    h.reconciler_->Tick();
    CHECK(h.saves_.saves.back().ok());
    CHECK(*h.OnDisk().last_seen > *good);
  }

  // A command whose save fails is answered with the error and has no effect:
  // before the fix the manual deploy was queued and ran, the pause held, and
  // both reached the disk with a later save, so a client told "failed" saw it
  // happen anyway.
  TEST_CASE("scheduler: a command whose save fails is not applied") {
    Harness h;
    h.faulty_.FailAlways(Op::kWrite, DiskFull());
    CommandResult deploy =
        h.Apply(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "alice", {}});
    REQUIRE_FALSE(deploy.status.ok());
    // No job for a request that was refused, and no override in force.
    CHECK(h.runner_.started().empty());
    const WorkspaceView* w = h.reconciler_->snapshot()->Find("w");
    REQUIRE(w != nullptr);
    CHECK(w->desired_source != Source::kManual);
    // (today the job is queued and tried at once: with the disk still full
    // its workspace cannot be written, so it is recorded as failed)
    std::vector<std::string> warnings;
    auto jobs = h.reconciler_->history().Load("w", &warnings);
    REQUIRE_OK(jobs);
    CHECK(jobs->empty());

    CommandResult pause = h.Apply(PauseCommand{"w", std::nullopt, "alice"});
    REQUIRE_FALSE(pause.status.ok());
    CHECK_FALSE(h.reconciler_->snapshot()->Find("w")->paused);
    // Nor does a later save write them.
    h.faulty_.Disarm();
    h.clock_.Advance(std::chrono::minutes(2));
    h.reconciler_->Tick();
    CHECK_FALSE(h.OnDisk().workspaces.at("w").pause.has_value());
    CHECK(h.OnDisk().workspaces.at("w").manual.empty());
  }
}

}  // namespace
}  // namespace provisioner::scheduler
