#include "config/web_config.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/test_util.h"

namespace provisioner::config {
namespace {

constexpr const char* kHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

std::vector<std::string> Errors(std::string_view text) {
  WebConfigResult r = ParseWebConfig(text, "web.yml", "/etc/provisioner");
  std::vector<std::string> out;
  for (const Diagnostic& d : r.errors) out.push_back(d.ToString());
  return out;
}

TEST_CASE("config: web config with TLS and basic auth") {
  std::string text = std::string(R"(# exporter-toolkit format
tls_server_config:
  cert_file: tls/server.crt
  key_file: /abs/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ../ca/clients.crt
  min_version: TLS13
http_server_config:
basic_auth_users:
  prometheus: )") + kHash +
                     "\n  ops: '" + kHash + "'\n";
  WebConfigResult r = ParseWebConfig(text, "web.yml", "/etc/provisioner");
  REQUIRE(r.ok());
  const WebConfig& c = r.config;
  CHECK(c.tls);
  CHECK(c.tls_config.cert_file == "/etc/provisioner/tls/server.crt");
  CHECK(c.tls_config.key_file == "/abs/server.key");
  CHECK(c.tls_config.client_ca_file == "/etc/ca/clients.crt");
  CHECK(c.tls_config.client_auth == ClientAuth::kRequireAndVerifyClientCert);
  CHECK(c.tls_config.min_version == "TLS13");
  CHECK(c.basic_auth_users.size() == 2);
  CHECK(c.basic_auth_users.at("prometheus") == kHash);
  CHECK(c.authenticates());
}

TEST_CASE("config: web config defaults and empty files") {
  WebConfigResult empty = ParseWebConfig("", "web.yml", "");
  REQUIRE(empty.ok());
  CHECK(!empty.config.tls);
  CHECK(!empty.config.authenticates());

  WebConfigResult comments = ParseWebConfig("# nothing yet\n", "web.yml", "");
  CHECK(comments.ok());

  WebConfigResult tls =
      ParseWebConfig("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n", "web.yml", "");
  REQUIRE(tls.ok());
  CHECK(tls.config.tls);
  CHECK(tls.config.tls_config.cert_file == "a.crt");  // no base dir: as written
  CHECK(tls.config.tls_config.min_version == "TLS12");
  CHECK(tls.config.tls_config.client_auth == ClientAuth::kNoClientCert);
  CHECK(!tls.config.authenticates());

  WebConfigResult users_only =
      ParseWebConfig(std::string("basic_auth_users:\n  a: ") + kHash + "\n", "web.yml", "");
  REQUIRE(users_only.ok());
  CHECK(!users_only.config.tls);
  CHECK(users_only.config.authenticates());
}

TEST_CASE("config: the shipped web.yml example parses") {
  std::string text =
      testing::ReadFileOrDie(std::string(PROVISIONER_SOURCE_DIR) + "/config/web.yml");
  WebConfigResult r = ParseWebConfig(text, "web.yml", "/etc/provisioner");
  for (const Diagnostic& d : r.errors) CAPTURE(d.ToString());
  CHECK(r.ok());
  CHECK(r.config.tls);
}

TEST_CASE("config: web config errors with position and key path") {
  // Given a file with one mistake per rule, When it is parsed, Then every
  // mistake is reported at once, in file order, with the exact message.
  std::string text = R"(tls_server_config:
  cert_file: server.crt
  client_auth_type: RequireAnyClientCert
  min_version: TLS11
  cipher_suites: [a]
basic_auth_users:
  "": )" + std::string(kHash) +
                     R"(
  alice: hunter2
  bob:
  "c:d": )" + std::string(kHash) +
                     R"(
  eve: $2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW
basic_auth_user: {}
)";
  std::vector<std::string> expected = {
      "web.yml:2:3: tls_server_config: cert_file and key_file go together: key_file is missing",
      "web.yml:3:21: tls_server_config.client_auth_type: \"RequireAnyClientCert\" is not "
      "supported: only NoClientCert and RequireAndVerifyClientCert are",
      "web.yml:4:16: tls_server_config.min_version: \"TLS11\" is not allowed: the minimum is TLS12",
      "web.yml:5:3: tls_server_config: unknown key \"cipher_suites\" (allowed: cert_file, "
      "key_file, client_auth_type, client_ca_file, min_version)",
      "web.yml:7:3: basic_auth_users: user names must not be empty",
      "web.yml:8:10: basic_auth_users.alice: not a bcrypt hash: expected $2a$, $2b$ or $2y$, a "
      "cost of 04-31 and 60 characters in all (make one with: htpasswd -nBC 10 \"\" | tr -d "
      "':\\n')",
      "web.yml:9:3: basic_auth_users.bob: expected a bcrypt hash, got nothing",
      "web.yml:10:3: basic_auth_users.c:d: user names cannot contain ':' (basic auth splits on "
      "it)",
      "web.yml:11:8: basic_auth_users.eve: not a bcrypt hash: expected $2a$, $2b$ or $2y$, a "
      "cost of 04-31 and 60 characters in all (make one with: htpasswd -nBC 10 \"\" | tr -d "
      "':\\n')",
      "web.yml:12:1: unknown key \"basic_auth_user\" (did you mean \"basic_auth_users\"?)",
  };
  std::vector<std::string> got = Errors(text);
  CHECK(got == expected);
  // The plaintext password is never echoed.
  for (const std::string& e : got) CHECK(e.find("hunter2") == std::string::npos);
}

