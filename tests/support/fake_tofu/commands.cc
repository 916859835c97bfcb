// The subcommands: init, plan, apply, destroy, output, show, version.
//
// One `Operation` drives plan/apply/destroy the way tofu's local backend
// does: lock, read state, refresh, diff the configuration (Options::resources
// and the variables) against the state, then apply the changes one at a time
// with hooks, heartbeats and the interrupt ladder of reference §2.2.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "fake_tofu.h"

namespace fake_tofu {
namespace {

// ---- Go flag-package parsing ----

enum class FlagKind { kBool, kString, kMulti, kDuration, kInt };
struct FlagSpec {
  const char* name;
  FlagKind kind;
};

const std::vector<FlagSpec> kOperationFlags = {
    {"input", FlagKind::kBool},
    {"lock", FlagKind::kBool},
    {"lock-timeout", FlagKind::kDuration},
    {"no-color", FlagKind::kBool},
    {"json", FlagKind::kBool},
    {"var", FlagKind::kMulti},
    {"var-file", FlagKind::kMulti},
    {"parallelism", FlagKind::kInt},
    {"refresh", FlagKind::kBool},
    {"target", FlagKind::kMulti},
    {"exclude", FlagKind::kMulti},
    {"compact-warnings", FlagKind::kBool},
    {"concise", FlagKind::kBool},
    {"consolidate-warnings", FlagKind::kBool},
    {"consolidate-errors", FlagKind::kBool},
    {"state", FlagKind::kString},
    {"state-out", FlagKind::kString},
    {"backup", FlagKind::kString},
    {"replace", FlagKind::kMulti},
};

std::vector<FlagSpec> With(std::vector<FlagSpec> base, std::vector<FlagSpec> extra) {
  base.insert(base.end(), extra.begin(), extra.end());
  return base;
}

struct Flags {
  std::map<std::string, std::string> scalar;
  std::vector<std::pair<std::string, std::string>> multi;  // in command-line order
  std::vector<std::string> positional;

  bool Bool(const std::string& name, bool fallback) const {
    auto it = scalar.find(name);
    return it == scalar.end() ? fallback : it->second == "true";
  }
  std::string Str(const std::string& name, const std::string& fallback = "") const {
    auto it = scalar.find(name);
    return it == scalar.end() ? fallback : it->second;
  }
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : multi) {
      if (k == name) out.push_back(v);
    }
    return out;
  }
};

// Returns "" or the flag package's error text.
std::string ParseFlags(const std::vector<std::string>& args, const std::vector<FlagSpec>& specs,
                       Flags* out) {
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') break;  // Go stops at the first non-flag
    if (arg == "--") {
      ++i;
      break;
    }
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string name = body;
    std::optional<std::string> value;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (name == s.name) spec = &s;
    }
    if (spec == nullptr) return "flag provided but not defined: -" + name;
    if (spec->kind == FlagKind::kBool) {
      std::optional<bool> b = value ? ParseGoBool(*value) : std::optional<bool>(true);
      if (!b) return "invalid boolean value \"" + *value + "\" for -" + name + ": parse error";
      out->scalar[name] = *b ? "true" : "false";
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return "flag needs an argument: -" + name;
      value = args[++i];
    }
    if (spec->kind == FlagKind::kDuration && !ParseGoDurationSeconds(*value)) {
      return "invalid value \"" + *value + "\" for flag -" + name + ": parse error";
    }
    if (spec->kind == FlagKind::kInt &&
        value->find_first_not_of("-0123456789") != std::string::npos) {
      return "invalid value \"" + *value + "\" for flag -" + name + ": parse error";
    }
    if (spec->kind == FlagKind::kMulti) {
      out->multi.emplace_back(name, *value);
    } else {
      out->scalar[name] = *value;
    }
  }
  out->positional.assign(args.begin() + static_cast<long>(i), args.end());
  return "";
}

// Flag errors come before any view exists: human text on stderr.
int FlagError(const std::string& command, const std::string& error) {
  Err("\nError: Failed to parse command-line flags\n\n" + error +
      "\n\nFor more help on using this "
      "command, run:\n  tofu " +
      command + " -help\n");
  return 1;
}

// ---- small helpers ----

std::string Dump(const MapJson& v) {
  return v.dump(-1, ' ', false, MapJson::error_handler_t::replace);
}
Json ToOrdered(const MapJson& v) { return Json::parse(v.dump()); }

// json.Marshal escapes <, > and & (show -json); they only occur inside strings.
std::string HtmlEscape(const std::string& json) {
  std::string out;
  for (char c : json) {
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string StatePath(const Context& ctx) {
  if (ctx.workspace == "default") return "terraform.tfstate";
  return "terraform.tfstate.d/" + ctx.workspace + "/terraform.tfstate";
}

std::string ProviderVersion(const std::string& provider) {
  static const std::map<std::string, std::string> kVersions = {{"null", "3.2.3"},
                                                               {"random", "3.6.3"},
                                                               {"local", "2.5.2"},
                                                               {"aws", "5.0.0"},
                                                               {"tfcoremock", "0.3.0"}};
  auto it = kVersions.find(provider);
  return it == kVersions.end() ? "1.0.0" : it->second;
}

std::vector<std::string> ProvidersOf(const Options& o) {
  std::set<std::string> providers;
  for (const std::string& r : o.resources) providers.insert(ParseAddr(r).ImpliedProvider());
  return {providers.begin(), providers.end()};
}

std::map<std::string, std::string> ReadProviderSelections() {
  std::map<std::string, std::string> out;
  std::optional<std::string> text = ReadFile(".terraform.lock.hcl");
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  std::string current;
  while (std::getline(in, line)) {
    if (line.rfind("provider \"", 0) == 0) {
      current = line.substr(10, line.find('"', 10) - 10);
    } else if (!current.empty() && line.find("version =") != std::string::npos) {
      size_t q = line.find('"');
      out[current] = line.substr(q + 1, line.rfind('"') - q - 1);
      current.clear();
    }
  }
  return out;
}

int ConfigLine(const Options& o, const std::string& addr) {
  auto it = std::find(o.resources.begin(), o.resources.end(), addr);
  long index = it == o.resources.end() ? 0 : it - o.resources.begin();
  return static_cast<int>(index) * 4 + 1;
}

SourceRange ResourceRange(const Options& o, const std::string& addr) {
  Addr a = ParseAddr(addr);
  SourceRange r;
  r.filename = "main.tf";
  r.line = ConfigLine(o, addr);
  r.code = "resource \"" + a.type + "\" \"" + a.name + "\" {";
  r.end_column = static_cast<int>(r.code.size());
  r.byte = (r.line - 1) * 30;
  return r;
}

void WriteTfLog(const Context& ctx, const std::vector<std::string>& raw_args) {
  const char* env = getenv("TF_LOG");
  if (env == nullptr || *env == '\0') return;
  std::string level = env;
  std::transform(level.begin(), level.end(), level.begin(), ::toupper);
  if (level == "OFF") return;
  static const std::vector<std::string> kLevels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
  if (level != "JSON" && std::find(kLevels.begin(), kLevels.end(), level) == kLevels.end()) {
    level = "TRACE";  // invalid values mean TRACE (reference §3)
  }
  std::string cli = "[]string{\"tofu\"";
  for (const std::string& a : raw_args) cli += ", " + Dump(MapJson(a));
  cli += "}";
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"INFO", "OpenTofu version: " + ctx.options.version},
      {"DEBUG", "using github.com/hashicorp/go-tfe v1.53.0"},
      {"INFO", "Go runtime version: go1.24.6"},
      {"INFO", "CLI args: " + cli},
      {"TRACE",
       "Meta.Backend: no config given or present on disk, so returning nil "
       "config"},
      {"DEBUG", "checking for provisioner in \".\""},
      {"WARN",
       "Log levels other than TRACE are currently unreliable, and are "
       "supported only for "
       "backward compatibility."},
  };
  auto rank = [](const std::string& l) {
    return static_cast<int>(std::find(kLevels.begin(), kLevels.end(), l) - kLevels.begin());
  };
  std::string out;
  for (const auto& [lvl, msg] : lines) {
    if (level != "JSON" && rank(lvl) < rank(level)) continue;
    if (level == "JSON") {
      std::string lower = lvl;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      Json j;
      j["@level"] = lower;
      j["@message"] = msg;
      j["@timestamp"] = HclogTimestamp();
      out += j.dump() + "\n";
    } else {
      std::string ts = HclogTimestamp();
      out += ts + " [" + lvl + "]" + (lvl.size() == 4 ? "  " : " ") + msg + "\n";
    }
  }
  const char* path = getenv("TF_LOG_PATH");
  if (path != nullptr && *path != '\0') {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      WriteAll(fd, out);
      close(fd);
    }
    return;
  }
  Err(out);
}

