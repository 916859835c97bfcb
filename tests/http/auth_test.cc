#include "http/auth.h"

#include <doctest/doctest.h>

#include <chrono>

#include "support/test_util.h"

namespace provisioner::http {
namespace {

// crypt_blowfish's published test vector (password "U*U").
constexpr const char* kVectorA = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
constexpr const char* kVectorB = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
constexpr const char* kVectorY = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";

TEST_CASE("http: base64 decodes RFC 4648 test vectors") {
  struct Row {
    const char* encoded;
    const char* decoded;
  };
  for (Row r : {Row{"", ""}, Row{"Zg==", "f"}, Row{"Zm8=", "fo"}, Row{"Zm9v", "foo"},
                Row{"Zm9vYg==", "foob"}, Row{"Zm9vYmE=", "fooba"}, Row{"Zm9vYmFy", "foobar"},
                Row{"dXNlcjpwYXNz", "user:pass"}, Row{"Pz8/Pj4+", "\x3f\x3f\x3f>>>"}}) {
    CAPTURE(r.encoded);
    auto d = DecodeBase64(r.encoded);
    REQUIRE(d);
    CHECK(*d == r.decoded);
    CHECK(EncodeBase64(r.decoded) == r.encoded);
  }
  auto binary = DecodeBase64("AP8A");
  REQUIRE(binary);
  CHECK(*binary == std::string("\x00\xff\x00", 3));
}

TEST_CASE("http: base64 refuses malformed input") {
  for (const char* bad :
       {"Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v!", "Zm9v YmFy", "Zm=v",
        "Zg==Zg==", "Zm9vYmFy%3D", "Zh==", "Zm9=", "dXNlcjpw-XNz", "dXNlcjpw_XNz"}) {
    CAPTURE(bad);
    CHECK(!DecodeBase64(bad));
  }
}

TEST_CASE("http: basic authorization header parsing") {
  auto c = ParseBasicAuthorization("Basic " + EncodeBase64("alice:s3cret"));
  REQUIRE(c);
  CHECK(c->user == "alice");
  CHECK(c->password == "s3cret");

  c = ParseBasicAuthorization("basic " + EncodeBase64("bob:a:b:c"));
  REQUIRE(c);
  CHECK(c->user == "bob");
  CHECK(c->password == "a:b:c");  // only the first ':' splits

  c = ParseBasicAuthorization("BASIC   " + EncodeBase64("carol:") + "  ");
  REQUIRE(c);
  CHECK(c->user == "carol");
  CHECK(c->password.empty());

  // A password with '%' travels inside the base64, which httplib's
  // percent-decoding of header values leaves alone.
  c = ParseBasicAuthorization("Basic " + EncodeBase64("dave:100%25%41"));
  REQUIRE(c);
  CHECK(c->password == "100%25%41");

  CHECK(!ParseBasicAuthorization(""));
  CHECK(!ParseBasicAuthorization("Basic"));
  CHECK(!ParseBasicAuthorization("Basic "));
  CHECK(!ParseBasicAuthorization("Bearer " + EncodeBase64("a:b")));
  CHECK(!ParseBasicAuthorization("Basic " + EncodeBase64("no-colon")));
  CHECK(!ParseBasicAuthorization("Basic not*base64"));
  CHECK(!ParseBasicAuthorization("Basicx " + EncodeBase64("a:b")));
}

TEST_CASE("http: bcrypt hash format") {
  CHECK(IsBcryptHash(kVectorA));
  CHECK(IsBcryptHash(kVectorB));
  CHECK(IsBcryptHash(kVectorY));
  CHECK(IsBcryptHash("$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"));
  CHECK(IsBcryptHash("$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  CHECK(!IsBcryptHash(""));
  CHECK(!IsBcryptHash("$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  CHECK(!IsBcryptHash("$2$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW"));
  CHECK(!IsBcryptHash("$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  CHECK(!IsBcryptHash("$2b$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  CHECK(!IsBcryptHash("$2b$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWx"));
  CHECK(!IsBcryptHash("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe"));    // 59
  CHECK(!IsBcryptHash("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW"));  // 61
  CHECK(!IsBcryptHash("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe+"));
  CHECK(!IsBcryptHash("$1$abcdefgh$abcdefghijklmnopqrstuv"));  // md5-crypt
}

TEST_CASE("http: bcrypt verification through libcrypt") {
  CHECK(VerifyBcrypt("U*U", kVectorA));
  CHECK(VerifyBcrypt("U*U", kVectorB));
  CHECK(VerifyBcrypt("U*U", kVectorY));
  CHECK(!VerifyBcrypt("U*U*", kVectorA));
  CHECK(!VerifyBcrypt("", kVectorA));
  CHECK(!VerifyBcrypt("u*u", kVectorA));
  // A NUL would make crypt see "U*U" only.
  CHECK(!VerifyBcrypt(std::string("U*U\0tail", 8), kVectorA));
  CHECK(!VerifyBcrypt("U*U", "$2b$05$CCCC"));  // malformed hash
}

TEST_CASE("http: bcrypt hashing round trip") {
  auto hash = HashBcrypt("p%41ss:w\xc3\xb6rd", 4);
  REQUIRE_OK(hash);
  CHECK(hash->starts_with("$2b$04$"));
  CHECK(IsBcryptHash(*hash));
  CHECK(VerifyBcrypt("p%41ss:w\xc3\xb6rd", *hash));
  CHECK(!VerifyBcrypt("pAss:w\xc3\xb6rd", *hash));
  auto again = HashBcrypt("p%41ss:w\xc3\xb6rd", 4);
  REQUIRE_OK(again);
  CHECK(*again != *hash);  // random salt
  CHECK(HashBcrypt("x", 3).status().IsInvalidArgument());
  CHECK(HashBcrypt(std::string("a\0b", 3), 4).status().IsInvalidArgument());
}

TEST_CASE("http: basic authenticator outcomes") {
  BasicAuthenticator auth(std::map<std::string, std::string>{{"prometheus", kVectorY}});
  using Outcome = BasicAuthenticator::Outcome;
  auto header = [](std::string_view user, std::string_view pass) {
    return "Basic " + EncodeBase64(std::string(user) + ":" + std::string(pass));
  };

  auto d = auth.Check("");
  CHECK(d.outcome == Outcome::kMissing);
  d = auth.Check("Bearer abc");
  CHECK(d.outcome == Outcome::kMalformed);
  d = auth.Check(header("nobody", "U*U"));
  CHECK(d.outcome == Outcome::kUnknownUser);
  CHECK(d.user == "nobody");
  d = auth.Check(header("prometheus", "wrong"));
  CHECK(d.outcome == Outcome::kWrongPassword);
  CHECK(auth.CachedForTesting() == 0);  // failures are never remembered
  d = auth.Check(header("prometheus", "U*U"));
  CHECK(d.outcome == Outcome::kOk);
  CHECK(d.user == "prometheus");
  CHECK(auth.CachedForTesting() == 1);
  // The second success comes from the cache, with the same answer.
  d = auth.Check(header("prometheus", "U*U"));
  CHECK(d.outcome == Outcome::kOk);
  CHECK(auth.CachedForTesting() == 1);
  // A cached success does not open the door to other passwords.
  d = auth.Check(header("prometheus", "U*U "));
  CHECK(d.outcome == Outcome::kWrongPassword);
}

TEST_CASE("http: an unknown user costs a full bcrypt") {
  // Given a user whose hash has cost 8 (~15 ms), When an unknown user and a
  // wrong password are tried, Then both take time of the same order: the
  // unknown user was checked against a dummy hash of the same cost rather
  // than refused at once. The bound is loose (a factor of 4) so that a busy
  // machine cannot make it flaky, yet an early return (microseconds) fails.
  auto hash = HashBcrypt("right", 8);
  REQUIRE_OK(hash);
  BasicAuthenticator auth({{"alice", *hash}});
  auto time = [&](const std::string& header) {
    auto best = std::chrono::nanoseconds::max();
    for (int i = 0; i < 3; ++i) {
      auto start = std::chrono::steady_clock::now();
      (void)auth.Check(header);
      best = std::min(best, std::chrono::steady_clock::now() - start);
    }
    return best;
  };
  auto wrong_password = time("Basic " + EncodeBase64("alice:wrong"));
  auto unknown_user = time("Basic " + EncodeBase64("mallory:wrong"));
  CAPTURE(wrong_password.count());
  CAPTURE(unknown_user.count());
  CHECK(unknown_user * 4 > wrong_password);
  CHECK(wrong_password * 4 > unknown_user);
}

TEST_CASE("http: write rules for mutating routes") {
  AccessRules rules;
  CHECK(!RefuseMutation(rules));  // loopback, no auth: allowed
  rules.read_only = true;
  CHECK(RefuseMutation(rules) == "the server is read-only");
  rules.authenticates = true;
  CHECK(RefuseMutation(rules) == "the server is read-only");  // auth does not lift read-only

  AccessRules open;
  open.loopback_listener = false;
  REQUIRE(RefuseMutation(open));
  CHECK(RefuseMutation(open)->starts_with("changes are refused on a non-loopback listener"));
  open.allow_unauthenticated_writes = true;
  CHECK(!RefuseMutation(open));
  AccessRules authed;
  authed.loopback_listener = false;
  authed.authenticates = true;
  CHECK(!RefuseMutation(authed));
}

TEST_CASE("http: loopback listen hosts") {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    CAPTURE(host);
    CHECK(IsLoopbackHost(host));
  }
  for (const char* host : {"", "0.0.0.0", "::", "[::]", "10.0.0.1", "127.0.0.1.example.com",
                           "127.example", "localhost.example", "128.0.0.1", "127.0.0.256"}) {
    CAPTURE(host);
    CHECK(!IsLoopbackHost(host));
  }
}

TEST_CASE("http: peer common name without TLS") { CHECK(PeerCommonName(nullptr).empty()); }

}  // namespace
}  // namespace provisioner::http
