// Helpers shared by the cron tests.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "base/time_format.h"
#include "cron/cron_expr.h"
#include "cron/time_zone.h"
#include "support/test_util.h"

namespace provisioner::cron::testing {

// Seconds since the epoch of "2262-04-11T23:47:16Z" or "...+05:45", in any
// year (base's ParseRfc3339 stops at 2261). Fractions are ignored here.
inline int64_t S(std::string_view text) {
  const std::string s(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, consumed = 0;
  const int n =
      std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &sec, &consumed);
  REQUIRE_MESSAGE(n == 6, s);
  size_t pos = static_cast<size_t>(consumed);
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  }
  int64_t offset = 0;
  if (s.substr(pos) != "Z") {
    int oh = 0, om = 0;
    REQUIRE_MESSAGE((pos < s.size() && (s[pos] == '+' || s[pos] == '-') &&
                     std::sscanf(s.c_str() + pos + 1, "%d:%d", &oh, &om) == 2),
                    s);
    offset = (s[pos] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const std::chrono::sys_days day = std::chrono::year_month_day(
      std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
      std::chrono::day(static_cast<unsigned>(d)));
  return day.time_since_epoch().count() * 86400 + h * 3600 + mi * 60 + sec - offset;
}

// An RFC 3339 instant, fractions included, up to 2262-04-11T23:47:16Z.
inline SystemTime T(std::string_view text) {
  if (text.substr(0, 4) < "2262") {
    Result<SystemTime> t = ParseRfc3339(text);
    REQUIRE_MESSAGE(t.ok(), t.status().ToString());
    return *t;
  }
  return SystemTime(std::chrono::seconds(S(text)));
}

inline TimeZone Zone(std::string_view name) {
  Result<TimeZone> zone = TimeZone::Load(name);
  REQUIRE_MESSAGE(zone.ok(), zone.status().ToString());
  return *zone;
}

inline CronExpr Expr(std::string_view text) {
  Result<CronExpr> expr = ParseCron(text);
  const std::string why = std::string(text) + ": " + expr.status().ToString();
  REQUIRE_MESSAGE(expr.ok(), why);
  return *expr;
}

inline SysSeconds Sec(int64_t s) { return SysSeconds(std::chrono::seconds(s)); }
inline int64_t Sec(SysSeconds t) { return t.time_since_epoch().count(); }
inline int64_t Sec(SystemTime t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}
inline SystemTime At(int64_t s) { return SystemTime(std::chrono::seconds(s)); }

// "2026-03-29T02:30:00" for seconds since the epoch on the local wall clock.
// Formats in seconds, so that local times past the end of SystemTime work.
inline std::string LocalString(int64_t local) {
  const std::chrono::sys_seconds t{std::chrono::seconds(local)};
  const std::chrono::sys_days day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd(day);
  const int64_t sod = (t - day).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60),
                static_cast<int>(sod % 60));
  return buf;
}
inline std::string LocalString(LocalSeconds local) { return LocalString(local.count()); }

// "2026-03-29T03:00:00+02:00": an instant at an offset (whole minutes).
inline std::string InstantString(int64_t t, int64_t offset) {
  char buf[16];
  const int64_t abs = offset < 0 ? -offset : offset;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset < 0 ? '-' : '+',
                static_cast<int>(abs / 3600), static_cast<int>(abs / 60 % 60));
  return LocalString(t + offset) + buf;
}

inline std::string_view NoteName(DstNote note) {
  switch (note) {
    case DstNote::kNone:
      return "";
    case DstNote::kShiftedFromGap:
      return "gap";
    case DstNote::kFirstOfRepeated:
      return "first";
    case DstNote::kRepeatedEach:
      return "each";
  }
  return "?";
}

// "2026-03-29T03:00:00+02:00 gap 2026-03-29T02:30:00": the instant at its
// zone offset, the note, and for gap fires the nominal local time. The
// nominal time of every other fire must be the instant's own local time,
// which is checked here so that the tables need not repeat it.
inline std::string Describe(const Fire& fire, const TimeZone& zone) {
  const std::chrono::seconds offset = zone.OffsetAt(fire.at);
  // Appended piece by piece: GCC 12 at -O3 warns -Wrestrict on
  // `" " + std::string` (GCC PR 105651).
  std::string out = InstantString(Sec(fire.at), offset.count());
  if (fire.note != DstNote::kNone) {
    out += ' ';
    out += NoteName(fire.note);
  }
  if (fire.note == DstNote::kShiftedFromGap) {
    out += ' ';
    out += LocalString(fire.nominal);
  } else if (fire.nominal.count() != Sec(fire.at) + offset.count()) {
    out += " nominal ";
    out += LocalString(fire.nominal);
    out += '!';
  }
  return out;
}

}  // namespace provisioner::cron::testing
