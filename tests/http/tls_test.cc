// TLS and mTLS against a real Server, with certificates made by the openssl
// CLI for this run: a CA, a server certificate for 127.0.0.1/localhost (SAN),
// a client certificate signed by the CA, and a self-signed "client" with the
// same CN that must be refused.
#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include <cstdlib>

#include "http/auth.h"
#include "http/server_harness.h"
#include "support/test_pki.h"
#include "support/test_util.h"

namespace provisioner::http {
namespace {

using provisioner::testing::TempDir;
using provisioner::testing::WriteFileOrDie;

using Pki = provisioner::testing::TestPki;

const Pki& SharedPki() { return provisioner::testing::SharedTestPki(); }

ServerOptions TlsOptions(const Pki& pki, bool mtls) {
  ServerOptions o = testing::TestOptions();
  o.web.tls = true;
  o.web.tls_config.cert_file = pki.server_crt;
  o.web.tls_config.key_file = pki.server_key;
  if (mtls) {
    o.web.tls_config.client_auth = config::ClientAuth::kRequireAndVerifyClientCert;
    o.web.tls_config.client_ca_file = pki.ca_crt;
  }
  return o;
}

std::unique_ptr<httplib::SSLClient> Client(const Pki& pki, int port, const std::string& cert = "",
                                           const std::string& key = "") {
  auto c = cert.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port)
                        : std::make_unique<httplib::SSLClient>("127.0.0.1", port, cert, key);
  c->set_ca_cert_path(pki.ca_crt.c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(std::chrono::seconds(5));
  c->set_read_timeout(std::chrono::seconds(5));
  return c;
}

TEST_CASE("http: TLS serves with a CA-signed certificate") {
  const Pki& pki = SharedPki();
  testing::Harness h(TlsOptions(pki, false));
  auto cli = Client(pki, h.port());
  auto res = cli->Get("/api/v1/workspaces/web");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body.find("\"user\":\"\"") != std::string::npos);

