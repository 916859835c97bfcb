#include "app/systemd_unit.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <vector>

#include "base/strings.h"

namespace provisioner::app {
namespace {

constexpr const char* kUnit = "provisioner.service";
// Highest precedence first (systemd.unit(5), system manager).
constexpr const char* kUnitDirs[] = {"/etc/systemd/system", "/run/systemd/system",
                                     "/usr/lib/systemd/system", "/lib/systemd/system"};

// Seconds per unit name (systemd.time(7)).
std::optional<double> UnitSeconds(std::string_view unit) {
  static const std::map<std::string_view, double> kUnits = {
      {"", 1},        {"s", 1},         {"sec", 1},        {"second", 1},  {"seconds", 1},
      {"us", 1e-6},   {"usec", 1e-6},   {"ms", 1e-3},      {"msec", 1e-3}, {"m", 60},
      {"min", 60},    {"minute", 60},   {"minutes", 60},   {"h", 3600},    {"hr", 3600},
      {"hour", 3600}, {"hours", 3600},  {"d", 86400},      {"day", 86400}, {"days", 86400},
      {"w", 604800},  {"week", 604800}, {"weeks", 604800},
  };
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return std::nullopt;
  return it->second;
}

// Applies the TimeoutStopSec= and TimeoutSec= lines of `text` to `out`,
// in order; only inside [Service].
void Apply(std::string_view text, const std::string& path, UnitStopTimeout* out) {
  bool service = false;
  for (std::string_view line : Split(text, '\n')) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      service = line == "[Service]";
      continue;
    }
    if (!service) continue;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = Trim(line.substr(0, eq));
    if (key != "TimeoutStopSec" && key != "TimeoutSec") continue;
    const std::string_view value = Trim(line.substr(eq + 1));
    if (value.empty()) continue;  // a reset: keep what came before
    if (auto seconds = ParseSystemdTimespan(value)) {
      out->value = *seconds;
      out->source = path;
    }
  }
}

}  // namespace

std::optional<std::chrono::seconds> ParseSystemdTimespan(std::string_view text) {
  text = Trim(text);
  if (text == "infinity") return std::chrono::seconds(0);
  if (text.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    const size_t number_start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == number_start) return std::nullopt;
    const std::string number(text.substr(number_start, i - number_start));
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || number == ".") return std::nullopt;
    while (i < text.size() && text[i] == ' ') ++i;
    const size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    auto per = UnitSeconds(text.substr(unit_start, i - unit_start));
    if (!per) return std::nullopt;
    total += value * *per;
    if (total > 1e12) return std::nullopt;
  }
  return std::chrono::seconds(static_cast<int64_t>(std::ceil(total)));
}

UnitStopTimeout FindUnitStopTimeout(platform::FileSystem& fs, std::chrono::seconds built_in,
                                    const std::string& root) {
  UnitStopTimeout out{built_in, "the unit as built"};
  constexpr uint64_t kMaxUnitBytes = 1 << 20;
  for (const char* dir : kUnitDirs) {
    const std::string path = std::string(dir) + "/" + kUnit;
    auto text = fs.ReadFile(root + path, kMaxUnitBytes);
    if (!text.ok()) continue;
    // The winning unit file sets the value afresh: systemd's own default
    // (DefaultTimeoutStopSec, 90 s on Debian 12) when it says nothing.
    out = UnitStopTimeout{std::chrono::seconds(90), path + " (DefaultTimeoutStopSec)"};
    Apply(*text, path, &out);
    break;
  }
  // Drop-ins: by file name across the directories; for one name, the
  // directory of highest precedence wins.
  std::map<std::string, std::string> drop_ins;  // name -> path
  for (auto dir = std::rbegin(kUnitDirs); dir != std::rend(kUnitDirs); ++dir) {
    const std::string d = std::string(*dir) + "/" + kUnit + ".d";
    auto entries = fs.ListDir(root + d);
    if (!entries.ok()) continue;
    for (const platform::DirEntry& e : *entries) {
      if (e.name.ends_with(".conf")) drop_ins[e.name] = d + "/" + e.name;
    }
  }
  for (const auto& [name, path] : drop_ins) {
    auto text = fs.ReadFile(root + path, kMaxUnitBytes);
    if (text.ok()) Apply(*text, path, &out);
  }
  return out;
}

}  // namespace provisioner::app
