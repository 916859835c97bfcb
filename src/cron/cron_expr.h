// Cron expressions (DESIGN.md §4): parsing, and next/previous fire times.
//
// Dialect: 5 fields (minute hour day-of-month month day-of-week) or 6 with
// seconds first. Names (JAN-DEC, SUN-SAT, case-insensitive), ranges `a-b`,
// lists `a,b`, steps `*/n` and `a-b/n` and `a/n`, `?` (same as `*`) in the day
// fields, the macros @yearly @annually @monthly @weekly @daily @midnight
// @hourly, `L` (last day) in day-of-month, `nL` (last weekday n of the month,
// e.g. 5L = last Friday) and `DAY#n` (n-th weekday, e.g. FRI#2) in
// day-of-week. Day-of-week 0 and 7 are both Sunday. When both day fields are
// restricted (neither is `*` or `?`), a day matches if either matches (Vixie
// semantics).
//
// DST rules, applied in the expression's time zone:
//  - a local time that does not exist (spring forward) fires once, at the
//    first instant after the gap;
//  - a local time that occurs twice (fall back) fires once, at its first
//    occurrence;
//  - an expression whose hour field is `*` (every hour) keeps firing at every
//    matching instant in real time: it skips local times in a gap and fires
//    at both occurrences of a repeated local time.
//
// Everything here is pure and thread-safe. Every search is bounded: an
// expression that can never fire is rejected by ParseCron, and NextFire and
// PreviousFire return nullopt instead of searching past the supported range
// (SystemTime ends in 2262).
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "cron/time_zone.h"

namespace provisioner::cron {

// The parsed form. Bit i of a set means value i matches.
struct CronExpr {
  std::string source;           // as written, trimmed
  bool has_seconds = false;     // 6-field form
  std::bitset<60> seconds;      // {0} for 5-field expressions
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;  // bits 1-31
  bool last_day_of_month = false;  // `L`
  std::bitset<12> months;          // bit 0 = January
  std::bitset<7> days_of_week;     // bit 0 = Sunday
  // `nL`: bit d set = last weekday d of the month matches.
  std::bitset<7> last_weekday_of_month;
  // `DAY#n`: nth_weekday[d] has bit n (1-5) set when the n-th weekday d matches.
  uint8_t nth_weekday[7] = {0, 0, 0, 0, 0, 0, 0};
  bool dom_restricted = false;  // day-of-month is not `*` or `?`
  bool dow_restricted = false;  // day-of-week is not `*` or `?`
  bool every_hour = false;      // the hour field covers all 24 hours

  friend bool operator==(const CronExpr&, const CronExpr&) = default;
};

// Where a parse failed. `field` is 1-based (1 = the first field as written,
// so for 6-field expressions field 1 is seconds); 0 means the expression as a
// whole. `offset` is the 0-based byte offset into the text as given.
struct CronError {
  int field = 0;
  size_t offset = 0;
  std::string message;  // same text as the Status message
};

// Parses `text`. Errors are InvalidArgument with messages such as
//   field 1 (minute): value 61 out of range 0-59
//   field 5 (day-of-week): unknown name "FRU"
//   expected 5 or 6 fields, got 4
//   never fires: day 30 does not exist in FEB
// When `error` is not null it receives the field and offset as well.
Result<CronExpr> ParseCron(std::string_view text, CronError* error = nullptr);

// Why a fire time is not simply the nominal local time.
enum class DstNote : uint8_t {
  kNone,
  kShiftedFromGap,    // nominal local time did not exist; fires at the end of the gap
  kFirstOfRepeated,   // nominal local time occurs twice; fires at the first only
  kRepeatedEach,      // every-hour expression: fires at each occurrence (this is one)
};

struct Fire {
  SystemTime at;          // the instant, whole seconds
  LocalSeconds nominal;   // the local wall time the expression named
  DstNote note = DstNote::kNone;
};

// The first fire strictly after `after`.
std::optional<Fire> NextFire(const CronExpr& expr, const TimeZone& zone, SystemTime after);

// The last fire at or before `at_or_before`.
std::optional<Fire> PreviousFire(const CronExpr& expr, const TimeZone& zone,
                                 SystemTime at_or_before);

}  // namespace provisioner::cron
