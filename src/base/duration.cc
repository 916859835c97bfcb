#include "base/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace provisioner {
namespace {

struct Unit {
  std::string_view name;
  int64_t millis;
};

// Ordered largest first; "ms" must be tried before "m" when matching.
constexpr std::array<Unit, 4> kUnits = {{
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

std::string Quote(std::string_view text) {
  std::string out = "duration \"";
  out.append(text);
  out.push_back('"');
  return out;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("duration is empty (e.g. 90s, 5m, 1h30m)");
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.front() == '-') return Status::InvalidArgument(Quote(text), "must not be negative");

  int64_t total = 0;
  int last_unit = -1;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      return Status::InvalidArgument(Quote(text),
                                     "expected a number at position " + std::to_string(i + 1));
    }
    int64_t number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (number > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        return Status::InvalidArgument(Quote(text), "too large");
      }
      number = number * 10 + (text[i] - '0');
      ++i;
    }
    if (i < text.size() && text[i] == '.') {
      return Status::InvalidArgument(Quote(text),
                                     "fractions are not supported (write 1h30m, not 1.5h)");
    }
    if (i == text.size()) {
      return Status::InvalidArgument(Quote(text), "missing unit (use ms, s, m or h, e.g. 90s)");
    }
    int unit = -1;
    if (text.substr(i, 2) == "ms") {
      unit = 3;
    } else {
      for (int u = 0; u < 3; ++u) {
        if (text[i] == kUnits[u].name[0]) unit = u;
      }
    }
    if (unit < 0) {
      size_t end = i;
      while (end < text.size() && !(text[end] >= '0' && text[end] <= '9')) ++end;
      return Status::InvalidArgument(
          Quote(text),
          "unknown unit \"" + std::string(text.substr(i, end - i)) + "\" (use ms, s, m or h)");
    }
    if (unit <= last_unit) {
      return Status::InvalidArgument(Quote(text),
                                     "units must go from largest to smallest, each once");
    }
    last_unit = unit;
    i += kUnits[unit].name.size();
    if (number > (std::numeric_limits<int64_t>::max() - total) / kUnits[unit].millis) {
      return Status::InvalidArgument(Quote(text), "too large");
    }
    total += number * kUnits[unit].millis;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out.push_back('-');
    ms = -ms;
  }
  for (const Unit& unit : kUnits) {
    if (ms >= unit.millis) {
      out.append(std::to_string(ms / unit.millis));
      out.append(unit.name);
      ms %= unit.millis;
    }
  }
  return out;
}

}  // namespace provisioner
