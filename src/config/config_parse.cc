// YAML/JSON text -> Config, and every validation rule of DESIGN.md §3.
//
// The only place that reads configuration keys by name. The document is
// parsed into a YamlNode tree first (yaml_tree.h: hostile-input guards), then
// decoded section by section. Decoding never stops at the first problem: each
// one becomes a Diagnostic and decoding goes on, so that `validate` lists them
// all.
#include "config/config_parse.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <unordered_map>

#include "base/duration.h"
#include "base/strings.h"
#include "config/yaml_tree.h"

namespace provisioner::config {

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  out += ": ";
  if (!path.empty()) out += path + ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  out += message;
  return out;
}

bool IsValidWorkspaceName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto lower_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_digit(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(),
                     [&](char c) { return lower_digit(c) || c == '_' || c == '-'; });
}

const WorkspaceConfig* Config::FindWorkspace(std::string_view name) const {
  for (const WorkspaceConfig& ws : workspaces) {
    if (ws.name == name) return &ws;
  }
  return nullptr;
}

namespace {

using Kind = YamlNode::Kind;

// A key path built on the stack and turned into text only when a message
// needs it, so a 10,000-workspace file does not allocate a path per field.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  int index = -1;  // >= 0: a sequence index "[i]"

  Path Key(std::string_view k) const { return Path{this, k, -1}; }
  Path Index(int i) const { return Path{this, {}, i}; }

  std::string str() const {
    std::string out = parent != nullptr ? parent->str() : std::string();
    if (index >= 0) {
      out += "[" + std::to_string(index) + "]";
    } else if (!key.empty()) {
      if (!out.empty()) out.push_back('.');
      out.append(key);
    }
    return out;
  }
};

// How a plain (unquoted) YAML scalar resolves under the YAML 1.2 core schema.
enum class Plain { kString, kBool, kInt, kFloat };

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Plain Resolve(const YamlNode& n) {
  if (n.quoted) return Plain::kString;
  std::string_view v = n.value;
  if (v == "true" || v == "True" || v == "TRUE" || v == "false" || v == "False" || v == "FALSE") {
    return Plain::kBool;
  }
  std::string_view digits = v;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
  if (IsDigits(digits)) return Plain::kInt;
  // [-+]? ( . digits | digits [ . digits? ] ) ( [eE] [-+]? digits )?
  size_t i = 0;
  bool mantissa = false;
  while (i < digits.size() && std::isdigit(static_cast<unsigned char>(digits[i])))
    ++i, mantissa = true;
  if (i < digits.size() && digits[i] == '.') {
    ++i;
    while (i < digits.size() && std::isdigit(static_cast<unsigned char>(digits[i]))) {
      ++i;
      mantissa = true;
    }
  }
  if (mantissa && i < digits.size() && (digits[i] == 'e' || digits[i] == 'E')) {
    ++i;
    if (i < digits.size() && (digits[i] == '-' || digits[i] == '+')) ++i;
    if (!IsDigits(digits.substr(i))) return Plain::kString;
    i = digits.size();
  }
  if (mantissa && i == digits.size()) return Plain::kFloat;
  return Plain::kString;
}

bool IsEnvName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool IsHttpUrl(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else {
    return false;
  }
  size_t host_end = rest.find('/');
  std::string_view host = rest.substr(0, host_end);
  if (host.empty()) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == '"' || c == '<' || c == '>' || c == '\\';
  });
}

bool IsIpv4(std::string_view s) {
  auto parts = Split(s, '.');
  if (parts.size() != 4) return false;
  for (std::string_view p : parts) {
    if (p.empty() || p.size() > 3 || !IsDigits(p) || std::stoi(std::string(p)) > 255) return false;
  }
  return true;
}

bool IsIpv6(std::string_view s) {
  // Hex groups separated by ':', at most one '::', optionally ending in IPv4.
  if (s.empty() || s.size() > 45) return false;
  size_t double_colon = s.find("::");
  if (double_colon != std::string_view::npos &&
      s.find("::", double_colon + 1) != std::string_view::npos) {
    return false;
  }
  int groups = 0;
  bool v4_tail = false;
  for (std::string_view g : Split(s, ':')) {
    if (g.empty()) continue;
    if (g.find('.') != std::string_view::npos) {
      if (!IsIpv4(g)) return false;
      v4_tail = true;
      groups += 2;
      continue;
    }
    if (g.size() > 4 || !std::all_of(g.begin(), g.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c));
        })) {
      return false;
    }
    ++groups;
  }
  (void)v4_tail;
  return double_colon != std::string_view::npos ? groups < 8 : groups == 8;
}

bool IsHostname(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (std::string_view label : Split(s, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
        })) {
      return false;
    }
  }
  return true;
}

// "" when `listen` is a valid host:port, else the reason.
std::string CheckListen(std::string_view listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos) {
    return "\"" + std::string(listen) + "\" needs a port, e.g. \"127.0.0.1:9090\"";
  }
  std::string_view host = listen.substr(0, colon);
  std::string_view port = listen.substr(colon + 1);
  auto port_value = ParseUint(port);
  if (!port_value || *port_value > 65535) {
    return "\"" + std::string(listen) + "\": port \"" + std::string(port) +
           "\" is not a number in 0-65535";
  }
  if (host.empty()) return "";  // all interfaces, like Prometheus' ":9090"
  if (host.front() == '[') {
    if (host.back() != ']' || !IsIpv6(host.substr(1, host.size() - 2))) {
      return "\"" + std::string(listen) + "\": bad IPv6 address";
    }
    return "";
  }
  if (host.find(':') != std::string_view::npos) {
    return "\"" + std::string(listen) + "\": put IPv6 addresses in brackets, e.g. \"[::1]:9090\"";
  }
  bool numeric = std::all_of(host.begin(), host.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
  });
  if (numeric ? !IsIpv4(host) : !IsHostname(host)) {
    return "\"" + std::string(listen) + "\": \"" + std::string(host) +
           "\" is not an IP address or host name";
  }
  return "";
}

