// PgJobClaims against a real PostgreSQL 15 (tests/support/postgres_server.h).
#include "coordination/pg_job_claims.h"

#include "coordination/pg_lease_db.h"
#include "support/pg_test_util.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::coordination {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ConnectOrDie;
using testing::Lead;
using testing::PgTestOptions;
using testing::PostgresServer;
using testing::Scalar;

std::string Row(PgConnection& conn, const std::string& id) {
  return Scalar(conn,
                "SELECT state || ' ' || owner_node || ' ' || coalesce(result, '-') FROM pv_jobs"
                " WHERE id = $1",
                {id});
}

TEST_SUITE("coordination") {
  TEST_CASE("coordination: pg job claims: one running claim per workspace, fenced by the term") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    PgJobClaims claims(PgTestOptions(*server), "a", seconds(60));

    // Running() before any claim (no pv_jobs yet) is empty, not an error.
    auto none = claims.Running(seconds(0));
    REQUIRE_OK(none);
    CHECK(none->empty());

    auto epoch = claims.Claim("j1", "web", "deploy", term);
    REQUIRE_OK(epoch);
    CHECK(*epoch == 1);
    CHECK(Row(admin, "j1") == "running a -");
    // A second claim on the workspace is refused, naming the holder;
    auto second = claims.Claim("j2", "web", "destroy", term);
    CHECK(second.status().code() == Status::Code::kAlreadyExists);
    CHECK(second.status().message().starts_with("workspace web is claimed by job j1 on node a"));
    // so is one even the database would refuse behind the code's back,
    CHECK_FALSE(admin
                    .Run("INSERT INTO pv_jobs (id, workspace, operation, state, owner_node,"
                         " claim_epoch, claim_expires_at, written_term)"
                         " VALUES ('x', 'web', 'deploy', 'running', 'b', 1, now(), 1)")
                    .ok());
    // and a claim made under a term that is not the lease's.
    auto stale = claims.Claim("j3", "api", "deploy", term + 1);
    CHECK(stale.status().code() == Status::Code::kFailedPrecondition);
    CHECK(stale.status().message().starts_with("ownership lost"));
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_jobs") == "1");

    // Another workspace is free; held_for counts the expiry plus the grace.
    REQUIRE_OK(claims.Claim("j4", "api", "deploy", term));
    auto running = claims.Running(seconds(120));
    REQUIRE_OK(running);
    REQUIRE(running->size() == 2);
    CHECK((*running)[0].workspace == "api");
    CHECK((*running)[1].job_id == "j1");
    CHECK((*running)[1].owner == "a");
    CHECK((*running)[1].held_for > seconds(170));
    CHECK((*running)[1].held_for <= seconds(180));

    // Finishing releases the workspace, and a wrong epoch finishes nothing.
    auto wrong = claims.Finish("j1", 2, "succeeded");
    REQUIRE_OK(wrong);
    CHECK_FALSE(*wrong);
    auto finished = claims.Finish("j1", 1, "succeeded");
    REQUIRE_OK(finished);
    CHECK(*finished);
    CHECK(Row(admin, "j1") == "finished a succeeded");
    REQUIRE_OK(claims.Claim("j5", "web", "destroy", term));
    // A workspace keeps its running claim and its last ended one.
    REQUIRE_OK(claims.Finish("j5", 1, "failed"));
    CHECK(Scalar(admin,
                 "SELECT string_agg(id, ',' ORDER BY id) FROM pv_jobs WHERE workspace = 'web'") ==
          "j5");
  }

  TEST_CASE("coordination: pg job claims: renewals, and the leader ending a lapsed claim") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    PgJobClaims a(PgTestOptions(*server), "a", seconds(60));
    REQUIRE_OK(a.Claim("j1", "web", "deploy", term));
    REQUIRE_OK(a.Claim("j2", "api", "deploy", term));
    // The claims' expiries go back 61 s, as if their renewals had stopped.
    REQUIRE_OK(
        admin.Run("UPDATE pv_jobs SET claim_expires_at = claim_expires_at - interval '61 s'"));

    // Only the owner renews, with the right epoch.
    PgJobClaims b(PgTestOptions(*server), "b", seconds(60));
    auto by_b = b.Renew({{"j1", 1}});
    REQUIRE_OK(by_b);
    CHECK(by_b->empty());
    auto renewed = a.Renew({{"j1", 1}, {"j2", 7}, {"gone", 1}});
    REQUIRE_OK(renewed);
    CHECK(*renewed == std::vector<std::string>{"j1"});

    // The leader cannot end a claim whose expiry plus grace is ahead,
    auto held = a.Interrupt("j1", seconds(0), term);
    REQUIRE_OK(held);
    REQUIRE(held->has_value());
    CHECK(**held > seconds(50));
    CHECK(Row(admin, "j1") == "running a -");
    // but ends one whose expiry plus grace has passed, as interrupted,
    auto ended = a.Interrupt("j2", seconds(0), term);
    REQUIRE_OK(ended);
    CHECK_FALSE(ended->has_value());
    CHECK(Row(admin, "j2") == "interrupted a interrupted");
    // after which its owner can renew it no more (the claim is lost), nor
    // finish it.
    auto late = a.Renew({{"j2", 1}});
    REQUIRE_OK(late);
    CHECK(late->empty());
    auto finish = a.Finish("j2", 1, "succeeded");
    REQUIRE_OK(finish);
    CHECK_FALSE(*finish);
    // An ended or unknown claim leaves the workspace free.
    auto again = a.Interrupt("j2", seconds(0), term);
    REQUIRE_OK(again);
    CHECK_FALSE(again->has_value());
    // Ending claims is the leader's: another term is refused.
    auto stale = a.Interrupt("j1", seconds(0), term + 1);
    CHECK(stale.status().message().starts_with("ownership lost"));
  }

  TEST_CASE("coordination: pg job claims: a lost connection is Unavailable, then reconnects") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    PgJobClaims claims(PgTestOptions(*server), "a", seconds(60));
    REQUIRE_OK(claims.Claim("j1", "web", "deploy", term));
    REQUIRE_OK(
        admin.Run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  " WHERE application_name = 'provisioner' AND pid <> pg_backend_pid()"));
    auto renewed = claims.Renew({{"j1", 1}});
    CHECK(renewed.status().code() == Status::Code::kUnavailable);
    renewed = claims.Renew({{"j1", 1}});
    REQUIRE_OK(renewed);
    CHECK(*renewed == std::vector<std::string>{"j1"});
  }
}

}  // namespace
}  // namespace provisioner::coordination