// A provider or wrapper gone wrong: a flood of output, megabyte lines with
// broken UTF-8, and a forked helper that keeps tofu's stdout and stderr open
// after tofu exits (README.md "Control-file keys").
void WriteMisbehaviour(const Options& o) {
  if (o.stdout_flood_bytes >= 100) {
    // 100-byte lines, written in ~64 KiB chunks so that the pipe, not this
    // loop, sets the pace.
    const uint64_t lines = static_cast<uint64_t>(o.stdout_flood_bytes) / 100;
    std::string chunk;
    for (uint64_t i = 0; i < lines; ++i) {
      char head[40];
      int n = snprintf(head, sizeof head, "fake_tofu flood line %012llu ",
                       static_cast<unsigned long long>(i));
      chunk.append(head, static_cast<size_t>(n));
      chunk.append(99 - static_cast<size_t>(n), '.');
      chunk.push_back('\n');
      if (chunk.size() >= 65000) {
        Out(chunk);
        chunk.clear();
      }
    }
    Out(chunk);
  }
  if (o.long_line_bytes > 0) {
    const size_t n = static_cast<size_t>(o.long_line_bytes);
    // Invalid UTF-8 at the start, in the middle and a cut sequence at the end.
    std::string out = "\xff\xfe" + std::string(n / 2, 'L') + "\xc3\x28" + std::string(n / 2, 'L');
    Out(out + "\xe2\x82\n");
    Err("Error: \xc3\x28" + std::string(n, 'E') + "\xf0\x9f\n");
  }
  if (!o.grandchild.empty()) {
    const bool escape = o.grandchild == "setsid";
    pid_t pid = fork();
    if (pid == 0) {
      // Keeps fds 1 and 2 (tofu's pipes); ignores SIGINT like a plugin.
      if (escape) setsid();
      signal(SIGINT, SIG_IGN);
      signal(SIGTERM, SIG_DFL);
      auto linger = std::chrono::duration<double>(o.grandchild_linger_seconds);
      timespec ts{static_cast<time_t>(linger.count()),
                  static_cast<long>((linger.count() - std::floor(linger.count())) * 1e9)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
      _exit(0);
    }
    if (pid > 0) {
      Json record;
      record["event"] = "grandchild";
      record["pid"] = pid;
      record["parent"] = getpid();
      record["setsid"] = escape;
      AppendLogRecord(record);
    }
  }
}

void WriteJunk(const Context& ctx, const View& view) {
  const Options& o = ctx.options;
  if (o.stderr_junk) {
    std::string ts = HclogTimestamp();
    Err(ts +
        " [WARN]  Provider \"registry.opentofu.org/hashicorp/null\" produced "
        "an unexpected "
        "new value, but we are tolerating it because it is using the legacy "
        "plugin SDK.\n");
    Err(ts + " [DEBUG] provider.terraform-provider-null_v3.2.3_x5: plugin exited\n");
    Err("\xff\xfe invalid UTF-8 on stderr \xc3\x28\n");
    Err(std::string(10000, '#') + "\n");
    Err("panic-looking text that is not a crash: goroutine 1 [running]\n");
  }
  if (o.stdout_junk && view.json()) {
    // Wrappers and early errors do put non-JSON text on stdout (reference
    // §1.2).
    Out("fake_tofu: this stdout line is not JSON\n");
    Out("\x1b[31mcolored \xff junk\x1b[0m {\"half\": \n");
  }
  WriteMisbehaviour(o);
}

bool CrashesIn(const Options& o, const std::string& command) {
  if (o.crash.empty()) return false;
  if (o.crash == "any") return command == "plan" || command == "apply" || command == "destroy";
  return o.crash == command;
}

std::string ChangeSummaryMessage(const std::string& op, int add, int change, int remove, int forget,
                                 int import) {
  std::string s;
  if (op == "destroy")
    return "Destroy complete! Resources: " + std::to_string(remove) + " destroyed.";
  if (op == "plan") {
    s = "Plan: ";
    if (import > 0) s += std::to_string(import) + " to import, ";
    s += std::to_string(add) + " to add, " + std::to_string(change) + " to change, " +
         std::to_string(remove) + " to destroy";
    if (forget > 0) s += ", " + std::to_string(forget) + " to forget";
    return s + ".";
  }
  s = "Apply complete! Resources: ";
  if (import > 0) s += std::to_string(import) + " imported, ";
  s += std::to_string(add) + " added, " + std::to_string(change) + " changed, " +
       std::to_string(remove) + " destroyed";
  if (forget > 0) s += ", " + std::to_string(forget) + " forgotten";
  return s + ".";
}

struct Verb {
  const char* start;     // "Creating"
  const char* still;     // "creating"
  const char* complete;  // "Creation"
};

Verb VerbFor(const std::string& action) {
  if (action == "create") return {"Creating", "creating", "Creation"};
  if (action == "update") return {"Modifying", "modifying", "Modifications"};
  if (action == "delete") return {"Destroying", "destroying", "Destruction"};
  if (action == "read") return {"Reading", "reading", "Read"};
  return {"Applying", "applying", "Apply"};
}

std::string HclValue(const MapJson& v) {
  if (v.is_string()) return Dump(v);
  return v.dump(2, ' ', false, MapJson::error_handler_t::replace);
}

// ---- plans ----

struct Change {
  std::string addr;
  std::string action;  // create, update, delete, replace
  std::string reason;
  std::string prior_id;
};

struct Plan {
  bool destroy = false;
  bool refresh_only = false;
  std::vector<Change> drift;
  std::vector<Change> changes;
  std::map<std::string, OutputValue> outputs;  // after apply
  std::map<std::string, std::string> output_actions;
  std::map<std::string, MapJson> variables;
  // What the plan was made against: apply refuses it once the state moved on.
  std::string lineage;
  int64_t serial = 0;
  std::string timestamp;

  bool CanApply() const {
    if (refresh_only) return !drift.empty();
    if (!changes.empty()) return true;
    for (const auto& [name, action] : output_actions) {
      if (action != "noop") return true;
    }
    return false;
  }
};

MapJson PlanToJson(const Plan& p) {
  MapJson j;
  j["fake_tofu_plan"] = 1;
  j["destroy"] = p.destroy;
  j["refresh_only"] = p.refresh_only;
  j["lineage"] = p.lineage;
  j["serial"] = p.serial;
  j["timestamp"] = p.timestamp;
  auto changes = [](const std::vector<Change>& list) {
    MapJson arr = MapJson::array();
    for (const Change& c : list) {
      arr.push_back(
          {{"addr", c.addr}, {"action", c.action}, {"reason", c.reason}, {"prior_id", c.prior_id}});
    }
    return arr;
  };
  j["drift"] = changes(p.drift);
  j["changes"] = changes(p.changes);
  j["outputs"] = MapJson::object();
  for (const auto& [name, o] : p.outputs) {
    j["outputs"][name] = {{"value", o.value}, {"type", o.type}, {"sensitive", o.sensitive}};
  }
  j["output_actions"] = p.output_actions;
  j["variables"] = p.variables;
  return j;
}

std::optional<Plan> PlanFromText(const std::string& text) {
  MapJson j = MapJson::parse(text, nullptr, false);
  if (!j.is_object() || j.value("fake_tofu_plan", 0) != 1) return std::nullopt;
  Plan p;
  p.destroy = j.value("destroy", false);
  p.refresh_only = j.value("refresh_only", false);
  p.lineage = j.value("lineage", "");
  p.serial = j.value("serial", int64_t{0});
  p.timestamp = j.value("timestamp", "");
  auto changes = [](const MapJson& arr) {
    std::vector<Change> list;
    for (const MapJson& c : arr) {
      list.push_back({c.value("addr", ""), c.value("action", ""), c.value("reason", ""),
                      c.value("prior_id", "")});
    }
    return list;
  };
  p.drift = changes(j.value("drift", MapJson::array()));
  p.changes = changes(j.value("changes", MapJson::array()));
  for (auto it = j["outputs"].begin(); it != j["outputs"].end(); ++it) {
    p.outputs[it.key()] = {it->value("value", MapJson()), it->value("type", MapJson("dynamic")),
                           it->value("sensitive", false)};
  }
  for (auto it = j["output_actions"].begin(); it != j["output_actions"].end(); ++it) {
    p.output_actions[it.key()] = it->get<std::string>();
  }
  for (auto it = j["variables"].begin(); it != j["variables"].end(); ++it) {
    p.variables[it.key()] = *it;
  }
  return p;
}

// ---- show -json representations (jsonstate / jsonplan) ----

Json ResourceValuesJson(const std::string& addr, const std::string& id) {
  Addr a = ParseAddr(addr);
  Json r;
  r["address"] = addr;
  r["mode"] = "managed";
  r["type"] = a.type;
  r["name"] = a.name;
  if (a.key) r["index"] = *a.key;
  r["provider_name"] = "registry.opentofu.org/hashicorp/" + a.ImpliedProvider();
  r["schema_version"] = 0;
  Json values;
  if (!id.empty()) values["id"] = id;
  values["triggers"] = nullptr;
  r["values"] = values;
  r["sensitive_values"] = Json::object();
  return r;
}

// Root resources in "resources", module ones grouped in "child_modules".
Json ModuleJson(const std::vector<std::pair<std::string, std::string>>& resources) {
  Json root;
  Json root_resources = Json::array();
  std::map<std::string, Json> children;
  for (const auto& [addr, id] : resources) {
    Addr a = ParseAddr(addr);
    if (a.module.empty()) {
      root_resources.push_back(ResourceValuesJson(addr, id));
    } else {
      children[a.module].push_back(ResourceValuesJson(addr, id));
    }
  }
  root["resources"] = root_resources;
  if (!children.empty()) {
    Json list = Json::array();
    for (auto& [module, res] : children) list.push_back({{"resources", res}, {"address", module}});
    root["child_modules"] = list;
  }
  return root;
}

Json StateValuesJson(const State& state) {
  Json values;
  if (!state.outputs.empty()) {
    Json outputs = Json::object();
    for (const auto& [name, o] : state.outputs) {
      outputs[name] = {
          {"sensitive", o.sensitive}, {"value", ToOrdered(o.value)}, {"type", ToOrdered(o.type)}};
    }
    values["outputs"] = outputs;
  }
  std::vector<std::pair<std::string, std::string>> list;
  for (const Resource& r : state.resources) list.emplace_back(r.addr, r.id);
  values["root_module"] = ModuleJson(list);
  return values;
}

Json StateShowJson(const State& state) {
  Json j;
  j["format_version"] = "1.0";
  if (!state.exists || (state.resources.empty() && state.outputs.empty())) return j;
  j["terraform_version"] = state.terraform_version;
  j["values"] = StateValuesJson(state);
  return j;
}

Json ActionsJson(const std::string& action) {
  if (action == "replace") return Json::array({"delete", "create"});
  if (action == "noop") return Json::array({"no-op"});
  return Json::array({action});
}

Json PlanShowJson(const Plan& p, const State& prior, const std::string& version) {
  Json j;
  j["format_version"] = "1.2";
  j["terraform_version"] = version;
  if (!p.variables.empty()) {
    Json vars = Json::object();
    for (const auto& [name, v] : p.variables) vars[name] = {{"value", ToOrdered(v)}};
    j["variables"] = vars;
  }
  // planned_values: the state as it will be after apply.
  std::vector<std::pair<std::string, std::string>> after;
  for (const Resource& r : prior.resources) after.emplace_back(r.addr, r.id);
  for (const Change& c : p.changes) {
    auto it = std::find_if(after.begin(), after.end(), [&](auto& e) { return e.first == c.addr; });
    if (c.action == "delete") {
      if (it != after.end()) after.erase(it);
    } else if (c.action == "create" || c.action == "replace") {
      if (it != after.end()) {
        it->second.clear();
      } else {
        after.emplace_back(c.addr, "");
      }
    }
  }
  Json planned;
  if (!p.outputs.empty()) {
    Json outs = Json::object();
    for (const auto& [name, o] : p.outputs) {
      Json e;
      e["sensitive"] = o.sensitive;
      e["type"] = ToOrdered(o.type);
      e["value"] = ToOrdered(o.value);
      outs[name] = e;
    }
    planned["outputs"] = outs;
  }
  planned["root_module"] = ModuleJson(after);
  j["planned_values"] = planned;
  auto change_json = [&](const Change& c) {
    Addr a = ParseAddr(c.addr);
    Json r;
    r["address"] = c.addr;
    if (!a.module.empty()) r["module_address"] = a.module;
    r["mode"] = "managed";
    r["type"] = a.type;
    r["name"] = a.name;
    if (a.key) r["index"] = *a.key;
    r["provider_name"] = "registry.opentofu.org/hashicorp/" + a.ImpliedProvider();
    Json before = nullptr;
    if (!c.prior_id.empty()) before = {{"id", c.prior_id}, {"triggers", nullptr}};
    Json after_value = nullptr;
    Json after_unknown = Json::object();
    if (c.action != "delete") {
      after_value = {{"triggers", nullptr}};
      if (c.action == "update") {
        after_value = {{"id", c.prior_id}, {"triggers", nullptr}};
      } else {
        after_unknown = {{"id", true}};
      }
    }
    Json change;
    change["actions"] = ActionsJson(c.action);
    change["before"] = before;
    change["after"] = after_value;
    change["after_unknown"] = after_unknown;
    change["before_sensitive"] = before.is_null() ? Json(false) : Json::object();
    change["after_sensitive"] = after_value.is_null() ? Json(false) : Json::object();
    r["change"] = change;
    if (c.reason == "cannot_update") r["action_reason"] = "replace_because_cannot_update";
    if (c.reason == "requested") r["action_reason"] = "replace_by_request";
    if (c.reason.rfind("delete_because", 0) == 0) r["action_reason"] = c.reason;
    return r;
  };
  if (!p.drift.empty()) {
    Json drift = Json::array();
    for (const Change& c : p.drift) drift.push_back(change_json(c));
    j["resource_drift"] = drift;
  }
  if (!p.changes.empty()) {
    Json changes = Json::array();
    for (const Change& c : p.changes) changes.push_back(change_json(c));
    j["resource_changes"] = changes;
  }
  if (!p.output_actions.empty()) {
    Json outs = Json::object();
    for (const auto& [name, action] : p.output_actions) {
      auto prior_it = prior.outputs.find(name);
      auto next_it = p.outputs.find(name);
      Json c;
      c["actions"] = ActionsJson(action);
      c["before"] =
          prior_it == prior.outputs.end() ? Json(nullptr) : ToOrdered(prior_it->second.value);
      c["after"] = next_it == p.outputs.end() ? Json(nullptr) : ToOrdered(next_it->second.value);
      c["after_unknown"] = false;
      bool sensitive = next_it != p.outputs.end() && next_it->second.sensitive;
      c["before_sensitive"] = sensitive;
      c["after_sensitive"] = sensitive;
      outs[name] = c;
    }
    j["output_changes"] = outs;
  }
  if (prior.exists) {
    Json ps = StateShowJson(prior);
    j["prior_state"] = ps;
  }
  Json config;
  Json providers = Json::object();
  Json config_resources = Json::array();
  for (const auto& [addr, id] : after) {
    Addr a = ParseAddr(addr);
    providers[a.ImpliedProvider()] = {
        {"name", a.ImpliedProvider()},
        {"full_name", "registry.opentofu.org/hashicorp/" + a.ImpliedProvider()}};
    if (a.module.empty()) {
      config_resources.push_back({{"address", a.type + "." + a.name},
                                  {"mode", "managed"},
                                  {"type", a.type},
                                  {"name", a.name},
                                  {"provider_config_key", a.ImpliedProvider()},
                                  {"schema_version", 0}});
    }
  }
  config["provider_config"] = providers;
  config["root_module"] = {{"resources", config_resources}};
  j["configuration"] = config;
  j["timestamp"] = p.timestamp;
  j["errored"] = false;
  return j;
}

// ---- the operation: plan, apply, destroy ----

class Operation {
 public:
  Operation(Context& ctx, Flags flags)
      : ctx_(ctx),
        o_(ctx.options),
        flags_(std::move(flags)),
        view_(flags_.Bool("json", false),
              !flags_.Bool("no-color", false) && !flags_.Bool("json", false), ctx.options.version) {
  }

  View& view() { return view_; }
  const Flags& flags() const { return flags_; }

  [[noreturn]] void Fail(const Diag& diag) {
    view_.Diagnostic(diag);
    Finish(1);
  }

  [[noreturn]] void Finish(int code) {
    if (state_file_) state_file_->Unlock();
    Exit(code);
  }

  // Stream start shared by every operation: version line, junk, init check.
  void Begin() {
    if (view_.json()) view_.VersionLine();
    WriteJunk(ctx_, view_);
    if (!FileExists(ctx_.data_dir + "/fake_init.json")) {
      Fail({true,
            "Backend initialization required, please run \"tofu init\"",
            "Reason: Initial configuration of the requested backend "
            "\"local\"\n\n"
            "The \"backend\" is the interface that OpenTofu uses to store "
            "state,\n"
            "perform operations, etc. If this message is showing up, it means "
            "that the\n"
            "OpenTofu configuration you're using is using a custom "
            "configuration for\n"
            "the OpenTofu backend.\n\n"
            "Changes to backend configurations require reinitialization. This "
            "allows\n"
            "OpenTofu to set up the new configuration, copy existing state, "
            "etc. Please run\n"
            "\"tofu init\" with either the \"-reconfigure\" or "
            "\"-migrate-state\" flags to\n"
            "use the current configuration.\n\n"
            "If the change reason above is incorrect, please verify your "
            "configuration\n"
            "hasn't changed and try again. At this point, no changes to your "
            "existing\n"
            "configuration or state have been made.",
            "",
            {}});
    }
  }

  bool InputEnabled() const {
    if (view_.json()) return false;  // -json implies -input=false
    if (ctx_.tf_input.has_value() && !*ctx_.tf_input) return false;
    return flags_.Bool("input", true);
  }

  void LoadVariablesOrFail() {
    std::vector<VarSource> cli;
    for (const auto& [name, value] : flags_.multi) {
      if (name == "var") cli.push_back({false, value});
      if (name == "var-file") cli.push_back({true, value});
    }
    if (auto diag = LoadVariables(cli, &variables_)) Fail(*diag);
    for (const std::string& name : o_.required_variables) {
      if (variables_.count(name) != 0) continue;
      if (InputEnabled()) {
        // With input enabled tofu prompts on the terminal for the value.
        Out("var." + name + "\n  Enter a value: ");
        std::string line;
        if (ReadStdinLine(&line) && !line.empty()) {
          variables_[name] = line;
          continue;
        }
      }
      SourceRange r;
      r.filename = "variables.tf";
      r.code = "variable \"" + name + "\" {";
      r.end_column = static_cast<int>(r.code.size()) - 1;
      Fail({true, "No value for required variable",
            "The root module input variable \"" + name +
                "\" is not set, and has no default value. Use a -var or "
                "-var-file command line "
                "argument to provide a value for this variable.",
            "", r});
    }
  }

  static bool ReadStdinLine(std::string* line) {
    char c;
    while (true) {
      ssize_t n = read(0, &c, 1);
      if (n < 0 && errno == EINTR) return false;  // a signal: treat as no answer
      if (n <= 0) return !line->empty();
      if (c == '\n') return true;
      line->push_back(c);
    }
  }

  // ---- interrupts (reference §2.2) ----

  void HandleSignals() {
    if (o_.ignore_signals) {  // counted for the log, otherwise ignored
      signals_handled_ = SignalCount();
      return;
    }
    while (signals_handled_ < SignalCount()) {
      ++signals_handled_;
      if (signals_handled_ == 1) {
        // meta.go prints the interrupt at once; "Stopping operation..." comes
        // from the backend's opWait, which only runs once the state lock is
        // held: an interrupt during the lock wait gets the first line only.
        if (view_.json()) {
          view_.Log(
              "\nInterrupt received.\nPlease wait for OpenTofu to exit or data "
              "loss may "
              "occur.\nGracefully shutting down...\n");
          if (running_) view_.Log("Stopping operation...");
        } else {
          Out("\nInterrupt received.\nPlease wait for OpenTofu to exit or data "
              "loss may occur.\n"
              "Gracefully shutting down...\n");
          if (running_) Out("\nStopping operation...\n");
        }
        if (!o_.ignore_first_signal) stopping_ = true;
        continue;
      }
      if (view_.json()) {
        view_.Log(
            "\nTwo interrupts received. Exiting immediately. Note that data "
            "loss may have "
            "occurred.\n");
      } else {
        Err("\nTwo interrupts received. Exiting immediately. Note that data "
            "loss may have "
            "occurred.\n");
      }
      Fail({true, "operation canceled", "", "", {}});
    }
  }

  // Waits `fake_seconds` of fake time; signals are handled as they come but
  // do not shorten the wait (in-flight work finishes). `on_tick` runs at each
  // heartbeat with the elapsed fake seconds.
  void Work(double fake_seconds, const std::function<void(int64_t)>& on_tick = nullptr) {
    double done = 0;
    while (done < fake_seconds) {
      double next = fake_seconds;
      if (on_tick && o_.heartbeat_seconds > 0) {
        double beat = (std::floor(done / o_.heartbeat_seconds) + 1) * o_.heartbeat_seconds;
        next = std::min(next, beat);
      }
      auto start = std::chrono::steady_clock::now();
      auto want = RealTime(o_, next - done);
      while (!SleepUnlessSignalled(want - (std::chrono::steady_clock::now() - start),
                                   signals_handled_)) {
        HandleSignals();
      }
      done = next;
      if (on_tick && done < fake_seconds) on_tick(static_cast<int64_t>(std::llround(done)));
    }
    HandleSignals();
  }

  // ---- state and lock ----

  void SpawnLockHolder(const std::string& path) {
    int ready[2];
    int release[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(release, O_CLOEXEC) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
      DetachChildStdio();
      signal(SIGINT, SIG_IGN);  // only the parent reacts to interrupts
      close(ready[0]);
      close(release[1]);
      StateFile holder(path);
      if (!holder.Open(true).empty()) _exit(1);
      holder.WriteLockInfo("OperationTypeApply", o_.lock_holder_who, o_.version);
      WriteAll(ready[1], "1");
      pollfd pfd{release[0], POLLIN, 0};
      int timeout_ms = -1;
      if (o_.lock_held_seconds > 0) {
        timeout_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          RealTime(o_, o_.lock_held_seconds))
                                          .count());
      }
      while (poll(&pfd, 1, timeout_ms) < 0 && errno == EINTR) {
      }
      holder.Unlock();
      _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    char byte;
    while (read(ready[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(ready[0]);
    CurrentExitHooks().holder_pid = pid;
    CurrentExitHooks().holder_pipe = release[1];
  }

  void Lock(const std::string& operation) {
    state_file_ = std::make_unique<StateFile>(StatePath(ctx_));
    bool lock = flags_.Bool("lock", true);
    if (lock && o_.lock_held) SpawnLockHolder(state_file_->path());
    std::string err = state_file_->Open(false);
    if (!err.empty()) Fail({true, "Failed to load state", err, "", {}});
    if (lock) AcquireLock(operation);
    std::string text = state_file_->Read();
    if (std::string e = StateFromText(text, &state_); !e.empty()) {
      Fail({true, "Failed to load state", e, "", {}});
    }
    prior_state_text_ = text;
    running_ = true;
  }

  // statemgr.LockWithContext: retry with backoff 1s, 2s, 4s ... 16s until
  // -lock-timeout (fake time); "Acquiring state lock" once it takes > 400 ms.
  void AcquireLock(const std::string& operation) {
    double timeout = ParseGoDurationSeconds(flags_.Str("lock-timeout", "0s")).value_or(0);
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + RealTime(o_, timeout);
    auto announce_at = start + RealTime(o_, 0.4);
    bool announced = false;
    double delay = 1;
    while (!state_file_->TryLockOnce()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline || stopping_) LockFailed();
      auto wake = std::min(now + RealTime(o_, delay), deadline);
      if (!announced && wake > announce_at) {
        SleepInterruptible(announce_at);
        announced = true;
        if (view_.json()) {
          view_.Line("info", "Acquiring state lock. This may take a few moments...",
                     "state_lock_acquire", {});
        } else {
          Out("Acquiring state lock. This may take a few moments...\n");
        }
      }
      SleepInterruptible(wake);
      if (stopping_ || wake >= deadline) {
        // At the deadline Go's select races ctx.Done() against the backoff
        // timer; this takes the timer's side: one last try, then give up.
        if (!state_file_->TryLockOnce()) LockFailed();
        break;
      }
      delay = std::min(delay * 2, 16.0);
    }
    state_file_->WriteLockInfo(operation, WhoAmI(), o_.version);
  }

  void SleepInterruptible(std::chrono::steady_clock::time_point until) {
    while (!SleepUnlessSignalled(until - std::chrono::steady_clock::now(), signals_handled_)) {
      HandleSignals();
      if (stopping_) return;
    }
  }

  [[noreturn]] void LockFailed() {
    view_.Diagnostic({true,
                      "Error acquiring the state lock",
                      LockErrorDetail(state_file_->ReadLockInfoForError()),
                      "",
                      {}});
    Exit(1);
  }

  void SaveState() {
    if (!state_.exists) state_.lineage = state_.lineage.empty() ? RandomUuid() : state_.lineage;
    state_.exists = true;
    state_.serial += 1;
    state_.terraform_version = o_.version;
    if (!prior_state_text_.empty()) {
      WriteFile(StatePath(ctx_) + ".backup", prior_state_text_);
    }
    std::string text = StateToText(state_, o_.version);
    state_file_->Write(text);
    prior_state_text_ = text;
  }

  void MaybeSpawnProvider() {
    if (!o_.provider_child) return;
    pid_t pid = fork();
    if (pid == 0) {
      // go-plugin servers "eat the interrupts": SIGINT ignored, SIGTERM kills.
      // Their stdio are pipes to tofu, never the caller's: hence /dev/null.
      DetachChildStdio();
      signal(SIGINT, SIG_IGN);
      auto linger = std::chrono::duration<double>(o_.provider_linger_seconds);
      timespec ts{static_cast<time_t>(linger.count()),
                  static_cast<long>((linger.count() - std::floor(linger.count())) * 1e9)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
      _exit(0);
    }
    CurrentExitHooks().provider_pid = pid;
    Json record;
    record["event"] = "provider";
    record["pid"] = pid;
    record["parent"] = getpid();
    AppendLogRecord(record);
  }

  // ---- planning ----

  void Refresh() {
    if (flags_.Bool("refresh", true) == false) return;
    for (const Resource& r : state_.resources) {
      Addr a = ParseAddr(r.addr);
      Json hook;
      hook["resource"] = a.ToJson();
      hook["id_key"] = "id";
      hook["id_value"] = r.id;
      if (view_.json()) {
        view_.Line("info", r.addr + ": Refreshing state... [id=" + r.id + "]", "refresh_start",
                   {{"hook", hook}});
        view_.Line("info", r.addr + ": Refresh complete [id=" + r.id + "]", "refresh_complete",
                   {{"hook", hook}});
      } else {
        Out(view_.Bold(r.addr + ": Refreshing state... [id=" + r.id + "]") + "\n");
      }
    }
  }

  std::map<std::string, OutputValue> DesiredOutputs() const {
    std::map<std::string, OutputValue> out;
    auto sensitive = [this](const std::string& name) {
      return std::find(o_.sensitive_variables.begin(), o_.sensitive_variables.end(), name) !=
             o_.sensitive_variables.end();
    };
    for (const auto& [name, value] : variables_) {
      out[name] = {value, CtyTypeOf(value), sensitive(name)};
    }
    for (auto it = o_.outputs.begin(); it != o_.outputs.end(); ++it) {
      MapJson value = it->is_object() && it->contains("value") ? (*it)["value"] : *it;
      bool sens = it->is_object() && it->value("sensitive", false);
      out[it.key()] = {value, CtyTypeOf(value), sens};
    }
    return out;
  }

  Plan MakePlan(bool destroy) {
    Plan p;
    p.destroy = destroy;
    p.refresh_only = flags_.Bool("refresh-only", false);
    p.lineage = state_.lineage;
    p.serial = state_.serial;
    p.timestamp = Rfc3339Nano(std::chrono::system_clock::now());
    p.variables = variables_;
    if (destroy) {
      for (auto it = state_.resources.rbegin(); it != state_.resources.rend(); ++it) {
        p.changes.push_back({it->addr, "delete", "", it->id});
      }
      for (const auto& [name, o] : state_.outputs) p.output_actions[name] = "delete";
      return p;
    }
    std::vector<std::string> desired = o_.resources;
    if (o_.no_changes) {
      desired.clear();
      for (const Resource& r : state_.resources) desired.push_back(r.addr);
    }
    std::string drifted;
    if (o_.drift && !state_.resources.empty()) {
      drifted = o_.drift_resource.empty() ? state_.resources.front().addr : o_.drift_resource;
      if (const Resource* r = state_.Find(drifted)) {
        p.drift.push_back({drifted, "update", "", r->id});
      } else {
        drifted.clear();
      }
    }
    for (auto it = state_.resources.rbegin(); it != state_.resources.rend(); ++it) {
      if (std::find(desired.begin(), desired.end(), it->addr) == desired.end()) {
        p.changes.push_back({it->addr, "delete", "delete_because_no_resource_config", it->id});
      }
    }
    std::vector<std::string> requested = flags_.All("replace");
    for (const std::string& addr : desired) {
      const Resource* existing = state_.Find(addr);
      if (existing == nullptr) {
        p.changes.push_back({addr, "create", "", ""});
      } else if (std::find(requested.begin(), requested.end(), addr) != requested.end()) {
        p.changes.push_back({addr, "replace", "requested", existing->id});
      } else if (std::find(o_.replace.begin(), o_.replace.end(), addr) != o_.replace.end()) {
        p.changes.push_back({addr, "replace", "cannot_update", existing->id});
      } else if (addr == drifted) {
        p.changes.push_back({addr, "update", "", existing->id});
      }
    }
    p.outputs = o_.no_changes ? state_.outputs : DesiredOutputs();
    for (const auto& [name, value] : p.outputs) {
      auto it = state_.outputs.find(name);
      p.output_actions[name] = it == state_.outputs.end() ? "create"
                               : it->second == value      ? "noop"
                                                          : "update";
    }
    for (const auto& [name, value] : state_.outputs) {
      if (p.outputs.count(name) == 0) p.output_actions[name] = "delete";
    }
    if (p.refresh_only) {
      p.changes.clear();
      for (auto& [name, action] : p.output_actions) action = "noop";
    }
    return p;
  }

  static void Count(const std::vector<Change>& changes, int* add, int* change, int* remove) {
    for (const Change& c : changes) {
      if (c.action == "create") ++*add;
      if (c.action == "update") ++*change;
      if (c.action == "delete") ++*remove;
      if (c.action == "replace") {
        ++*add;
        ++*remove;
      }
    }
  }

  void EmitPlannedChanges(const Plan& p) {
    for (const Change& c : p.changes) {
      Json change;
      change["resource"] = ParseAddr(c.addr).ToJson();
      change["action"] = c.action;
      if (!c.reason.empty()) change["reason"] = c.reason;
      view_.Line("info", c.addr + ": Plan to " + c.action, "planned_change", {{"change", change}});
    }
  }

  // The plan half of the stream: drift, planned changes, summary, outputs.
  void EmitPlan(const Plan& p) {
    int add = 0, change = 0, remove = 0;
    Count(p.changes, &add, &change, &remove);
    if (view_.json()) {
      for (const Change& c : p.drift) {
        Json ch;
        ch["resource"] = ParseAddr(c.addr).ToJson();
        ch["action"] = c.action;
        view_.Line("info", c.addr + ": Drift detected (" + c.action + ")", "resource_drift",
                   {{"change", ch}});
      }
      EmitPlannedChanges(p);
      Json changes = {{"add", add},       {"change", change}, {"import", 0},
                      {"remove", remove}, {"forget", 0},      {"operation", "plan"}};
      view_.Line("info", ChangeSummaryMessage("plan", add, change, remove, 0, 0), "change_summary",
                 {{"changes", changes}});
      if (!p.output_actions.empty()) {
        Json outputs = Json::object();
        for (const auto& [name, action] : p.output_actions) {
          auto it = p.outputs.find(name);
          outputs[name] = {{"sensitive", it != p.outputs.end() && it->second.sensitive},
                           {"action", action}};
        }
        view_.Line("info", "Outputs: " + std::to_string(outputs.size()), "outputs",
                   {{"outputs", outputs}});
      }
      return;
    }
    HumanPlan(p, add, change, remove);
  }

  void HumanPlan(const Plan& p, int add, int change, int remove) {
    if (!p.drift.empty()) {
      std::string text = "\n" + view_.Bold("Note: Objects have changed outside of OpenTofu") +
                         "\n\nOpenTofu detected the following changes made outside of "
                         "OpenTofu "
                         "since the\nlast \"tofu apply\" which may have affected this "
                         "plan:\n\n";
      for (const Change& c : p.drift) {
        text += "  # " + c.addr + " has changed\n  ~ resource \"" + ParseAddr(c.addr).type +
                "\" \"" + ParseAddr(c.addr).name + "\" {\n        id = \"" + c.prior_id +
                "\"\n    }\n";
      }
      Out(text);
    }
    if (!p.CanApply()) {
      Out("\n" + view_.Green("No changes.") +
          view_.Bold(" Your infrastructure matches the configuration.") +
          "\n\nOpenTofu has compared your real infrastructure against your "
          "configuration\n"
          "and found no differences, so no changes are needed.\n");
      return;
    }
    std::string text =
        "\nOpenTofu used the selected providers to generate the following "
        "execution\n"
        "plan. Resource actions are indicated with the following symbols:\n";
    std::set<std::string> symbols;
    for (const Change& c : p.changes) symbols.insert(c.action);
    if (symbols.count("create")) text += "  + create\n";
    if (symbols.count("update")) text += "  ~ update in-place\n";
    if (symbols.count("delete")) text += "  - destroy\n";
    if (symbols.count("replace")) text += "-/+ destroy and then create replacement\n";
    text += "\nOpenTofu will perform the following actions:\n\n";
    for (const Change& c : p.changes) {
      Addr a = ParseAddr(c.addr);
      std::string head = "resource \"" + a.type + "\" \"" + a.name + "\" {";
      if (c.action == "create") {
        text += "  # " + c.addr + " will be created\n  + " + head +
                "\n      + id = (known after apply)\n    }\n\n";
      } else if (c.action == "delete") {
        text += "  # " + c.addr + " will be destroyed\n  - " + head + "\n      - id = \"" +
                c.prior_id + "\" -> null\n    }\n\n";
      } else if (c.action == "update") {
        text += "  # " + c.addr + " will be updated in-place\n  ~ " + head + "\n        id = \"" +
                c.prior_id + "\"\n    }\n\n";
      } else {
        text += "  # " + c.addr + " must be replaced\n-/+ " + head + "\n      ~ id = \"" +
                c.prior_id + "\" -> (known after apply)\n    }\n\n";
      }
    }
    text += view_.Bold("Plan:") + " " + std::to_string(add) + " to add, " + std::to_string(change) +
            " to change, " + std::to_string(remove) + " to destroy.\n";
    bool any_output = false;
    for (const auto& [name, action] : p.output_actions) any_output |= action != "noop";
    if (any_output) {
      text += "\nChanges to Outputs:\n";
      for (const auto& [name, action] : p.output_actions) {
        if (action == "noop") continue;
        auto it = p.outputs.find(name);
        std::string sym = action == "create" ? "+" : action == "delete" ? "-" : "~";
        std::string value = it == p.outputs.end()  ? "null"
                            : it->second.sensitive ? "(sensitive value)"
                                                   : HclValue(it->second.value);
        text += "  " + sym + " " + name + " = " + value + "\n";
      }
    }
    Out(text);
  }

  // ---- applying ----

  void Hook(const char* type, const std::string& message, const Change& c,
            const std::string& action, const std::string& id, std::optional<int64_t> elapsed) {
    if (!view_.json()) {
      Out(view_.Bold(message) + "\n");
      return;
    }
    Json hook;
    hook["resource"] = ParseAddr(c.addr).ToJson();
    hook["action"] = action;
    if (!id.empty()) {
      hook["id_key"] = "id";
      hook["id_value"] = id;
    }
    if (elapsed) hook["elapsed_seconds"] = *elapsed;
    view_.Line("info", message, type, {{"hook", hook}});
  }

  // One hook sequence (start, progress..., complete|errored). Returns false
  // when this step failed.
  bool ApplyStep(const Change& c, const std::string& action, const std::string& fail_at,
                 std::string* new_id) {
    Verb verb = VerbFor(action);
    std::string prior_id = action == "create" ? "" : c.prior_id;
    std::string id_suffix = prior_id.empty() ? "" : " [id=" + prior_id + "]";
    Hook("apply_start", c.addr + ": " + verb.start + "..." + id_suffix, c, action, prior_id,
         std::nullopt);
    std::string slow = o_.slow_resource.empty() ? first_applied_ : o_.slow_resource;
    double seconds = (o_.slow_seconds > 0 && c.addr == slow) ? o_.slow_seconds : o_.apply_seconds;
    if (CrashesIn(o_, ctx_.command)) Crash();  // mid-apply: no state saved, lock info left
    Work(seconds, [&](int64_t elapsed) {
      if (!view_.json()) {
        Out(view_.Bold(c.addr + ": Still " + verb.still + "... [" + GoDuration(elapsed) +
                       " elapsed]") +
            "\n");
        return;
      }
      Json hook;
      hook["resource"] = ParseAddr(c.addr).ToJson();
      hook["action"] = action;
      hook["elapsed_seconds"] = elapsed;
      view_.Line("info",
                 c.addr + ": Still " + verb.still + "... [" + GoDuration(elapsed) + " elapsed]",
                 "apply_progress", {{"hook", hook}});
    });
    int64_t elapsed = std::llround(seconds);
    if (c.addr == fail_at) {
      Hook("apply_errored", c.addr + ": " + verb.complete + " errored after " + GoDuration(elapsed),
           c, action, "", elapsed);
      return false;
    }
    *new_id = action == "create" ? RandomDigits(19) : action == "delete" ? "" : c.prior_id;
    std::string done_suffix = new_id->empty() ? "" : " [id=" + *new_id + "]";
    Hook("apply_complete",
         c.addr + ": " + verb.complete + " complete after " + GoDuration(elapsed) + done_suffix, c,
         action, *new_id, elapsed);
    return true;
  }

  void SetResource(const std::string& addr, const std::string& id) {
    auto it = std::find_if(state_.resources.begin(), state_.resources.end(),
                           [&](const Resource& r) { return r.addr == addr; });
    if (id.empty()) {
      if (it != state_.resources.end()) state_.resources.erase(it);
    } else if (it != state_.resources.end()) {
      it->id = id;
    } else {
      state_.resources.push_back({addr, id});
    }
  }

  // Applies the plan's changes and ends the process.
  [[noreturn]] void ApplyAndExit(const Plan& p, const std::string& operation) {
    first_applied_ = p.changes.empty() ? "" : p.changes.front().addr;
    if (p.changes.empty() && CrashesIn(o_, ctx_.command)) Crash();
    std::string fail_at;
    if (o_.fail_apply) fail_at = o_.fail_resource.empty() ? first_applied_ : o_.fail_resource;
    std::vector<Diag> errors;
    bool halted = false;
    bool changed = false;
    for (size_t i = 0; i < p.changes.size(); ++i) {
      HandleSignals();
      if (stopping_) {
        halted = true;  // hook_stop.go: nothing new starts after the first interrupt
        break;
      }
      const Change& c = p.changes[i];
      std::vector<std::string> steps = {c.action};
      if (c.action == "replace") steps = {"delete", "create"};
      for (const std::string& action : steps) {
        std::string new_id;
        if (!ApplyStep(c, action, fail_at, &new_id)) {
          std::string what = action == "create"   ? "creating"
                             : action == "delete" ? "deleting"
                                                  : "updating";
          Diag d{true, o_.fail_summary.empty() ? "Error " + what + " resource" : o_.fail_summary,
                 o_.fail_detail.empty() ? "fake_tofu scenario " + o_.scenario +
                                              ": the provider refused to apply " + c.addr + "."
                                        : o_.fail_detail,
                 c.addr, ResourceRange(o_, c.addr)};
          errors.push_back(d);
          break;
        }
        SetResource(c.addr, new_id);
        changed = true;
        // hook_stop.go: PostApply of the resource in flight halts as well,
        // so an interrupt ends in "execution halted" even when that
        // resource was the last one.
        HandleSignals();
        if (stopping_) {
          halted = true;
          break;
        }
      }
      if (halted) break;
    }
    bool outputs_changed = false;
    if (errors.empty() && !halted) {
      outputs_changed = state_.outputs != p.outputs;
      state_.outputs = p.outputs;
    }
    if (changed || outputs_changed) SaveState();
    for (const Diag& d : errors) view_.Diagnostic(d);
    if (halted) view_.Diagnostic({true, "execution halted", "", "", {}});
    if (!errors.empty() || halted) Finish(1);

    int add = 0, change = 0, remove = 0;
    Count(p.changes, &add, &change, &remove);
    std::string message = ChangeSummaryMessage(operation, add, change, remove, 0, 0);
    if (view_.json()) {
      Json changes = {{"add", add},       {"change", change}, {"import", 0},
                      {"remove", remove}, {"forget", 0},      {"operation", operation}};
      view_.Line("info", message, "change_summary", {{"changes", changes}});
      if (operation != "destroy") {
        Json outputs = Json::object();
        for (const auto& [name, o] : state_.outputs) {
          Json e;
          e["sensitive"] = o.sensitive;
          e["type"] = ToOrdered(o.type);
          if (!o.sensitive) e["value"] = ToOrdered(o.value);  // views/json/output.go
          outputs[name] = e;
        }
        view_.Line("info", "Outputs: " + std::to_string(outputs.size()), "outputs",
                   {{"outputs", outputs}});
      }
    } else {
      std::string text = "\n" + view_.Green(message) + "\n";
      if (operation != "destroy" && !state_.outputs.empty()) {
        text += view_.Green("\nOutputs:\n") + "\n";
        for (const auto& [name, o] : state_.outputs) {
          text += name + " = " + (o.sensitive ? "<sensitive>" : HclValue(o.value)) + "\n";
        }
      }
      Out(text);
    }
    Finish(0);
  }

  // Human-mode approval prompt (reference §2.5: -json needs a plan file or
  // -auto-approve instead).
  void Approve(bool destroy) {
    if (destroy) {
      Out("\n" + view_.Bold("Do you really want to destroy all resources?") +
          "\n  OpenTofu will destroy all your managed infrastructure, as shown "
          "above.\n"
          "  There is no undo. Only 'yes' will be accepted to confirm.\n\n  " +
          view_.Bold("Enter a value:") + " ");
    } else {
      Out("\n" + view_.Bold("Do you want to perform these actions?") +
          "\n  OpenTofu will perform the actions described above.\n"
          "  Only 'yes' will be accepted to approve.\n\n  " +
          view_.Bold("Enter a value:") + " ");
    }
    std::string answer;
    bool got = ReadStdinLine(&answer);
    HandleSignals();
    if (!got && answer.empty()) {
      Fail(
          {true,
           std::string("error asking for approval: ") + (SignalCount() > 0 ? "interrupted" : "EOF"),
           "",
           "",
           {}});
    }
    if (answer != "yes") {
      Out(destroy ? "\nDestroy cancelled.\n" : "\nApply cancelled.\n");
      Finish(1);
    }
  }

  State& state() { return state_; }
  const Options& options() const { return o_; }
  Context& ctx() { return ctx_; }
  bool stopping() const { return stopping_; }

 private:
  Context& ctx_;
  const Options& o_;
  Flags flags_;
  View view_;
  std::unique_ptr<StateFile> state_file_;
  State state_;
  std::string prior_state_text_;
  std::map<std::string, MapJson> variables_;
  int signals_handled_ = 0;
  bool stopping_ = false;
  bool running_ = false;  // the state is locked and loaded: the operation runs
  std::string first_applied_;
};

std::string OperationType(const std::string& command) {
  if (command == "plan") return "OperationTypePlan";
  return "OperationTypeApply";
}

}  // namespace

std::optional<bool> ParseGoBool(std::string_view text) {
  static const std::set<std::string_view> kTrue = {"1", "t", "T", "TRUE", "true", "True"};
  static const std::set<std::string_view> kFalse = {"0", "f", "F", "FALSE", "false", "False"};
  if (kTrue.count(text)) return true;
  if (kFalse.count(text)) return false;
  return std::nullopt;
}

std::optional<double> ParseGoDurationSeconds(std::string_view text) {
  if (text == "0") return 0.0;
  if (text.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
      ++i;
    if (start == i) return std::nullopt;
    double value = std::strtod(std::string(text.substr(start, i - start)).c_str(), nullptr);
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = unit == "h"    ? 3600
                   : unit == "m"  ? 60
                   : unit == "s"  ? 1
                   : unit == "ms" ? 1e-3
                   : unit == "us" ? 1e-6
                   : unit == "ns" ? 1e-9
                                  : -1;
    if (scale < 0) return std::nullopt;
    total += value * scale;
  }
  return total;
}

void WriteTfLogIfEnabled(const Context& ctx, const std::vector<std::string>& raw_args) {
  WriteTfLog(ctx, raw_args);
}

int RunVersion(Context& ctx) {
  Flags flags;
  // -v/-version/--version land here among other arguments: ignore the rest.
  for (const std::string& a : ctx.args) {
    if (a == "-json" || a == "--json" || a == "-json=true") flags.scalar["json"] = "true";
  }
  std::map<std::string, std::string> selections = ReadProviderSelections();
  if (flags.Bool("json", false)) {
    Json j;
    j["terraform_version"] = ctx.options.version;
    j["platform"] = "linux_amd64";
    j["provider_selections"] = Json::object();
    for (const auto& [p, v] : selections) j["provider_selections"][p] = v;
    Out(j.dump(2) + "\n");
    return 0;
  }
  std::string text = "OpenTofu v" + ctx.options.version + "\non linux_amd64\n";
  for (const auto& [p, v] : selections) text += "+ provider " + p + " v" + v + "\n";
  Out(text);
  return 0;
}

int RunInit(Context& ctx) {
  Flags flags;
  std::string err = ParseFlags(ctx.args,
                               {{"input", FlagKind::kBool},
                                {"lock", FlagKind::kBool},
                                {"lock-timeout", FlagKind::kDuration},
                                {"no-color", FlagKind::kBool},
                                {"json", FlagKind::kBool},
                                {"upgrade", FlagKind::kBool},
                                {"backend", FlagKind::kBool},
                                {"backend-config", FlagKind::kMulti},
                                {"reconfigure", FlagKind::kBool},
                                {"migrate-state", FlagKind::kBool},
                                {"force-copy", FlagKind::kBool},
                                {"get", FlagKind::kBool},
                                {"plugin-dir", FlagKind::kMulti},
                                {"lockfile", FlagKind::kString},
                                {"var", FlagKind::kMulti},
                                {"var-file", FlagKind::kMulti},
                                {"test-directory", FlagKind::kString},
                                {"from-module", FlagKind::kString},
                                {"compact-warnings", FlagKind::kBool}},
                               &flags);
  if (!err.empty()) return FlagError("init", err);
  if (flags.positional.size() > 0) {
    Err("\nError: Too many command line arguments\n\nExpected at most zero "
        "positional "
        "arguments.\n");
    return 1;
  }
  const Options& o = ctx.options;
  bool json = flags.Bool("json", false);
  View view(json, !flags.Bool("no-color", false) && !json, o.version);
  bool legacy = json && o.legacy_init_json;
  if (json) view.VersionLine();
  WriteJunk(ctx, view);

  // v1.12 prints untyped lines; 1.7-1.11 printed `output` lines for the
  // Ui.Output shim and untyped ones for Ui.Info (reference §1.7).
  std::string human;
  auto heading = [&](const std::string& text) {
    if (legacy) {
      view.Line("info", "\n" + text, "output", {});
    } else if (json) {
      view.Untyped("info", text);
    } else {
      human += "\n" + view.Bold(text) + "\n";
    }
  };
  auto item = [&](const std::string& text, const std::string& level = "info") {
    if (json) {
      view.Untyped(level, legacy ? "- " + text : text);
    } else {
      human += "- " + text + "\n";
    }
  };
  auto paragraph = [&](const std::string& text, bool green = false) {
    if (legacy) {
      view.Line("info", "\n" + text, "output", {});
    } else if (json) {
      std::string flat = text;
      std::replace(flat.begin(), flat.end(), '\n', ' ');
      view.Untyped("info", flat);
    } else {
      human += "\n" + (green ? view.Green(text) : text) + "\n";
    }
  };

  heading("Initializing the backend...");
  if (CrashesIn(o, "init")) Crash();
  if (o.fail_init) {
    if (!json) Out(human);
    if (legacy) view.VersionLine();  // each diagnostics batch got a new view
    view.Diagnostic({true,
                     "Failed to query available provider packages",
                     "Could not retrieve the list of available versions for provider "
                     "hashicorp/null: could not connect to registry.opentofu.org: failed "
                     "to "
                     "request discovery document: Get "
                     "\"https://registry.opentofu.org/.well-known/"
                     "terraform.json\": dial tcp: lookup registry.opentofu.org: no such "
                     "host",
                     "",
                     {}});
    return 1;
  }
  if (!MakeDirs(ctx.data_dir)) {
    Err("\nError: Failed to create data directory " + ctx.data_dir + "\n");
    return 1;
  }
  bool upgrade = flags.Bool("upgrade", false);
  bool had_lock_file = FileExists(".terraform.lock.hcl");
  heading("Initializing provider plugins...");
  std::vector<std::string> providers = ProvidersOf(o);
  for (const std::string& p : providers) {
    if (had_lock_file && !upgrade) {
      item("Reusing previous version of hashicorp/" + p + " from the dependency lock file");
    } else {
      item("Finding latest version of hashicorp/" + p + "...");
    }
  }
  std::string lock_file =
      "# This file is maintained automatically by \"tofu init\".\n"
      "# Manual edits may be lost in future updates.\n";
  for (const std::string& p : providers) {
    std::string v = ProviderVersion(p);
    std::string dir =
        ctx.data_dir + "/providers/registry.opentofu.org/hashicorp/" + p + "/" + v + "/linux_amd64";
    std::string binary = dir + "/terraform-provider-" + p + "_v" + v;
    if (FileExists(binary) && !upgrade) {
      item("Using previously-installed hashicorp/" + p + " v" + v);
    } else {
      item("Installing hashicorp/" + p + " v" + v + "...");
      MakeDirs(dir);
      WriteFile(binary, "fake provider\n");
      item("Installed hashicorp/" + p + " v" + v + " (signed, key ID 0C0AF313E5FD9F80)");
    }
    lock_file += "\nprovider \"registry.opentofu.org/hashicorp/" + p + "\" {\n  version = \"" + v +
                 "\"\n  hashes = [\n    \"h1:fake" + p + "hash=\",\n  ]\n}\n";
  }
  WriteFile(".terraform.lock.hcl", lock_file);
  if (!had_lock_file) {
    paragraph(
        "OpenTofu has created a lock file .terraform.lock.hcl to record the "
        "provider\n"
        "selections it made above. Include this file in your version control "
        "repository\n"
        "so that OpenTofu can guarantee to make the same selections by default "
        "when\n"
        "you run \"tofu init\" in the future.");
  }
  paragraph("OpenTofu has been successfully initialized!", true);
  if (!ctx.in_automation) {
    paragraph(
        "You may now begin working with OpenTofu. Try running \"tofu plan\" to "
        "see\n"
        "any changes that are required for your infrastructure. All OpenTofu "
        "commands\n"
        "should now work.\n\n"
        "If you ever set or change modules or backend configuration for "
        "OpenTofu,\n"
        "rerun this command to reinitialize your working directory. If you "
        "forget, other\n"
        "commands will detect it and remind you to do so if necessary.");
  }
  if (!json) Out(human);

  // What tests check: the backend settings tofu was given, in order.
  std::optional<std::string> previous = ReadFile(ctx.data_dir + "/fake_init.json");
  MapJson prev = MapJson::parse(previous.value_or("{}"), nullptr, false);
  MapJson record;
  record["backend_config"] = flags.All("backend-config");
  record["upgrade"] = upgrade;
  record["reconfigure"] = flags.Bool("reconfigure", false);
  record["input"] = flags.Bool("input", true);
  record["args"] = ctx.args;
  record["inits"] = (prev.is_object() ? prev.value("inits", 0) : 0) + 1;
  WriteFile(ctx.data_dir + "/fake_init.json", record.dump(2) + "\n");
  // As tofu records a configured backend (version 3 of the file, with the
  // merged settings and a hash of the block); none for the implied local one.
  if (!o.backend.empty()) {
    MapJson config = MapJson::object();
    for (const std::string& kv : flags.All("backend-config")) {
      const size_t eq = kv.find('=');
      if (eq != std::string::npos) config[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    MapJson backend;
    backend["version"] = 3;
    backend["terraform_version"] = o.version;
    backend["backend"] = {{"type", o.backend}, {"config", config}, {"hash", 1234567890}};
    WriteFile(ctx.data_dir + "/terraform.tfstate", backend.dump(2) + "\n");
  }
  return 0;
}

int RunPlan(Context& ctx) {
  Flags flags;
  std::string err = ParseFlags(ctx.args,
                               With(kOperationFlags, {{"out", FlagKind::kString},
                                                      {"detailed-exitcode", FlagKind::kBool},
                                                      {"destroy", FlagKind::kBool},
                                                      {"refresh-only", FlagKind::kBool},
                                                      {"generate-config-out", FlagKind::kString}}),
                               &flags);
  if (!err.empty()) return FlagError("plan", err);
  Operation op(ctx, flags);
  if (!flags.positional.empty()) {
    op.Fail({true,
             "Too many command line arguments",
             "To specify a working directory for the plan, use the global "
             "-chdir flag.",
             "",
             {}});
  }
  op.Begin();
  op.LoadVariablesOrFail();
  op.Lock(OperationType("plan"));
  op.MaybeSpawnProvider();
  op.Refresh();
  if (CrashesIn(ctx.options, "plan")) Crash();
  op.Work(ctx.options.plan_seconds);
  if (op.stopping()) op.Fail({true, "execution halted", "", "", {}});
  const Options& o = ctx.options;
  if (o.fail_plan) {
    std::string addr =
        o.fail_resource.empty() ? o.resources.empty() ? "" : o.resources.front() : o.fail_resource;
    SourceRange r = ResourceRange(o, addr);
    r.context = r.code.substr(0, r.code.size() - 2);
    r.line += 1;
    r.column = 3;
    r.code = "  bogus = true";
    r.end_column = 8;
    op.Fail({true, o.fail_summary.empty() ? "Unsupported argument" : o.fail_summary,
             o.fail_detail.empty() ? "An argument named \"bogus\" is not expected here."
                                   : o.fail_detail,
             addr, r});
  }
  Plan plan = op.MakePlan(flags.Bool("destroy", false));
  op.EmitPlan(plan);
  std::string out = flags.Str("out");
  if (!out.empty()) {
    if (!WriteFile(out, PlanToJson(plan).dump(2) + "\n")) {
      op.Fail({true,
               "Failed to write plan file",
               "The plan file could not be written: " + out,
               "",
               {}});
    }
    if (!op.view().json() && !ctx.in_automation) {
      Out("\n──────────────────────────────────────────────────────────────────"
          "───────────\n\n"
          "Saved the plan to: " +
          out +
          "\n\nTo perform exactly these actions, run the following command to "
          "apply:\n"
          "    tofu apply \"" +
          out + "\"\n");
    }
  } else if (!op.view().json() && !ctx.in_automation && plan.CanApply()) {
    Out("\n────────────────────────────────────────────────────────────────────"
        "─────────\n\n"
        "Note: You didn't use the -out option to save this plan, so OpenTofu "
        "can't\n"
        "guarantee to take exactly these actions if you run \"tofu apply\" "
        "now.\n");
  }
  // plan.go: 2 only with -detailed-exitcode and a non-empty plan.
  op.Finish(flags.Bool("detailed-exitcode", false) && plan.CanApply() ? 2 : 0);
}

int RunApply(Context& ctx) {
  Flags flags;
  bool destroy_command = ctx.command == "destroy";
  std::vector<FlagSpec> specs = With(kOperationFlags, {{"auto-approve", FlagKind::kBool}});
  if (!destroy_command) {
    specs = With(specs, {{"destroy", FlagKind::kBool}, {"refresh-only", FlagKind::kBool}});
  }
  std::string err = ParseFlags(ctx.args, specs, &flags);
  if (!err.empty()) return FlagError(ctx.command, err);
  Operation op(ctx, flags);
  std::string plan_path;
  if (!flags.positional.empty() && !destroy_command) plan_path = flags.positional[0];
  if (flags.positional.size() > (destroy_command ? 0u : 1u)) {
    if (op.view().json()) op.view().VersionLine();
    op.Fail({true,
             "Too many command line arguments",
             "Expected at most one positional argument.",
             "",
             {}});
  }
  bool auto_approve = flags.Bool("auto-approve", false);
  if (op.view().json() && plan_path.empty() && !auto_approve) {
    op.view().VersionLine();
    op.Fail({true,
             "Plan file or auto-approve required",
             "OpenTofu cannot ask for interactive approval when -json is set. "
             "You can either "
             "apply a saved plan file, or enable the -auto-approve option.",
             "",
             {}});
  }
  op.Begin();
  if (!plan_path.empty()) {
    std::optional<std::string> text = ReadFile(plan_path);
    std::optional<Plan> plan = text ? PlanFromText(*text) : std::nullopt;
    if (!plan) {
      op.Fail({true,
               "Failed to load \"" + plan_path + "\" as a plan file",
               text ? "The given file is not a saved plan produced by fake_tofu."
                    : "Error: open " + plan_path + ": no such file or directory",
               "",
               {}});
    }
    op.Lock(OperationType("apply"));
    op.MaybeSpawnProvider();
    if (op.state().lineage != plan->lineage || op.state().serial != plan->serial) {
      op.Fail({true,
               "Saved plan is stale",
               "The given plan file can no longer be applied because the state "
               "was changed by "
               "another operation after the plan was created.",
               "",
               {}});
    }
    // A saved plan: only its non-NoOp changes, no refresh, no plan summary.
    if (op.view().json()) op.EmitPlannedChanges(*plan);
    op.ApplyAndExit(*plan, "apply");
  }
  op.LoadVariablesOrFail();
  op.Lock(OperationType("apply"));
  op.MaybeSpawnProvider();
  op.Refresh();
  op.Work(ctx.options.plan_seconds);
  if (op.stopping()) op.Fail({true, "execution halted", "", "", {}});
  bool destroy = destroy_command || flags.Bool("destroy", false);
  Plan plan = op.MakePlan(destroy);
  op.EmitPlan(plan);
  // An empty plan needs no approval; tofu still reports an empty apply.
  if (plan.CanApply() && !auto_approve) op.Approve(destroy);
  op.ApplyAndExit(plan, destroy_command ? "destroy" : "apply");
}

int RunDestroy(Context& ctx) { return RunApply(ctx); }

int RunOutput(Context& ctx) {
  Flags flags;
  std::string err = ParseFlags(ctx.args,
                               {{"json", FlagKind::kBool},
                                {"raw", FlagKind::kBool},
                                {"no-color", FlagKind::kBool},
                                {"state", FlagKind::kString},
                                {"show-sensitive", FlagKind::kBool}},
                               &flags);
  if (!err.empty()) return FlagError("output", err);
  bool json = flags.Bool("json", false);
  bool raw = flags.Bool("raw", false);
  if (json && raw) {
    Err("\nError: Invalid output format\n\nThe -raw and -json options are "
        "mutually-exclusive.\n");
    return 1;
  }
  if (flags.positional.size() > 1) {
    Err("\nError: Unexpected argument\n\nThe output command expects exactly "
        "one argument with the "
        "name of an output variable or no arguments to show all outputs.\n");
    return 1;
  }
  std::string name = flags.positional.empty() ? "" : flags.positional[0];
  if (raw && name.empty()) {
    Err("\nError: Output name required\n\nYou must give the name of a single "
        "output value when "
        "using the -raw option.\n");
    return 1;
  }
  State state;
  std::optional<std::string> text = ReadFile(flags.Str("state", StatePath(ctx)));
  if (text) {
    if (std::string e = StateFromText(*text, &state); !e.empty()) {
      Err("\nError: Failed to load state\n\n" + e + "\n");
      return 1;
    }
  }
  if (name.empty()) {
    if (json) {
      Json all = Json::object();
      for (const auto& [n, o] : state.outputs) {
        // Sensitive values ARE printed here (reference §4.2).
        all[n] = {
            {"sensitive", o.sensitive}, {"type", ToOrdered(o.type)}, {"value", ToOrdered(o.value)}};
      }
      Out(all.dump(2) + "\n");
      return 0;
    }
    if (state.outputs.empty()) {
      Out("\nWarning: No outputs found\n\nThe state file either has no outputs "
          "defined, or all "
          "the defined outputs are empty. Please define an output in your "
          "configuration with the "
          "`output` keyword and run `tofu refresh` for it to become available. "
          "If you are using "
          "interpolation, please verify the interpolated value is not empty. "
          "You can use the "
          "`tofu console` command to assist.\n");
      return 0;
    }
    std::string out;
    for (const auto& [n, o] : state.outputs) {
      out += n + " = " + (o.sensitive ? "<sensitive>" : HclValue(o.value)) + "\n";
    }
    Out(out);
    return 0;
  }
  auto it = state.outputs.find(name);
  if (it == state.outputs.end()) {
    Err("\nError: Output \"" + name +
        "\" not found\n\nThe output variable requested could not be "
        "found in the state file. If you recently added this to your "
        "configuration, be sure to "
        "run `tofu apply`, since the state won't be updated with new output "
        "variables until that "
        "command is run.\n");
    return 1;
  }
  const MapJson& v = it->second.value;
  if (raw) {
    if (v.is_string()) {
      Out(v.get<std::string>());  // no quotes, no newline (streams.Print)
    } else if (v.is_number() || v.is_boolean()) {
      Out(Dump(v));
    } else {
      Err("\nError: Unsupported value for raw output\n\nThe -raw option only "
          "supports strings, "
          "numbers, and boolean values, but output value \"" +
          name + "\" is " + Dump(it->second.type) +
          ".\n\nUse the -json option for machine-readable "
          "representations of output values that have complex types.\n");
      return 1;
    }
    return 0;
  }
  Out((json ? Dump(v) : HclValue(v)) + "\n");
  return 0;
}

int RunShow(Context& ctx) {
  Flags flags;
  std::string err = ParseFlags(ctx.args,
                               {{"json", FlagKind::kBool},
                                {"no-color", FlagKind::kBool},
                                {"plan", FlagKind::kString},
                                {"state", FlagKind::kBool},
                                {"config", FlagKind::kBool},
                                {"module", FlagKind::kString},
                                {"show-sensitive", FlagKind::kBool}},
                               &flags);
  if (!err.empty()) return FlagError("show", err);
  bool json = flags.Bool("json", false);
  std::string plan_path = flags.Str("plan");
  if (!flags.positional.empty()) plan_path = flags.positional[0];
  State state;
  std::optional<std::string> state_text = ReadFile(StatePath(ctx));
  if (state_text) StateFromText(*state_text, &state);
  if (!plan_path.empty()) {
    std::optional<std::string> text = ReadFile(plan_path);
    std::optional<Plan> plan = text ? PlanFromText(*text) : std::nullopt;
    if (!plan) {
      Err("\nError: Failed to read the given file as a state or plan "
          "file\n\nState read error: "
          "the file is not a state file\n\nPlan read error: the file is not a "
          "saved plan "
          "produced by fake_tofu\n");
      return 1;
    }
    if (json) {
      Out(HtmlEscape(PlanShowJson(*plan, state, ctx.options.version).dump()) + "\n");
      return 0;
    }
    std::string text_out;
    for (const Change& c : plan->changes)
      text_out += "  # " + c.addr + " will be " + c.action + "d\n";
    Out(text_out.empty() ? "\nNo changes. Your infrastructure matches the configuration.\n"
                         : text_out);
    return 0;
  }
  if (json) {
    Out(HtmlEscape(StateShowJson(state).dump()) + "\n");
    return 0;
  }
  if (state.resources.empty() && state.outputs.empty()) {
    Out("The state file is empty. No resources are represented.\n");
    return 0;
  }
  std::string out;
  for (const Resource& r : state.resources) {
    Addr a = ParseAddr(r.addr);
    out += "# " + r.addr + ":\nresource \"" + a.type + "\" \"" + a.name + "\" {\n    id = \"" +
           r.id + "\"\n}\n";
  }
  if (!state.outputs.empty()) {
    out += "\n\nOutputs:\n\n";
    for (const auto& [n, o] : state.outputs) {
      out += n + " = " + (o.sensitive ? "(sensitive value)" : HclValue(o.value)) + "\n";
    }
  }
  Out(out);
  return 0;
}

int RunHoldLock(const std::vector<std::string>& args) {
  if (args.empty()) {
    Err("usage: fake_tofu __hold-lock DIR [--who USER@HOST] [--seconds N] "
        "[--operation OP]\n");
    return kExitFakeMisconfigured;
  }
  std::string dir = args[0];
  std::string who = "ci-runner@other-host";
  std::string operation = "OperationTypeApply";
  double seconds = 0;
  for (size_t i = 1; i + 1 < args.size(); i += 2) {
    if (args[i] == "--who") who = args[i + 1];
    if (args[i] == "--seconds") seconds = std::strtod(args[i + 1].c_str(), nullptr);
    if (args[i] == "--operation") operation = args[i + 1];
  }
  InstallSignalHandlers();
  StateFile file(dir + "/terraform.tfstate", "terraform.tfstate");
  std::string err = file.Open(true);
  if (!err.empty()) {
    Err("fake_tofu __hold-lock: " + err + "\n");
    return 1;
  }
  file.WriteLockInfo(operation, who, "1.12.6");
  MapJson info = MapJson::parse(ReadFile(file.LockInfoPath()).value_or("{}"), nullptr, false);
  Out("locked " + info.value("ID", std::string()) + "\n");
  // Held until a signal, stdin's EOF when stdin is a pipe, or --seconds.
  struct stat st;
  bool watch_stdin = fstat(0, &st) == 0 && S_ISFIFO(st.st_mode);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
  while (SignalCount() == 0) {
    if (seconds > 0 && std::chrono::steady_clock::now() >= deadline) break;
    if (watch_stdin) {
      pollfd pfd{0, POLLIN, 0};
      if (poll(&pfd, 1, 20) > 0) {
        char buf[256];
        if (read(0, buf, sizeof(buf)) <= 0) break;
      }
    } else {
      SleepUnlessSignalled(std::chrono::milliseconds(20), 0);
    }
  }
  file.Unlock();
  return 0;
}

}  // namespace fake_tofu
