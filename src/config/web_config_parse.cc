// The web config file (exporter-toolkit format) -> WebConfig, with every
// rule checked and every problem reported, each with file:line:col and key
// path like the main config (config_parse.cc).
//
// Only what provisioner enforces is accepted. exporter-toolkit has more
// (inline PEM, cipher suites, other client_auth_type values, http2); a key
// or value we would silently ignore is an error instead, so that nobody
// believes a setting is in force when it is not.
#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <tuple>
#include <unordered_map>

#include "base/strings.h"
#include "config/config_parse.h"
#include "config/web_config.h"
#include "config/yaml_tree.h"

namespace provisioner::config {
namespace {

constexpr size_t kMaxBytes = 1 << 20;

// The same check as http::IsBcryptHash (config cannot include http).
bool IsBcryptHash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9') return false;
  int cost = (h[4] - '0') * 10 + (h[5] - '0');
  if (cost < 4 || cost > 31) return false;
  return std::all_of(h.begin() + 7, h.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
  });
}

class Decoder {
 public:
  Decoder(std::string file, WebConfigResult* out) : file_(std::move(file)), out_(out) {}

  void Error(YamlMark mark, std::string path, std::string message) {
    Diagnostic d;
    d.file = file_;
    d.line = mark.line;
    d.column = mark.column;
    d.path = std::move(path);
    d.message = std::move(message);
    out_->errors.push_back(std::move(d));
  }

  // The entries of a mapping whose keys are all in `allowed`, each once.
  // Unknown and duplicate keys are reported and left out. Null reads as
  // empty. False when `node` is not a mapping.
  bool ReadMap(const YamlNode& node, const std::string& path,
               std::span<const std::string_view> allowed,
               std::unordered_map<std::string, const std::pair<YamlNode, YamlNode>*>* fields) {
    if (node.IsNull()) return true;
    if (!node.IsMap()) {
      Error(node.mark, path, "expected a mapping, got " + std::string(KindName(node)));
      return false;
    }
    std::unordered_map<std::string, int> seen;
    for (const auto& entry : node.entries) {
      const YamlNode& key = entry.first;
      if (!key.IsScalar()) {
        Error(key.mark, path, "keys must be plain names, got " + std::string(KindName(key)));
        continue;
      }
      auto [it, inserted] = seen.emplace(key.value, key.mark.line);
      if (!inserted) {
        Error(key.mark, Join(path, key.value),
              "duplicate key \"" + key.value + "\" (first at line " + std::to_string(it->second) +
                  ")");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key.value) == allowed.end()) {
        Error(key.mark, path, UnknownKeyMessage(key.value, allowed));
        continue;
      }
      fields->emplace(key.value, &entry);
    }
    return true;
  }

  // A non-empty string value, or nullopt (reported).
  std::optional<std::string> String(const std::pair<YamlNode, YamlNode>& entry,
                                    const std::string& path) {
    const YamlNode& v = entry.second;
    if (v.IsNull()) {
      Error(entry.first.mark, path, "missing value");
      return std::nullopt;
    }
    if (!v.IsScalar()) {
      Error(v.mark, path, "expected a string, got " + std::string(KindName(v)));
      return std::nullopt;
    }
    if (v.value.empty()) {
      Error(v.mark, path, "must not be empty");
      return std::nullopt;
    }
    return v.value;
  }

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

 private:
  std::string file_;
  WebConfigResult* out_;
};

using Fields = std::unordered_map<std::string, const std::pair<YamlNode, YamlNode>*>;

