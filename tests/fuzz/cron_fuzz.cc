// Differential fuzzer for cron expressions: whatever ParseCron accepts,
// NextFire and PreviousFire in UTC must agree with a brute-force scan of
// every minute (and second) of a window around a start time taken from the
// input. The scan applies the matching rules of cron_expr.h directly, with
// none of the search's shortcuts.
//
// Input: 8 bytes of start time (seconds since 1970, folded into 1970-2200),
// then the expression text.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "cron/cron_expr.h"

namespace {

using namespace std::chrono;
using provisioner::SystemTime;
using provisioner::cron::CronExpr;

// The window the brute force covers on each side of the start.
constexpr int64_t kWindowMinutes = 8 * 24 * 60;

bool DayMatches(const CronExpr& e, const year_month_day& ymd, const weekday& wd) {
  const unsigned d = static_cast<unsigned>(ymd.day());
  const unsigned last =
      static_cast<unsigned>(year_month_day_last(ymd.year(), month_day_last(ymd.month())).day());
  const unsigned w = wd.c_encoding();
  const bool dom = e.days_of_month[d] || (e.last_day_of_month && d == last);
  const bool dow = e.days_of_week[w] || (e.last_weekday_of_month[w] && d + 7 > last) ||
                   ((e.nth_weekday[w] >> ((d - 1) / 7 + 1)) & 1) != 0;
  if (e.dom_restricted && e.dow_restricted) return dom || dow;
  if (e.dom_restricted) return dom;
  if (e.dow_restricted) return dow;
  return true;
}

// True when the minute starting at `m` (UTC) matches every field but seconds.
bool MinuteMatches(const CronExpr& e, sys_seconds m) {
  const sys_days day = floor<days>(m);
  const year_month_day ymd(day);
  const hh_mm_ss<seconds> tod(m - day);
  return e.minutes[tod.minutes().count()] && e.hours[tod.hours().count()] &&
         e.months[static_cast<unsigned>(ymd.month()) - 1] && DayMatches(e, ymd, weekday(day));
}

// The first fire strictly after `after`, if one is in the window.
std::optional<sys_seconds> BruteNext(const CronExpr& e, sys_seconds after) {
  sys_seconds minute = floor<std::chrono::minutes>(after);
  for (int64_t i = 0; i <= kWindowMinutes; ++i, minute += std::chrono::minutes(1)) {
    if (!MinuteMatches(e, minute)) continue;
    for (int s = 0; s < 60; ++s) {
      if (e.seconds[s] && minute + seconds(s) > after) return minute + seconds(s);
    }
  }
  return std::nullopt;
}

// The last fire at or before `at`, if one is in the window.
std::optional<sys_seconds> BrutePrevious(const CronExpr& e, sys_seconds at) {
  sys_seconds minute = floor<std::chrono::minutes>(at);
  for (int64_t i = 0; i <= kWindowMinutes; ++i, minute -= std::chrono::minutes(1)) {
    if (!MinuteMatches(e, minute)) continue;
    for (int s = 59; s >= 0; --s) {
      if (e.seconds[s] && minute + seconds(s) <= at) return minute + seconds(s);
    }
  }
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t raw = 0;
  std::memcpy(&raw, data, 8);
  // 1970-01-10 to about 2200: the window of the scan around it stays inside
  // the engine's range (1970-2262), which has no fires before 1970.
  const int64_t start_seconds = (kWindowMinutes / (24 * 60) + 1) * 86400 +
                                static_cast<int64_t>(raw % (int64_t{230} * 365 * 86400));
  const std::string_view text(reinterpret_cast<const char*>(data) + 8, size - 8);
  auto expr = provisioner::cron::ParseCron(text);
  if (!expr.ok()) return 0;
  const auto utc = provisioner::cron::TimeZone::Utc();
  const sys_seconds start{seconds(start_seconds)};
  const SystemTime start_time = time_point_cast<SystemTime::duration>(start);

  auto next = provisioner::cron::NextFire(*expr, utc, start_time);
  auto want_next = BruteNext(*expr, start);
  if (want_next) {
    if (!next || floor<seconds>(next->at) != *want_next) std::abort();
  } else if (next && floor<seconds>(next->at) <= start + minutes(kWindowMinutes)) {
    std::abort();  // the search found a fire the scan says is not there
  }

  auto previous = provisioner::cron::PreviousFire(*expr, utc, start_time);
  auto want_previous = BrutePrevious(*expr, start);
  if (want_previous) {
    if (!previous || floor<seconds>(previous->at) != *want_previous) std::abort();
  } else if (previous && floor<seconds>(previous->at) >= start - minutes(kWindowMinutes)) {
    std::abort();
  }
  return 0;
}
