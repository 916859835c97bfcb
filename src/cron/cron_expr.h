// Cron expressions (DESIGN.md §4): parsing, and next/previous fire times.
//
// Dialect: 5 fields (minute hour day-of-month month day-of-week) or 6 with
// seconds first, separated by spaces or tabs.
//  - Numbers, and the names JAN-DEC and SUN-SAT (case-insensitive, also in
//    ranges and before `#`, `L` and `/`). Day-of-week 0 and 7 are Sunday.
//  - `*`, lists `a,b`, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n` (= a to
//    the field's maximum, step n). Ranges must not be reversed: wrap-around
//    such as `22-2` or `FRI-MON` is refused (write `22-23,0-2`). A step is
//    1 to the number of values of its field (60, 24, 31, 12, 7), so `*/60`
//    in minutes is minute 0 only. In day-of-week `*` and `a/n` run to 7:
//    `1/2` is MON,WED,FRI,SUN.
//  - `?` as the whole day-of-month or day-of-week field, same as `*`.
//  - `L` (the last day of the month) in day-of-month, alone or in a list
//    (`1,15,L`). In day-of-week, `nL` or `FRIL` (the last such weekday of
//    the month) and `n#k` or `FRI#k` (the k-th, k 1-5), alone or in lists.
//    None of these take a range or a step.
//  - The macros @yearly and @annually (0 0 1 1 *), @monthly (0 0 1 * *),
//    @weekly (0 0 * * 0), @daily and @midnight (0 0 * * *), @hourly
//    (0 * * * *), case-insensitive, alone.
//  - A day field is restricted unless it is exactly `*` or `?`. When both
//    are restricted, a day matches if either matches (Vixie cron). Unlike
//    Vixie cron, `*/2` and `1-31` count as restricted: `0 0 */2 * MON` fires
//    on odd days and on Mondays.
//  - An expression whose day fields match no day at all, such as
//    `0 0 30 FEB *`, is refused ("never fires: day 30 does not exist in
//    FEB"). This is decided exactly over the 400-year Gregorian cycle, so
//    `0 0 29 2 *` and `0 0 * 2 1#5` (a leap February starting on a Monday)
//    are accepted.
//
// The fire set, in the expression's time zone. For each local wall time L
// that the expression matches:
//  - L shown by one instant: that instant fires.
//  - L shown twice (fall back): an every-hour expression (its hour field
//    covers all 24 hours) fires at both instants (kRepeatedEach); any other
//    fires at the first only (kFirstOfRepeated).
//  - L never shown (spring-forward gap): every-hour expressions skip it; any
//    other fires once at the instant the gap ends, the first instant after
//    it (kShiftedFromGap). All matching times of one gap, and the first
//    local time after the gap if it matches as well, make that one fire;
//    its nominal time is the earliest matching time in the gap.
// Fire::nominal is L. Instants are whole seconds from 1970-01-01T00:00:00Z
// to 2262-04-11T23:47:16Z (the last whole second of SystemTime); nothing
// fires outside that range. The search looks at each offset change on its
// own, which is exact when a zone's offset spans last longer than the
// changes at their ends: true of all tzdata since 1970, as
// time_zone_test.cc checks.
//
// Everything here is pure and thread-safe. Every search is bounded: an
// expression that can never fire is rejected by ParseCron, and NextFire and
// PreviousFire return nullopt instead of searching outside the supported
// range. A call takes well under a microsecond (bench/cron_bench.cc).
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
  std::string source;        // as written, trimmed
  bool has_seconds = false;  // 6-field form
  std::bitset<60> seconds;   // {0} for 5-field expressions
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days_of_month;   // bits 1-31
  bool last_day_of_month = false;  // `L`
  std::bitset<12> months;          // bit 0 = January
  std::bitset<7> days_of_week;     // bit 0 = Sunday
  // `nL`: bit d set = last weekday d of the month matches.
  std::bitset<7> last_weekday_of_month;
  // `DAY#n`: nth_weekday[d] has bit n (1-5) set when the n-th weekday d of
  // the month matches.
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
  // The nominal local time did not exist; fires at the end of the gap.
  kShiftedFromGap,
  // The nominal local time occurs twice; fires at the first only.
  kFirstOfRepeated,
  // Every-hour expression: fires at each occurrence (this is one).
  kRepeatedEach,
};

struct Fire {
  SystemTime at;         // the instant, whole seconds
  LocalSeconds nominal;  // the local wall time the expression named
  DstNote note = DstNote::kNone;
};

// The first fire strictly after `after` (10:00:00.5 -> 10:00:01 at the
// earliest), or nullopt if there is none up to 2262-04-11T23:47:16Z.
std::optional<Fire> NextFire(const CronExpr& expr, const TimeZone& zone, SystemTime after);

// The last fire at or before `at_or_before` (10:00:00.5 -> 10:00:00 at the
// latest), or nullopt if there is none since 1970-01-01T00:00:00Z.
std::optional<Fire> PreviousFire(const CronExpr& expr, const TimeZone& zone,
                                 SystemTime at_or_before);

}  // namespace provisioner::cron
