// Authentication and the write-access rules of the listener, after
// Prometheus' exporter-toolkit (config/web_config.h):
//
//   - Basic auth against bcrypt hashes, verified by libcrypt (crypt_rn) and
//     compared in constant time. An unknown user is checked against a dummy
//     hash of the same cost, so that it costs what a wrong password costs
//     and response times do not reveal which user names exist.
//   - mTLS: OpenSSL has verified the chain during the handshake; the user is
//     the client certificate's subject CN.
//   - Mutating routes are refused (403) in read-only mode, and on a listener
//     that is not loopback when no authentication is configured, unless the
//     operator opted out with allow_unauthenticated_writes.
//
// Everything here is a pure function or a thread-safe object, unit-tested
// without sockets (tests/http/auth_test.cc).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "base/result.h"
#include "base/thread_annotations.h"

struct ssl_st;  // OpenSSL's SSL

namespace provisioner::http {

// Standard base64 (RFC 4648 §4) with '=' padding required, as sent in
// "Authorization: Basic". nullopt for any other byte, bad padding, or
// non-zero bits in the last symbol's unused part.
std::optional<std::string> DecodeBase64(std::string_view text);
std::string EncodeBase64(std::string_view data);

struct BasicCredentials {
  std::string user;
  std::string password;
};

// Parses an Authorization header value "Basic <base64(user:password)>"; the
// scheme is case-insensitive. The password may contain ':' (the first one
// splits). nullopt when the scheme is not Basic or the rest is malformed.
//
// cpp-httplib 0.11.4 percent-decodes every header value before we see it
// (reference §1.9, CVE-2026-45372). Base64 never contains '%', so a
// well-formed header is unchanged by that decoding, and a password with '%'
// travels inside the base64 untouched. A header that had %XX sequences
// decodes to bytes outside the base64 alphabet, or to different base64,
// and fails like any wrong credential.
std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view header_value);

// True for a bcrypt hash as written by htpasswd -B and friends: "$2a$",
// "$2b$" or "$2y$", a two-digit cost 04-31, '$', then 53 characters of
// bcrypt's base64 alphabet (60 in all).
bool IsBcryptHash(std::string_view hash);

// Checks a password against a bcrypt hash with libcrypt. False for a
// malformed hash and for a password containing NUL (crypt would stop at it).
// Thread-safe; costs what the hash's cost factor says (about 50-100 ms at
// cost 10).
bool VerifyBcrypt(std::string_view password, const std::string& hash);

// A new bcrypt ($2b$) hash of `password` with a random salt; cost 4-31.
// For tools that write web config files, and for tests.
Result<std::string> HashBcrypt(std::string_view password, int cost);

// Basic-auth users and their hashes. Thread-safe.
//
// A successful check is remembered for the life of the object, so that a
// scraper presenting the same credentials every 15 s pays for bcrypt once
// (exporter-toolkit caches the same way). The cache holds a keyed SHA-256
// (HMAC with a per-process random key) of user, password and hash, never the
// password, and is bounded. Failures are never cached: every wrong guess
// costs a full bcrypt.
class BasicAuthenticator {
 public:
  enum class Outcome { kOk, kMissing, kMalformed, kUnknownUser, kWrongPassword };
  struct Decision {
    Outcome outcome = Outcome::kMissing;
    std::string user;  // the name that was presented ("" when none)
  };

  // `users`: user name -> bcrypt hash, as validated by config.
  explicit BasicAuthenticator(std::map<std::string, std::string> users);
  BasicAuthenticator(const BasicAuthenticator&) = delete;
  BasicAuthenticator& operator=(const BasicAuthenticator&) = delete;

  // `authorization` is the Authorization header value, "" when absent.
  Decision Check(std::string_view authorization);

  // Entries in the success cache.
  size_t CachedForTesting();

 private:
  std::string CacheKey(std::string_view user, std::string_view password,
                       const std::string& hash) const;

  static constexpr size_t kMaxCached = 1024;

  const std::map<std::string, std::string> users_;
  std::string dummy_hash_;  // checked for unknown users
  std::string cache_key_;   // random HMAC key
  Mutex mu_;
  std::unordered_set<std::string> verified_ GUARDED_BY(mu_);
};

// The subject CN of the TLS peer's certificate, or "" when there is no
// certificate or no CN. `ssl` is httplib::Request::ssl.
std::string PeerCommonName(const ssl_st* ssl);

struct AccessRules {
  bool read_only = false;
  bool loopback_listener = true;
  bool authenticates = false;  // basic auth users or mTLS configured
  bool allow_unauthenticated_writes = false;
};

// Why a mutating route is refused (the 403 message), or nullopt when it may
// proceed. Only asked for mutating routes, after authentication passed.
std::optional<std::string> RefuseMutation(const AccessRules& rules);

// True for a listen host that only local processes can reach: 127.0.0.0/8,
// ::1 (with or without brackets) and "localhost".
bool IsLoopbackHost(std::string_view host);

}  // namespace provisioner::http
