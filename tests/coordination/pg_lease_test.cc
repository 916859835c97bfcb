// The lease statements against a real PostgreSQL 15 (tests/support/postgres_server.h).
#include <atomic>
#include <thread>

#include "coordination/pg_lease_db.h"
#include "support/pg_test_util.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::coordination {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ConnectOrDie;
using testing::PostgresServer;
using testing::Scalar;
using testing::WaitUntil;

// Retries `node`'s acquire until it holds the row (the other's lease must expire first).
LeaseRow TakeOver(PgConnection& conn, const std::string& node, milliseconds ttl) {
  Result<LeaseRow> row = Status::Unavailable("not tried");
  REQUIRE(WaitUntil(
      [&] {
        row = AcquireOrRenew(conn, node, std::nullopt, ttl);
        return row.ok() && row->holder == node;
      },
      seconds(20)));
  return *row;
}

TEST_SUITE("coordination") {
  TEST_CASE("coordination: postgres lease: acquire, renew, contend, expire, take over, release") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection a = ConnectOrDie(*server);
    PgConnection b = ConnectOrDie(*server);
    REQUIRE_OK(EnsureLeaseTable(a));
    REQUIRE_OK(EnsureLeaseTable(b));  // again, from another node: a no-op
    const milliseconds ttl(1500);

    auto first = AcquireOrRenew(a, "a", std::nullopt, ttl);
    REQUIRE_OK(first);
    CHECK(first->holder == "a");
    CHECK(first->term == 1);
    auto renewed = AcquireOrRenew(a, "a", 1, ttl);
    REQUIRE_OK(renewed);
    CHECK(renewed->term == 1);  // a renewal keeps the term
    auto refused = AcquireOrRenew(b, "b", std::nullopt, ttl);
    REQUIRE_OK(refused);
    CHECK(refused->holder == "a");  // live, and not b's
    CHECK(refused->term == 1);

    // a stops renewing: b gets the row once it expires, on the database's clock.
    LeaseRow taken = TakeOver(b, "b", ttl);
    CHECK(taken.term == 2);
    auto late = AcquireOrRenew(a, "a", 1, ttl);
    REQUIRE_OK(late);
    CHECK(late->holder == "b");
    CHECK(late->term == 2);
    REQUIRE_OK(a.Run("BEGIN"));
    Status fenced = CheckFence(a, "a", 1);
    CHECK(fenced.code() == Status::Code::kFailedPrecondition);
    CHECK(fenced.message() == "ownership lost: term=2 holder=b (this node wrote as term 1)");
    REQUIRE_OK(a.Run("ROLLBACK"));

    // A clean release lets a take over at once, under a new term.
    auto released = ReleaseLease(b, "b", 2);
    REQUIRE_OK(released);
    CHECK(*released);
    auto again = ReleaseLease(b, "b", 2);
    REQUIRE_OK(again);
    CHECK(!*again);  // no longer live: nothing to release
    auto back = AcquireOrRenew(a, "a", std::nullopt, ttl);
    REQUIRE_OK(back);
    CHECK(back->holder == "a");
    CHECK(back->term == 3);

    // A holder that demoted does not get its live row back under the same term.
    auto rejoin = AcquireOrRenew(a, "a", std::nullopt, ttl);
    REQUIRE_OK(rejoin);
    CHECK(rejoin->term == 4);
  }

  TEST_CASE(
      "coordination: postgres lease: the tables of the first HA version gain workspace_hashes, and "
      "a later check takes no lock that waits for readers") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection a = ConnectOrDie(*server);
    PgConnection b = ConnectOrDie(*server);
    // pv_nodes as the first HA version created it.
    REQUIRE_OK(
        a.Run("CREATE TABLE pv_nodes (name text PRIMARY KEY, instance text NOT NULL,"
              " started_at timestamptz NOT NULL, heartbeat_at timestamptz NOT NULL,"
              " version text NOT NULL DEFAULT '', config_hash text NOT NULL DEFAULT '')"));
    REQUIRE_OK(a.Run("INSERT INTO pv_nodes VALUES ('old', 'i', now(), now(), '0.1', 'h')"));
    REQUIRE_OK(EnsureLeaseTable(a));
    CHECK(Scalar(a, "SELECT workspace_hashes::text FROM pv_nodes WHERE name = 'old'") == "{}");

    // A reader holds pv_nodes; ALTER TABLE would wait for it (ACCESS
    // EXCLUSIVE), and the short lock_timeout would fail the check.
    REQUIRE_OK(b.Run("BEGIN"));
    REQUIRE_OK(b.Run("LOCK TABLE pv_nodes IN ACCESS SHARE MODE"));
    REQUIRE_OK(a.Run("SET lock_timeout = '300ms'"));
    CHECK_OK(EnsureLeaseTable(a));
    REQUIRE_OK(b.Run("ROLLBACK"));
  }

  TEST_CASE(
      "coordination: postgres lease: a takeover waits for a fenced transaction and is ordered "
      "after it") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection a = ConnectOrDie(*server);
    PgConnection b = ConnectOrDie(*server);
    PgConnection watch = ConnectOrDie(*server);
    REQUIRE_OK(EnsureLeaseTable(a));
    REQUIRE_OK(a.Run("CREATE TABLE facts (what text)"));
    const milliseconds ttl(1000);
    auto held = AcquireOrRenew(a, "a", std::nullopt, ttl);
    REQUIRE_OK(held);

    // a's fenced write begins, then a stalls inside it past its lease.
    REQUIRE_OK(a.Run("BEGIN"));
    REQUIRE_OK(CheckFence(a, "a", held->term));
    REQUIRE_OK(a.Run("INSERT INTO facts VALUES ($1)", {"written as term 1"}));
    REQUIRE(WaitUntil(
        [&] {
          return Scalar(watch, "SELECT expires_at < clock_timestamp() FROM pv_leader") == "t";
        },
        seconds(10)));

    std::atomic<bool> done{false};
    Result<LeaseRow> takeover = Status::Unavailable("not run");
    const std::string b_pid = std::to_string(b.backend_pid());
    std::thread t([&] {
      takeover = AcquireOrRenew(b, "b", std::nullopt, ttl);
      done = true;
    });
    // b's statement waits on the row a holds FOR SHARE.
    const bool waiting = WaitUntil(
        [&] {
          return Scalar(watch,
                        "SELECT coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = "
                        "$1::int",
                        {b_pid}) == "Lock";
        },
        seconds(10));
    CHECK(waiting);
    CHECK(!done);
    REQUIRE_OK(a.Run("COMMIT"));
    t.join();
    REQUIRE_OK(takeover);
    CHECK(takeover->holder == "b");
    CHECK(takeover->term == 2);
    // The write committed before the takeover stands; the next one is fenced.
    CHECK(Scalar(watch, "SELECT count(*) FROM facts") == "1");
    REQUIRE_OK(a.Run("BEGIN"));
    CHECK(!CheckFence(a, "a", 1).ok());
    REQUIRE_OK(a.Run("ROLLBACK"));
  }

  TEST_CASE("coordination: postgres lease: lost sessions and a server crash are Unavailable") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection a = ConnectOrDie(*server);
    PgConnection admin = ConnectOrDie(*server);
    REQUIRE_OK(EnsureLeaseTable(a));
    REQUIRE_OK(AcquireOrRenew(a, "a", std::nullopt, seconds(15)));

    // The session is terminated (an operator, a failover tool).
    CHECK(Scalar(admin, "SELECT pg_terminate_backend($1::int)",
                 {std::to_string(a.backend_pid())}) == "t");
    Result<LeaseRow> after = AcquireOrRenew(a, "a", 1, seconds(15));
    CHECK(after.status().code() == Status::Code::kUnavailable);

    // pg_ctl restart -m immediate: the row survives, old connections do not.
    PgConnection b = ConnectOrDie(*server);
    REQUIRE(server->RestartImmediate());
    CHECK(AcquireOrRenew(b, "b", std::nullopt, seconds(15)).status().code() ==
          Status::Code::kUnavailable);
    PgConnection c = ConnectOrDie(*server);
    auto row = AcquireOrRenew(c, "c", std::nullopt, seconds(15));
    REQUIRE_OK(row);
    CHECK(row->holder == "a");  // still a's: its 15 s lease outlived the crash
    CHECK(row->term == 1);
  }

  TEST_CASE("coordination: postgres lease: which workspaces another live node defines otherwise") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection a = ConnectOrDie(*server);
    PgConnection b = ConnectOrDie(*server);
    REQUIRE_OK(EnsureLeaseTable(a));
    const ConfigHashes mine{"x", {{"w1", "h1"}, {"w2", "h2"}, {"w3", "h3"}}};
    const ConfigHashes other{"y", {{"w1", "h1"}, {"w2", "other"}}};
    // b defines w2 otherwise and lacks w3; c is an older node that
    // publishes no workspace hashes, and says nothing.
    REQUIRE_OK(HeartbeatNode(a, "a", "ia", "v", "x", mine.WorkspacesJson(), seconds(60)));
    REQUIRE_OK(HeartbeatNode(b, "b", "ib", "v", "y", other.WorkspacesJson(), seconds(60)));
    REQUIRE_OK(HeartbeatNode(b, "c", "ic", "v", "z", std::nullopt, seconds(60)));
    auto differing = DifferingWorkspaces(a, "a", seconds(60));
    REQUIRE_OK(differing);
    CHECK(*differing == std::map<std::string, std::string>{{"w2", "b"}, {"w3", "b"}});
    // A heartbeat without hashes keeps those published.
    REQUIRE_OK(HeartbeatNode(b, "b", "ib", "v", "y", std::nullopt, seconds(60)));
    differing = DifferingWorkspaces(a, "a", seconds(60));
    REQUIRE_OK(differing);
    CHECK(differing->size() == 2);
    // A node silent for the ttl counts no more.
    REQUIRE_OK(b.Run(
        "UPDATE pv_nodes SET heartbeat_at = clock_timestamp() - interval '61 s' WHERE name = 'b'"));
    differing = DifferingWorkspaces(a, "a", seconds(60));
    REQUIRE_OK(differing);
    CHECK(differing->empty());
  }

  TEST_CASE("coordination: postgres connection errors never show the DSN's password") {
    PgOptions o;
    o.dsn = "host=127.0.0.1 port=1 user=prov password=s3cret-pw dbname=postgres";
    o.connect_timeout = seconds(2);
    auto conn = PgConnection::Connect(o);
    REQUIRE(!conn.ok());
    CHECK(conn.status().code() == Status::Code::kUnavailable);
    CHECK(conn.status().message().find("cannot connect") != std::string::npos);
    CHECK(conn.status().message().find("s3cret-pw") == std::string::npos);
  }
}

}  // namespace
}  // namespace provisioner::coordination
