// HA mode (docs/ha.md): two real `provisioner serve` processes, each with its
// own fake tofu and state dir, on one real PostgreSQL, with the shortened
// timings of the reference's §6.12 (lease 3 s, renew 0.5 s, deadline 2 s,
// claim 5 s).
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "coordination/pg_connection.h"
#include "integration/daemon_harness.h"
#include "support/postgres_server.h"
#include "support/tcp_proxy.h"

namespace provisioner::testing {
namespace {

using coordination::PgConnection;
using coordination::PgOptions;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// The standby's takeover. Usually as term 2, but an acquisition that waited
// past renew_deadline (behind a paused leader's fenced transaction, until
// the server ends it, or on a loaded machine) demotes at once by the local
// deadline and takes the lease again as term 3: any term will do.
constexpr const char* kTakesOver = "this node leads (term ";

// A node of the pair: its own root, state dir and fake tofu.
class HaNode : public DaemonHarness {
 public:
  HaNode(const std::string& dsn_file, const std::string& name) {
    extra_config = "ha: {enabled: true, dsn_file: \"" + dsn_file + "\", node_name: " + name +
                   ", lease_ttl: 3s, renew_interval: 500ms, renew_deadline: 2s, claim_ttl: 5s}\n";
    // HA mode runs only workspaces whose state is in a locking backend.
    fake().WriteControl(R"({"backend": "pg"})");
  }
  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", port());
    client.set_read_timeout(seconds(10));
    return client.Get(path);
  }
};

// Waits until `node` serves workspace w deployed with no job: its state,
// saved before it is published, is then in the database.
bool WaitDeployedAndIdle(HaNode& node) {
  return WaitUntil(
      [&] {
        auto r = node.Get("/api/v1/workspaces/w");
        return r && r->status == 200 &&
               r->body.find("\"actual\":{\"state\":\"deployed\"") != std::string::npos &&
               r->body.find("\"running_job\":null") != std::string::npos &&
               r->body.find("\"queued_job\":null") != std::string::npos;
      },
      seconds(30));
}

struct HaSetup {
  std::unique_ptr<PostgresServer> server;
  TempDir dir;
  std::string dsn_file;
};

// The database and a DSN file; null (after a message) when the server is
// missing and tools are not required.
std::unique_ptr<HaSetup> StartDatabase() {
  auto setup = std::make_unique<HaSetup>();
  setup->server = PostgresServer::StartOrSkip();
  if (!setup->server) return nullptr;
  setup->dsn_file = setup->dir.Join("ha.dsn");
  WriteFileOrDie(setup->dsn_file, setup->server->dsn() + "\n");
  return setup;
}

// The value of an unlabelled metric in a /metrics body; -1 when absent.
double MetricValue(const std::string& body, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = body.find(key);
  return at == std::string::npos ? -1 : std::stod(body.substr(at + key.size()));
}

// Waits until `node` has taken over. Not WaitLog alone: a node can lead
// before it logs that it started, a line Start() waits for, and WaitLog
// looks only after the lines already waited past.
bool WaitLeads(HaNode& node, std::chrono::milliseconds timeout) {
  return node.LogHas({kTakesOver}) || node.WaitLog({kTakesOver}, timeout);
}

// Starts `a`, waits until it leads, then starts `b`, both with `env`. The
// first lease is usually term 1, but an acquisition slower than
// renew_deadline (a loaded machine, a sanitizer) takes term 2: any will do.
void StartPair(HaNode& a, HaNode& b, const std::map<std::string, std::string>& env = {}) {
  a.Start(env);
  REQUIRE_MESSAGE(WaitLeads(a, seconds(30)), a.daemon().err());
  b.Start(env);
}

std::string Workspace(SystemTime deploy, SystemTime destroy) {
  return "  - {name: w, template: t, schedule: {deploy: \"" + OneShot(deploy) + "\", destroy: \"" +
         OneShot(destroy) + "\"}}\n";
}

TEST_SUITE("integration") {
  TEST_CASE("integration: ha: a standby takes over a killed leader and each fire runs once") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode b(db->dsn_file, "node-b");
    const SystemTime deploy = WholeSecondsFromNow(5);
    const SystemTime destroy = deploy + seconds(9);
    a.WriteConfig(Workspace(deploy, destroy));
    b.WriteConfig(Workspace(deploy, destroy));

    // Given node-a leading and node-b standing by,
    StartPair(a, b);
    auto metrics_b = b.Get("/metrics");
    REQUIRE(metrics_b);
    CHECK(metrics_b->body.find("\nprovisioner_leader 0\n") != std::string::npos);
    auto metrics_a = a.Get("/metrics");
    REQUIRE(metrics_a);
    CHECK(metrics_a->body.find("\nprovisioner_leader 1\n") != std::string::npos);
    CHECK(MetricValue(metrics_a->body, "provisioner_leader_term") >= 1);
    CHECK(metrics_a->body.find("\nprovisioner_job_claims_lost_total 0\n") != std::string::npos);
    auto ready_a = a.Get("/ready");
    REQUIRE(ready_a);
    INFO(ready_a->body);
    CHECK(ready_a->status == 200);

    // when node-a runs the deploy fire and is then killed,
    REQUIRE(a.WaitLog({"job finished", "operation=deploy", "trigger=schedule"}, seconds(30)));
    REQUIRE(WaitDeployedAndIdle(a));
    a.daemon().Signal(SIGKILL);
    a.daemon().Wait(seconds(10));
    const auto killed = steady_clock::now();

    // then node-b leads within the lease and one retry (3 s + 0.6 s, and
    // the time to load the state),
    REQUIRE_MESSAGE(b.WaitLog({kTakesOver}, seconds(20)), b.daemon().err());
    const auto failover = duration_cast<milliseconds>(steady_clock::now() - killed);
    MESSAGE("failover after SIGKILL: " << failover.count() << " ms");
    CHECK(failover < seconds(10));
    // runs the destroy fire at its time, and never the deploy node-a ran.
    REQUIRE(b.WaitLog({"job finished", "operation=destroy", "trigger=schedule"}, seconds(30)));
    CHECK(b.Stop() == 0);
    CHECK(a.HistorySummary("w") ==
          std::vector<std::string>{"destroy catch_up succeeded", "deploy schedule succeeded"});
    INFO(Join(b.HistorySummary("w"), "; "));
    CHECK(b.HistorySummary("w") == std::vector<std::string>{"destroy schedule succeeded"});
    CHECK(b.FakeStarts("apply") + b.FakeStarts("destroy") == 1);
  }

