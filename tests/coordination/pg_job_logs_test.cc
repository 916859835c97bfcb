// PgJobLogs against a real PostgreSQL 15 (tests/support/postgres_server.h).
#include "coordination/pg_job_logs.h"

#include "coordination/pg_job_claims.h"
#include "coordination/pg_lease_db.h"
#include "coordination/pg_state_store.h"
#include "support/pg_test_util.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::coordination {
namespace {

using std::chrono::seconds;
using testing::ConnectOrDie;
using testing::Lead;
using testing::PgTestOptions;
using testing::PostgresServer;
using testing::Scalar;

std::string Joined(const std::vector<JobLogChunk>& chunks) {
  std::string out;
  for (const JobLogChunk& c : chunks) {
    out += std::to_string(c.seq) + (c.final ? "F" : "") + ":" + c.bytes + "|";
  }
  return out;
}

TEST_SUITE("coordination") {
  TEST_CASE("coordination: pg job logs: chunks round trip any bytes, in order, once") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    REQUIRE_OK(MigrateStateSchema(admin, "a", term));
    PgJobLogs logs(PgTestOptions(*server), "a");

    const std::string binary("\0\x01\xff\\x41\n", 7);
    REQUIRE_OK(logs.Append("j1", "web", 0, "", false));
    REQUIRE_OK(logs.Append("j1", "web", 2, "two\n", false));
    REQUIRE_OK(logs.Append("j1", "web", 1, binary, false));
    REQUIRE_OK(logs.Append("j1", "web", 1, "again", false));  // a retry: left as it was
    REQUIRE_OK(logs.Append("j1", "web", 3, "", true));
    auto all = logs.Read("j1", 0, 10);
    REQUIRE_OK(all);
    CHECK(Joined(*all) == "0:|1:" + binary + "|2:two\n|3F:|");
    auto tail = logs.Read("j1", 2, 1);
    REQUIRE_OK(tail);
    CHECK(Joined(*tail) == "2:two\n|");
    auto none = logs.Read("other", 0, 10);
    REQUIRE_OK(none);
    CHECK(none->empty());
    CHECK(Scalar(admin, "SELECT DISTINCT node FROM pv_job_logs") == "a");
  }

  TEST_CASE(
      "coordination: pg job logs: a job is live while claimed, or queued by the live leader in "
      "its term, and old logs are pruned") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    REQUIRE_OK(MigrateStateSchema(admin, "a", term));
    PgJobLogs logs(PgTestOptions(*server), "a");
    PgJobClaims claims(PgTestOptions(*server), "a", seconds(60));

    // Queued by the leader in its term: live.
    REQUIRE_OK(logs.Append("20261205T080000Z-aaaaaa-web", "web", 0, "", false));
    auto queued = logs.Live("20261205T080000Z-aaaaaa-web");
    REQUIRE_OK(queued);
    CHECK(*queued);
    // Claimed: live; its claim ended: not.
    auto epoch = claims.Claim("20261205T080000Z-aaaaaa-web", "web", "deploy", term);
    REQUIRE_OK(epoch);
    auto claimed = logs.Live("20261205T080000Z-aaaaaa-web");
    REQUIRE_OK(claimed);
    CHECK(*claimed);
    REQUIRE_OK(claims.Finish("20261205T080000Z-aaaaaa-web", *epoch, "succeeded"));
    auto ended = logs.Live("20261205T080000Z-aaaaaa-web");
    REQUIRE_OK(ended);
    CHECK(!*ended);
    // Queued by a node that does not lead, or by the leader in an earlier
    // term (it crashed and came back): not live.
    PgJobLogs other(PgTestOptions(*server), "b");
    REQUIRE_OK(other.Append("20261205T080100Z-bbbbbb-web", "web", 0, "", false));
    auto foreign = logs.Live("20261205T080100Z-bbbbbb-web");
    REQUIRE_OK(foreign);
    CHECK(!*foreign);
    REQUIRE_OK(logs.Append("20261205T080200Z-cccccc-web", "web", 0, "", false));
    REQUIRE_OK(admin.Run("UPDATE pv_leader SET acquired_at = clock_timestamp()"));
    auto earlier = logs.Live("20261205T080200Z-cccccc-web");
    REQUIRE_OK(earlier);
    CHECK(!*earlier);

    // Records: kept once, read back oldest first.
    REQUIRE_OK(logs.RecordJob("20261205T080100Z-bbbbbb-web", "web", R"({"id": "b"})"));
    REQUIRE_OK(logs.RecordJob("20261205T080000Z-aaaaaa-web", "web", R"({"id": "a"})"));
    REQUIRE_OK(logs.RecordJob("20261205T080000Z-aaaaaa-web", "web", R"({"id": "again"})"));
    auto history = logs.History("web");
    REQUIRE_OK(history);
    CHECK(*history == std::vector<std::string>{R"({"id": "a"})", R"({"id": "b"})"});

    // Pruning keeps the newest jobs of the workspace only, logs and records.
    REQUIRE_OK(logs.Append("20261205T080300Z-dddddd-db", "db", 0, "", false));
    auto pruned = logs.Prune("web", 2);
    REQUIRE_OK(pruned);
    CHECK(*pruned == 2);  // job aaaaaa's chunk and record
    CHECK(Scalar(admin, "SELECT string_agg(job_id, ',' ORDER BY job_id) FROM pv_job_logs") ==
          "20261205T080100Z-bbbbbb-web,20261205T080200Z-cccccc-web,20261205T080300Z-dddddd-db");
    CHECK(Scalar(admin, "SELECT string_agg(job_id, ',') FROM pv_job_history") ==
          "20261205T080100Z-bbbbbb-web");
  }
}

}  // namespace
}  // namespace provisioner::coordination
