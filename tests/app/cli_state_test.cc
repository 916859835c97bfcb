// `provisioner state export|import` in-process, against a real PostgreSQL 15
// (tests/support/postgres_server.h) where they need one.
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "app/cli.h"
#include "app/ha_dsn.h"
#include "base/time_format.h"
#include "coordination/pg_lease_db.h"
#include "coordination/pg_state_store.h"
#include "platform/file_lock.h"
#include "platform/filename.h"
#include "platform/posix_file_system.h"
#include "state/state_json.h"
#include "support/cli_run.h"
#include "support/fake_clock.h"
#include "support/memory_file_system.h"
#include "support/pg_test_util.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::app {
namespace {

using coordination::PgConnection;
using coordination::PgOptions;
using std::chrono::seconds;
using testing::ConnectOrDie;
using testing::PostgresServer;

using Run = testing::CliRun;

Run Cli(std::vector<std::string> args) {
  return testing::RunCliInProcess(args, *ParseRfc3339("2026-11-24T12:00:00Z"));
}

// A node's files: config.yaml (HA on, state.dir and ha.dsn_file relative to
// it), the DSN file and an empty state dir.
struct Node {
  testing::TempDir tmp;
  explicit Node(const std::string& dsn, bool ha_enabled = true) {
    testing::WriteFileOrDie(tmp.Join("ha.dsn"), "  " + dsn + "\n");
    REQUIRE(::mkdir(state_dir().c_str(), 0755) == 0);
    testing::WriteFileOrDie(config(), std::string("state: {dir: state}\nha: {enabled: ") +
                                          (ha_enabled ? "true" : "false") +
                                          ", dsn_file: ha.dsn}\nworkspaces: []\n");
  }
  std::string config() const { return tmp.Join("config.yaml"); }
  std::string state_dir() const { return tmp.Join("state"); }
  std::string state_json() const { return platform::StateFileName(state_dir()); }
  std::string dsn_file() const { return tmp.Join("ha.dsn"); }
};

SystemTime T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

state::JobRecord Job(const std::string& workspace, const std::string& id) {
  state::JobRecord j;
  j.id = id;
  j.workspace = workspace;
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
  j.log_path = "/var/lib/provisioner/jobs/" + workspace + "/" + id + ".log";
  j.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  j.drift = true;
  return j;
}

// What a single node's state.json holds after a while: manual actions, a
// pause, finished and running jobs, a retry, an orphan, and a workspace with
// nothing set.
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
  a.last_job = Job("dev-env", "20261123T180000Z-a1b2c3");
  a.retry = state::RetryState{state::Operation::kDeploy, 2, T("2026-11-23T18:10:00Z")};
  a.drift = true;
  a.saved_seconds = 45000.123456789;
  state::WorkspaceState& b = s.workspaces["qa"];
  b.actual = state::Actual::kDeployed;
  b.orphaned = true;
  state::JobRecord running = Job("qa", "20261123T190000Z-ffffff");
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

// pv_leader's holder, term and whether its lease is live: "node-a 1 live".
std::string Leader(PgConnection& conn) {
  auto rows = conn.Exec(
      "SELECT holder || ' ' || term || ' ' ||"
      " CASE WHEN expires_at > clock_timestamp() THEN 'live' ELSE 'lapsed' END"
      " FROM pv_leader WHERE id = 1");
  REQUIRE_OK(rows);
  REQUIRE(rows->size() == 1);
  return (*rows)[0][0].value_or("NULL");
}

// What a follower of the database reads.
state::LoadReport LoadOrDie(const PostgresServer& server) {
  coordination::AlwaysLeader unused;
  coordination::PgStateStore reader(testing::PgTestOptions(server), "reader", unused);
  auto report = reader.Load();
  REQUIRE_OK(report);
  return *report;
}

TEST_SUITE("app") {
  TEST_CASE("app: state import then export gives back the state.json byte for byte") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    Node node(server->dsn());
    const std::string json = state::StateToJson(RichState());
    testing::WriteFileOrDie(node.state_json(), json);

    // Given a single node's state.json in state.dir, when it is imported by
    // default, then PostgreSQL holds that state, written under term 1.
    Run imported = Cli({"state", "import", "--config", node.config()});
    CHECK(imported.err == "");
    CHECK(imported.out ==
          "imported 3 workspaces from " + node.state_json() + " into PostgreSQL (term 1)\n");
    REQUIRE(imported.code == 0);
    state::LoadReport loaded = LoadOrDie(*server);
    CHECK_FALSE(loaded.fresh);
    CHECK(loaded.state == RichState());

    // The lease was released: the first daemon takes over at once, as term 2.
    PgConnection admin = ConnectOrDie(*server);
    CHECK(Leader(admin).ends_with(" 1 lapsed"));
    CHECK(Leader(admin).starts_with("import@"));
    auto row = coordination::AcquireOrRenew(admin, "node-a", std::nullopt, seconds(60));
    REQUIRE_OK(row);
    CHECK(row->holder == "node-a");
    CHECK(row->term == 2);

    // Export needs no lease, so it works under a running leader too.
    Run to_stdout = Cli({"state", "export", "--config", node.config()});
    CHECK(to_stdout.code == 0);
    CHECK(to_stdout.err == "");
    CHECK(to_stdout.out == json);

    testing::TempDir out_dir;
    const std::string out_path = out_dir.Join("exported.json");
    Run to_file = Cli({"state", "export", "--config", node.config(), "--output", out_path});
    CHECK(to_file.code == 0);
    CHECK(to_file.out == "exported 3 workspaces from PostgreSQL to " + out_path + "\n");
    CHECK(testing::ReadFileOrDie(out_path) == json);
    struct stat st;
    CHECK(::stat((out_path + ".tmp").c_str(), &st) != 0);  // renamed into place
  }