void DecodeTls(Decoder& d, const YamlNode& node, const std::string& base_dir, WebConfig* out) {
  static constexpr std::array<std::string_view, 5> kKeys = {
      "cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"};
  const std::string path = "tls_server_config";
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  TlsConfig& tls = out->tls_config;
  auto get = [&](std::string_view key) -> const std::pair<YamlNode, YamlNode>* {
    auto it = f.find(std::string(key));
    return it == f.end() ? nullptr : it->second;
  };
  auto file = [&](std::string_view key, std::string* target) {
    if (const auto* e = get(key)) {
      if (auto v = d.String(*e, Decoder::Join(path, key))) *target = ResolvePath(base_dir, *v);
    }
  };
  file("cert_file", &tls.cert_file);
  file("key_file", &tls.key_file);
  file("client_ca_file", &tls.client_ca_file);

  const auto* auth = get("client_auth_type");
  if (auth != nullptr) {
    if (auto v = d.String(*auth, Decoder::Join(path, "client_auth_type"))) {
      if (*v == "NoClientCert") {
        tls.client_auth = ClientAuth::kNoClientCert;
      } else if (*v == "RequireAndVerifyClientCert") {
        tls.client_auth = ClientAuth::kRequireAndVerifyClientCert;
      } else if (*v == "RequestClientCert" || *v == "RequireAnyClientCert" ||
                 *v == "VerifyClientCertIfGiven") {
        d.Error(auth->second.mark, Decoder::Join(path, "client_auth_type"),
                "\"" + *v +
                    "\" is not supported: only NoClientCert and RequireAndVerifyClientCert are");
      } else {
        d.Error(
            auth->second.mark, Decoder::Join(path, "client_auth_type"),
            "unknown value \"" + *v + "\" (expected NoClientCert or RequireAndVerifyClientCert)");
      }
    }
  }
  if (const auto* e = get("min_version")) {
    if (auto v = d.String(*e, Decoder::Join(path, "min_version"))) {
      if (*v == "TLS12" || *v == "TLS13") {
        tls.min_version = *v;
      } else if (*v == "TLS10" || *v == "TLS11") {
        d.Error(e->second.mark, Decoder::Join(path, "min_version"),
                "\"" + *v + "\" is not allowed: the minimum is TLS12");
      } else {
        d.Error(e->second.mark, Decoder::Join(path, "min_version"),
                "unknown value \"" + *v + "\" (expected TLS12 or TLS13)");
      }
    }
  }

  const bool mtls = tls.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  const bool has_cert = get("cert_file") != nullptr;
  const bool has_key = get("key_file") != nullptr;
  if (has_cert != has_key) {
    d.Error(node.mark, path,
            std::string("cert_file and key_file go together: ") +
                (has_cert ? "key_file" : "cert_file") + " is missing");
  } else if (!has_cert && (mtls || get("client_ca_file") != nullptr)) {
    d.Error(node.mark, path, "client certificates need TLS: set cert_file and key_file");
  }
  if (mtls && get("client_ca_file") == nullptr) {
    d.Error(auth->second.mark, Decoder::Join(path, "client_auth_type"),
            "RequireAndVerifyClientCert needs client_ca_file");
  }
  if (!mtls && get("client_ca_file") != nullptr) {
    d.Error(get("client_ca_file")->first.mark, Decoder::Join(path, "client_ca_file"),
            "only used with client_auth_type: RequireAndVerifyClientCert");
  }
  out->tls = has_cert && has_key;
}

void DecodeUsers(Decoder& d, const YamlNode& node, WebConfig* out) {
  const std::string path = "basic_auth_users";
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    d.Error(
        node.mark, path,
        "expected a mapping of user names to bcrypt hashes, got " + std::string(KindName(node)));
    return;
  }
  std::unordered_map<std::string, int> seen;
  for (const auto& [key, value] : node.entries) {
    if (!key.IsScalar()) {
      d.Error(key.mark, path,
              "user names must be plain strings, got " + std::string(KindName(key)));
      continue;
    }
    const std::string user_path = Decoder::Join(path, key.value);
    if (key.value.empty()) {
      d.Error(key.mark, path, "user names must not be empty");
      continue;
    }
    auto [it, inserted] = seen.emplace(key.value, key.mark.line);
    if (!inserted) {
      d.Error(key.mark, user_path,
              "duplicate user \"" + key.value + "\" (first at line " + std::to_string(it->second) +
                  ")");
      continue;
    }
    if (key.value.find(':') != std::string::npos) {
      d.Error(key.mark, user_path, "user names cannot contain ':' (basic auth splits on it)");
      continue;
    }
    if (!value.IsScalar() || value.value.empty()) {
      d.Error(value.IsNull() ? key.mark : value.mark, user_path,
              "expected a bcrypt hash, got " +
                  std::string(value.IsScalar() ? "an empty string" : KindName(value)));
      continue;
    }
    // The value is not echoed: it could be a password pasted by mistake.
    if (!IsBcryptHash(value.value)) {
      d.Error(value.mark, user_path,
              "not a bcrypt hash: expected $2a$, $2b$ or $2y$, a cost of 04-31 and 60 "
              "characters in all (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')");
      continue;
    }
    out->basic_auth_users.emplace(key.value, value.value);
  }
}

}  // namespace

WebConfigResult ParseWebConfig(std::string_view text, std::string_view file_name,
                               const std::string& base_dir) {
  WebConfigResult result;
  Decoder d{std::string(file_name), &result};
  if (text.size() > kMaxBytes) {
    d.Error({}, "",
            "file is " + std::to_string(text.size()) + " bytes, over the limit of " +
                std::to_string(kMaxBytes));
    return result;
  }
  YamlError yaml_error;
  auto root = ParseYaml(text, YamlLimits{16, 100'000}, &yaml_error);
  if (!root.ok()) {
    d.Error(yaml_error.mark, "", yaml_error.message);
    return result;
  }
  // An empty file means plain HTTP without authentication, as for
  // exporter-toolkit.
  static constexpr std::array<std::string_view, 3> kTopKeys = {
      "tls_server_config", "http_server_config", "basic_auth_users"};
  Fields f;
  if (!d.ReadMap(*root, "", kTopKeys, &f)) return result;
  if (auto it = f.find("tls_server_config"); it != f.end()) {
    DecodeTls(d, it->second->second, base_dir, &result.config);
  }
  if (auto it = f.find("http_server_config"); it != f.end()) {
    Fields none;
    d.ReadMap(it->second->second, "http_server_config", {}, &none);
  }
  if (auto it = f.find("basic_auth_users"); it != f.end()) {
    DecodeUsers(d, it->second->second, &result.config);
  }
  // Reported in file order, whatever order the sections were decoded in.
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  return result;
}

}  // namespace provisioner::config