bool IsLoopbackListen(std::string_view listen) {
  std::string_view host = listen.substr(0, listen.rfind(':'));
  return host.starts_with("127.") || host == "[::1]" || host == "localhost";
}

// The first key of `map` equal to `key` (which is `&key` itself unless it is
// a duplicate). Mappings in a config are small, so a scan beats a hash table
// per mapping, which showed up in the profile of a 10,000-workspace file.
const YamlNode* FirstKey(const YamlNode& map, const YamlNode& key) {
  for (const auto& entry : map.entries) {
    if (entry.first.IsScalar() && entry.first.value == key.value) return &entry.first;
  }
  return &key;
}

class Decoder {
 public:
  Decoder(std::string file, const ParseOptions& options, ParseResult* out)
      : file_(std::move(file)), options_(options), out_(out) {}

  void Error(const YamlNode& at, const Path& path, std::string message) {
    Add(Diagnostic::Severity::kError, at.mark, path.str(), std::move(message));
  }
  void Warning(const YamlNode& at, const Path& path, std::string message) {
    Add(Diagnostic::Severity::kWarning, at.mark, path.str(), std::move(message));
  }
  void Add(Diagnostic::Severity severity, YamlMark mark, std::string path, std::string message) {
    Diagnostic d;
    d.severity = severity;
    d.file = file_;
    d.line = mark.line;
    d.column = mark.column;
    d.path = std::move(path);
    d.message = std::move(message);
    (severity == Diagnostic::Severity::kError ? out_->errors : out_->warnings)
        .push_back(std::move(d));
  }

  // The keys of a mapping, each checked against `allowed` (unknown keys are
  // typos until proven otherwise) and for duplicates. Null reads as empty.
  class Fields {
   public:
    // The value of `key`, or nullptr when absent (or null: defaults apply).
    const YamlNode* Get(std::string_view key) const {
      for (const auto* e : entries_) {
        if (e->first.value == key) return e->second.IsNull() ? nullptr : &e->second;
      }
      return nullptr;
    }
    // The key node, for messages about the key as a whole.
    const YamlNode* KeyNode(std::string_view key) const {
      for (const auto* e : entries_) {
        if (e->first.value == key) return &e->first;
      }
      return nullptr;
    }
    bool Has(std::string_view key) const { return KeyNode(key) != nullptr; }

   private:
    friend class Decoder;
    std::vector<const std::pair<YamlNode, YamlNode>*> entries_;
  };

