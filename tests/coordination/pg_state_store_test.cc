// PgStateStore and MigrateStateSchema against a real PostgreSQL 15
// (tests/support/postgres_server.h).
#include "coordination/pg_state_store.h"

#include <atomic>
#include <map>

#include "base/time_format.h"
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
using testing::PostgresServer;
using testing::Scalar;
using testing::WaitUntil;

// The Coordinator the store asks for its term; the test says who leads.
class FakeCoordinator final : public Coordinator {
 public:
  FakeCoordinator(bool leader, int64_t term) : leader_(leader), term_(term) {}
  bool IsLeader() const override { return leader_; }
  int64_t term() const override { return term_; }
  CoordinationStatus status() const override { return CoordinationStatus{}; }
  void Set(bool leader, int64_t term) {
    leader_ = leader;
    term_ = term;
  }

 private:
  std::atomic<bool> leader_;
  std::atomic<int64_t> term_;
};

SystemTime T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

// name -> the row's version (xmin): a row that was written again has a new one.
std::map<std::string, std::string> RowVersions(PgConnection& conn) {
  auto rows = conn.Exec("SELECT name, xmin::text FROM pv_workspaces");
  REQUIRE_OK(rows);
  std::map<std::string, std::string> out;
  for (const PgRow& row : *rows) out.emplace(*row[0], *row[1]);
  return out;
}

// What a follower reads.
state::State LoadOrDie(const PostgresServer& server) {
  FakeCoordinator follower(false, 0);
  PgStateStore reader(testing::PgTestOptions(server), "reader", follower);
  auto report = reader.Load();
  REQUIRE_OK(report);
  CHECK_FALSE(report->fresh);
  return report->state;
}

state::JobRecord Job(const std::string& id) {
  state::JobRecord j;
  j.id = id;
  j.workspace = "dev-env";
  j.operation = state::Operation::kDestroy;
  j.trigger = state::Trigger::kCatchUp;
  j.scheduled_for = T("2026-11-23T18:00:00Z");
  j.started_at = T("2026-11-23T18:00:01.250Z");
  j.finished_at = T("2026-11-23T18:02:00Z");
  j.result = state::JobResult::kSucceeded;
  j.exit_code = 0;
  j.attempt = 2;
  j.changes = {0, 1, 5};
  j.error = "Error: \"quotes\", a tab\t, and ünïcödé";
  j.log_path = "/var/lib/provisioner/jobs/dev-env/" + id + ".log";
  j.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  j.drift = true;
  return j;
}

// Every field of the record set to something other than its default.
state::State RichState() {
  state::State s;
  s.last_seen = T("2026-11-23T18:05:00.123Z");
  state::WorkspaceState& a = s.workspaces["dev-env"];
  a.actual = state::Actual::kDestroyed;
  a.actual_since = T("2026-11-23T18:02:00Z");
  a.last_fire = T("2026-11-23T18:00:00Z");
  a.manual.push_back(
      {state::Operation::kDeploy, T("2026-11-23T20:00:00Z"), T("2026-11-23T22:00:00Z"), "alice"});
  a.manual.push_back({state::Operation::kDestroy, T("2026-11-23T23:00:00.5Z"), std::nullopt, ""});
  a.pause = state::PauseWindow{T("2026-11-24T00:00:00Z"), T("2026-11-25T00:00:00Z"), "bob"};
  a.last_job = Job("20261123T180000Z-a1b2c3");
  a.retry = state::RetryState{state::Operation::kDeploy, 2, T("2026-11-23T18:10:00Z")};
  a.drift = true;
  a.saved_seconds = 45000.123456789;
  state::WorkspaceState& b = s.workspaces["qa"];
  b.actual = state::Actual::kDeployed;
  b.orphaned = true;
  state::JobRecord running = Job("20261123T190000Z-ffffff");
  running.finished_at.reset();
  running.result.reset();
  running.exit_code.reset();
  running.process =
      platform::ProcessIdentity{31337, 1234567890123, "9f1c2a4e-6b1d-4b1e-9a53-0c5d8f2e7a10"};
  b.running = running;
  b.gave_up_for = T("2026-11-23T08:00:00Z");
  b.saved_seconds = 0.1;
  s.workspaces["staging"];  // all defaults
  return s;
}

