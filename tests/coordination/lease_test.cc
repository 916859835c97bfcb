#include "coordination/lease.h"

#include "support/fake_lease_db.h"
#include "support/test_util.h"

namespace provisioner::coordination {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Node-local and database time move together here: one process's view.
struct World {
  LeaseTimings timings;
  testing::FakeLeaseDb db;
  MonotonicTime now{seconds(1000)};

  void Advance(milliseconds d) {
    now += d;
    db.Advance(d);
  }
  LeaseChange Try(LeaseState& s, double jitter = 0.0) {
    return s.OnAttempt(now, db.AcquireOrRenew(s.node(), s.renewing_term(), timings.ttl), jitter);
  }
};

TEST_SUITE("coordination") {
  TEST_CASE("coordination: a follower acquires term 1, renews keep it, and renewals are spaced") {
    World w;
    LeaseState a("a", w.timings);
    CHECK(!a.leader());
    CHECK(a.next_attempt() <= w.now);  // the first attempt is due at once
    LeaseChange c = w.Try(a);
    CHECK(c.changed);
    CHECK(c.role == Role::kLeader);
    CHECK(c.term == 1);
    CHECK(c.why == "acquired the lease as term 1");
    CHECK(a.next_attempt() == w.now + seconds(3));
    CHECK(*a.deadline() == w.now + seconds(10));
    for (int i = 0; i < 5; ++i) {
      w.Advance(seconds(3));
      CHECK(!w.Try(a).changed);
      CHECK(a.term() == 1);
      CHECK(*a.deadline() == w.now + seconds(10));
    }
    CHECK(a.transitions() == 1);
    CHECK_OK(w.db.FencedWrite("a", a.term()));
  }

  TEST_CASE("coordination: a second node stays follower while the leader renews") {
    World w;
    LeaseState a("a", w.timings), b("b", w.timings);
    w.Try(a);
    for (int i = 0; i < 10; ++i) {
      LeaseChange c = w.Try(b, 0.5);
      CHECK(!c.changed);
      CHECK(!b.leader());
      CHECK(b.holder_seen() == "a");
      CHECK(b.term() == 1);
      // Follower retries: retry_interval times a factor in [1, 1.2].
      CHECK(b.next_attempt() == w.now + milliseconds(2200));
      w.Advance(seconds(2));
      w.Try(a);
    }
    CHECK(a.leader());
    CHECK(b.transitions() == 0);
  }

  TEST_CASE("coordination: an unreachable database demotes the leader at its local deadline") {
    World w;
    LeaseState a("a", w.timings);
    w.Try(a);
    const MonotonicTime last_good = w.now;
    w.db.set_down(true);
    for (int i = 0; i < 4; ++i) {
      w.Advance(seconds(2));
      CHECK(!w.Try(a).changed);
      CHECK(!a.OnTime(w.now).changed);  // 2, 4, 6, 8 s: still leader
      CHECK(a.leader());
    }
    CHECK(a.attempt_failures() == 4);
    w.Advance(milliseconds(1999));
    CHECK(!a.OnTime(w.now).changed);
    w.Advance(milliseconds(1));  // exactly renew_deadline after the last good send
    LeaseChange c = a.OnTime(w.now);
    CHECK(c.changed);
    CHECK(c.role == Role::kFollower);
    CHECK(c.why.find("no successful renewal for 10s (term 1)") != std::string::npos);
    CHECK(w.now == last_good + seconds(10));
    CHECK(a.next_attempt() == w.now);
    CHECK(!a.renewing_term());
  }

  TEST_CASE(
      "coordination: a paused leader demotes, its writes are fenced, and it never leads its old "
      "term again") {
    World w;
    LeaseState a("a", w.timings), b("b", w.timings);
    w.Try(a);
    w.Try(b);
    // a is frozen (SIGSTOP): no renewals, no OnTime. b keeps trying.
    for (int i = 0; i < 7; ++i) {
      w.Advance(seconds(2));
      w.Try(b);
    }
    CHECK(!b.leader());  // 14 s: the database's 15 s expiry has not passed
    w.Advance(seconds(2));
    LeaseChange c = w.Try(b);
    CHECK(c.changed);
    CHECK(b.leader());
    CHECK(b.term() == 2);
    // a wakes. A write it had in flight under term 1 is rejected...
    Status s = w.db.FencedWrite("a", 1);
    CHECK(!s.ok());
    CHECK(s.message().find("ownership lost: term=2 holder=b") != std::string::npos);
    // ...its own deadline demotes it before it acts...
    CHECK(a.OnTime(w.now).changed);
    // ...and its next attempt sees b.
    CHECK(!w.Try(a).changed);
    CHECK(!a.leader());
    CHECK(a.term() == 2);
    CHECK(a.holder_seen() == "b");
    CHECK_OK(w.db.FencedWrite("b", 2));
  }

  TEST_CASE("coordination: a leader that learns of a newer holder demotes at once") {
    World w;
    LeaseState a("a", w.timings), b("b", w.timings);
    w.Try(a);
    w.Advance(seconds(16));  // a missed everything, and OnTime was not called
    w.Try(b);
    REQUIRE(b.leader());
    LeaseChange c = w.Try(a);  // a's renewal of term 1 finds b
    CHECK(c.changed);
    CHECK(c.role == Role::kFollower);
    CHECK(c.why == "lost the lease of term 1: \"b\" holds term 2");
  }

  TEST_CASE("coordination: a lapsed lease that comes back to its holder is a new term") {
    World w;
    LeaseState a("a", w.timings);
    w.Try(a);
    w.Advance(seconds(20));  // frozen past the expiry; nobody else took it
    LeaseChange c = w.Try(a);
    CHECK(c.changed);
    CHECK(a.leader());
    CHECK(a.term() == 2);
    CHECK(c.why == "the lease of term 1 had lapsed; leading again as term 2");
    CHECK(!w.db.FencedWrite("a", 1).ok());
    CHECK_OK(w.db.FencedWrite("a", 2));

    // After a demotion, even a row that is still ours comes back under a new term.
    w.db.set_down(true);
    w.Advance(seconds(10));
    REQUIRE(a.OnTime(w.now).changed);
    w.db.set_down(false);
    CHECK(w.Try(a).changed);
    CHECK(a.term() == 3);
  }

  TEST_CASE("coordination: a released lease makes the node a follower") {
    World w;
    LeaseState a("a", w.timings);
    w.Try(a);
    LeaseChange c = a.OnReleased();
    CHECK(c.changed);
    CHECK(c.why == "released the lease of term 1");
    CHECK(!a.OnReleased().changed);
  }
}

}  // namespace
}  // namespace provisioner::coordination