  bool ReadMap(const YamlNode& node, const Path& path, std::span<const std::string_view> allowed,
               Fields* fields) {
    if (node.IsNull()) return true;
    if (!node.IsMap()) {
      Error(node, path, "expected a mapping, got " + std::string(KindName(node)));
      return false;
    }
    for (const auto& entry : node.entries) {
      const YamlNode& key = entry.first;
      if (!key.IsScalar()) {
        Error(key, path, "keys must be plain names, got " + std::string(KindName(key)));
        continue;
      }
      if (const YamlNode* first = FirstKey(node, key); first != &key) {
        Error(key, path.Key(key.value),
              "duplicate key \"" + key.value + "\" (first at line " +
                  std::to_string(first->mark.line) + ")");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key.value) == allowed.end()) {
        Error(key, path, UnknownKeyMessage(key.value, allowed));
        continue;
      }
      fields->entries_.push_back(&entry);
    }
    return true;
  }

  bool Scalar(const YamlNode& n, const Path& path, std::string_view expected) {
    if (n.IsScalar()) return true;
    Error(n, path, "expected " + std::string(expected) + ", got " + std::string(KindName(n)));
    return false;
  }

  void String(const YamlNode* n, const Path& path, std::string* out) {
    if (n == nullptr || !Scalar(*n, path, "a string")) return;
    *out = n->value;
  }

  void NonEmptyString(const YamlNode* n, const Path& path, std::string* out) {
    if (n == nullptr || !Scalar(*n, path, "a string")) return;
    if (n->value.empty()) {
      Error(*n, path, "must not be empty");
      return;
    }
    *out = n->value;
  }

  void Bool(const YamlNode* n, const Path& path, bool* out) {
    if (n == nullptr || !Scalar(*n, path, "true or false")) return;
    if (Resolve(*n) != Plain::kBool) {
      Error(*n, path, "expected true or false, got \"" + n->value + "\"");
      return;
    }
    *out = n->value[0] == 't' || n->value[0] == 'T';
  }

  void Int(const YamlNode* n, const Path& path, int64_t min, int64_t max, int* out) {
    if (n == nullptr || !Scalar(*n, path, "a whole number")) return;
    if (Resolve(*n) != Plain::kInt) {
      Error(*n, path, "expected a whole number, got \"" + n->value + "\"");
      return;
    }
    errno = 0;
    long long v = std::strtoll(n->value.c_str(), nullptr, 10);
    if (errno == ERANGE || v < min || v > max) {
      Error(*n, path,
            n->value + " is out of range " + std::to_string(min) + "-" + std::to_string(max));
      return;
    }
    *out = static_cast<int>(v);
  }

  bool Number(const YamlNode* n, const Path& path, double min, double max, double* out) {
    if (n == nullptr || !Scalar(*n, path, "a number")) return false;
    Plain p = Resolve(*n);
    if (p != Plain::kInt && p != Plain::kFloat) {
      Error(*n, path, "expected a number, got \"" + n->value + "\"");
      return false;
    }
    double v = std::strtod(n->value.c_str(), nullptr);
    if (!std::isfinite(v) || v < min || v > max) {
      Error(*n, path, n->value + " is out of range " + FormatNumber(min) + "-" + FormatNumber(max));
      return false;
    }
    *out = v;
    return true;
  }

  bool Duration(const YamlNode* n, const Path& path, Millis min, Millis max, Millis* out) {
    if (n == nullptr || !Scalar(*n, path, "a duration like 90s, 5m or 1h30m")) return false;
    auto d = ParseDuration(n->value);
    if (!d.ok()) {
      Error(*n, path, d.status().message());
      return false;
    }
    if (*d < min || *d > max) {
      Error(*n, path,
            n->value + " is out of range " + FormatDuration(min) + "-" + FormatDuration(max));
      return false;
    }
    *out = *d;
    return true;
  }

  // A mapping of names to scalar values (null reads as ""). `key_ok` checks
  // each name; `what` describes valid names for the message.
  void StringMap(const YamlNode* n, const Path& path, bool (*key_ok)(std::string_view),
                 std::string_view what, std::map<std::string, std::string>* out) {
    if (n == nullptr) return;
    if (!n->IsMap()) {
      Error(*n, path, "expected a mapping, got " + std::string(KindName(*n)));
      return;
    }
    for (const auto& [key, value] : n->entries) {
      if (!key.IsScalar()) {
        Error(key, path, "keys must be plain names, got " + std::string(KindName(key)));
        continue;
      }
      Path item = path.Key(key.value);
      if (const YamlNode* first = FirstKey(*n, key); first != &key) {
        Error(key, item,
              "duplicate key \"" + key.value + "\" (first at line " +
                  std::to_string(first->mark.line) + ")");
        continue;
      }
      if (key_ok != nullptr && !key_ok(key.value)) {
        Error(key, item, "\"" + key.value + "\" is not a valid name: " + std::string(what));
        continue;
      }
      if (value.IsNull()) {
        (*out)[key.value] = "";
      } else if (Scalar(value, item, "a string")) {
        (*out)[key.value] = value.value;
      }
    }
  }

  void StringList(const YamlNode* n, const Path& path, std::vector<std::string>* out) {
    if (n == nullptr) return;
    if (!n->IsSequence()) {
      Error(*n, path, "expected a list, got " + std::string(KindName(*n)));
      return;
    }
    out->clear();
    for (size_t i = 0; i < n->items.size(); ++i) {
      const YamlNode& item = n->items[i];
      if (Scalar(item, path.Index(static_cast<int>(i)), "a string")) out->push_back(item.value);
    }
  }

  // Converts a YAML value to JSON for terraform.tfvars.json. Returns false
  // (after reporting) when it holds something JSON cannot say.
  bool ToJson(const YamlNode& n, const Path& path, nlohmann::json* out) {
    switch (n.kind) {
      case Kind::kNull:
        *out = nullptr;
        return true;
      case Kind::kScalar:
        switch (Resolve(n)) {
          case Plain::kBool:
            *out = n.value[0] == 't' || n.value[0] == 'T';
            return true;
          case Plain::kInt: {
            errno = 0;
            long long v = std::strtoll(n.value.c_str(), nullptr, 10);
            if (errno == ERANGE) {
              *out = n.value;  // too big for JSON's safe range: keep the digits as a string
            } else {
              *out = v;
            }
            return true;
          }
          case Plain::kFloat:
            *out = std::strtod(n.value.c_str(), nullptr);
            return true;
          case Plain::kString:
            *out = n.value;
            return true;
        }
        return true;
      case Kind::kSequence: {
        *out = nlohmann::json::array();
        bool ok = true;
        for (size_t i = 0; i < n.items.size(); ++i) {
          nlohmann::json item;
          ok &= ToJson(n.items[i], path.Index(static_cast<int>(i)), &item);
          out->push_back(std::move(item));
        }
        return ok;
      }
      case Kind::kMap: {
        *out = nlohmann::json::object();
        bool ok = true;
        for (const auto& [key, value] : n.entries) {
          if (!key.IsScalar()) {
            Error(key, path, "keys must be plain names, got " + std::string(KindName(key)));
            ok = false;
            continue;
          }
          if (out->contains(key.value)) {
            Error(key, path.Key(key.value), "duplicate key \"" + key.value + "\"");
            ok = false;
            continue;
          }
          nlohmann::json item;
          ok &= ToJson(value, path.Key(key.value), &item);
          (*out)[key.value] = std::move(item);
        }
        return ok;
      }
    }
    return false;
  }

  std::shared_ptr<const cron::TimeZone> Zone(const YamlNode& at, const Path& path,
                                             const std::string& name) {
    auto it = zones_.find(name);
    if (it != zones_.end()) {
      if (it->second == nullptr) Error(at, path, "unknown time zone \"" + name + "\"");
      return it->second;
    }
    auto zone = cron::TimeZone::Load(name);
    std::shared_ptr<const cron::TimeZone> shared;
    if (zone.ok()) {
      shared = std::make_shared<const cron::TimeZone>(std::move(zone).value());
    } else {
      Error(at, path, zone.status().message());
    }
    zones_.emplace(name, shared);
    return shared;
  }

  const ParseOptions& options() const { return options_; }

 private:
  static std::string FormatNumber(double v) {
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    std::string s = std::to_string(v);
    while (!s.empty() && s.back() == '0') s.pop_back();
    return s;
  }

  const std::string file_;
  const ParseOptions& options_;
  ParseResult* out_;
  std::unordered_map<std::string, std::shared_ptr<const cron::TimeZone>> zones_;
};

