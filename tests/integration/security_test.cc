// The listener's security against the real daemon: the web config file
// (server.web_config_file: basic auth, TLS, mTLS) with httplib clients and
// the CLI client, read-only mode with authentication, and the hostile
// request corpus (http/hostile_corpus.h) over raw sockets.
#include <httplib.h>
#include <signal.h>

#include <cstdlib>

#include "http/auth.h"
#include "http/hostile_corpus.h"
#include "integration/daemon_harness.h"
#include "platform/process_info.h"
#include "support/test_pki.h"

namespace provisioner::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kWorkspaces = "  - {name: w, template: t}\n";

using Pki = provisioner::testing::TestPki;

const Pki& SharedPki() { return provisioner::testing::SharedTestPki(); }

std::string TlsWebConfig(const Pki& pki, bool mtls) {
  std::string yaml = "tls_server_config:\n  cert_file: " + pki.server_crt +
                     "\n  key_file: " + pki.server_key + "\n";
  if (mtls) {
    yaml +=
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: " + pki.ca_crt + "\n";
  }
  return yaml;
}

std::unique_ptr<httplib::Client> PlainClient(DaemonHarness& h) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", h.port());
  c->set_connection_timeout(seconds(5));
  c->set_read_timeout(seconds(30));
  return c;
}

