// Scenario selection: every behaviour of the fake is a field of Options, and
// a scenario is only a named preset of those fields (data, not code paths).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmath>
#include <variant>

#include "fake_tofu.h"

namespace fake_tofu {
namespace {

struct Preset {
  const char* name;
  const char* fields;  // a JSON object of Options keys
};

// README.md documents each one.
constexpr Preset kPresets[] = {
    {"changes", "{}"},
    {"no_changes", R"({"no_changes": true})"},
    {"fail_init", R"({"fail_init": true})"},
    {"fail_plan", R"({"fail_plan": true})"},
    {"fail_apply", R"({"fail_apply": true})"},
    {"slow", R"({"slow_seconds": 30})"},
    {"lock_held", R"({"lock_held": true})"},
    {"crash", R"({"crash": "any"})"},
    {"ignore_sigint", R"({"ignore_first_signal": true, "slow_seconds": 3600})"},
    {"hang", R"({"ignore_signals": true, "slow_seconds": 3600})"},
    {"stderr_junk", R"({"stderr_junk": true, "stdout_junk": true})"},
    {"drift", R"({"drift": true})"},
    {"missing_variable", R"({"required_variables": ["region"]})"},
};

using Member = std::variant<bool Options::*, double Options::*, std::string Options::*,
                            std::vector<std::string> Options::*, MapJson Options::*>;
struct Key {
  const char* name;
  Member member;
};

const Key kKeys[] = {
    {"scenario", &Options::scenario},
    {"version", &Options::version},
    {"time_scale", &Options::time_scale},
    {"heartbeat_seconds", &Options::heartbeat_seconds},
    {"apply_seconds", &Options::apply_seconds},
    {"plan_seconds", &Options::plan_seconds},
    {"slow_resource", &Options::slow_resource},
    {"slow_seconds", &Options::slow_seconds},
    {"fail_init", &Options::fail_init},
    {"fail_plan", &Options::fail_plan},
    {"fail_apply", &Options::fail_apply},
    {"fail_resource", &Options::fail_resource},
    {"fail_summary", &Options::fail_summary},
    {"fail_detail", &Options::fail_detail},
    {"lock_held", &Options::lock_held},
    {"lock_holder_who", &Options::lock_holder_who},
    {"lock_held_seconds", &Options::lock_held_seconds},
    {"crash", &Options::crash},
    {"ignore_first_signal", &Options::ignore_first_signal},
    {"ignore_signals", &Options::ignore_signals},
    {"stderr_junk", &Options::stderr_junk},
    {"stdout_junk", &Options::stdout_junk},
    {"drift", &Options::drift},
    {"drift_resource", &Options::drift_resource},
    {"required_variables", &Options::required_variables},
    {"sensitive_variables", &Options::sensitive_variables},
    {"replace", &Options::replace},
    {"no_changes", &Options::no_changes},
    {"provider_child", &Options::provider_child},
    {"provider_linger_seconds", &Options::provider_linger_seconds},
    {"legacy_init_json", &Options::legacy_init_json},
    {"backend", &Options::backend},
    {"stdout_flood_bytes", &Options::stdout_flood_bytes},
    {"long_line_bytes", &Options::long_line_bytes},
    {"grandchild", &Options::grandchild},
    {"grandchild_linger_seconds", &Options::grandchild_linger_seconds},
    {"outputs", &Options::outputs},
};

std::string SetField(const Key& key, const MapJson& value, Options* o) {
  std::string bad = std::string("control key \"") + key.name + "\": wrong JSON type";
  return std::visit(
      [&](auto member) -> std::string {
        using T = std::remove_reference_t<decltype(o->*member)>;
        if constexpr (std::is_same_v<T, bool>) {
          if (!value.is_boolean()) return bad;
          o->*member = value.get<bool>();
        } else if constexpr (std::is_same_v<T, double>) {
          if (!value.is_number() || !std::isfinite(value.get<double>())) return bad;
          o->*member = value.get<double>();
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (value.is_boolean() && std::string_view(key.name) == "crash") {
            o->*member = value.get<bool>() ? "any" : "";  // "crash": true
            return "";
          }
          if (!value.is_string()) return bad;
          o->*member = value.get<std::string>();
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          if (!value.is_array()) return bad;
          std::vector<std::string> list;
          for (const MapJson& item : value) {
            if (!item.is_string()) return bad;
            list.push_back(item.get<std::string>());
          }
          o->*member = std::move(list);
        } else {
          if (!value.is_object()) return bad;
          o->*member = value;
        }
        return "";
      },
      key.member);
}

// "resources": 3 (null_resource.r0..r2) or ["aws_instance.web", ...].
std::string SetResources(const MapJson& value, Options* o) {
  std::vector<std::string> list;
  if (value.is_number_unsigned()) {
    for (uint64_t i = 0; i < value.get<uint64_t>(); ++i) {
      list.push_back("null_resource.r" + std::to_string(i));
    }
  } else if (value.is_array()) {
    for (const MapJson& item : value) {
      if (!item.is_string()) return "control key \"resources\": wrong JSON type";
      list.push_back(item.get<std::string>());
    }
  } else {
    return "control key \"resources\": a count or a list of addresses";
  }
  o->resources = std::move(list);
  return "";
}

std::string ApplyLayer(const MapJson& layer, Options* o) {
  for (auto it = layer.begin(); it != layer.end(); ++it) {
    if (it.key() == "sequence") continue;  // resolved by the caller
    if (it.key() == "resources") {
      if (std::string err = SetResources(*it, o); !err.empty()) return err;
      continue;
    }
    const Key* key = nullptr;
    for (const Key& k : kKeys) {
      if (it.key() == k.name) key = &k;
    }
    if (key == nullptr) return "unknown control key \"" + it.key() + "\"";
    if (std::string err = SetField(*key, *it, o); !err.empty()) return err;
  }
  return "";
}

std::string ApplyPreset(const std::string& name, Options* o) {
  for (const Preset& p : kPresets) {
    if (name == p.name) {
      std::string err = ApplyLayer(MapJson::parse(p.fields), o);
      o->scenario = name;
      return err;
    }
  }
  return "unknown scenario \"" + name + "\"";
}

// Per-command invocation counter kept next to the control file, so that a
// sequence can say "plan fails once, then succeeds". flock makes concurrent
// fakes count correctly.
int BumpCounter(const std::string& control_path, const std::string& command) {
  std::string path = control_path + ".counters";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 0;
  flock(fd, LOCK_EX);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  MapJson counters = MapJson::parse(text, nullptr, false);
  if (!counters.is_object()) counters = MapJson::object();
  int step = counters.value(command, 0);
  counters[command] = step + 1;
  std::string out = counters.dump();
  if (ftruncate(fd, 0) == 0) {
    ssize_t ignored = pwrite(fd, out.data(), out.size(), 0);
    (void)ignored;
  }
  close(fd);  // also drops the flock
  return step;
}

}  // namespace

ResolvedOptions ResolveOptions(const std::string& command, const std::string& control_path,
                               const std::string& env_scenario, const std::string& env_time_scale) {
  ResolvedOptions r;
  MapJson control = MapJson::object();
  if (!control_path.empty()) {
    std::optional<std::string> text = ReadFile(control_path);
    if (!text) {
      r.error = "cannot read control file " + control_path;
      return r;
    }
    control = MapJson::parse(*text, nullptr, /*allow_exceptions=*/false,
                             /*ignore_comments=*/true);
    if (!control.is_object()) {
      r.error = "control file " + control_path + " is not a JSON object";
      return r;
    }
  }
  std::string base = env_scenario;
  if (base.empty() && control.contains("scenario") && control["scenario"].is_string()) {
    base = control["scenario"].get<std::string>();
  }
  if (base.empty()) base = "changes";
  r.error = ApplyPreset(base, &r.options);
  if (r.error.empty()) r.error = ApplyLayer(control, &r.options);
  r.options.scenario = base;
  if (!r.error.empty()) return r;

  if (!control_path.empty()) r.step = BumpCounter(control_path, command);
  const MapJson* steps = nullptr;
  if (control.contains("sequence") && control["sequence"].is_object() &&
      control["sequence"].contains(command)) {
    steps = &control["sequence"][command];
  }
  if (steps != nullptr && steps->is_array() && !steps->empty()) {
    // Past the end, the last step repeats.
    const MapJson& entry = (*steps)[std::min<size_t>(r.step, steps->size() - 1)];
    if (entry.is_string()) {
      r.error = ApplyPreset(entry.get<std::string>(), &r.options);
    } else if (entry.is_object()) {
      if (entry.contains("scenario") && entry["scenario"].is_string()) {
        r.error = ApplyPreset(entry["scenario"].get<std::string>(), &r.options);
      }
      if (r.error.empty()) r.error = ApplyLayer(entry, &r.options);
    } else {
      r.error = "sequence." + command + ": each step is a scenario name or an object";
    }
  } else if (steps != nullptr) {
    r.error = "sequence." + command + ": a non-empty array";
  }
  const std::string& gc = r.options.grandchild;
  if (r.error.empty() && !gc.empty() && gc != "group" && gc != "setsid") {
    r.error = "control key \"grandchild\": \"\", \"group\" or \"setsid\", not \"" + gc + "\"";
  }
  if (!env_time_scale.empty()) {
    char* end = nullptr;
    double scale = std::strtod(env_time_scale.c_str(), &end);
    if (end == env_time_scale.c_str() || *end != '\0' || !(scale >= 0)) {
      r.error = "FAKE_TOFU_TIME_SCALE is not a number: " + env_time_scale;
    } else {
      r.options.time_scale = scale;
    }
  }
  return r;
}

std::chrono::nanoseconds RealTime(const Options& options, double fake_seconds) {
  double ns = fake_seconds * options.time_scale * 1e9;
  if (!(ns > 0)) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds(static_cast<int64_t>(std::min(ns, 1e18)));
}

}  // namespace fake_tofu