using Fields = Decoder::Fields;

constexpr std::array<std::string_view, 9> kTopKeys = {"server", "opentofu",      "scheduler",
                                                      "state",  "logging",       "tracing",
                                                      "ha",     "templates_dir", "workspaces"};

void DecodeServer(Decoder& d, const YamlNode& node, const Path& path, ServerConfig* out) {
  static constexpr std::array<std::string_view, 4> kKeys = {
      "listen", "web_config_file", "read_only", "allow_unauthenticated_writes"};
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  if (const YamlNode* n = f.Get("listen"); n != nullptr) {
    Path p = path.Key("listen");
    std::string listen;
    d.NonEmptyString(n, p, &listen);
    if (!listen.empty()) {
      std::string why = CheckListen(listen);
      if (why.empty()) {
        out->listen = listen;
      } else {
        d.Error(*n, p, why);
      }
    }
  }
  d.String(f.Get("web_config_file"), path.Key("web_config_file"), &out->web_config_file);
  d.Bool(f.Get("read_only"), path.Key("read_only"), &out->read_only);
  d.Bool(f.Get("allow_unauthenticated_writes"), path.Key("allow_unauthenticated_writes"),
         &out->allow_unauthenticated_writes);
}

// Variables set by provisioner itself; a user value would be overridden.
constexpr std::array<std::string_view, 4> kReservedEnv = {"TF_IN_AUTOMATION", "TF_INPUT",
                                                          "TF_PLUGIN_CACHE_DIR", "TRACEPARENT"};

void CheckEnv(Decoder& d, const YamlNode* node, const Path& path,
              const std::map<std::string, std::string>& env) {
  if (node == nullptr) return;
  for (std::string_view reserved : kReservedEnv) {
    if (env.count(std::string(reserved)) > 0) {
      d.Warning(*node, path.Key(reserved),
                "is set by provisioner for every run; this value is ignored");
    }
  }
}

void DecodeOpenTofu(Decoder& d, const YamlNode& node, const Path& path, OpenTofuConfig* out) {
  static constexpr std::array<std::string_view, 7> kKeys = {
      "binary",   "version", "download_base_url", "plugin_cache_dir", "lock_timeout",
      "pass_env", "env"};
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  d.NonEmptyString(f.Get("binary"), path.Key("binary"), &out->binary);
  if (const YamlNode* n = f.Get("version"); n != nullptr) {
    Path p = path.Key("version");
    std::string v;
    d.String(n, p, &v);
    // x.y.z with an optional pre-release, as in the release file names.
    const std::string release = v.substr(0, v.find('-'));  // Split returns views into it
    auto parts = Split(release, '.');
    bool ok = parts.size() == 3 && std::all_of(parts.begin(), parts.end(), IsDigits);
    if (v.empty()) {
      out->version.clear();
    } else if (v[0] == 'v' || v[0] == 'V') {
      d.Error(*n, p, "\"" + v + "\": write the version without \"v\", e.g. " + v.substr(1));
    } else if (!ok) {
      d.Error(*n, p, "\"" + v + "\" is not a release version like 1.12.6");
    } else {
      out->version = v;
    }
  }
  if (const YamlNode* n = f.Get("download_base_url"); n != nullptr) {
    Path p = path.Key("download_base_url");
    std::string url;
    d.String(n, p, &url);
    if (IsHttpUrl(url)) {
      while (!url.empty() && url.back() == '/') url.pop_back();
      out->download_base_url = url;
    } else {
      d.Error(*n, p, "\"" + url + "\" is not an http:// or https:// URL");
    }
  }
  d.NonEmptyString(f.Get("plugin_cache_dir"), path.Key("plugin_cache_dir"), &out->plugin_cache_dir);
  d.Duration(f.Get("lock_timeout"), path.Key("lock_timeout"), Millis(0), hours(24),
             &out->lock_timeout);
  if (const YamlNode* n = f.Get("pass_env"); n != nullptr) {
    Path p = path.Key("pass_env");
    std::vector<std::string> patterns;
    d.StringList(n, p, &patterns);
    bool ok = true;
    for (size_t i = 0; i < patterns.size() && n->IsSequence(); ++i) {
      const std::string& pattern = patterns[i];
      const YamlNode& item = n->items[i];
      Path ip = p.Index(static_cast<int>(i));
      bool chars_ok = !pattern.empty() && std::all_of(pattern.begin(), pattern.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '*' || c == '?';
      });
      if (!chars_ok || std::isdigit(static_cast<unsigned char>(pattern[0]))) {
        d.Error(item, ip,
                "\"" + pattern +
                    "\" is not a valid pattern: variable names use letters, digits and _, "
                    "with * and ? as wildcards");
        ok = false;
      } else if (pattern.find_first_not_of("*?") == std::string::npos) {
        d.Warning(item, ip, "\"" + pattern + "\" passes the daemon's whole environment to tofu");
      }
    }
    if (ok) out->pass_env = std::move(patterns);
  }
  if (const YamlNode* n = f.Get("env"); n != nullptr) {
    out->env.clear();
    d.StringMap(n, path.Key("env"), IsEnvName, "letters, digits and _, not starting with a digit",
                &out->env);
    CheckEnv(d, n, path.Key("env"), out->env);
  }
}