  // Plain HTTP to the TLS port gets no HTTP answer.
  testing::RawReply plain = testing::Exchange(h.port(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(testing::Statuses(plain.bytes).empty());
}

TEST_CASE("http: TLS 1.2 is the default minimum") {
  const Pki& pki = SharedPki();
  testing::Harness h(TlsOptions(pki, false));

  auto tls12 = Client(pki, h.port());
  REQUIRE(SSL_CTX_set_max_proto_version(tls12->ssl_context(), TLS1_2_VERSION) == 1);
  auto ok = tls12->Get("/health");
  REQUIRE(ok);
  CHECK(ok->status == 200);

  // A client that offers only TLS 1.1 (and lowers its own security level so
  // that it could) is refused. OpenSSL 3's default security level refuses
  // it too, so this holds even without our floor; the TLS13 case below is
  // the one that proves min_version is applied.
  auto tls11 = Client(pki, h.port());
  SSL_CTX* ctx = tls11->ssl_context();
  SSL_CTX_set_security_level(ctx, 0);
  REQUIRE(SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0") == 1);
  REQUIRE(SSL_CTX_set_min_proto_version(ctx, TLS1_1_VERSION) == 1);
  REQUIRE(SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION) == 1);
  auto refused = tls11->Get("/health");
  CHECK(!refused);
  CHECK(h.observer.WaitFor(1).size() == 1);  // only the TLS 1.2 request
}

TEST_CASE("http: TLS min_version TLS13 refuses TLS 1.2") {
  const Pki& pki = SharedPki();
  ServerOptions options = TlsOptions(pki, false);
  options.web.tls_config.min_version = "TLS13";
  testing::Harness h(options);

  auto tls12 = Client(pki, h.port());
  REQUIRE(SSL_CTX_set_max_proto_version(tls12->ssl_context(), TLS1_2_VERSION) == 1);
  CHECK(!tls12->Get("/health"));

  auto tls13 = Client(pki, h.port());
  auto ok = tls13->Get("/health");
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("http: mTLS names the user after the client certificate") {
  // Given a server that requires client certificates from the test CA,
  // Then a CA-signed client is served as "client-a", and clients without a
  // certificate, or with a self-signed one bearing the same CN, are
  // refused during the handshake.
  const Pki& pki = SharedPki();
  ServerOptions options = TlsOptions(pki, true);
  options.listen = "0.0.0.0:0";  // mTLS counts as authentication for writes
  testing::Harness h(options);

  auto good = Client(pki, h.port(), pki.client_crt, pki.client_key);
  auto res = good->Get("/api/v1/workspaces/web");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body.find("\"user\":\"client-a\"") != std::string::npos);
  auto post = good->Post("/api/v1/workspaces/web/deploy", "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 202);
  CHECK(post->body == R"({"bytes":2,"user":"client-a"})");

  auto anonymous = Client(pki, h.port());
  CHECK(!anonymous->Get("/health"));
  auto rogue = Client(pki, h.port(), pki.rogue_crt, pki.rogue_key);
  CHECK(!rogue->Get("/health"));
  CHECK(h.observer.WaitFor(2).size() == 2);
  CHECK(h.handled == 2);
}

TEST_CASE("http: mTLS with basic auth requires both") {
  const Pki& pki = SharedPki();
  ServerOptions options = TlsOptions(pki, true);
  options.web.basic_auth_users = {{"alice", *HashBcrypt("pw", 4)}};
  testing::Harness h(options);
  auto cli = Client(pki, h.port(), pki.client_crt, pki.client_key);
  auto without = cli->Get("/api/v1/workspaces/web");
  REQUIRE(without);
  CHECK(without->status == 401);
  cli->set_basic_auth("alice", "pw");
  auto with = cli->Get("/api/v1/workspaces/web");
  REQUIRE(with);
  CHECK(with->status == 200);
  CHECK(with->body.find("\"user\":\"alice\"") != std::string::npos);
}

TEST_CASE("http: TLS configuration errors are reported by Create") {
  const Pki& pki = SharedPki();
  testing::TestLog log;

  ServerOptions missing = TlsOptions(pki, false);
  missing.web.tls_config.cert_file = pki.dir.Join("absent.crt");
  auto r = Server::Create(missing, log.logger, nullptr);
  CHECK(r.status().IsInvalidArgument());
  CHECK(r.status().message() ==
        "TLS certificate " + pki.dir.Join("absent.crt") + ": cannot be read");

  ServerOptions mismatch = TlsOptions(pki, false);
  mismatch.web.tls_config.key_file = pki.client_key;  // another certificate's key
  r = Server::Create(mismatch, log.logger, nullptr);
  CHECK(r.status().IsInvalidArgument());
  CHECK(r.status().message().starts_with("TLS certificate " + pki.server_crt + " or key " +
                                         pki.client_key + ": "));

  ServerOptions bad_ca = TlsOptions(pki, true);
  bad_ca.web.tls_config.client_ca_file = pki.not_a_cert;
  r = Server::Create(bad_ca, log.logger, nullptr);
  CHECK(r.status().IsInvalidArgument());
  CHECK(r.status().message().starts_with("client CA " + pki.not_a_cert + ": "));

  ServerOptions mtls_without_tls = testing::TestOptions();
  mtls_without_tls.web.tls_config.client_auth = config::ClientAuth::kRequireAndVerifyClientCert;
  CHECK(Server::Create(mtls_without_tls, log.logger, nullptr).status().IsInvalidArgument());

  ServerOptions bad_hash = testing::TestOptions();
  bad_hash.web.basic_auth_users = {{"alice", "plaintext"}};
  CHECK(Server::Create(bad_hash, log.logger, nullptr).status().message() ==
        "web config: basic_auth_users[alice]: not a bcrypt hash");
}

}  // namespace
}  // namespace provisioner::http
