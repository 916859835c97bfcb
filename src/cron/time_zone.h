// TimeZone: an IANA zone from the system tzdata, through Howard Hinnant's date/tz.
//
// Debian builds date/tz with USE_OS_TZDB, which reads the compiled TZif files
// but ignores their POSIX TZ footer; past the last transition stored in the
// file (2037 for most zones) it would freeze the offset, and DST would vanish.
// TimeZone reads that footer itself and extends the zone with its rule, so
// that Europe/Berlin still has summer time in 2040.
//
// A TimeZone is an immutable value, cheap to copy and safe to share between
// threads.
#pragma once

#include <chrono>
#include <memory>
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

class TimeZone {
 public:
  // "UTC", "Etc/UTC", "Europe/Berlin", ... Unknown names give InvalidArgument
  // `unknown time zone "Europe/Berln"`.
  static Result<TimeZone> Load(std::string_view name);
  static TimeZone Utc();

  const std::string& name() const;
  // True for zones with a fixed zero offset; lets searches skip lookups.
  bool IsUtc() const;

  // The period containing `t`.
  Period PeriodAt(SysSeconds t) const;
  // The UTC offset in effect at `t`.
  std::chrono::seconds OffsetAt(SystemTime t) const;

  class Impl;

 private:
  explicit TimeZone(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace provisioner::cron