void DecodeScheduler(Decoder& d, const YamlNode& node, const Path& path, SchedulerConfig* out,
                     const YamlNode** timezone_node) {
  static constexpr std::array<std::string_view, 7> kKeys = {
      "timezone", "max_concurrent_jobs", "job_timeout", "kill_grace", "retry", "catch_up",
      "jitter"};
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  if (const YamlNode* n = f.Get("timezone"); n != nullptr) {
    d.NonEmptyString(n, path.Key("timezone"), &out->timezone);
    *timezone_node = n;
  }
  d.Int(f.Get("max_concurrent_jobs"), path.Key("max_concurrent_jobs"), 1, 1000,
        &out->max_concurrent_jobs);
  d.Duration(f.Get("job_timeout"), path.Key("job_timeout"), std::chrono::seconds(1), hours(24 * 7),
             &out->job_timeout);
  d.Duration(f.Get("kill_grace"), path.Key("kill_grace"), std::chrono::seconds(1), hours(1),
             &out->kill_grace);
  d.Bool(f.Get("catch_up"), path.Key("catch_up"), &out->catch_up);
  d.Duration(f.Get("jitter"), path.Key("jitter"), Millis(0), hours(24), &out->jitter);
  if (const YamlNode* n = f.Get("retry"); n != nullptr) {
    static constexpr std::array<std::string_view, 3> kRetryKeys = {"max_attempts", "backoff",
                                                                   "max_backoff"};
    Path rp = path.Key("retry");
    Fields rf;
    if (d.ReadMap(*n, rp, kRetryKeys, &rf)) {
      d.Int(rf.Get("max_attempts"), rp.Key("max_attempts"), 1, 100, &out->retry.max_attempts);
      d.Duration(rf.Get("backoff"), rp.Key("backoff"), std::chrono::seconds(1), hours(24),
                 &out->retry.backoff);
      bool max_ok = d.Duration(rf.Get("max_backoff"), rp.Key("max_backoff"),
                               std::chrono::seconds(1), hours(24 * 7), &out->retry.max_backoff);
      if (out->retry.max_backoff < out->retry.backoff) {
        const YamlNode* at = rf.Get("max_backoff") != nullptr ? rf.Get("max_backoff") : n;
        if (max_ok || rf.Get("max_backoff") == nullptr) {
          d.Error(*at, rp.Key("max_backoff"),
                  FormatDuration(out->retry.max_backoff) + " is shorter than backoff (" +
                      FormatDuration(out->retry.backoff) + ")");
        }
      }
    }
  }
}

void DecodeState(Decoder& d, const YamlNode& node, const Path& path, StateConfig* out) {
  static constexpr std::array<std::string_view, 2> kKeys = {"dir", "history_limit"};
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  d.NonEmptyString(f.Get("dir"), path.Key("dir"), &out->dir);
  d.Int(f.Get("history_limit"), path.Key("history_limit"), 1, 100000, &out->history_limit);
}

// A host name's characters: a node name goes into database rows and logs.
bool IsValidNodeName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

