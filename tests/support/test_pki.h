// Certificates made by the openssl CLI for one test run: a CA, a server
// certificate for 127.0.0.1/localhost (SAN) signed by it, a client
// certificate with CN "client-a" signed by it, a self-signed "client" with
// the same CN that must be refused, and a file that is not a certificate.
// Used by tests/http/tls_test.cc and tests/integration/security_test.cc.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "support/test_util.h"

namespace provisioner::testing {

struct TestPki {
  TempDir dir;
  bool ok = false;
  std::string ca_crt = dir.Join("ca.crt");
  std::string server_crt = dir.Join("server.crt");
  std::string server_key = dir.Join("server.key");
  std::string client_crt = dir.Join("client.crt");
  std::string client_key = dir.Join("client.key");
  std::string rogue_crt = dir.Join("rogue.crt");
  std::string rogue_key = dir.Join("rogue.key");
  std::string not_a_cert = dir.Join("not-a-cert.pem");

  TestPki() {
    WriteFileOrDie(dir.Join("server.ext"),
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
    WriteFileOrDie(dir.Join("client.ext"),
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                   "extendedKeyUsage=clientAuth\n");
    WriteFileOrDie(not_a_cert, "hello\n");
    const std::string key = "openssl ecparam -name prime256v1 -genkey -noout -out ";
    const std::string sign = "openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 ";
    const std::string script =
        "cd '" + dir.path() + "' && " + key + "ca.key && " +
        "openssl req -x509 -new -key ca.key -subj /CN=test-ca -days 2 -out ca.crt && " + key +
        "server.key && openssl req -new -key server.key -subj /CN=localhost -out server.csr && " +
        sign + "-in server.csr -extfile server.ext -out server.crt && " + key +
        "client.key && openssl req -new -key client.key -subj /CN=client-a -out client.csr && " +
        sign + "-in client.csr -extfile client.ext -out client.crt && " + key +
        "rogue.key && openssl req -x509 -new -key rogue.key -subj /CN=client-a -days 2 "
        "-out rogue.crt";
    ok = std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
  }
};

// Made once per test binary run: key generation is the slow part.
inline const TestPki& SharedTestPki() {
  static TestPki pki;
  REQUIRE_MESSAGE(pki.ok, "the openssl CLI could not make the test certificates");
  return pki;
}

}  // namespace provisioner::testing