TEST_CASE("config: web config mTLS rules") {
  CHECK(Errors("tls_server_config:\n  cert_file: a\n  key_file: b\n"
               "  client_auth_type: RequireAndVerifyClientCert\n") ==
        std::vector<std::string>{"web.yml:4:21: tls_server_config.client_auth_type: "
                                 "RequireAndVerifyClientCert needs client_ca_file"});
  CHECK(Errors("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n") ==
        std::vector<std::string>{"web.yml:4:3: tls_server_config.client_ca_file: only used with "
                                 "client_auth_type: RequireAndVerifyClientCert"});
  CHECK(Errors("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n"
               "  client_ca_file: ca\n") ==
        std::vector<std::string>{"web.yml:2:3: tls_server_config: client certificates need TLS: "
                                 "set cert_file and key_file"});
  CHECK(Errors("tls_server_config:\n  key_file: b\n") ==
        std::vector<std::string>{"web.yml:2:3: tls_server_config: cert_file and key_file go "
                                 "together: cert_file is missing"});
  CHECK(
      Errors("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n") ==
      std::vector<std::string>{"web.yml:4:21: tls_server_config.client_auth_type: unknown value "
                               "\"Maybe\" (expected NoClientCert or RequireAndVerifyClientCert)"});
  for (const char* other : {"RequestClientCert", "VerifyClientCertIfGiven"}) {
    CAPTURE(other);
    auto errors = Errors(std::string("tls_server_config:\n  cert_file: a\n  key_file: b\n"
                                     "  client_auth_type: ") +
                         other + "\n");
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find("is not supported: only NoClientCert and RequireAndVerifyClientCert") !=
          std::string::npos);
  }
  WebConfigResult none = ParseWebConfig(
      "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: NoClientCert\n",
      "web.yml", "");
  CHECK(none.ok());
}

TEST_CASE("config: web config value and shape errors") {
  CHECK(Errors("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n") ==
        std::vector<std::string>{"web.yml:4:16: tls_server_config.min_version: unknown value "
                                 "\"SSL3\" (expected TLS12 or TLS13)"});
  CHECK(Errors("tls_server_config:\n  cert_file: ''\n  key_file: b\n") ==
        std::vector<std::string>{"web.yml:2:14: tls_server_config.cert_file: must not be empty"});
  CHECK(Errors("tls_server_config:\n  cert_file: [a]\n  key_file: b\n") ==
        std::vector<std::string>{
            "web.yml:2:14: tls_server_config.cert_file: expected a string, got a list"});
  CHECK(Errors("tls_server_config: yes\n") ==
        std::vector<std::string>{
            "web.yml:1:20: tls_server_config: expected a mapping, got a scalar"});
  CHECK(Errors("basic_auth_users: [a, b]\n") ==
        std::vector<std::string>{"web.yml:1:19: basic_auth_users: expected a mapping of user names "
                                 "to bcrypt hashes, got a list"});
  CHECK(Errors("- a\n") == std::vector<std::string>{"web.yml:1:1: expected a mapping, got a list"});
  CHECK(Errors("http_server_config:\n  http2: false\n") ==
        std::vector<std::string>{"web.yml:2:3: http_server_config: unknown key \"http2\" (this "
                                 "section takes no keys)"});
  CHECK(Errors("tls_server_config:\n  cert_file: a\n  cert_file: b\n  key_file: c\n") ==
        std::vector<std::string>{"web.yml:3:3: tls_server_config.cert_file: duplicate key "
                                 "\"cert_file\" (first at line 2)"});
  std::string dup_user = std::string("basic_auth_users:\n  a: ") + kHash + "\n  a: " + kHash + "\n";
  CHECK(Errors(dup_user) == std::vector<std::string>{"web.yml:3:3: basic_auth_users.a: duplicate "
                                                     "user \"a\" (first at line 2)"});
}

TEST_CASE("config: web config hostile input") {
  auto errors = Errors("a: &x [1]\nb: *x\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].starts_with("web.yml:"));
  errors = Errors("tls_server_config: {cert_file: a\n");
  REQUIRE(errors.size() == 1);
  errors = Errors(std::string(2 << 20, '#'));
  CHECK(errors == std::vector<std::string>{"web.yml: file is 2097152 bytes, over the limit of "
                                           "1048576"});
}

}  // namespace
}  // namespace provisioner::config