void DecodeHa(Decoder& d, const YamlNode& node, const Path& path, HaConfig* out) {
  static constexpr std::array<std::string_view, 8> kKeys = {
      "enabled",   "dsn_file",       "node_name",      "runs_jobs",
      "lease_ttl", "renew_interval", "renew_deadline", "claim_ttl"};
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  d.Bool(f.Get("enabled"), path.Key("enabled"), &out->enabled);
  d.NonEmptyString(f.Get("dsn_file"), path.Key("dsn_file"), &out->dsn_file);
  if (const YamlNode* n = f.Get("node_name"); n != nullptr) {
    std::string name;
    d.String(n, path.Key("node_name"), &name);
    if (!name.empty() && !IsValidNodeName(name)) {
      d.Error(*n, path.Key("node_name"),
              "\"" + name +
                  "\" is not a node name: 1-63 letters, digits, '.', '_' or '-', "
                  "starting with a letter or digit");
    } else {
      out->node_name = name;
    }
  }
  d.Bool(f.Get("runs_jobs"), path.Key("runs_jobs"), &out->runs_jobs);
  // A value that did not parse is reported already; the ratios below are
  // checked on the rest (given or default).
  bool ok = true;
  auto duration = [&](std::string_view key, Millis min, Millis max, Millis* out) {
    const YamlNode* n = f.Get(key);
    if (n != nullptr && !d.Duration(n, path.Key(key), min, max, out)) ok = false;
  };
  duration("lease_ttl", Millis(1'000), std::chrono::minutes(10), &out->lease_ttl);
  duration("renew_interval", Millis(100), std::chrono::minutes(5), &out->renew_interval);
  duration("renew_deadline", Millis(500), std::chrono::minutes(10), &out->renew_deadline);
  duration("claim_ttl", std::chrono::seconds(5), hours(1), &out->claim_ttl);
  // The ratios that keep two leaders apart (docs/ha.md, "Timings"): a leader
  // renews more than once before it gives up, and gives up before the
  // database lets another node take over.
  auto at = [&](std::string_view key) { return f.Get(key) != nullptr ? f.Get(key) : &node; };
  if (ok) {
    if (out->renew_interval * 2 > out->renew_deadline) {
      d.Error(*at("renew_interval"), path.Key("renew_interval"),
              FormatDuration(out->renew_interval) + " is more than half of renew_deadline (" +
                  FormatDuration(out->renew_deadline) +
                  "): one slow renewal would demote the leader");
    }
    if (out->renew_deadline >= out->lease_ttl) {
      d.Error(*at("renew_deadline"), path.Key("renew_deadline"),
              FormatDuration(out->renew_deadline) + " is not shorter than lease_ttl (" +
                  FormatDuration(out->lease_ttl) +
                  "): a leader must demote itself before the database lets another node take "
                  "over");
    }
  }
  // Every leader runs its own jobs in this version; a node that runs none
  // needs the job claims of docs/ha.md "Not built yet".
  if (out->enabled && !out->runs_jobs) {
    d.Error(*at("runs_jobs"), path.Key("runs_jobs"),
            "false is not supported yet: in this version the leader runs every job "
            "(docs/ha.md); remove it or set it to true");
  }
}

void DecodeLogging(Decoder& d, const YamlNode& node, const Path& path, LoggingConfig* out) {
  static constexpr std::array<std::string_view, 2> kKeys = {"level", "format"};
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  if (const YamlNode* n = f.Get("level");
      n != nullptr && d.Scalar(*n, path.Key("level"), "a level")) {
    auto level = log::ParseLevel(n->value);
    if (level.ok()) {
      out->level = *level;
    } else {
      d.Error(*n, path.Key("level"), level.status().message());
    }
  }
  if (const YamlNode* n = f.Get("format");
      n != nullptr && d.Scalar(*n, path.Key("format"), "a format")) {
    auto format = log::ParseFormat(n->value);
    if (format.ok()) {
      out->format = *format;
    } else {
      d.Error(*n, path.Key("format"), format.status().message());
    }
  }
}

void DecodeTracing(Decoder& d, const YamlNode& node, const Path& path, TracingConfig* out) {
  static constexpr std::array<std::string_view, 5> kKeys = {"enabled", "endpoint", "sampling_ratio",
                                                            "service_name", "headers_file"};
  Fields f;
  if (!d.ReadMap(node, path, kKeys, &f)) return;
  out->enabled_set = f.Get("enabled") != nullptr;
  out->endpoint_set = f.Get("endpoint") != nullptr;
  out->sampling_ratio_set = f.Get("sampling_ratio") != nullptr;
  out->service_name_set = f.Get("service_name") != nullptr;
  out->headers_file_set = f.Get("headers_file") != nullptr;
  d.String(f.Get("headers_file"), path.Key("headers_file"), &out->headers_file);
  d.Bool(f.Get("enabled"), path.Key("enabled"), &out->enabled);
  if (const YamlNode* n = f.Get("endpoint"); n != nullptr) {
    std::string url;
    d.String(n, path.Key("endpoint"), &url);
    if (IsHttpUrl(url)) {
      out->endpoint = url;
    } else {
      d.Error(*n, path.Key("endpoint"), "\"" + url + "\" is not an http:// or https:// URL");
    }
  }
  d.Number(f.Get("sampling_ratio"), path.Key("sampling_ratio"), 0.0, 1.0, &out->sampling_ratio);
  d.NonEmptyString(f.Get("service_name"), path.Key("service_name"), &out->service_name);
}

bool IsLabelName(std::string_view s) { return IsEnvName(s); }

bool IsBackendKey(std::string_view s) {
  return !s.empty() && s.find('=') == std::string_view::npos &&
         std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= ' '; });
}

