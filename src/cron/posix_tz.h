// POSIX TZ strings, the rule in the footer of TZif v2+ files (RFC 8536 §3.3),
// e.g. "CET-1CEST,M3.5.0,M10.5.0/3" or "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0".
//
// TimeZone uses this to extend a zone past the last transition stored in its
// TZif file, which Debian's date/tz ignores. Internal to the cron module;
// exposed in a header so that tests can check it on its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace provisioner::cron {

// When daylight time starts or ends within a year.
struct PosixDate {
  enum class Kind : uint8_t {
    kJulian,        // Jn: day 1-365, February 29 is never counted
    kZeroBased,     // n: day 0-365, February 29 counted in leap years
    kMonthWeekDay,  // Mm.w.d: day d (0 = Sunday) of week w (1-5, 5 = last) of
                    // month m
  };
  Kind kind = Kind::kMonthWeekDay;
  int day = 0;
  int month = 0;
  int week = 0;
  int weekday = 0;
  // Local wall-clock time of the change, in the time in effect before it
  // (standard time for the start, daylight time for the end). RFC 8536 allows
  // -167h..167h, so "M3.5.0/-1" and "J365/25" are both valid.
  int32_t time = 2 * 3600;

  friend bool operator==(const PosixDate&, const PosixDate&) = default;
};

struct PosixTz {
  std::string std_abbrev;  // without the <> quotes
  int32_t std_offset = 0;  // seconds; local = utc + offset (POSIX writes the negation)
  bool has_dst = false;
  std::string dst_abbrev;
  int32_t dst_offset = 0;  // defaults to std_offset + 1h
  PosixDate start;         // daylight time begins
  PosixDate end;           // daylight time ends
  // Derived by ParsePosixTz: false when the rule never switches (no DST, or
  // a DST rule that covers the whole year such as "EST5EDT,0/0,J365/25").
  bool has_transitions = false;
  bool always_dst = false;  // the state when has_transitions is false

  friend bool operator==(const PosixTz&, const PosixTz&) = default;
};

// Parses a POSIX TZ string. A DST part without rules gets the US rules
// "M3.2.0,M11.1.0", as glibc does. Errors are InvalidArgument, e.g.
//   POSIX TZ "CET-1CEST,M13.5.0": month 13 out of range 1-12 at offset 11
Result<PosixTz> ParsePosixTz(std::string_view text);

// A stretch of time [begin, end) in one state of the rule. begin is
// INT64_MIN and end INT64_MAX where the stretch is unbounded. Beyond year
// one million (either side) the rule is not evaluated: the period there
// reaches to infinity, which keeps every computation inside int64_t.
struct PosixPeriod {
  int64_t begin;
  int64_t end;
  bool is_dst;
};

// The period of the rule containing `t` (seconds since the epoch, UTC).
// Pure; about a microsecond.
PosixPeriod PosixPeriodAt(const PosixTz& tz, int64_t t);

// The UTC instants at which daylight time starts and ends in `year`
// (seconds since the epoch). Requires tz.has_dst.
int64_t PosixDstStart(const PosixTz& tz, int64_t year);
int64_t PosixDstEnd(const PosixTz& tz, int64_t year);

}  // namespace provisioner::cron
