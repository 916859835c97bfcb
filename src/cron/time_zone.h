// TimeZone: an IANA zone from the system tzdata, through Howard Hinnant's
// date/tz (DESIGN.md §4).
//
// Debian builds date/tz with USE_OS_TZDB, which reads the compiled TZif files
// but ignores their POSIX TZ footer; past the last transition stored in the
// file (2037 for most zones) it would freeze the offset, and DST would vanish.
// TimeZone reads that footer itself (from /usr/share/zoneinfo/<name>, the
// directory date/tz reads) and, from the start of the last period date/tz
// stores, follows the footer's rule instead, so that Europe/Berlin still has
// summer time in 2040. The periods join without a seam.
//
// Load builds a table of all periods up to the year 2300 (about 0.2 ms and a
// few kilobytes for a zone with DST): load a zone once per configuration, not
// per lookup. Lookups are then a binary search. A TimeZone is an immutable
// value, cheap to copy and safe to share between threads.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace provisioner::cron {

// Seconds since 1970-01-01T00:00:00 on the local wall clock: the civil time
// shown in the zone, counted as if it were UTC. Not an instant.
using LocalSeconds = std::chrono::duration<int64_t>;

// A stretch of time with one UTC offset: [begin, end).
struct Period {
  SysSeconds begin;
  SysSeconds end;
  std::chrono::seconds offset{0};  // local = utc + offset
  std::string abbrev;              // "CEST", "+0545"
  bool is_dst = false;
};

// The maximal stretch around an instant with one UTC offset: adjacent
// periods that differ only in abbreviation or is_dst are joined. The cron
// search walks these; it needs the offsets on either side to find the DST gap
// before `begin` and the repeated local times at either end.
struct OffsetSpan {
  SysSeconds begin;  // SysSeconds::min() when unbounded
  SysSeconds end;    // SysSeconds::max() when unbounded
  std::chrono::seconds offset{0};
  // The offsets of the spans ending at `begin` and starting at `end`; equal
  // to `offset` where there is none.
  std::chrono::seconds offset_before{0};
  std::chrono::seconds offset_after{0};
};

class TimeZone {
 public:
  // "UTC", "Etc/UTC", "Europe/Berlin", ... Unknown names give InvalidArgument
  // `unknown time zone "Europe/Berln"`. A zone file that cannot be read or
  // whose footer does not parse gives IoError or Corruption naming the file
  // (never a silent fallback to frozen offsets).
  static Result<TimeZone> Load(std::string_view name);
  static TimeZone Utc();

  const std::string& name() const;
  // True for zones with a fixed zero offset; lets searches skip lookups.
  bool IsUtc() const;

  // The period containing `t`. Periods tile the whole timeline: the first
  // begins at SysSeconds::min(), the last ends at SysSeconds::max(), and each
  // one's end is the next one's begin. From the start of the last period
  // stored by date/tz they come from the zone's POSIX TZ rule (see above);
  // beyond year one million the rule is not evaluated and the last period
  // reaches to SysSeconds::max().
  Period PeriodAt(SysSeconds t) const;
  // The offset span containing `t`; a binary search, no allocation.
  OffsetSpan SpanAt(SysSeconds t) const;
  // The UTC offset in effect at `t` (a whole-second instant or not).
  std::chrono::seconds OffsetAt(SystemTime t) const;
  // The offset when the zone has had one offset for all time (UTC,
  // Etc/GMT+5); such zones need no lookups at all.
  std::optional<std::chrono::seconds> FixedOffset() const;

  class Impl;

 private:
  explicit TimeZone(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace provisioner::cron