bool IsVariableName(std::string_view s) {
  // OpenTofu identifiers: a letter or _, then letters, digits, _ and -.
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// Parses one cron expression of a schedule; on error the column points at the
// offending token inside the value.
std::optional<cron::CronExpr> DecodeCron(Decoder& d, const YamlNode& n, const Path& path) {
  if (!d.Scalar(n, path, "a cron expression")) return std::nullopt;
  cron::CronError err;
  auto expr = cron::ParseCron(n.value, &err);
  if (expr.ok()) return std::move(expr).value();
  YamlNode at = n;
  if (at.mark.column > 0 && n.value.find('\n') == std::string::npos) {
    at.mark.column += static_cast<int>(err.offset) + (n.quoted ? 1 : 0);
  }
  d.Error(at, path, err.message.empty() ? expr.status().message() : err.message);
  return std::nullopt;
}

void DecodeWorkspace(Decoder& d, const YamlNode& node, const Path& path, const Config& config,
                     WorkspaceConfig* out) {
  static constexpr std::array<std::string_view, 11> kKeys = {
      "name",    "template",  "variables", "backend_config", "env",   "schedule",
      "enabled", "protected", "timeout",   "cost_per_hour",  "labels"};
  if (!node.IsMap()) {
    d.Error(node, path, "expected a workspace mapping, got " + std::string(KindName(node)));
    return;
  }
  Fields f;
  d.ReadMap(node, path, kKeys, &f);

  if (const YamlNode* n = f.Get("name"); n == nullptr) {
    d.Error(node, path, "missing required key \"name\"");
  } else if (d.Scalar(*n, path.Key("name"), "a name")) {
    if (IsValidWorkspaceName(n->value)) {
      out->name = n->value;
    } else {
      d.Error(*n, path.Key("name"),
              "\"" + n->value +
                  "\" is not a valid name: 1-63 characters, lowercase letters, digits, _ and -, "
                  "starting with a letter or digit");
    }
  }

  if (const YamlNode* n = f.Get("template"); n == nullptr) {
    d.Error(node, path, "missing required key \"template\"");
  } else if (d.Scalar(*n, path.Key("template"), "a template name")) {
    const std::string& t = n->value;
    if (t.empty() || t == "." || t == ".." || t.find('/') != std::string::npos ||
        t.find('\0') != std::string::npos) {
      d.Error(*n, path.Key("template"),
              "\"" + t + "\" must be the name of a directory directly under templates_dir");
    } else {
      out->template_name = t;
      if (d.options().check_template) {
        std::string why = d.options().check_template(config.templates_dir, t);
        if (!why.empty()) d.Error(*n, path.Key("template"), why);
      }
    }
  }

  if (const YamlNode* n = f.Get("variables"); n != nullptr) {
    Path p = path.Key("variables");
    if (!n->IsMap()) {
      d.Error(*n, p,
              "expected a mapping of variable names to values, got " + std::string(KindName(*n)));
    } else {
      bool names_ok = true;
      for (const auto& [key, value] : n->entries) {
        if (key.IsScalar() && !IsVariableName(key.value)) {
          d.Error(key, p.Key(key.value),
                  "\"" + key.value +
                      "\" is not a valid OpenTofu variable name (letters, digits, _ and -, "
                      "starting with a letter or _)");
          names_ok = false;
        }
      }
      nlohmann::json vars;
      if (d.ToJson(*n, p, &vars) && names_ok) {
        out->variables_json = vars.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
    }
  }

  d.StringMap(f.Get("backend_config"), path.Key("backend_config"), IsBackendKey,
              "no spaces or =", &out->backend_config);
  if (const YamlNode* n = f.Get("env"); n != nullptr) {
    d.StringMap(n, path.Key("env"), IsEnvName, "letters, digits and _, not starting with a digit",
                &out->env);
    CheckEnv(d, n, path.Key("env"), out->env);
  }
  d.Bool(f.Get("enabled"), path.Key("enabled"), &out->enabled);
  d.Bool(f.Get("protected"), path.Key("protected"), &out->is_protected);
  if (const YamlNode* n = f.Get("timeout"); n != nullptr) {
    Millis t{0};
    if (d.Duration(n, path.Key("timeout"), std::chrono::seconds(1), hours(24 * 7), &t)) {
      out->timeout = t;
    }
  }
  if (const YamlNode* n = f.Get("cost_per_hour"); n != nullptr) {
    double v = 0;
    if (d.Number(n, path.Key("cost_per_hour"), 0.0, 1e9, &v)) out->cost_per_hour = v;
  }
  d.StringMap(f.Get("labels"), path.Key("labels"), IsLabelName,
              "letters, digits and _, not starting with a digit", &out->labels);

  // Schedule.
  Schedule& s = out->schedule;
  s.timezone = config.scheduler.timezone;
  const YamlNode* sched = f.Get("schedule");
  Path sp = path.Key("schedule");
  if (sched != nullptr) {
    static constexpr std::array<std::string_view, 3> kScheduleKeys = {"deploy", "destroy",
                                                                      "timezone"};
    Fields sf;
    if (d.ReadMap(*sched, sp, kScheduleKeys, &sf)) {
      if (const YamlNode* n = sf.Get("deploy"); n != nullptr) {
        s.deploy = n->IsScalar() ? n->value : "";
        s.deploy_expr = DecodeCron(d, *n, sp.Key("deploy"));
      }
      if (const YamlNode* n = sf.Get("destroy"); n != nullptr) {
        s.destroy = n->IsScalar() ? n->value : "";
        s.destroy_expr = DecodeCron(d, *n, sp.Key("destroy"));
      }
      if (const YamlNode* n = sf.Get("timezone"); n != nullptr) {
        std::string tz;
        d.NonEmptyString(n, sp.Key("timezone"), &tz);
        if (!tz.empty()) {
          s.timezone = tz;
          s.zone = d.Zone(*n, sp.Key("timezone"), tz);
        }
      }
    }
  }
  const YamlNode& at = sched != nullptr ? *sched : node;
  if (!s.deploy.empty() && s.destroy.empty()) {
    d.Warning(at, sp,
              "deploys on a schedule but never destroys it: add schedule.destroy, or the "
              "workspace stays up until someone destroys it");
  }
  if (s.deploy.empty() && s.destroy.empty() && out->enabled) {
    d.Warning(at, sp, "no schedule: only manual deploys and destroys from the API change it");
  }
  if (out->is_protected && !s.destroy.empty()) {
    d.Warning(at, sp.Key("destroy"),
              "the workspace is protected: scheduled destroys will be refused and reported");
  }
}

bool LooksBinary(std::string_view text, size_t* where) {
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t')) {
      *where = i;
      return true;
    }
  }
  *where = FirstInvalidUtf8(text);
  return *where != std::string_view::npos;
}

}  // namespace

