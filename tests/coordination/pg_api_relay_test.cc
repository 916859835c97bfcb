// PgApiRelay against a real PostgreSQL 15 (tests/support/postgres_server.h).
#include "coordination/pg_api_relay.h"

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
using testing::Lead;
using testing::PgTestOptions;
using testing::PostgresServer;
using testing::Scalar;

RelayedAnswer Answered(int status, std::string body = "") {
  RelayedAnswer a;
  a.status = status;
  a.content_type = "application/json";
  a.body = std::move(body);
  return a;
}

RelayedRequest Deploy(const std::string& workspace) {
  RelayedRequest r;
  r.method = "POST";
  r.route = "/api/v1/workspaces/:name/deploy";
  r.path = "/api/v1/workspaces/" + workspace + "/deploy";
  r.params = {{"name", workspace}};
  r.query = {{"x", "a \"quoted\" value"}};
  r.body = R"({"until": "2026-12-05T23:00:00Z"})";
  r.user = "alice";
  r.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  r.mutating = true;
  return r;
}

TEST_SUITE("coordination") {
  TEST_CASE(
      "coordination: pg api relay: a standby's request reaches the leader, which answers it "
      "fenced") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    PgApiRelay leader(PgTestOptions(*server), "a");
    PgApiRelay standby(PgTestOptions(*server), "b");

    // The leader listens first (the first call only subscribes), and the
    // first Pending migrates the schema.
    auto first = leader.AwaitRequests(milliseconds(0));
    REQUIRE_OK(first);
    CHECK(*first);
    auto none = leader.Pending(term, 10);
    REQUIRE_OK(none);
    CHECK(none->empty());
    auto quiet = leader.AwaitRequests(milliseconds(50));
    REQUIRE_OK(quiet);
    CHECK(!*quiet);  // nothing was sent

    const RelayedRequest sent = Deploy("web");
    auto id = standby.Submit(sent);
    REQUIRE_OK(id);
    // The NOTIFY of the commit wakes the leader.
    auto woke = leader.AwaitRequests(seconds(10));
    REQUIRE_OK(woke);
    CHECK(*woke);
    auto unanswered = standby.Answer(*id);
    REQUIRE_OK(unanswered);
    CHECK(!unanswered->has_value());

    auto pending = leader.Pending(term, 10);
    REQUIRE_OK(pending);
    REQUIRE(pending->size() == 1);
    RelayedRequest expected = sent;
    expected.id = *id;
    expected.node = "b";
    CHECK((*pending)[0] == expected);

    // A node that no longer leads under the term cannot answer.
    auto stale = leader.Reply(*id, term - 1, Answered(202));
    CHECK(stale.status().code() == Status::Code::kFailedPrecondition);
    CHECK(stale.status().message().starts_with("ownership lost"));

    const RelayedAnswer answer = Answered(202, R"({"j":1})");
    auto replied = leader.Reply(*id, term, answer);
    REQUIRE_OK(replied);
    CHECK(*replied);
    auto again = leader.Reply(*id, term, answer);  // answered already
    REQUIRE_OK(again);
    CHECK(!*again);
    auto after = leader.Pending(term, 10);
    REQUIRE_OK(after);
    CHECK(after->empty());

    auto got = standby.Answer(*id);
    REQUIRE_OK(got);
    REQUIRE(got->has_value());
    CHECK((*got)->status == 202);
    CHECK((*got)->content_type == "application/json");
    CHECK((*got)->body == R"({"j":1})");
    CHECK((*got)->answered_by == "a");
    CHECK((*got)->term == term);
    // Read once: the row is gone.
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_api_requests") == "0");
  }

  TEST_CASE(
      "coordination: pg api relay: withdrawn reads, commands kept for the next leader, pruning, "
      "a lost connection") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    PgApiRelay leader(PgTestOptions(*server), "a");
    PgApiRelay standby(PgTestOptions(*server), "b");
    REQUIRE_OK(leader.Pending(term, 10));  // migrates

    RelayedRequest read;
    read.method = "GET";
    read.route = read.path = "/api/v1/workspaces";
    auto read_id = standby.Submit(read);
    REQUIRE_OK(read_id);
    auto withdrawn = standby.Withdraw(*read_id);
    REQUIRE_OK(withdrawn);
    CHECK(*withdrawn);
    // Answered before the withdrawal: the answer stays to be read.
    auto read2 = standby.Submit(read);
    REQUIRE_OK(read2);
    REQUIRE_OK(leader.Reply(*read2, term, Answered(200)));
    auto late = standby.Withdraw(*read2);
    REQUIRE_OK(late);
    CHECK(!*late);

    // An unanswered command outlives pruning; an old answer does not.
    auto cmd = standby.Submit(Deploy("web"));
    REQUIRE_OK(cmd);
    REQUIRE_OK(admin.Run("UPDATE pv_api_requests SET created_at = created_at - interval '1 hour'"));
    auto pruned = leader.Prune(seconds(600));
    REQUIRE_OK(pruned);
    CHECK(*pruned == 1);
    CHECK(Scalar(admin, "SELECT string_agg(id::text, ',') FROM pv_api_requests") ==
          std::to_string(*cmd));

    // The leader's listening session is killed: the wait reports it, and
    // the next one listens again on a new connection and hears the NOTIFY.
    REQUIRE_OK(leader.AwaitRequests(milliseconds(0)));
    REQUIRE_OK(admin.Run(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"));
    Result<bool> lost = false;
    REQUIRE(testing::WaitUntil(
        [&] {
          lost = leader.AwaitRequests(milliseconds(100));
          return !lost.ok();
        },
        seconds(10)));
    CHECK(lost.status().code() == Status::Code::kUnavailable);
    auto relisten = leader.AwaitRequests(milliseconds(0));
    REQUIRE_OK(relisten);
    CHECK(*relisten);
    REQUIRE_OK(standby.Submit(Deploy("db")));
    auto heard = leader.AwaitRequests(seconds(10));
    REQUIRE_OK(heard);
    CHECK(*heard);
    auto pending = leader.Pending(term, 10);
    REQUIRE_OK(pending);
    CHECK(pending->size() == 2);  // the kept command, then the new one

    // A row edited by hand into something else is reported, not skipped.
    REQUIRE_OK(admin.Run("UPDATE pv_api_requests SET query = '{\"a\": 1}' WHERE id = $1::bigint",
                         {std::to_string(*cmd)}));
    auto corrupt = leader.Pending(term, 10);
    REQUIRE_OK(corrupt);
    REQUIRE(corrupt->size() == 2);
    CHECK((*corrupt)[0].problem == "Corruption: pv_api_requests.query.a is not a string");
    CHECK((*corrupt)[1].problem.empty());
  }
}

}  // namespace
}  // namespace provisioner::coordination
