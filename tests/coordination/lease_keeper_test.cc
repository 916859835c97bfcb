#include "coordination/lease_keeper.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "coordination/pg_lease_db.h"
#include "platform/boot_clock.h"
#include "support/fake_lease_db.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::coordination {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeLeaseDb;
using testing::WaitUntil;

// A keeper on the fake database, with local and database time moved together.
struct Rig {
  FakeLeaseDb db;
  MonotonicTime now{seconds(100)};
  std::vector<std::string> changes;

  LeaseKeeper::Options Options(const std::string& node) {
    LeaseKeeper::Options o;
    o.node = node;
    o.now = [this] { return now; };
    o.jitter = [] { return 0.0; };
    o.on_change = [this](const LeaseChange& c) { changes.push_back(c.why); };
    return o;
  }
  void Advance(milliseconds d) {
    now += d;
    db.Advance(d);
  }
};

TEST_SUITE("coordination") {
  TEST_CASE("coordination: LeaseKeeper rounds: acquire, renew on time, and sleep until due") {
    Rig rig;
    LeaseKeeper a(rig.db, rig.Options("a"));
    CHECK(!a.IsLeader());
    MonotonicTime next = a.RunOnce();
    CHECK(a.IsLeader());
    CHECK(a.term() == 1);
    CHECK(next == rig.now + seconds(3));
    CHECK(rig.changes == std::vector<std::string>{"acquired the lease as term 1"});
    // A round before it is due makes no attempt.
    rig.Advance(seconds(1));
    CHECK(a.RunOnce() == next);
    CHECK(rig.db.attempts() == 1);
    rig.Advance(seconds(2));
    CHECK(a.RunOnce() == rig.now + seconds(3));
    CHECK(rig.db.attempts() == 2);
    CoordinationStatus s = a.status();
    CHECK(s.ha);
    CHECK(s.role == Role::kLeader);
    CHECK(s.holder == "a");
    CHECK(s.transitions == 1);
  }

  TEST_CASE("coordination: LeaseKeeper: IsLeader honours the deadline even between rounds") {
    Rig rig;
    LeaseKeeper a(rig.db, rig.Options("a"));
    a.RunOnce();
    rig.db.set_down(true);
    for (int i = 0; i < 3; ++i) {
      rig.Advance(seconds(3));
      a.RunOnce();
    }
    CHECK(a.status().database_reachable == false);
    CHECK(a.status().last_error.find("cannot connect") != std::string::npos);
    CHECK(a.IsLeader());  // 9 s since the last good renewal
    // The keeper is stuck (no round runs): IsLeader still turns false at 10 s.
    rig.Advance(milliseconds(999));
    CHECK(a.IsLeader());
    rig.Advance(milliseconds(1));
    CHECK(!a.IsLeader());
    CHECK(a.status().role == Role::kFollower);
    rig.changes.clear();
    a.RunOnce();  // the demotion, then an attempt as follower, which fails
    REQUIRE(rig.changes.size() == 2);
    CHECK(rig.changes[0].find("no successful renewal for 10s") == 0);
    CHECK(rig.changes[1].find("lease attempt failed: postgresql: cannot connect") == 0);
  }

  TEST_CASE("coordination: LeaseKeeper::Resign gives back a term and stands for no other") {
    // Given a node that took a term while it was shutting down,
    Rig rig;
    LeaseKeeper a(rig.db, rig.Options("a"));
    a.RunOnce();
    REQUIRE(a.IsLeader());
    // when it resigns, its next round releases the lease and makes no attempt,
    a.Resign();
    const MonotonicTime next = a.RunOnce();
    CHECK(!a.IsLeader());
    CHECK(rig.changes.back() ==
          "released the lease of term 1 (resigned: this node is shutting down after it lost the "
          "lease)");
    CHECK(next >= rig.now + std::chrono::minutes(1));
    const int attempts = rig.db.attempts();
    rig.Advance(seconds(20));
    a.RunOnce();
    CHECK(rig.db.attempts() == attempts);
    CHECK(!a.IsLeader());
    // and another node takes over at once.
    LeaseKeeper b(rig.db, rig.Options("b"));
    b.RunOnce();
    CHECK(b.IsLeader());
    CHECK(b.term() == 2);
  }

  TEST_CASE(
      "coordination: LeaseKeeper with one_term: a leader that lost its lease stands no more, "
      "a follower that never led goes on trying") {
    Rig rig;
    LeaseKeeper::Options options = rig.Options("a");
    options.one_term = true;
    LeaseKeeper a(rig.db, options);
    LeaseKeeper::Options b_options = rig.Options("b");
    b_options.one_term = true;
    LeaseKeeper b(rig.db, b_options);
    a.RunOnce();
    REQUIRE(a.IsLeader());
    rig.db.set_down(true);
    b.RunOnce();  // fails: b keeps trying, having never led
    // a passes its deadline without a renewal: demoted, and resigned at once.
    for (int i = 0; i < 4; ++i) {
      rig.Advance(seconds(3));
      a.RunOnce();
    }
    REQUIRE(!a.IsLeader());
    rig.db.set_down(false);
    const int attempts = rig.db.attempts();
    // The lease expires on the database; a never takes another term,
    rig.Advance(seconds(20));
    a.RunOnce();
    a.RunOnce();
    CHECK(rig.db.attempts() == attempts);
    CHECK(!a.IsLeader());
    // and b does.
    b.RunOnce();
    CHECK(b.IsLeader());
    CHECK(b.term() == 2);
  }

  TEST_CASE(
      "coordination: LeaseKeeper::Stop releases the lease, and the other node takes it at once") {
    Rig rig;
    LeaseKeeper a(rig.db, rig.Options("a"));
    LeaseKeeper b(rig.db, rig.Options("b"));
    a.RunOnce();
    b.RunOnce();
    CHECK(!b.IsLeader());
    a.Stop();
    CHECK(!a.IsLeader());
    CHECK(rig.changes.back() == "released the lease of term 1");
    rig.Advance(seconds(2));
    b.RunOnce();
    CHECK(b.IsLeader());
    CHECK(b.term() == 2);
  }

  TEST_CASE(
      "coordination: LeaseKeeper threads on a real PostgreSQL: one leader, and a handover on "
      "stop") {
    auto server = testing::PostgresServer::StartOrSkip();
    if (!server) return;
    PgOptions pg;
    pg.dsn = server->dsn();
    LeaseTimings fast;
    fast.ttl = milliseconds(1500);
    fast.renew_interval = milliseconds(200);
    fast.renew_deadline = milliseconds(1000);
    fast.retry_interval = milliseconds(100);
    std::vector<std::unique_ptr<PgLeaseDb>> dbs;
    std::vector<std::unique_ptr<LeaseKeeper>> keepers;
    for (const char* node : {"n1", "n2", "n3"}) {
      dbs.push_back(std::make_unique<PgLeaseDb>(pg));
      LeaseKeeper::Options o;
      o.node = node;
      o.timings = fast;
      o.now = platform::BootTimeNow;
      keepers.push_back(std::make_unique<LeaseKeeper>(*dbs.back(), o));
      keepers.back()->Start();
    }
    auto leaders = [&] {
      int n = 0;
      for (const auto& k : keepers) n += k && k->IsLeader() ? 1 : 0;
      return n;
    };
    REQUIRE(WaitUntil([&] { return leaders() == 1; }, seconds(10)));
    // Never two at once, over 40 samples spread across a second (several
    // renewals). The pause is sampling, not synchronization.
    int most = 0;
    for (int i = 0; i < 40; ++i) {
      most = std::max(most, leaders());
      std::this_thread::sleep_for(milliseconds(25));
    }
    CHECK(most == 1);
    size_t first = 0;
    while (!keepers[first]->IsLeader()) ++first;
    const int64_t term = keepers[first]->term();
    keepers[first]->Stop();
    // Released: another node leads within a retry or two, well before the TTL.
    const MonotonicTime stopped = platform::BootTimeNow();
    REQUIRE(WaitUntil([&] { return leaders() == 1; }, seconds(10)));
    const auto handover = platform::BootTimeNow() - stopped;
    CHECK(handover < fast.ttl);
    for (const auto& k : keepers) {
      if (k->IsLeader()) CHECK(k->term() == term + 1);
    }
    for (auto& k : keepers) k->Stop();
  }
}

}  // namespace
}  // namespace provisioner::coordination
