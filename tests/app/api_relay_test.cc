// The API relay's HTTP side (app/api_relay.h) against a real PostgreSQL 15:
// RelayToLeader on a standby, ApiInbox on the leader.
#include "app/api_relay.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "coordination/pg_lease_db.h"
#include "support/pg_test_util.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::app {
namespace {

using coordination::PgApiRelay;
using coordination::PgConnection;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ConnectOrDie;
using testing::Lead;
using testing::PgTestOptions;
using testing::PostgresServer;
using testing::Scalar;

http::Request DeployRequest() {
  http::Request req;
  req.method = http::Method::kPost;
  req.route = "/api/v1/workspaces/:name/deploy";
  req.path = "/api/v1/workspaces/web/deploy";
  req.params = {{"name", "web"}};
  req.body = "{}";
  req.user = "alice";
  return req;
}

http::Request ListRequest() {
  http::Request req;
  req.route = req.path = "/api/v1/workspaces";
  return req;
}

std::string Header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

RelayOptions Short() {
  RelayOptions o;
  o.command_wait = seconds(20);
  o.read_wait = milliseconds(300);
  return o;
}

TEST_SUITE("app") {
  TEST_CASE(
      "app: api relay: without a leader a command is committed and kept, a read is refused, and "
      "the "
      "next leader answers the command") {
    auto server = PostgresServer::StartOrSkip();
    if (!server) return;
    PgConnection admin = ConnectOrDie(*server);
    const int64_t term = Lead(admin, "a");
    PgApiRelay leader_db(PgTestOptions(*server), "a");
    REQUIRE_OK(leader_db.Pending(term, 1));  // migrates
    PgApiRelay standby(PgTestOptions(*server), "b");

    http::Response read = RelayToLeader(standby, ListRequest(), false, "no leader", false, Short());
    CHECK(read.status == 503);
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_api_requests") == "0");  // nothing committed

    http::Response cmd = RelayToLeader(standby, DeployRequest(), true, "no leader", false, Short());
    INFO(cmd.body);
    CHECK(cmd.status == 202);
    CHECK(cmd.body.find("\"state\":\"pending\"") != std::string::npos);
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_api_requests WHERE answered_at IS NULL") == "1");

    // The leader's inbox answers it when it leads: the handler sees the
    // request as the standby took it.
    std::atomic<bool> leads{false};
    std::atomic<int> seen{0};
    std::mutex seen_mu;
    std::string seen_user;  // guarded by seen_mu: the inbox thread writes it
    ApiInbox::Options options;
    options.leading_term = [&]() -> std::optional<int64_t> {
      if (!leads) return std::nullopt;
      return term;
    };
    options.dispatch = [&](const http::Request& req) {
      {
        std::lock_guard<std::mutex> lock(seen_mu);
        seen_user = req.user + " " + req.params.at("name") + " " + req.remote_addr;
      }
      seen.fetch_add(1);
      return http::Response::Json(202, R"({"job_id":"j1"})");
    };
    ApiInbox inbox(leader_db, options);
    inbox.Start();
    leads = true;
    REQUIRE(testing::WaitUntil(
        [&] {
          return Scalar(admin, "SELECT count(*) FROM pv_api_requests WHERE status = 202") == "1";
        },
        seconds(20)));
    CHECK(seen == 1);
    {
      std::lock_guard<std::mutex> lock(seen_mu);
      CHECK(seen_user == "alice web relay:b");
    }

    // With a leader, a command gets the leader's own reply.
    http::Response live = RelayToLeader(standby, DeployRequest(), true, "standby", true, Short());
    CHECK(live.status == 202);
    CHECK(live.body == R"({"job_id":"j1"})");
    CHECK(Header(live, "Provisioner-Leader") == "a");
    CHECK(seen == 2);

    // A read nobody answers in time is withdrawn.
    leads = false;
    http::Response late = RelayToLeader(standby, ListRequest(), false, "standby", true, Short());
    CHECK(late.status == 503);
    CHECK(late.body.find("no leader answered within 300ms") != std::string::npos);
    inbox.Stop();
    CHECK(Scalar(admin, "SELECT count(*) FROM pv_api_requests WHERE NOT mutating") == "0");
  }

  TEST_CASE("app: api relay: a streamed reply is relayed cut at a line, with a note") {
    http::Response r;
    int calls = 0;
    r.stream = [&](std::string* chunk) {
      *chunk = "line " + std::to_string(calls++) + "\n";
      return calls < 1000;
    };
    const std::string body = DrainBody(r, 40);
    CHECK(body.starts_with("line 0\nline 1\n"));
    CHECK(body.find("# provisioner: the relayed reply ends here") != std::string::npos);
    CHECK(calls < 10);  // stopped reading at the cap
    http::Response small;
    small.body = "whole";
    CHECK(DrainBody(small, 40) == "whole");
  }
}

}  // namespace
}  // namespace provisioner::app
