#include "http/auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>

#include "base/strings.h"

namespace provisioner::http {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool IsBcryptChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}

int BcryptCost(std::string_view hash) { return (hash[4] - '0') * 10 + (hash[5] - '0'); }

}  // namespace

std::optional<std::string> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++padding;
        continue;
      }
      // '=' only at the end, and nothing but '=' after the first one.
      if (padding > 0) return std::nullopt;
      v[k] = Base64Value(c);
      if (v[k] < 0) return std::nullopt;
    }
    uint32_t n = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                 (static_cast<uint32_t>(v[2]) << 6) | static_cast<uint32_t>(v[3]);
    // Canonical encodings only: the bits that padding leaves unused are zero.
    if ((padding == 1 && (n & 0xff) != 0) || (padding == 2 && (n & 0xffff) != 0)) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (padding < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (padding < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

std::string EncodeBase64(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (size_t i = 0; i < data.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    if (i + 1 < data.size())
      n |= static_cast<uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    if (i + 2 < data.size()) n |= static_cast<uint32_t>(static_cast<unsigned char>(data[i + 2]));
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < data.size() ? kBase64Alphabet[n & 63] : '=');
  }
  return out;
}

std::optional<BasicCredentials> ParseBasicAuthorization(std::string_view value) {
  value = Trim(value);
  size_t space = value.find(' ');
  if (space == std::string_view::npos || AsciiLower(value.substr(0, space)) != "basic") {
    return std::nullopt;
  }
  std::optional<std::string> decoded = DecodeBase64(Trim(value.substr(space + 1)));
  if (!decoded) return std::nullopt;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return BasicCredentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

bool IsBcryptHash(std::string_view hash) {
  if (hash.size() != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || hash[6] != '$') {
    return false;
  }
  if (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y') return false;
  if (!std::isdigit(static_cast<unsigned char>(hash[4])) ||
      !std::isdigit(static_cast<unsigned char>(hash[5]))) {
    return false;
  }
  int cost = BcryptCost(hash);
  if (cost < 4 || cost > 31) return false;
  return std::all_of(hash.begin() + 7, hash.end(), IsBcryptChar);
}

bool VerifyBcrypt(std::string_view password, const std::string& hash) {
  if (!IsBcryptHash(hash) || password.find('\0') != std::string_view::npos) return false;
  // struct crypt_data is ~32 KB: on the heap, zeroed as crypt_rn requires.
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const std::string phrase(password);
  const char* out = crypt_rn(phrase.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  // crypt_rn returns null on failure; the result of a successful bcrypt is
  // the full 60-character hash, compared without early exit.
  bool ok = out != nullptr && std::strlen(out) == hash.size() &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

Result<std::string> HashBcrypt(std::string_view password, int cost) {
  if (cost < 4 || cost > 31) return Status::InvalidArgument("bcrypt cost must be 4-31");
  if (password.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("password contains a NUL byte");
  }
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> setting{};
  // A null random-bytes argument makes libxcrypt read the OS's randomness.
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, setting.data(),
                       static_cast<int>(setting.size())) == nullptr) {
    return Status::Internal("crypt_gensalt_rn failed");
  }
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const std::string phrase(password);
  const char* out = crypt_rn(phrase.c_str(), setting.data(), data.get(), sizeof(crypt_data));
  if (out == nullptr || !IsBcryptHash(out)) return Status::Internal("crypt_rn failed");
  return std::string(out);
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users)
    : users_(std::move(users)) {
  // The dummy costs as much as the most expensive real hash, so that an
  // unknown user is never cheaper to try than a known one.
  int cost = 4;
  for (const auto& [user, hash] : users_) {
    if (IsBcryptHash(hash)) cost = std::max(cost, BcryptCost(hash));
  }
  auto dummy = HashBcrypt("provisioner-dummy-password", cost);
  dummy_hash_ = dummy.ok() ? *dummy : std::string();
  std::array<unsigned char, 32> key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    // Without a secret key the cache would hold plain SHA-256s of
    // passwords; go without the cache instead.
    cache_key_.clear();
  } else {
    cache_key_.assign(reinterpret_cast<const char*>(key.data()), key.size());
  }
}

std::string BasicAuthenticator::CacheKey(std::string_view user, std::string_view password,
                                         const std::string& hash) const {
  std::string message;
  message.reserve(user.size() + password.size() + hash.size() + 2);
  message.append(user).push_back('\0');
  message.append(password).push_back('\0');
  message.append(hash);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), cache_key_.data(), static_cast<int>(cache_key_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
           &mac_len) == nullptr) {
    mac_len = 0;
  }
  OPENSSL_cleanse(message.data(), message.size());
  return std::string(reinterpret_cast<const char*>(mac.data()), mac_len);
}

BasicAuthenticator::Decision BasicAuthenticator::Check(std::string_view authorization) {
  Decision d;
  if (Trim(authorization).empty()) return d;
  std::optional<BasicCredentials> creds = ParseBasicAuthorization(authorization);
  if (!creds) {
    d.outcome = Outcome::kMalformed;
    return d;
  }
  d.user = creds->user;
  auto it = users_.find(creds->user);
  const bool known = it != users_.end();
  const std::string& hash = known ? it->second : dummy_hash_;

  std::string key;
  if (known && !cache_key_.empty()) {
    key = CacheKey(creds->user, creds->password, hash);
    MutexLock lock(mu_);
    if (!key.empty() && verified_.count(key) > 0) {
      d.outcome = Outcome::kOk;
      return d;
    }
  }
  const bool ok = VerifyBcrypt(creds->password, hash);
  OPENSSL_cleanse(creds->password.data(), creds->password.size());
  if (!known) {
    d.outcome = Outcome::kUnknownUser;
    return d;
  }
  if (!ok) {
    d.outcome = Outcome::kWrongPassword;
    return d;
  }
  if (!key.empty()) {
    MutexLock lock(mu_);
    if (verified_.size() >= kMaxCached) verified_.clear();
    verified_.insert(std::move(key));
  }
  d.outcome = Outcome::kOk;
  return d;
}

size_t BasicAuthenticator::CachedForTesting() {
  MutexLock lock(mu_);
  return verified_.size();
}

std::string PeerCommonName(const ssl_st* ssl) {
  if (ssl == nullptr) return "";
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string cn;
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = subject != nullptr ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (index >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    int len = data != nullptr ? ASN1_STRING_to_UTF8(&utf8, data) : -1;
    if (len > 0) cn.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  X509_free(cert);
  return cn;
}

std::optional<std::string> RefuseMutation(const AccessRules& rules) {
  if (rules.read_only) return "the server is read-only";
  if (!rules.loopback_listener && !rules.authenticates && !rules.allow_unauthenticated_writes) {
    return "changes are refused on a non-loopback listener without authentication (configure "
           "server.web_config_file, or set server.allow_unauthenticated_writes)";
  }
  return std::nullopt;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "::1" || host == "localhost") return true;
  if (!host.starts_with("127.")) return false;
  auto parts = Split(host, '.');
  return parts.size() == 4 && std::all_of(parts.begin(), parts.end(), [](std::string_view p) {
           auto v = ParseUint(p);
           return v && *v <= 255;
         });
}

}  // namespace provisioner::http