std::string ResolvePath(const std::string& base, const std::string& path) {
  if (base.empty() || path.empty() || path[0] == '/') return path;
  std::vector<std::string_view> parts;
  std::string joined = base + "/" + path;
  for (std::string_view part : Split(joined, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out = base[0] == '/' ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.push_back('/');
    out.append(parts[i]);
  }
  return out.empty() ? "." : out;
}

ParseResult ParseConfig(std::string_view text, std::string_view file_name,
                        const ParseOptions& options) {
  ParseResult result;
  const std::string file(file_name);
  Decoder d(file, options, &result);
  auto whole_file_error = [&](std::string message, YamlMark mark = {}) {
    d.Add(Diagnostic::Severity::kError, mark, "", std::move(message));
    return std::move(result);
  };

  if (text.size() > options.max_bytes) {
    return whole_file_error("file is " + std::to_string(text.size()) +
                            " bytes, over the limit of " + std::to_string(options.max_bytes));
  }
  if (Trim(text).empty()) return whole_file_error("file is empty");
  if (size_t where = 0; LooksBinary(text, &where)) {
    return whole_file_error("file is not UTF-8 text (binary data at byte " +
                            std::to_string(where + 1) + ")");
  }

  YamlError yaml_error;
  auto root = ParseYaml(text, YamlLimits{options.max_depth, 2'000'000}, &yaml_error);
  if (!root.ok()) return whole_file_error(yaml_error.message, yaml_error.mark);
  if (root->IsNull()) return whole_file_error("file holds no settings (only comments?)");

  auto config = std::make_shared<Config>();
  config->source_path = file;
  Path top;
  Fields f;
  if (!d.ReadMap(*root, top, kTopKeys, &f)) return result;

  if (const YamlNode* n = f.Get("server"); n != nullptr) {
    DecodeServer(d, *n, top.Key("server"), &config->server);
  }
  if (const YamlNode* n = f.Get("opentofu"); n != nullptr) {
    DecodeOpenTofu(d, *n, top.Key("opentofu"), &config->opentofu);
  }
  const YamlNode* default_zone_node = nullptr;
  if (const YamlNode* n = f.Get("scheduler"); n != nullptr) {
    DecodeScheduler(d, *n, top.Key("scheduler"), &config->scheduler, &default_zone_node);
  }
  std::shared_ptr<const cron::TimeZone> default_zone =
      d.Zone(default_zone_node != nullptr ? *default_zone_node : *root,
             top.Key("scheduler").Key("timezone"), config->scheduler.timezone);
  if (const YamlNode* n = f.Get("state"); n != nullptr) {
    DecodeState(d, *n, top.Key("state"), &config->state);
  }
  if (const YamlNode* n = f.Get("logging"); n != nullptr) {
    DecodeLogging(d, *n, top.Key("logging"), &config->logging);
  }
  if (const YamlNode* n = f.Get("tracing"); n != nullptr) {
    DecodeTracing(d, *n, top.Key("tracing"), &config->tracing);
  }
  if (const YamlNode* n = f.Get("ha"); n != nullptr) {
    DecodeHa(d, *n, top.Key("ha"), &config->ha);
  }
  d.NonEmptyString(f.Get("templates_dir"), top.Key("templates_dir"), &config->templates_dir);

  const std::string& base = options.base_dir;
  config->state.dir = ResolvePath(base, config->state.dir);
  config->templates_dir = ResolvePath(base, config->templates_dir);
  config->opentofu.plugin_cache_dir = ResolvePath(base, config->opentofu.plugin_cache_dir);
  config->server.web_config_file = ResolvePath(base, config->server.web_config_file);
  config->tracing.headers_file = ResolvePath(base, config->tracing.headers_file);
  config->ha.dsn_file = ResolvePath(base, config->ha.dsn_file);
  if (config->opentofu.binary.find('/') != std::string::npos) {
    config->opentofu.binary = ResolvePath(base, config->opentofu.binary);
  }

  if (const YamlNode* n = f.Get("workspaces"); n != nullptr) {
    Path wp = top.Key("workspaces");
    if (!n->IsSequence()) {
      d.Error(*n, wp, "expected a list of workspaces, got " + std::string(KindName(*n)));
    } else {
      config->workspaces.reserve(n->items.size());
      std::unordered_map<std::string, int> names;  // name -> line of first definition
      for (size_t i = 0; i < n->items.size(); ++i) {
        const YamlNode& item = n->items[i];
        Path ip = wp.Index(static_cast<int>(i));
        WorkspaceConfig ws;
        DecodeWorkspace(d, item, ip, *config, &ws);
        if (ws.schedule.zone == nullptr) ws.schedule.zone = default_zone;
        if (ws.name.empty()) continue;
        auto [it, inserted] = names.emplace(ws.name, item.mark.line);
        if (!inserted) {
          d.Error(item, ip.Key("name"),
                  "duplicate workspace name \"" + ws.name + "\" (first at line " +
                      std::to_string(it->second) + ")");
          continue;
        }
        config->workspaces.push_back(std::move(ws));
      }
    }
  }
  if (config->workspaces.empty() && result.errors.empty()) {
    d.Warning(*root, top.Key("workspaces"), "no workspaces configured");
  }
  if (options.stop_timeout.count() > 0 &&
      config->scheduler.kill_grace + options.stop_margin > options.stop_timeout) {
    const YamlNode* at = &*root;
    if (const YamlNode* sched = f.Get("scheduler"); sched != nullptr) {
      at = sched;
      for (const auto& [key, value] : sched->entries) {
        if (key.value == "kill_grace") at = &value;
      }
    }
    d.Warning(*at, top.Key("scheduler").Key("kill_grace"),
              FormatDuration(config->scheduler.kill_grace) + " plus the daemon's " +
                  FormatDuration(options.stop_margin) + " to stop exceeds TimeoutStopSec=" +
                  FormatDuration(options.stop_timeout) + " (" + options.stop_timeout_source +
                  "): systemd would SIGKILL the daemon before its jobs stop and the state is "
                  "saved; raise it with `systemctl edit provisioner`");
  }
  if (!IsLoopbackListen(config->server.listen) && config->server.web_config_file.empty()) {
    const YamlNode* at = f.Get("server") != nullptr ? f.Get("server") : &*root;
    d.Warning(*at, top.Key("server").Key("listen"),
              config->server.allow_unauthenticated_writes
                  ? "listening beyond loopback without authentication, and "
                    "allow_unauthenticated_writes lets anyone who can connect change workspaces"
                  : "listening beyond loopback without authentication: mutating API calls will "
                    "be refused (set server.web_config_file)");
  }

  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

}  // namespace provisioner::config