// A client that verifies the daemon's certificate against the test CA and
// presents `cert` when given.
std::unique_ptr<httplib::SSLClient> TlsClient(DaemonHarness& h, const Pki& pki,
                                              const std::string& cert = "",
                                              const std::string& key = "") {
  auto c = cert.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", h.port())
                        : std::make_unique<httplib::SSLClient>("127.0.0.1", h.port(), cert, key);
  c->set_ca_cert_path(pki.ca_crt.c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(seconds(5));
  c->set_read_timeout(seconds(30));
  return c;
}

// A TLS client of the test that talks to a daemon refusing it runs under
// platform::ScopedSigpipeBlock. With TLS 1.3 the client's handshake ends
// before the server has checked the client certificate, so the client
// writes its request to a closed connection; OpenSSL writes with write(2),
// and SIGPIPE's default action would end the test process (unless an
// httplib::Server, which ignores it, ran earlier in the same process).
using platform::ScopedSigpipeBlock;

// httplib::Client and SSLClient share no base with Post.
template <typename Client>
httplib::Result PostJson(Client& c, const std::string& path) {
  return c.Post(path.c_str(), "{}", "application/json");
}

// `provisioner <args...>` as a client of the daemon, with SIGPIPE's default
// action as from a shell: an httplib::Server of an in-process test earlier
// in this run has set it to be ignored, which children would inherit.
ProcessResult Cli(DaemonHarness& h, std::vector<std::string> args) {
  args.insert(args.begin(), PROVISIONER_BINARY);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  struct sigaction old {};
  REQUIRE(::sigaction(SIGPIPE, &default_action, &old) == 0);
  ProcessResult r = RunProcess(args, h.fake().Env(), h.root_.path(), seconds(60));
  ::sigaction(SIGPIPE, &old, nullptr);
  return r;
}

// The sum of the samples of `family` on the lines that hold `label` (every
// line when empty) in a text exposition.
double SumSamples(const std::string& exposition, const std::string& family,
                  const std::string& label = "") {
  double sum = 0;
  for (std::string_view line : Split(exposition, '\n')) {
    if (!line.starts_with(family + "{") && !line.starts_with(family + " ")) continue;
    if (!label.empty() && line.find(label) == std::string_view::npos) continue;
    sum += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
  }
  return sum;
}

TEST_SUITE("integration") {
  TEST_CASE("integration: without a web config, loopback reads and writes are open") {
    // Given no web config on a loopback listener, Then every route answers
    // without credentials, and a deploy is audited without a user.
    DaemonHarness h;
    h.WriteConfig(kWorkspaces);
    h.Start();
    auto client = PlainClient(h);
    for (const char* path :
         {"/health", "/ready", "/health/deep", "/metrics", "/api/v1/workspaces"}) {
      CAPTURE(path);
      auto r = client->Get(path);
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(!r->has_header("WWW-Authenticate"));
    }
    auto deploy = PostJson(*client, "/api/v1/workspaces/w/deploy");
    REQUIRE(deploy);
    CHECK(deploy->status == 202);
    CHECK(
        h.WaitLog({"INFO  audit: manual deploy requested", "workspace=w", "user=-"}, seconds(10)));
    CHECK(h.ReadState().workspaces.at("w").manual.at(0).requested_by == "");
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: basic auth guards all but the probes and never logs a password") {
    // Given a web config with one bcrypt user, When clients call with no,
    // wrong and right credentials, Then only the right ones pass (the probes
    // excepted), failed logins are logged under `auth` with the user and
    // the reason, and no password or Authorization value reaches the log.
    const std::string password = "c0rrect-Horse-batt3ry";
    const std::string wrong = "Tr0ub4dor-and-3";
    auto hash = http::HashBcrypt(password, 4);
    REQUIRE_OK(hash);
    DaemonHarness h;
    h.UseWebConfig("basic_auth_users:\n  alice: " + *hash + "\n");
    h.WriteConfig(kWorkspaces);
    h.Start();

    auto anonymous = PlainClient(h);
    auto wrong_password = PlainClient(h);
    wrong_password->set_basic_auth("alice", wrong.c_str());
    auto unknown_user = PlainClient(h);
    unknown_user->set_basic_auth("mallory", password.c_str());
    auto alice = PlainClient(h);
    alice->set_basic_auth("alice", password.c_str());

    // Probes stay anonymous.
    for (const char* path : {"/health", "/ready"}) {
      CAPTURE(path);
      auto r = anonymous->Get(path);
      REQUIRE(r);
      CHECK(r->status == 200);
    }
    // Everything else needs the right credentials.
    for (const char* path : {"/metrics", "/health/deep", "/api/v1/workspaces", "/api/v1/jobs"}) {
      CAPTURE(path);
      for (httplib::Client* refused : {anonymous.get(), wrong_password.get(), unknown_user.get()}) {
        auto r = refused->Get(path);
        REQUIRE(r);
        CHECK(r->status == 401);
        CHECK(r->get_header_value("WWW-Authenticate") == "Basic realm=\"provisioner\"");
        CHECK(r->body ==
              R"({"error":{"code":"unauthorized","message":"authentication required"}})");
      }
      auto ok = alice->Get(path);
      REQUIRE(ok);
      CHECK(ok->status == 200);
    }
    auto refused_deploy = PostJson(*wrong_password, "/api/v1/workspaces/w/deploy");
    REQUIRE(refused_deploy);
    CHECK(refused_deploy->status == 401);
    auto deploy = PostJson(*alice, "/api/v1/workspaces/w/deploy");
    REQUIRE(deploy);
    CHECK(deploy->status == 202);

    CHECK(h.WaitLog({"WARN  auth: failed login", "user=alice", "remote_addr=127.0.0.1",
                     "reason=\"wrong password\""},
                    seconds(10)));
    CHECK(h.LogHas({"WARN  auth: failed login", "user=mallory", "reason=\"unknown user\""}));
    CHECK(h.LogHas({"audit: manual deploy requested", "workspace=w", "user=alice"}));
    CHECK(h.ReadState().workspaces.at("w").manual.at(0).requested_by == "alice");

    // The CLI client authenticates from a password file (trailing newline
    // and all).
    WriteFileOrDie(h.root_.Join("alice.pw"), password + "\n");
    WriteFileOrDie(h.root_.Join("wrong.pw"), wrong + "\n");
    ProcessResult status = Cli(h, {"status", "--server", h.url(), "--user", "alice",
                                   "--password-file", h.root_.Join("alice.pw")});
    CHECK_MESSAGE(status.exit_code == 0, status.err);
    CHECK(status.out.starts_with("NAME  STATUS"));
    CHECK(status.out.find("\nw ") != std::string::npos);
    ProcessResult refused = Cli(h, {"status", "--server", h.url(), "--user", "alice",
                                    "--password-file", h.root_.Join("wrong.pw")});
    CHECK(refused.exit_code == 1);  // docs/api.md: only 400 and 404 are usage errors (2)
    CHECK(refused.err == "provisioner: server answered HTTP 401: authentication required\n");
    ProcessResult without = Cli(h, {"status", "--server", h.url()});
    CHECK(without.exit_code == 1);
    CHECK(without.err == "provisioner: server answered HTTP 401: authentication required\n");

    CHECK(h.Stop() == 0);
    const std::string& log = h.daemon().err();
    CAPTURE(log);
    for (const std::string& secret :
         {password, wrong, http::EncodeBase64("alice:" + wrong),
          http::EncodeBase64("alice:" + password), http::EncodeBase64("mallory:" + password)}) {
      CHECK(log.find(secret) == std::string::npos);
    }
    CHECK(log.find("Authorization") == std::string::npos);
  }

  TEST_CASE("integration: TLS with a CA-signed certificate") {
    // Given a web config with a server certificate signed by the test CA,
    // Then HTTPS clients that trust the CA are served (the CLI too), plain
    // HTTP gets no HTTP answer, and a CLI without the CA refuses the server.
    const Pki& pki = SharedPki();
    DaemonHarness h;
    h.UseWebConfig(TlsWebConfig(pki, /*mtls=*/false));
    h.WriteConfig(kWorkspaces);
    h.Start();

    auto tls = TlsClient(h, pki);
    auto list = tls->Get("/api/v1/workspaces");
    REQUIRE(list);
    CHECK(list->status == 200);
    CHECK(list->body.find("\"name\":\"w\"") != std::string::npos);
    auto deploy = PostJson(*tls, "/api/v1/workspaces/w/deploy");
    REQUIRE(deploy);
    CHECK(deploy->status == 202);

    // Plain HTTP to the TLS port: no HTTP status line comes back, and
    // httplib's plain client gets no response.
    http::testing::RawReply plain =
        http::testing::Exchange(h.port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(http::testing::Statuses(plain.bytes).empty());
    auto plain_client = PlainClient(h);
    plain_client->set_read_timeout(seconds(10));
    CHECK(!plain_client->Get("/health"));
    // The daemon is still serving TLS.
    auto health = tls->Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);

    ProcessResult status = Cli(h, {"status", "--server", h.https_url(), "--cacert", pki.ca_crt});
    CHECK_MESSAGE(status.exit_code == 0, status.err);
    CHECK(status.out.starts_with("NAME  STATUS"));
    CHECK(status.out.find("\nw ") != std::string::npos);
    // The test CA is in no system store: without --cacert the CLI must not
    // trust the server.
    ProcessResult untrusted = Cli(h, {"status", "--server", h.https_url()});
    CHECK(untrusted.exit_code == 1);
    CHECK(untrusted.err.starts_with("provisioner: cannot reach " + h.https_url()));
    ProcessResult http_url = Cli(h, {"status", "--server", h.url()});
    CHECK(http_url.exit_code == 1);
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: mTLS requires a CA-signed client and names the user after its CN") {
    // Given client_auth_type RequireAndVerifyClientCert with the test CA,
    // When a client with a CA-signed certificate (CN client-a) deploys,
    // Then the audit log and the state name client-a; clients without a
    // certificate or with a self-signed one of the same CN are refused.
    const Pki& pki = SharedPki();
    DaemonHarness h;
    h.UseWebConfig(TlsWebConfig(pki, /*mtls=*/true));
    h.WriteConfig(kWorkspaces);
    h.Start();

    auto client_a = TlsClient(h, pki, pki.client_crt, pki.client_key);
    auto get = client_a->Get("/api/v1/workspaces/w");
    REQUIRE(get);
    CHECK(get->status == 200);
    auto deploy = PostJson(*client_a, "/api/v1/workspaces/w/deploy");
    REQUIRE(deploy);
    CHECK(deploy->status == 202);
    CHECK(h.WaitLog({"INFO  audit: manual deploy requested", "workspace=w", "user=client-a"},
                    seconds(10)));
    CHECK(h.ReadState().workspaces.at("w").manual.at(0).requested_by == "client-a");

    {
      ScopedSigpipeBlock no_sigpipe;
      auto anonymous = TlsClient(h, pki);
      CHECK(!anonymous->Get("/health"));
      auto rogue = TlsClient(h, pki, pki.rogue_crt, pki.rogue_key);
      CHECK(!rogue->Post("/api/v1/workspaces/w/destroy", "{}", "application/json"));
    }
    CHECK(!h.LogHas({"audit:", "manual destroy"}));

    ProcessResult status = Cli(h, {"status", "--server", h.https_url(), "--cacert", pki.ca_crt,
                                   "--cert", pki.client_crt, "--key", pki.client_key});
    CHECK_MESSAGE(status.exit_code == 0, status.err);
    CHECK(status.out.starts_with("NAME  STATUS"));
    // Refused during the handshake, the CLI reports it and exits 1. It
    // writes its request after a TLS 1.3 handshake that the server then
    // fails, so the run is repeated: a CLI that dies of SIGPIPE instead
    // (silently, about every other run) fails here.
    for (int run = 0; run < 10; ++run) {
      CAPTURE(run);
      ProcessResult no_cert = Cli(h, {"status", "--server", h.https_url(), "--cacert", pki.ca_crt});
      CAPTURE(no_cert.term_signal);
      CHECK(no_cert.exit_code == 1);
      CHECK(no_cert.err.starts_with("provisioner: cannot reach " + h.https_url()));
    }
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: read-only refuses every POST route even to an authenticated user") {
    // Given read_only: true and basic auth, When an authenticated user calls
    // every mutating route, Then each is refused with 403 and nothing
    // changes (no audit line, no manual action or pause in the state);
    // without credentials the answer is 401, as authentication comes first.
    auto hash = http::HashBcrypt("pw", 4);
    REQUIRE_OK(hash);
    DaemonHarness h;
    h.UseWebConfig("basic_auth_users:\n  alice: " + *hash + "\n", ", read_only: true");
    h.WriteConfig(kWorkspaces);
    h.Start();
    auto alice = PlainClient(h);
    alice->set_basic_auth("alice", "pw");
    for (const char* path : {"/api/v1/workspaces/w/deploy", "/api/v1/workspaces/w/destroy",
                             "/api/v1/workspaces/w/pause", "/api/v1/workspaces/w/resume",
                             "/api/v1/jobs/20260101T000000Z-000000-w/cancel", "/api/v1/reload"}) {
      CAPTURE(path);
      auto r = PostJson(*alice, path);
      REQUIRE(r);
      CHECK(r->status == 403);
      CHECK(r->body == R"({"error":{"code":"forbidden","message":"the server is read-only"}})");
    }
    auto anonymous = PlainClient(h);
    auto unauthenticated = PostJson(*anonymous, "/api/v1/workspaces/w/deploy");
    REQUIRE(unauthenticated);
    CHECK(unauthenticated->status == 401);
    auto list = alice->Get("/api/v1/workspaces");
    REQUIRE(list);
    CHECK(list->status == 200);

    CHECK(!h.LogHas({"audit:"}));
    const state::State state = h.ReadState();
    CHECK(state.workspaces.at("w").manual.empty());
    CHECK(!state.workspaces.at("w").pause.has_value());
    CHECK(h.Stop() == 0);
  }

  TEST_CASE("integration: the hostile request corpus against the daemon") {
    // Given the daemon with its own limits and a workspace named web, When
    // each hostile request is written byte for byte on a connection of its
    // own, Then it gets exactly its status and the connection is closed,
    // /health is answered after each, and the daemon processed no request
    // but those: no smuggled GET of workspace "smuggled" was ever routed.
    DaemonHarness h;
    h.WriteConfig("  - {name: web, template: t}\n");
    h.Start();
    const std::vector<http::testing::HostileCase> cases =
        http::testing::HostileCorpus(http::ServerOptions{}.max_body_bytes);
    for (const http::testing::HostileCase& c : cases) {
      const std::string& name = c.name;
      CAPTURE(name);
      http::testing::CheckHostileReply(c, http::testing::Exchange(h.port(), c.request));
      http::testing::RawReply health = http::testing::Exchange(
          h.port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      CHECK(http::testing::Statuses(health.bytes) == std::vector<int>{200});
    }

    // The daemon's own count: one request per case and one probe each, none
    // for the smuggled route. A request is counted just after its reply is
    // written, so the count is awaited; scrapes are left out of it.
    auto client = PlainClient(h);
    std::string metrics;
    auto requests = [&] {
      auto r = client->Get("/metrics");
      metrics = r && r->status == 200 ? r->body : "";
      return SumSamples(metrics, "http_requests_total") -
             SumSamples(metrics, "http_requests_total", "endpoint=\"/metrics\"");
    };
    const double expected = 2.0 * static_cast<double>(cases.size());
    CHECK(WaitUntil([&] { return requests() >= expected; }, seconds(10)));
    CAPTURE(metrics);
    CHECK(requests() == expected);
    const std::string smuggled_route = "endpoint=\"/api/v1/workspaces/:name\"";
    CHECK(SumSamples(metrics, "http_requests_total", smuggled_route) == 0);

    // The control: the same request on its own is answered and counted.
    http::testing::RawReply alone = http::testing::Exchange(
        h.port(),
        "GET /api/v1/workspaces/smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(http::testing::Statuses(alone.bytes) == std::vector<int>{404});
    CHECK(WaitUntil(
        [&] {
          requests();
          return SumSamples(metrics, "http_requests_total", smuggled_route) == 1;
        },
        seconds(10)));
    CHECK(h.Stop() == 0);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
