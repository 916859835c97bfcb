// JobLogShipper (app/job_log_shipper.h) against a real PostgreSQL 15: a
// job's log file copied into pv_job_logs as it grows, capped, and closed.
#include "app/job_log_shipper.h"

#include <fstream>

#include "coordination/pg_lease_db.h"
#include "coordination/pg_state_store.h"
#include "platform/posix_file_system.h"
#include "support/pg_test_util.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::app {
namespace {

using coordination::PgConnection;
using coordination::PgJobLogs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ConnectOrDie;
using testing::Lead;
using testing::PgTestOptions;
using testing::PostgresServer;
using testing::Scalar;

void Append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
}

// What the database holds of `job`: its chunks' bytes, and whether the
// last is final.
std::string Stored(SharedJobsOnPg& logs, const std::string& job, bool* final) {
  auto chunks = logs.Read(job, 0, 1000);
  REQUIRE_OK(chunks);
  std::string out;
  *final = false;
  for (const auto& c : *chunks) {
    out += c.bytes;
    *final = c.final;
  }
  return out;
}

// A database whose schema node "a" migrated as leader, a temp dir, and the
// shipper's and the readers' connections.
struct Rig {
  std::unique_ptr<PostgresServer> server;
  PgConnection admin;
  testing::TempDir dir;
  platform::PosixFileSystem fs;
  PgJobLogs out_db;
  PgJobLogs in_db;
  SharedJobsOnPg logs;

  static std::unique_ptr<Rig> StartOrSkip() {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return nullptr;
    PgConnection admin = ConnectOrDie(*server);
    REQUIRE_OK(coordination::MigrateStateSchema(admin, "a", Lead(admin, "a")));
    return std::unique_ptr<Rig>(new Rig(std::move(server), std::move(admin)));
  }

 private:
  Rig(std::unique_ptr<PostgresServer> s, PgConnection a)
      : server(std::move(s)),
        admin(std::move(a)),
        out_db(PgTestOptions(*server), "a"),
        in_db(PgTestOptions(*server), "a"),
        logs(in_db) {}
};

TEST_SUITE("app") {
  TEST_CASE(
      "app: job log shipper: a log is in the database from the queueing, grows with the file, "
      "is capped with a note, and ends with the job") {
    auto rig = Rig::StartOrSkip();
    if (!rig) return;
    PgConnection& admin = rig->admin;
    testing::TempDir& dir = rig->dir;
    SharedJobsOnPg& logs = rig->logs;

    JobLogShipper::Options options;
    options.node = "a";
    options.interval = milliseconds(20);
    options.chunk_bytes = 8;
    options.max_bytes = 40;
    options.keep = [] { return 1; };
    JobLogShipper shipper(rig->out_db, rig->fs, options);
    shipper.Start();

    state::JobRecord job;
    job.id = "20261205T080000Z-aaaaaa-web";
    job.workspace = "web";
    job.log_path = dir.Join("web.log");
    shipper.OnJobQueued(job, scheduler::JobTrace{});
    bool final = true;
    REQUIRE(testing::WaitUntil([&] { return logs.Read(job.id, 0, 1)->size() == 1; }, seconds(10)));
    CHECK(Stored(logs, job.id, &final).empty());
    CHECK(!final);

    shipper.OnJobStarted(job, milliseconds(0));
    Append(job.log_path, "$ tofu init\nInitializing...\n");  // 28 bytes: 4 chunks
    REQUIRE(testing::WaitUntil(
        [&] { return Stored(logs, job.id, &final) == "$ tofu init\nInitializing...\n"; },
        seconds(10)));
    CHECK(Scalar(admin, "SELECT max(length(chunk)) FROM pv_job_logs") == "8");
    Append(job.log_path, "$ tofu apply\nmore than the cap allows\n");
    shipper.OnJobFinished(job, tofu::JobOutcome{});
    REQUIRE(testing::WaitUntil(
        [&] {
          Stored(logs, job.id, &final);
          return final;
        },
        seconds(10)));
    // 40 bytes end just before a newline: the note starts on a line of its own.
    const std::string note =
        "# provisioner: the log kept in PostgreSQL ends here, at 40 bytes; "
        "node a has all of it in " +
        job.log_path + "\n";
    CHECK(Stored(logs, job.id, &final) == "$ tofu init\nInitializing...\n$ tofu apply\n" + note);
    // Its record came before the final chunk.
    auto history = logs.History("web");
    REQUIRE_OK(history);
    REQUIRE(history->size() == 1);
    CHECK((*history)[0].id == job.id);

    // A job cancelled before it started: its log is one empty chunk, then
    // the end. With keep = 1, the older job's log is pruned.
    state::JobRecord cancelled;
    cancelled.id = "20261205T080100Z-bbbbbb-web";
    cancelled.workspace = "web";
    shipper.OnJobQueued(cancelled, scheduler::JobTrace{});
    shipper.OnJobFinished(cancelled, tofu::JobOutcome{});
    REQUIRE(testing::WaitUntil(
        [&] {
          return Scalar(admin, "SELECT string_agg(DISTINCT job_id, ',') FROM pv_job_logs") ==
                 cancelled.id;
        },
        seconds(10)));
    CHECK(Stored(logs, cancelled.id, &final).empty());
    CHECK(final);
    shipper.Stop();
  }

  TEST_CASE("app: job log shipper: the database away delays the copy, and it resumes") {
    auto rig = Rig::StartOrSkip();
    if (!rig) return;
    PgConnection& admin = rig->admin;
    testing::TempDir& dir = rig->dir;
    SharedJobsOnPg& logs = rig->logs;
    std::mutex mu;
    std::vector<std::string> errors;
    JobLogShipper::Options options;
    options.node = "a";
    options.interval = milliseconds(20);
    options.on_error = [&](const Status& s) {
      std::lock_guard<std::mutex> lock(mu);
      errors.push_back(s.ToString());
    };
    JobLogShipper shipper(rig->out_db, rig->fs, options);
    shipper.Start();

    // The table is gone for a while: every append fails.
    REQUIRE_OK(admin.Run("ALTER TABLE pv_job_logs RENAME TO pv_job_logs_away"));
    state::JobRecord job;
    job.id = "20261205T080000Z-aaaaaa-web";
    job.workspace = "web";
    job.log_path = dir.Join("web.log");
    Append(job.log_path, "line 1\n");
    shipper.OnJobQueued(job, scheduler::JobTrace{});
    shipper.OnJobStarted(job, milliseconds(0));
    shipper.OnJobFinished(job, tofu::JobOutcome{});
    REQUIRE(testing::WaitUntil(
        [&] {
          std::lock_guard<std::mutex> lock(mu);
          return !errors.empty();
        },
        seconds(10)));
    REQUIRE_OK(admin.Run("ALTER TABLE pv_job_logs_away RENAME TO pv_job_logs"));
    bool final = false;
    REQUIRE(testing::WaitUntil([&] { return Stored(logs, job.id, &final) == "line 1\n" && final; },
                               seconds(10)));
    shipper.Stop();
    std::lock_guard<std::mutex> lock(mu);
    CHECK(errors.size() == 1);  // told once, not at every pass
    CHECK(errors[0].find("pv_job_logs") != std::string::npos);
  }
}

}  // namespace
}  // namespace provisioner::app