  TEST_CASE("integration: ha: a standby serves the API by relaying it to the leader") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode b(db->dsn_file, "node-b");
    const SystemTime later = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(later, later + seconds(60)));
    b.WriteConfig(Workspace(later, later + seconds(60)));
    StartPair(a, b);

    // A read on the standby is the leader's answer (once the standby's
    // keeper has read the lease row).
    int status = 0;
    std::string body;
    std::string leader;
    CHECK(WaitUntil(
        [&] {
          auto got = b.Get("/api/v1/workspaces/w");
          if (!got) return false;
          status = got->status;
          body = got->body;
          leader = got->get_header_value("Provisioner-Leader");
          return status == 200;
        },
        seconds(10)));
    INFO(body);
    CHECK(leader == "node-a");
    CHECK(body.find("\"name\":\"w\"") != std::string::npos);
    auto ready = b.Get("/ready");
    REQUIRE(ready);
    CHECK(ready->status == 200);
    CHECK(ready->body.find("HA standby: relays the API to the leader node-a") != std::string::npos);

    // What the relay costs, for docs/ha.md (a figure, not a check).
    auto median_ms = [](HaNode& node) {
      std::vector<double> ms;
      for (int i = 0; i < 21; ++i) {
        const auto t0 = steady_clock::now();
        auto r = node.Get("/api/v1/workspaces/w");
        if (r && r->status == 200) {
          ms.push_back(std::chrono::duration<double, std::milli>(steady_clock::now() - t0).count());
        }
      }
      std::sort(ms.begin(), ms.end());
      return ms.empty() ? -1.0 : ms[ms.size() / 2];
    };
    MESSAGE("GET /api/v1/workspaces/w, median of 21: leader " << median_ms(a) << " ms, standby "
                                                              << median_ms(b) << " ms (relayed)");

    // A command on the standby is committed, applied by the leader, and
    // answered with the leader's reply: its job id.
    httplib::Client client("127.0.0.1", b.port());
    client.set_read_timeout(seconds(60));
    auto deploy = client.Post("/api/v1/workspaces/w/deploy", "{}", "application/json");
    REQUIRE(deploy);
    INFO(deploy->body);
    CHECK(deploy->status == 202);
    CHECK(deploy->get_header_value("Provisioner-Leader") == "node-a");
    const std::string job_id = nlohmann::json::parse(deploy->body).value("job_id", "");
    REQUIRE(!job_id.empty());
    REQUIRE(a.WaitLog({"job finished", "operation=deploy", "trigger=manual"}, seconds(30)));
    CHECK(a.LogHas({"answered POST /api/v1/workspaces/w/deploy, relayed by node node-b"}));
    CHECK(b.FakeStarts("apply") == 0);  // the leader ran it
    CHECK(a.FakeStarts("apply") == 1);
    // (the job is published finished just after its log line)
    std::string job;
    CHECK(WaitUntil(
        [&] {
          auto r = b.Get("/api/v1/jobs/" + job_id);
          job = r ? std::to_string(r->status) + " " + r->body : "";
          return job.find("\"result\":\"succeeded\"") != std::string::npos;
        },
        seconds(10)));
    INFO(job);
    CHECK(job.starts_with("200 "));
    // The job's log, from the database: whole, and followed to its end.
    auto log = a.Get("/api/v1/jobs/" + job_id + "/log");
    REQUIRE(log);
    REQUIRE(log->status == 200);
    const std::string local_log = log->body;
    CHECK(local_log.find("apply") != std::string::npos);
    std::string shared_log;
    CHECK(WaitUntil(
        [&] {
          auto r = b.Get("/api/v1/jobs/" + job_id + "/log?follow=1");
          shared_log = r ? std::to_string(r->status) + " " + r->body : "";
          return shared_log == "200 " + local_log;
        },
        seconds(10)));
    CHECK(shared_log == "200 " + local_log);

    // The leader's errors come back as they are.
    auto bad = client.Post("/api/v1/workspaces/w/pause", R"({"untill": 1})", "application/json");
    REQUIRE(bad);
    INFO(bad->body);
    CHECK(bad->status == 400);
    CHECK(bad->body.find("body: unknown field") != std::string::npos);
    auto unknown = client.Post("/api/v1/workspaces/nope/deploy", "{}", "application/json");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);

    // The CLI pointed at the standby: `--wait` follows the job through it.
    ProcessResult destroy =
        RunProcess({PROVISIONER_BINARY, "destroy", "w", "--wait", "--server", b.url()},
                   b.fake().Env(), b.state_dir(), seconds(60));
    CHECK_MESSAGE(destroy.exit_code == 0, destroy.err);
    INFO(destroy.out);
    CHECK(destroy.out.find("destroy of w queued as job ") != std::string::npos);
    CHECK(destroy.out.find("destroy w: succeeded") != std::string::npos);
    CHECK(a.FakeStarts("destroy") == 2);  // the start's catch-up, and this one
    CHECK(b.FakeStarts("destroy") == 0);

    // The node that ran the jobs dies: their logs are still served by the
    // new leader, which never had the files.
    a.daemon().Signal(SIGKILL);
    a.daemon().Wait(seconds(10));
    REQUIRE_MESSAGE(b.WaitLog({kTakesOver}, seconds(20)), b.daemon().err());
    auto after = b.Get("/api/v1/jobs/" + job_id + "/log");
    REQUIRE(after);
    CHECK(after->status == 200);
    CHECK(after->body == local_log);
    auto history = b.Get("/api/v1/jobs?workspace=w");
    REQUIRE(history);
    INFO(history->body);
    CHECK(history->status == 200);
    CHECK(history->body.find("\"id\":\"" + job_id + "\"") != std::string::npos);
    CHECK(b.Stop() == 0);
  }

  TEST_CASE("integration: ha: a leader paused in the middle of a job: its tofu ends first") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode b(db->dsn_file, "node-b");
    // Both fakes write one journal: its byte order is the order of events.
    const std::string journal = db->dir.Join("journal.jsonl");
    a.fake().WriteControl(
        R"({"backend": "pg", "sequence": {"apply": [{"scenario": "slow", "slow_seconds": 4}]}})");
    const SystemTime deploy = WholeSecondsFromNow(4);
    const SystemTime destroy = deploy + std::chrono::hours(2);
    a.WriteConfig(Workspace(deploy, destroy));
    b.WriteConfig(Workspace(deploy, destroy));
    StartPair(a, b, {{"FAKE_TOFU_LOG", journal}});
    // Given node-a frozen while its slow apply (4 s, within kill_grace, so
    // that it always ends with an exit record) runs: a tofu is a process of
    // its own, and goes on,
    REQUIRE(WaitUntil(
        [&] {
          return ::access(journal.c_str(), F_OK) == 0 &&
                 ReadFileOrDie(journal).find("\"command\":\"apply\"") != std::string::npos;
        },
        seconds(30)));
    a.daemon().Signal(SIGSTOP);
    // node-b takes over, and holds the workspace while node-a's claim runs
    // (at most its expiry, 5 s after its last renewal, plus kill_grace 5 s)
    // instead of running it at once;
    REQUIRE_MESSAGE(b.WaitLog({kTakesOver}, seconds(20)), b.daemon().err());
    CHECK(b.LogHas({"job of node node-a still holds its claim"}));  // logged as it took over
    // node-a wakes, stops what still runs, and exits;
    a.daemon().Signal(SIGCONT);
    REQUIRE(a.WaitLog({"lost the leader lease"}, seconds(20)));
    CHECK(a.daemon().Wait(seconds(30)).exit_code == 1);
    // then node-b converges the workspace, and its apply starts only after
    // node-a's ended.
    REQUIRE(b.WaitLog({"job finished", "operation=deploy", "trigger=catch_up"}, seconds(30)));
    const std::string text = ReadFileOrDie(journal);
    std::vector<std::string> applies;  // "start <pid>" / "exit <pid>", in order
    for (std::string_view line : Split(text, '\n')) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || j.value("command", "") != "apply") continue;
      applies.push_back(j.value("event", "") + " " + std::to_string(j.value("pid", 0)));
    }
    INFO(Join(applies, "; "));
    REQUIRE(applies.size() == 4);
    CHECK(applies[0].starts_with("start "));
    CHECK(applies[1] == "exit " + applies[0].substr(6));  // node-a's, stopped
    CHECK(applies[2].starts_with("start "));
    CHECK(applies[3] == "exit " + applies[2].substr(6));  // node-b's
    CHECK(b.Stop() == 0);
  }

  TEST_CASE("integration: ha: a leader paused past its lease demotes itself and exits on SIGCONT") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode b(db->dsn_file, "node-b");
    const SystemTime deploy = WholeSecondsFromNow(3);
    const SystemTime destroy = deploy + std::chrono::hours(2);
    a.WriteConfig(Workspace(deploy, destroy));
    b.WriteConfig(Workspace(deploy, destroy));
    StartPair(a, b);
    REQUIRE(a.WaitLog({"job finished", "operation=deploy", "trigger=schedule"}, seconds(30)));
    REQUIRE(WaitDeployedAndIdle(a));

    // Given node-a frozen past its lease, node-b takes over;
    a.daemon().Signal(SIGSTOP);
    REQUIRE_MESSAGE(b.WaitLog({kTakesOver}, seconds(20)), b.daemon().err());
    // when node-a wakes up, it finds its deadline passed, demotes itself
    // without writing, and exits non-zero for systemd to restart it.
    a.daemon().Signal(SIGCONT);
    REQUIRE_MESSAGE(a.WaitLog({"lost the leader lease"}, seconds(20)), a.daemon().err());
    ProcessResult exited = a.daemon().Wait(seconds(30));
    CHECK_FALSE(exited.timed_out);
    CHECK(exited.exit_code == 1);

    // node-b serves the state node-a saved, and runs nothing again.
    CHECK(WaitDeployedAndIdle(b));
    CHECK(b.Stop() == 0);
    CHECK(b.FakeStarts("apply") == 0);
    INFO(Join(b.HistorySummary("w"), "; "));
    CHECK(b.HistorySummary("w").empty());
  }

  TEST_CASE("integration: ha: a second node under a name in use never stands for leader") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode twin(db->dsn_file, "node-a");
    const SystemTime far = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(far, far + seconds(60)));
    twin.WriteConfig(Workspace(far, far + seconds(60)));
    a.Start();
    REQUIRE_MESSAGE(WaitLeads(a, seconds(30)), a.daemon().err());
    auto first = a.Get("/metrics");
    REQUIRE(first);
    const double term = MetricValue(first->body, "provisioner_leader_term");
    CHECK(term >= 1);
    // Given a second process that calls itself node-a too,
    twin.Start();
    // it says why it stays out, in its log and its health,
    REQUIRE_MESSAGE(twin.WaitLog({"lease attempt failed",
                                  "node name node-a is in use by another running provisioner"},
                                 seconds(20)),
                    twin.daemon().err());
    CHECK(WaitUntil(
        [&] {
          auto health = twin.Get("/health");
          return health && health->status == 200 &&
                 health->body.find("\"name\":\"coordination\",\"status\":\"degraded\"") !=
                     std::string::npos;
        },
        seconds(10)));
    // and the lease stays the first one's, under its first term, while the
    // twin's attempts (every 0.5 s) fail for longer than a lease lasts.
    CHECK(WaitUntil(
        [&] {
          auto m = twin.Get("/metrics");
          if (!m) return false;
          const std::string key = "\nprovisioner_lease_renew_failures_total ";
          const size_t at = m->body.find(key);
          return at != std::string::npos && std::stod(m->body.substr(at + key.size())) >= 8;
        },
        seconds(20)));
    CHECK_FALSE(a.LogHas({"lost the leader lease"}));
    CHECK_FALSE(twin.LogHas({"this node leads"}));
    auto metrics = a.Get("/metrics");
    REQUIRE(metrics);
    CHECK(MetricValue(metrics->body, "provisioner_leader_term") == term);
    // Once the first one stops cleanly, the name is free and the twin leads.
    CHECK(a.Stop() == 0);
    REQUIRE(twin.WaitLog({kTakesOver}, seconds(20)));
    CHECK(twin.Stop() == 0);
  }

  TEST_CASE("integration: ha: a workspace whose state would be local is refused after init") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    a.fake().WriteControl("{}");  // no backend block: the implied local backend
    const SystemTime far = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(far, far + seconds(60)));
    a.Start();
    // The start-up catch-up destroy runs init, and stops there.
    REQUIRE((a.LogHas({"job finished", "result=failed"}) ||
             a.WaitLog({"job finished", "result=failed"}, seconds(30))));
    CHECK(a.Stop() == 0);
    auto history = a.History("w");
    REQUIRE(history.size() == 1);
    CHECK(history[0].error ==
          "the workspace has no backend block: its state would be local to this node: HA mode "
          "runs a workspace on whichever node leads, so its state must be in a remote backend "
          "that locks (docs/ha.md)");
    CHECK(a.FakeStarts("init") == 1);
    CHECK(a.FakeStarts("destroy") + a.FakeStarts("plan") == 0);
  }

  TEST_CASE("integration: ha: a leader whose database goes silent demotes itself and exits") {
    auto db = StartDatabase();
    if (!db) return;
    // node-a reaches the database through a proxy that will stop
    // forwarding without closing anything; node-b directly.
    TcpProxy proxy(db->server->port());
    const std::string via_proxy = db->dir.Join("proxy.dsn");
    WriteFileOrDie(via_proxy, "host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                                  " user=prov dbname=postgres\n");
    HaNode a(via_proxy, "node-a");
    HaNode b(db->dsn_file, "node-b");
    const SystemTime far = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(far, far + seconds(60)));
    b.WriteConfig(Workspace(far, far + seconds(60)));
    StartPair(a, b);
    REQUIRE(a.WaitLog({"job finished", "trigger=catch_up"}, seconds(30)));
    // Given the leader's network gone silent,
    proxy.Blackhole();
    const auto silent = steady_clock::now();
    // the standby takes over once the lease expires on the database's clock,
    REQUIRE_MESSAGE(b.WaitLog({kTakesOver}, seconds(30)), b.daemon().err());
    MESSAGE("takeover after the leader's network went silent: "
            << duration_cast<milliseconds>(steady_clock::now() - silent).count() << " ms");
    // and the old leader, whose statements get no answer, gives up by its
    // own deadline and exits for systemd to restart it.
    REQUIRE_MESSAGE(a.WaitLog({"lost the leader lease"}, seconds(30)), a.daemon().err());
    ProcessResult exited = a.daemon().Wait(seconds(60));
    CHECK_FALSE(exited.timed_out);
    CHECK(exited.exit_code == 1);
    CHECK(b.Stop() == 0);
  }

  TEST_CASE("integration: ha: the leader outlives pg_terminate_backend on its sessions") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    const SystemTime far = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(far, far + seconds(60)));
    a.Start();
    REQUIRE_MESSAGE(WaitLeads(a, seconds(30)), a.daemon().err());
    REQUIRE((a.LogHas({"job finished", "trigger=catch_up"}) ||
             a.WaitLog({"job finished", "trigger=catch_up"}, seconds(30))));
    auto first = a.Get("/metrics");
    REQUIRE(first);
    const double term = MetricValue(first->body, "provisioner_leader_term");
    CHECK(term >= 1);
    // Given every session of node-a ended by the server,
    PgOptions admin_options;
    admin_options.dsn = db->server->dsn();
    auto admin = PgConnection::Connect(admin_options);
    REQUIRE_OK(admin);
    auto ended = admin->Exec(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'provisioner node-a') t");
    REQUIRE_OK(ended);
    CHECK((*ended)[0][0].value_or("0") != "0");
    // a command still commits (the store reconnects), and node-a still
    // leads under the same term.
    httplib::Client client("127.0.0.1", a.port());
    auto deploy = client.Post("/api/v1/workspaces/w/deploy", "{}", "application/json");
    REQUIRE(deploy);
    CHECK(deploy->status == 202);
    REQUIRE(a.WaitLog({"job finished", "operation=deploy", "trigger=manual"}, seconds(30)));
    CHECK(WaitDeployedAndIdle(a));
    CHECK_FALSE(a.LogHas({"lost the leader lease"}));
    auto metrics = a.Get("/metrics");
    REQUIRE(metrics);
    CHECK(MetricValue(metrics->body, "provisioner_leader_term") == term);
    CHECK(a.Stop() == 0);
  }

  TEST_CASE("integration: ha: after pg_ctl restart -m immediate one node leads and commits") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode b(db->dsn_file, "node-b");
    const SystemTime far = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(far, far + seconds(60)));
    b.WriteConfig(Workspace(far, far + seconds(60)));
    StartPair(a, b);
    REQUIRE(a.WaitLog({"job finished", "trigger=catch_up"}, seconds(30)));
    // Given the database crashing and coming back,
    REQUIRE(db->server->RestartImmediate());
    // then one node leads again with the database answering (node-a, or
    // node-b after node-a demoted itself and exited), never both,
    HaNode* leader = nullptr;
    CHECK(WaitUntil(
        [&] {
          int leaders = 0;
          for (HaNode* n : {&a, &b}) {
            if (!n->daemon().Running()) continue;
            auto h = n->Get("/health");
            if (h && h->body.find("\"name\":\"coordination\",\"status\":\"healthy\","
                                  "\"message\":\"leader, term") != std::string::npos) {
              ++leaders;
              leader = n;
            }
          }
          REQUIRE(leaders <= 1);
          return leaders == 1;
        },
        seconds(30)));
    REQUIRE(leader != nullptr);
    // and it takes a command, commits it and runs the job.
    httplib::Client client("127.0.0.1", leader->port());
    int status = 0;
    CHECK(WaitUntil(
        [&] {
          auto deploy = client.Post("/api/v1/workspaces/w/deploy", "{}", "application/json");
          status = deploy ? deploy->status : 0;
          return status == 202;
        },
        seconds(30)));
    CHECK(WaitDeployedAndIdle(*leader));
    for (HaNode* n : {&a, &b}) {
      if (n->daemon().Running()) CHECK(n->Stop() == 0);
    }
  }

  TEST_CASE(
      "integration: ha: a standby whose workspaces differ is degraded and the leader holds them") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode b(db->dsn_file, "node-b");
    const SystemTime far = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(far, far + seconds(60)));
    b.WriteConfig(Workspace(far, far + seconds(120)));  // another destroy schedule
    StartPair(a, b);
    auto coordination = [](HaNode& n) {
      auto h = n.Get("/health");
      if (!h) return std::string();
      const size_t at = h->body.find("{\"name\":\"coordination\"");
      return at == std::string::npos ? std::string()
                                     : h->body.substr(at, h->body.find('}', at) - at);
    };
    CHECK(WaitUntil(
        [&] {
          return coordination(b).find("\"status\":\"degraded\"") != std::string::npos &&
                 coordination(b).find("differs from the leader's") != std::string::npos;
        },
        seconds(20)));
    CHECK(coordination(a).find("\"status\":\"healthy\"") != std::string::npos);
    // The leader starts no job for the workspace meanwhile, nor takes one;
    REQUIRE(a.WaitLog({"is defined otherwise on node node-b"}, seconds(20)));
    httplib::Client client("127.0.0.1", a.port());
    auto refused = client.Post("/api/v1/workspaces/w/deploy", "{}", "application/json");
    REQUIRE(refused);
    CHECK(refused->status == 409);
    CHECK(refused->body.find("is defined otherwise on node node-b") != std::string::npos);
    // given the same file again (reloaded on its change), the standby is
    // healthy, and the leader acts on the workspace again;
    b.WriteConfig(Workspace(far, far + seconds(60)));
    CHECK(WaitUntil(
        [&] { return coordination(b).find("\"status\":\"healthy\"") != std::string::npos; },
        seconds(20)));
    CHECK(a.WaitLog({"every node defines the workspace alike again"}, seconds(20)));
    // a template that differs counts as well (read again at the next reload).
    WriteFileOrDie(b.root_.Join("templates/t/main.tf"), "# edited on node-b only\n");
    b.daemon().Signal(SIGHUP);
    CHECK(WaitUntil(
        [&] { return coordination(b).find("differs from the leader's") != std::string::npos; },
        seconds(20)));
    CHECK(b.Stop() == 0);
    CHECK(a.Stop() == 0);
  }

  TEST_CASE("integration: ha: a clean stop hands the lease over before it expires") {
    auto db = StartDatabase();
    if (!db) return;
    HaNode a(db->dsn_file, "node-a");
    HaNode b(db->dsn_file, "node-b");
    const SystemTime far = WholeSecondsFromNow(3600);
    a.WriteConfig(Workspace(far, far + seconds(60)));
    b.WriteConfig(Workspace(far, far + seconds(60)));
    StartPair(a, b);
    const auto stopping = steady_clock::now();
    CHECK(a.Stop() == 0);
    REQUIRE(b.WaitLog({kTakesOver}, seconds(20)));
    const auto handover = duration_cast<milliseconds>(steady_clock::now() - stopping);
    MESSAGE("handover after SIGTERM: " << handover.count() << " ms");
    // Released: well before the 3 s lease would have run out on its own.
    CHECK(handover < seconds(3));
    CHECK(b.Stop() == 0);
  }
}

}  // namespace
}  // namespace provisioner::testing