  TEST_CASE("app: state import refuses while a daemon holds the lease, and changes nothing") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    Node node(server->dsn());
    testing::WriteFileOrDie(node.state_json(), state::StateToJson(RichState()));
    PgConnection admin = ConnectOrDie(*server);
    REQUIRE_OK(coordination::EnsureLeaseTable(admin));
    auto row = coordination::AcquireOrRenew(admin, "node-a", std::nullopt, seconds(60));
    REQUIRE_OK(row);
    REQUIRE(row->term == 1);

    Run r = Cli({"state", "import", "--config", node.config()});
    CHECK(r.code == 1);
    CHECK(r.out == "");
    CHECK(r.err.starts_with(
        "provisioner: a provisioner daemon (node node-a, term 1) leads: stop every node first"));
    CHECK(r.err.find('\n') == r.err.size() - 1);
    CHECK(Leader(admin) == "node-a 1 live");
    CHECK(LoadOrDie(*server).fresh);

    // Once the leader let go, the import goes through under the next term.
    auto released = coordination::ReleaseLease(admin, "node-a", 1);
    REQUIRE_OK(released);
    REQUIRE(*released);
    Run after = Cli({"state", "import", "--config", node.config()});
    CHECK(after.code == 0);
    CHECK(after.out.ends_with(" into PostgreSQL (term 2)\n"));
    CHECK(LoadOrDie(*server).state == RichState());
  }

  TEST_CASE("app: state import replaces a state PostgreSQL holds only with --force") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    Node node(server->dsn());
    const std::string first_path = node.tmp.Join("first.json");
    testing::WriteFileOrDie(first_path, state::StateToJson(RichState()));
    REQUIRE(Cli({"state", "import", "--config", node.config(), "--input", first_path}).code == 0);

    // A different state: one workspace changed, one gone, one new.
    state::State second = RichState();
    second.workspaces.erase("qa");
    second.workspaces["staging"].actual = state::Actual::kDeployed;
    second.workspaces["perf"].saved_seconds = 12.5;
    second.last_seen = T("2026-11-24T09:00:00Z");
    const std::string second_path = node.tmp.Join("second.json");
    testing::WriteFileOrDie(second_path, state::StateToJson(second));

    Run refused = Cli({"state", "import", "--config", node.config(), "--input", second_path});
    CHECK(refused.code == 1);
    CHECK(refused.out == "");
    CHECK(refused.err == "provisioner: PostgreSQL already holds a state with 3 workspaces: pass " +
                             std::string("--force to replace it with ") + second_path + "\n");
    CHECK(LoadOrDie(*server).state == RichState());
    PgConnection admin = ConnectOrDie(*server);
    CHECK(Leader(admin).ends_with(" 2 lapsed"));  // taken, then released, also when refusing

    Run forced =
        Cli({"state", "import", "--config", node.config(), "--input", second_path, "--force"});
    CHECK(forced.err == "");
    CHECK(forced.out == "imported 3 workspaces from " + second_path +
                            " into PostgreSQL (term 3), replacing 3 workspaces\n");
    REQUIRE(forced.code == 0);
    CHECK(LoadOrDie(*server).state == second);
    CHECK(Cli({"state", "export", "--config", node.config()}).out == state::StateToJson(second));
    auto rows = admin.Exec("SELECT string_agg(name, ',' ORDER BY name) FROM pv_workspaces");
    REQUIRE_OK(rows);
    CHECK((*rows)[0][0] == "dev-env,perf,staging");
  }

  TEST_CASE("app: state export of an empty database is a fresh state") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    Node node(server->dsn());
    const std::string empty = state::StateToJson(state::State{});
    Run r = Cli({"state", "export", "--config", node.config()});
    CHECK(r.code == 0);
    CHECK(r.out == empty);
    CHECK(r.err == "provisioner: PostgreSQL holds no state yet: exporting an empty one\n");
    // It reads as a first start does.
    auto parsed = state::StateFromJson(r.out);
    REQUIRE_OK(parsed);
    CHECK(*parsed == state::State{});

    // Written into the state dir (the way back from HA), atomically.
    Run to_file =
        Cli({"state", "export", "--config", node.config(), "--output", node.state_json()});
    CHECK(to_file.code == 0);
    CHECK(to_file.out == "exported 0 workspaces from PostgreSQL to " + node.state_json() + "\n");
    CHECK(testing::ReadFileOrDie(node.state_json()) == empty);
  }

  TEST_CASE("app: state import of a corrupt file names the file and the field, exit 2") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    Node node(server->dsn());
    std::string json = state::StateToJson(RichState());
    const std::string good = "\"actual\":\"destroyed\"";
    const size_t at = json.find(good);
    REQUIRE(at != std::string::npos);
    json.replace(at, good.size(), "\"actual\":\"up\"");
    testing::WriteFileOrDie(node.state_json(), json);

    Run r = Cli({"state", "import", "--config", node.config()});
    CHECK(r.code == 2);
    CHECK(r.out == "");
    CHECK(r.err == "provisioner: " + node.state_json() +
                       ": workspaces.dev-env.actual: \"up\" is not one of unknown, deployed, "
                       "destroyed\n");
    // Refused before the database was touched.
    PgConnection admin = ConnectOrDie(*server);
    auto tables = admin.Exec("SELECT to_regclass('pv_leader') IS NULL");
    REQUIRE_OK(tables);
    CHECK((*tables)[0][0] == "t");

    // Not JSON at all.
    testing::WriteFileOrDie(node.state_json(), "{\"version\": 1, \"workspaces\": {");
    Run truncated = Cli({"state", "import", "--config", node.config()});
    CHECK(truncated.code == 2);
    CHECK(truncated.err.starts_with("provisioner: " + node.state_json() + ": "));

    // No state.json in state.dir: nothing to migrate.
    REQUIRE(::unlink(node.state_json().c_str()) == 0);
    Run missing = Cli({"state", "import", "--config", node.config()});
    CHECK(missing.code == 2);
    CHECK(missing.err == "provisioner: no state to import: " + node.state_json() +
                             " does not exist (state.dir of " + node.config() +
                             "; --input names another file)\n");
  }

  // The cases below are refused before any connection: no server needed.

  TEST_CASE("app: state export and import without ha.enabled, or its DSN file, exit 2") {
    Node off("host=127.0.0.1 dbname=postgres", /*ha_enabled=*/false);
    for (const char* command : {"export", "import"}) {
      CAPTURE(command);
      Run r = Cli({"state", command, "--config", off.config()});
      CHECK(r.code == 2);
      CHECK(r.out == "");
      CHECK(r.err == "provisioner: " + off.config() +
                         ": ha.enabled is false: without HA the state is " + off.state_json() +
                         " already, and there is no PostgreSQL to move it to or from "
                         "(docs/ha.md)\n");
    }

    Node no_dsn("host=127.0.0.1 dbname=postgres");
    testing::WriteFileOrDie(no_dsn.state_json(), state::StateToJson(RichState()));
    REQUIRE(::unlink(no_dsn.dsn_file().c_str()) == 0);
    for (const char* command : {"export", "import"}) {
      CAPTURE(command);
      Run r = Cli({"state", command, "--config", no_dsn.config()});
      CHECK(r.code == 2);
      CHECK(r.out == "");
      CHECK(r.err.starts_with("provisioner: ha.dsn_file " + no_dsn.dsn_file() + ": "));
      CHECK(r.err.find("o such file") != std::string::npos);
    }

    Run usage = Cli({"state", "import"});
    CHECK(usage.code == 2);
    CHECK(usage.err == "provisioner: --config is required (see --help)\n");
    CHECK(Cli({"state"}).code == 2);
  }

  TEST_CASE("app: state export and import never print the DSN of an unreachable database") {
    const std::string password = "s3cret-Pa55word";
    Node node("host=127.0.0.1 port=" + std::to_string(testing::FreeLoopbackPort()) +
              " user=prov dbname=postgres connect_timeout=2 password=" + password);
    testing::WriteFileOrDie(node.state_json(), state::StateToJson(RichState()));
    for (const char* command : {"export", "import"}) {
      CAPTURE(command);
      Run r = Cli({"state", command, "--config", node.config()});
      CHECK(r.code == 1);
      CHECK(r.out == "");
      CHECK(r.err.starts_with("provisioner: "));
      CHECK(r.err.find("cannot connect") != std::string::npos);
      CHECK(r.err.find(password) == std::string::npos);
      CHECK(r.err.find("password") == std::string::npos);
    }
  }

  TEST_CASE("app: state import and export refuse a state dir a daemon is using") {
    Node node("host=127.0.0.1 dbname=postgres");
    testing::WriteFileOrDie(node.state_json(), state::StateToJson(RichState()));
    const std::string lock_path = platform::DaemonLockFileName(node.state_dir());
    auto daemon = platform::FileLock::TryAcquire(lock_path);
    REQUIRE_OK(daemon);
    const std::string refused = "provisioner: a provisioner daemon is using " + node.state_dir() +
                                " (" + lock_path + " is locked): stop it first\n";
    Run import = Cli({"state", "import", "--config", node.config()});
    CHECK(import.code == 1);
    CHECK(import.err == refused);
    Run to_state_dir =
        Cli({"state", "export", "--config", node.config(), "--output", node.state_json()});
    CHECK(to_state_dir.code == 1);
    CHECK(to_state_dir.err == refused);
    CHECK(testing::ReadFileOrDie(node.state_json()) == state::StateToJson(RichState()));
  }

  TEST_CASE("app: ReadDsnFile trims, and its errors name the file, never the content") {
    testing::MemoryFileSystem fs;
    REQUIRE_OK(fs.CreateDirs("/etc"));
    REQUIRE_OK(fs.WriteFile("/etc/ha.dsn", "\n  host=db1 password=hunter2 \t\n"));
    auto dsn = ReadDsnFile(fs, "/etc/ha.dsn");
    REQUIRE_OK(dsn);
    CHECK(*dsn == "host=db1 password=hunter2");

    REQUIRE_OK(fs.WriteFile("/etc/blank.dsn", " \n\t\n"));
    auto blank = ReadDsnFile(fs, "/etc/blank.dsn");
    CHECK(blank.status().code() == Status::Code::kFailedPrecondition);
    CHECK(blank.status().message() ==
          "ha.dsn_file /etc/blank.dsn is empty: it must hold a libpq connection string");

    auto missing = ReadDsnFile(fs, "/etc/missing.dsn");
    CHECK(missing.status().code() == Status::Code::kFailedPrecondition);
    CHECK(missing.status().message().starts_with("ha.dsn_file /etc/missing.dsn: "));

    REQUIRE_OK(fs.WriteFile("/etc/huge.dsn", "password=hunter2 " + std::string(70 << 10, 'x')));
    auto huge = ReadDsnFile(fs, "/etc/huge.dsn");
    CHECK_FALSE(huge.ok());
    CHECK(huge.status().message().find("hunter2") == std::string::npos);
  }
}

}  // namespace
}  // namespace provisioner::app