TEST_SUITE("coordination") {
  TEST_CASE("coordination: pg state store: an empty database loads fresh, also on a follower") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    FakeCoordinator follower(false, 0);
    PgStateStore store(testing::PgTestOptions(*server), "b", follower);
    CHECK(store.Describe() == "PostgreSQL");

    // Never migrated: no tables, and a load creates none.
    auto first = store.Load();
    REQUIRE_OK(first);
    CHECK(first->fresh);
    CHECK(first->state == state::State{});
    CHECK(Scalar(admin, "SELECT to_regclass('pv_state_meta') IS NULL") == "t");

    // Migrated, nothing saved yet.
    const int64_t term = Lead(admin, "a");
    REQUIRE_OK(MigrateStateSchema(admin, "a", term));
    auto second = store.Load();
    REQUIRE_OK(second);
    CHECK(second->fresh);
    CHECK(second->state == state::State{});
    CHECK(store.fenced_rejections() == 0);
  }

  TEST_CASE("coordination: pg state store: migrate, save and load round trip every field") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    REQUIRE_OK(MigrateStateSchema(admin, "a", term));
    CHECK(Scalar(admin, "SELECT schema_version FROM pv_schema") == std::to_string(kSchemaVersion));
    REQUIRE_OK(MigrateStateSchema(admin, "a", term));  // current: a no-op
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_schema") == "1");
    // A database of version 1 (before the job claims, the API relay and
    // the job logs) gets pv_jobs, pv_api_requests and pv_job_logs.
    REQUIRE_OK(admin.Run("DROP TABLE pv_jobs"));
    REQUIRE_OK(admin.Run("DROP TABLE pv_api_requests"));
    REQUIRE_OK(admin.Run("DROP TABLE pv_job_logs"));
    REQUIRE_OK(admin.Run("DROP TABLE pv_job_history"));
    REQUIRE_OK(admin.Run("UPDATE pv_schema SET schema_version = 1"));
    REQUIRE_OK(MigrateStateSchema(admin, "a", term));
    CHECK(Scalar(admin, "SELECT schema_version FROM pv_schema") == "4");
    CHECK(Scalar(admin, "SELECT to_regclass('pv_job_logs') IS NOT NULL") == "t");
    CHECK(Scalar(admin, "SELECT to_regclass('pv_job_history') IS NOT NULL") == "t");
    CHECK(Scalar(admin,
                 "SELECT count(*) FROM pg_indexes WHERE indexname = 'pv_jobs_one_running'") == "1");
    CHECK(Scalar(admin, "SELECT to_regclass('pv_api_requests') IS NOT NULL") == "t");

    FakeCoordinator leader(true, term);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    const state::State saved = RichState();
    REQUIRE_OK(store.Save(saved));
    CHECK(LoadOrDie(*server) == saved);
    // The rows say who wrote them; last_seen is state.json's text.
    CHECK(Scalar(admin, "SELECT last_seen FROM pv_state_meta") == "2026-11-23T18:05:00.123Z");
    CHECK(Scalar(admin, "SELECT written_term FROM pv_state_meta") == std::to_string(term));
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_workspaces WHERE written_term = $1::bigint",
                 {std::to_string(term)}) == "3");
    CHECK(Scalar(admin,
                 "SELECT record->'running'->'process'->>'pid' FROM pv_workspaces"
                 " WHERE name = 'qa'") == "31337");

    // No last_seen, and no workspaces at all.
    state::State empty;
    REQUIRE_OK(store.Save(empty));
    CHECK(Scalar(admin, "SELECT last_seen IS NULL FROM pv_state_meta") == "t");
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_workspaces") == "0");
    CHECK(LoadOrDie(*server) == empty);
  }

  TEST_CASE(
      "coordination: pg state store: a save writes only the workspaces that changed and deletes "
      "removed ones") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term1 = Lead(admin, "a");
    FakeCoordinator leader(true, term1);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    state::State s = RichState();  // dev-env, qa, staging
    REQUIRE_OK(store.Save(s));     // the first save migrates
    const auto before = RowVersions(admin);
    REQUIRE(before.size() == 3);

    // A new term of the same node: rows it does not rewrite keep the old one.
    auto released = ReleaseLease(admin, "a", term1);
    REQUIRE_OK(released);
    const int64_t term2 = Lead(admin, "a");
    REQUIRE(term2 == term1 + 1);
    leader.Set(true, term2);
    s.workspaces["qa"].actual = state::Actual::kDestroyed;
    s.workspaces.erase("staging");
    s.workspaces["new-one"].actual = state::Actual::kDeployed;
    s.last_seen = T("2026-11-23T19:00:00Z");
    REQUIRE_OK(store.Save(s));
    const auto after = RowVersions(admin);
    CHECK(after.size() == 3);
    CHECK(after.at("dev-env") == before.at("dev-env"));
    CHECK(after.at("qa") != before.at("qa"));
    CHECK(after.count("staging") == 0);
    CHECK(after.count("new-one") == 1);
    CHECK(Scalar(admin,
                 "SELECT string_agg(name || '=' || written_term, ',' ORDER BY name)"
                 " FROM pv_workspaces") == "dev-env=" + std::to_string(term1) +
                                               ",new-one=" + std::to_string(term2) +
                                               ",qa=" + std::to_string(term2));
    CHECK(Scalar(admin, "SELECT written_term FROM pv_state_meta") == std::to_string(term2));
    CHECK(LoadOrDie(*server) == s);

    // The same state again: no workspace row is written.
    REQUIRE_OK(store.Save(s));
    CHECK(RowVersions(admin) == after);

    // A store that loads, then saves what it loaded, writes no workspace
    // either: it compares with its own text, not jsonb's.
    PgStateStore restarted(testing::PgTestOptions(*server), "a", leader);
    auto loaded = restarted.Load();
    REQUIRE_OK(loaded);
    REQUIRE_OK(restarted.Save(loaded->state));
    CHECK(RowVersions(admin) == after);

    // `store` has not seen restarted's save: its cache is stale, so it
    // writes every workspace rather than trust it.
    state::State other = loaded->state;
    other.workspaces["dev-env"].actual = state::Actual::kUnknown;
    other.workspaces["extra"];
    REQUIRE_OK(restarted.Save(other));
    REQUIRE_OK(store.Save(s));
    const auto rewritten = RowVersions(admin);
    CHECK(rewritten.size() == 3);  // "extra" deleted
    for (const auto& row : rewritten) {
      CAPTURE(row.first);
      CHECK(row.second != after.at(row.first));
    }
    CHECK(LoadOrDie(*server) == s);
    CHECK(store.fenced_rejections() == 0);
  }

  TEST_CASE("coordination: pg state store: a node that lost the lease writes nothing") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection a = ConnectOrDie(*server);
    PgConnection b = ConnectOrDie(*server);
    const int64_t term = Lead(a, "a", milliseconds(2000));
    FakeCoordinator leader(true, term);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    const state::State saved = RichState();
    REQUIRE_OK(store.Save(saved));
    const auto versions = RowVersions(a);
    const std::string meta = Scalar(a, "SELECT xmin::text FROM pv_state_meta");

    // a stops renewing; b takes over once the lease expires on the database's clock.
    Result<LeaseRow> taken = Status::Unavailable("not tried");
    REQUIRE(WaitUntil(
        [&] {
          taken = AcquireOrRenew(b, "b", std::nullopt, seconds(60));
          return taken.ok() && taken->holder == "b";
        },
        seconds(20)));
    REQUIRE(taken->term == term + 1);

    // a's coordinator has not noticed yet: the fence refuses the write.
    state::State changed = saved;
    changed.workspaces["dev-env"].actual = state::Actual::kDeployed;
    changed.workspaces.erase("qa");
    Status fenced = store.Save(changed);
    CHECK(fenced.code() == Status::Code::kFailedPrecondition);
    CHECK(fenced.message() == "ownership lost: term=" + std::to_string(term + 1) +
                                  " holder=b (this node wrote as term " + std::to_string(term) +
                                  ")");
    CHECK(store.fenced_rejections() == 1);
    CHECK(RowVersions(a) == versions);
    CHECK(Scalar(a, "SELECT xmin::text FROM pv_state_meta") == meta);
    CHECK(LoadOrDie(*server) == saved);

    // Once it has noticed, it does not even try.
    leader.Set(false, term);
    Status refused = store.Save(changed);
    CHECK(refused.code() == Status::Code::kFailedPrecondition);
    CHECK(refused.message() == "ownership lost: this node is not the leader");
    CHECK(store.fenced_rejections() == 2);
    // Only the leader migrates.
    CHECK(MigrateStateSchema(a, "a", term).message().starts_with("ownership lost: "));
    CHECK(LoadOrDie(*server) == saved);

    // The new leader writes under its term.
    FakeCoordinator b_leader(true, taken->term);
    PgStateStore b_store(testing::PgTestOptions(*server), "b", b_leader);
    REQUIRE_OK(b_store.Save(changed));
    CHECK(LoadOrDie(*server) == changed);
  }

  TEST_CASE(
      "coordination: pg state store: a state loaded under one term is never saved under "
      "the next") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection a = ConnectOrDie(*server);
    const int64_t term = Lead(a, "a", milliseconds(1000));
    FakeCoordinator leader(true, term);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    const state::State saved = RichState();
    REQUIRE_OK(store.Save(saved));
    REQUIRE_OK(store.Load());  // as the leader, under `term`
    // The lease lapses and comes back to the same node under a new term:
    // another node may have led in between, so the state loaded before is
    // not to be written back.
    Result<LeaseRow> back = Status::Unavailable("not tried");
    REQUIRE(WaitUntil(
        [&] {
          back = AcquireOrRenew(a, "a", std::nullopt, seconds(60));
          return back.ok() && back->term == term + 1;
        },
        seconds(20)));
    leader.Set(true, term + 1);
    state::State stale = saved;
    stale.workspaces.erase("qa");
    Status fenced = store.Save(stale);
    CHECK(fenced.code() == Status::Code::kFailedPrecondition);
    CHECK(fenced.message() == "ownership lost: term=" + std::to_string(term + 1) +
                                  " holder=a (this node wrote as term " + std::to_string(term) +
                                  ")");
    CHECK(LoadOrDie(*server) == saved);
    // A load under the new term makes the state this term's.
    REQUIRE_OK(store.Load());
    REQUIRE_OK(store.Save(stale));
    CHECK(LoadOrDie(*server) == stale);
  }

  TEST_CASE("coordination: pg state store: a newer schema or state version is refused") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    FakeCoordinator leader(true, term);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    REQUIRE_OK(store.Save(RichState()));

    const std::string newer = std::to_string(kSchemaVersion + 1);
    REQUIRE_OK(admin.Run("UPDATE pv_schema SET schema_version = $1::integer", {newer}));
    Status migrate = MigrateStateSchema(admin, "a", term);
    CHECK(migrate.code() == Status::Code::kFailedPrecondition);
    CHECK(migrate.message() == "the database's schema is version " + newer +
                                   "; this provisioner understands up to " +
                                   std::to_string(kSchemaVersion) + ": upgrade it");
    CHECK(Scalar(admin, "SELECT schema_version FROM pv_schema") == newer);
    auto load = store.Load();
    CHECK(load.status().code() == Status::Code::kFailedPrecondition);
    CHECK(load.status().message() == migrate.message());
    // A new connection migrates before its first save, and refuses too.
    PgStateStore restarted(testing::PgTestOptions(*server), "a", leader);
    Status save = restarted.Save(RichState());
    CHECK(save.code() == Status::Code::kFailedPrecondition);
    CHECK(save.message() == "saving the state to PostgreSQL: " + migrate.message());
    CHECK(restarted.fenced_rejections() == 0);  // not a fence rejection

    REQUIRE_OK(admin.Run("UPDATE pv_schema SET schema_version = $1::integer",
                         {std::to_string(kSchemaVersion)}));
    REQUIRE_OK(admin.Run("UPDATE pv_state_meta SET state_version = 2"));
    load = store.Load();
    CHECK(load.status().code() == Status::Code::kFailedPrecondition);
    CHECK(load.status().message() ==
          "state version 2 is newer than this provisioner reads (1); upgrade provisioner");
  }

  TEST_CASE("coordination: pg state store: a corrupt row is Corruption naming the workspace") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    FakeCoordinator leader(true, term);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    REQUIRE_OK(store.Save(RichState()));

    REQUIRE_OK(admin.Run(R"(UPDATE pv_workspaces SET record = '{"actual":"up"}')"
                         " WHERE name = 'dev-env'"));
    auto load = store.Load();
    REQUIRE_FALSE(load.ok());
    CHECK(load.status().IsCorruption());
    CHECK(load.status().message() ==
          "loading the state from PostgreSQL: pv_workspaces: workspaces.dev-env.actual: \"up\" is "
          "not one of unknown, deployed, destroyed");

    REQUIRE_OK(admin.Run(R"(UPDATE pv_workspaces SET record = '[1]' WHERE name = 'dev-env')"));
    load = store.Load();
    CHECK(load.status().IsCorruption());
    CHECK(load.status().message().ends_with("workspaces.dev-env: expected an object"));

    // Rows without the meta row were not written by a save: starting empty
    // would delete them.
    REQUIRE_OK(admin.Run("DELETE FROM pv_state_meta"));
    load = store.Load();
    CHECK(load.status().IsCorruption());
    CHECK(load.status().message().find("pv_workspaces has 3 rows but pv_state_meta has none") !=
          std::string::npos);
  }

  TEST_CASE(
      "coordination: pg state store: a save outlives a lost session, and fails while the "
      "server is down") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    FakeCoordinator leader(true, term);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    state::State s = RichState();
    REQUIRE_OK(store.Save(s));

    const std::string pid = std::to_string(store.backend_pid());
    CHECK(Scalar(admin, "SELECT pg_terminate_backend($1::int)", {pid}) == "t");
    REQUIRE(WaitUntil(
        [&] {
          return Scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int",
                        {pid}) == "0";
        },
        seconds(10)));
    // The session is gone: the save finds out, and succeeds on a new one.
    s.workspaces["qa"].running.reset();
    s.workspaces["dev-env"].manual.clear();
    REQUIRE_OK(store.Save(s));
    CHECK(store.backend_pid() != 0);
    CHECK(std::to_string(store.backend_pid()) != pid);
    CHECK(LoadOrDie(*server) == s);

    // With the server down, both tries fail and say so; once it is back,
    // the next save writes.
    REQUIRE(server->Stop());
    s.workspaces["qa"].manual.clear();
    Status down = store.Save(s);
    CHECK(down.code() == Status::Code::kUnavailable);
    CHECK(down.message().starts_with("saving the state to PostgreSQL: "));
    CHECK(store.backend_pid() == 0);
    REQUIRE(server->Start());
    REQUIRE_OK(store.Save(s));
    CHECK(LoadOrDie(*server) == s);
    CHECK(store.fenced_rejections() == 0);
  }

  TEST_CASE(
      "coordination: pg state store: a commit whose outcome is lost makes the next save write "
      "every workspace") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    FakeCoordinator leader(true, term);
    PgStateStore store(testing::PgTestOptions(*server), "a", leader);
    state::State s = RichState();
    REQUIRE_OK(store.Save(s));
    const auto before = RowVersions(admin);

    // The session dies inside COMMIT (a deferred trigger ends its own backend).
    REQUIRE_OK(admin.Run(
        "CREATE FUNCTION pv_test_die() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(10); RETURN NULL;"
        " END $$"));
    REQUIRE_OK(
        admin.Run("CREATE CONSTRAINT TRIGGER pv_test_die AFTER INSERT OR UPDATE ON pv_state_meta"
                  " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pv_test_die()"));
    s.workspaces["qa"].actual = state::Actual::kDestroyed;
    Status lost = store.Save(s);
    CHECK(lost.code() == Status::Code::kUnavailable);
    CHECK(lost.message().starts_with("saving the state to PostgreSQL: COMMIT: "));
    REQUIRE_OK(admin.Run("DROP TRIGGER pv_test_die ON pv_state_meta"));
    CHECK(RowVersions(admin) == before);  // it did not commit, as it happens

    // The store cannot know that: it writes every workspace again.
    REQUIRE_OK(store.Save(s));
    const auto after = RowVersions(admin);
    REQUIRE(after.size() == before.size());
    for (const auto& row : after) {
      CAPTURE(row.first);
      CHECK(row.second != before.at(row.first));
    }
    CHECK(LoadOrDie(*server) == s);
  }
}

}  // namespace
}  // namespace provisioner::coordination
