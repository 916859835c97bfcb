// ClaimKeeper with a fake clock, the in-memory claims and the fake runner.
#include <condition_variable>
#include <mutex>

#include "coordination/job_claims.h"
#include "platform/boot_clock.h"
#include "support/fake_clock.h"
#include "support/fake_process_runner.h"
#include "support/memory_job_claims.h"
#include "support/test_util.h"

namespace provisioner::coordination {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeProcessRunner;
using testing::MemoryJobClaims;

// A renewal that gets no answer until the test releases it, as on a
// connection gone silent.
class StuckRenewer final : public ClaimRenewer {
 public:
  Result<std::vector<std::string>> Renew(const std::map<std::string, int64_t>&) override {
    std::unique_lock<std::mutex> lock(mu_);
    in_flight_ = true;
    cv_.wait(lock, [this] { return released_; });
    in_flight_ = false;
    return Status::Unavailable("postgresql: connection lost: no answer");
  }
  bool in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return in_flight_;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool in_flight_ = false;
  bool released_ = false;
};

// A keeper on a fake clock, with claims in memory (claim ttl 60 s).
struct KeeperFixture {
  KeeperFixture() { claims.leader_term = 1; }
  FakeClock clock;
  FakeProcessRunner runner{clock};
  MemoryJobClaims claims{clock, "a", seconds(60)};
  std::vector<std::string> lost;
  ClaimKeeper keeper{claims,
                     runner,
                     {seconds(60), [this] { return clock.Monotonic(); },
                      [this](const std::string& id, const std::string&) { lost.push_back(id); }}};
};

TEST_SUITE("coordination") {
  TEST_CASE("coordination: claim keeper: renews every ttl/6, and only while it tracks claims") {
    KeeperFixture f;
    CHECK(f.keeper.renew_interval() == seconds(10));
    CHECK(f.keeper.deadline() == seconds(45));
    // Nothing tracked: no statement.
    CHECK(f.keeper.RunOnce() == f.clock.Monotonic() + seconds(10));
    CHECK(f.claims.renewals == 0);

    REQUIRE_OK(f.claims.Claim("j1", "web", "deploy", 1));
    f.keeper.Track("j1", 1, 0, f.clock.Monotonic());
    f.clock.Advance(seconds(10));
    const MonotonicTime next = f.keeper.RunOnce();
    CHECK(f.claims.renewals == 1);
    CHECK(next == f.clock.Monotonic() + seconds(10));
    CHECK(f.claims.rows["j1"].expires == f.clock.Monotonic() + seconds(60));
    // Not due yet: no statement.
    f.clock.Advance(seconds(5));
    f.keeper.RunOnce();
    CHECK(f.claims.renewals == 1);
    f.clock.Advance(seconds(5));
    f.keeper.RunOnce();
    CHECK(f.claims.renewals == 2);
    CHECK(f.lost.empty());
    CHECK(f.keeper.claims_lost() == 0);

    // Untracked, it is renewed no more.
    f.keeper.Untrack("j1");
    f.clock.Advance(seconds(10));
    f.keeper.RunOnce();
    CHECK(f.claims.renewals == 2);
  }

  TEST_CASE("coordination: claim keeper: a lost claim stops its step, and every later one") {
    KeeperFixture f;
    platform::ProcessSpec spec;
    spec.argv = {"tofu", "init"};
    auto init = f.runner.Start(spec);
    REQUIRE_OK(init);
    REQUIRE_OK(f.claims.Claim("j1", "web", "deploy", 1));
    f.keeper.Track("j1", 1, *init, f.clock.Monotonic());
    // Its step is told to stop when the claim turns out to be gone,
    f.claims.rows["j1"].state = "interrupted";
    f.keeper.RunOnce();
    CHECK(f.lost == std::vector<std::string>{"j1"});
    REQUIRE(f.keeper.LostWhy("j1"));
    CHECK(*f.keeper.LostWhy("j1") == "its claim is no longer this node's: the leader ended it");
    REQUIRE(f.runner.stops().size() == 1);
    CHECK(f.runner.stops()[0].handle == *init);
    // and so is a next step that the scheduler started meanwhile.
    spec.argv = {"tofu", "plan"};
    auto plan = f.runner.Start(spec);
    REQUIRE_OK(plan);
    CHECK_FALSE(f.keeper.SetHandle("j1", *plan));
    REQUIRE(f.runner.stops().size() == 2);
    CHECK(f.runner.stops()[1].handle == *plan);
    // Lost once: not reported again.
    f.clock.Advance(seconds(60));
    f.keeper.RunOnce();
    CHECK(f.lost.size() == 1);
    CHECK(f.keeper.claims_lost() == 1);
  }

  TEST_CASE("coordination: claim keeper: a renewal stuck on a silent network delays no stop") {
    // Real time here: the point is what the keeper's threads do while one
    // of them is stuck. Claim ttl 400 ms: deadline 300 ms.
    FakeClock clock;
    FakeProcessRunner runner(clock);
    StuckRenewer stuck;
    ClaimKeeper keeper(stuck, runner, {milliseconds(400), platform::BootTimeNow, nullptr});
    platform::ProcessSpec spec;
    spec.argv = {"tofu", "apply"};
    auto apply = runner.Start(spec);
    REQUIRE_OK(apply);
    keeper.Track("j1", 1, *apply, platform::BootTimeNow());
    keeper.Start();
    REQUIRE(testing::WaitUntil([&] { return stuck.in_flight(); }, seconds(5)));
    // The claim is lost, and its step stopped, while the renewal still waits.
    REQUIRE(testing::WaitUntil([&] { return keeper.LostWhy("j1").has_value(); }, seconds(5)));
    CHECK(stuck.in_flight());
    REQUIRE(runner.stops().size() == 1);
    CHECK(runner.stops()[0].handle == *apply);
    stuck.Release();
    keeper.Stop();
  }
}

}  // namespace
}  // namespace provisioner::coordination
