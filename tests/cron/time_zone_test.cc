// TimeZone: loading, periods that tile the timeline across the 2037 end of
// the stored transitions, and agreement with two independent sources: date/tz
// itself where its data is complete, and glibc (which reads the TZif footer
// too) over the whole range the cron search uses.
#include "cron/time_zone.h"

#include <date/tz.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cron/cron_test_util.h"

namespace provisioner::cron {
namespace {

using testing::S;
using testing::Sec;
using testing::T;
using testing::Zone;

// Sets TZ for glibc's localtime_r for the lifetime of the object.
class ScopedTz {
 public:
  explicit ScopedTz(const std::string& zone) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    setenv("TZ", (":" + zone).c_str(), 1);
    tzset();
  }
  ~ScopedTz() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  std::optional<std::string> old_;
};

int64_t GlibcOffset(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  localtime_r(&tt, &tm);
  return tm.tm_gmtoff;
}

std::vector<std::string> AllZones() {
  std::vector<std::string> names;
  for (const date::time_zone& z : date::get_tzdb().zones) {
    names.push_back(std::string(z.name()));
  }
  return names;
}

const char* const kZones[] = {
    "Europe/Berlin",    "America/New_York",  "Australia/Lord_Howe",
    "Asia/Kathmandu",   "Asia/Kolkata",      "Pacific/Apia",
    "America/Nuuk",     "Asia/Jerusalem",    "Africa/Casablanca",
    "America/Santiago", "Pacific/Chatham",   "Europe/Dublin",
    "Australia/Sydney", "America/Sao_Paulo", "UTC",
    "Etc/GMT-14",
};

TEST_SUITE("cron") {
  TEST_CASE("cron: TimeZone::Load names and errors") {
    for (const char* bad : {"Europe/Berln", "", "../etc/passwd", "/etc/passwd",
                            "Europe/../Europe/Berlin", "Mars/Olympus_Mons"}) {
      CAPTURE(bad);
      Result<TimeZone> zone = TimeZone::Load(bad);
      REQUIRE_FALSE(zone.ok());
      CHECK(zone.status().code() == Status::Code::kInvalidArgument);
      CHECK(zone.status().message() == "unknown time zone \"" + std::string(bad) + "\"");
    }
    const TimeZone berlin = Zone("Europe/Berlin");
    CHECK(berlin.name() == "Europe/Berlin");
    CHECK_FALSE(berlin.IsUtc());
    CHECK_FALSE(berlin.FixedOffset().has_value());

    for (const char* name : {"UTC", "Etc/UTC", "Etc/GMT", "Zulu"}) {
      CAPTURE(name);
      const TimeZone zone = Zone(name);
      CHECK(zone.name() == name);
      CHECK(zone.IsUtc());
      CHECK(zone.FixedOffset() == std::chrono::seconds(0));
    }
    const TimeZone gmt5 = Zone("Etc/GMT+5");
    CHECK_FALSE(gmt5.IsUtc());
    CHECK(gmt5.FixedOffset() == std::chrono::hours(-5));
    CHECK(gmt5.PeriodAt(Sec(0)).abbrev == "-05");
    // Kolkata's offset has been fixed since 1945, but not before.
    CHECK_FALSE(Zone("Asia/Kolkata").FixedOffset().has_value());

    const TimeZone utc = TimeZone::Utc();
    CHECK(utc.name() == "UTC");
    CHECK(utc.IsUtc());
    const Period p = utc.PeriodAt(Sec(1234567890));
    CHECK(p.begin == SysSeconds::min());
    CHECK(p.end == SysSeconds::max());
    CHECK(p.offset == std::chrono::seconds(0));
    CHECK(p.abbrev == "UTC");
    CHECK_FALSE(p.is_dst);
  }

  struct PeriodCase {
    const char* zone;
    const char* at;
    const char* begin;
    const char* end;
    int offset_minutes;
    const char* abbrev;
    bool is_dst;
  };

  TEST_CASE("cron: PeriodAt before and after the last stored transition") {
    // clang-format off
    const PeriodCase cases[] = {
      {"Europe/Berlin", "2026-07-01T00:00:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z", 120, "CEST", true},
      {"Europe/Berlin", "2026-10-25T00:59:59Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z", 120, "CEST", true},
      {"Europe/Berlin", "2026-10-25T01:00:00Z", "2026-10-25T01:00:00Z", "2027-03-28T01:00:00Z", 60, "CET", false},
      // The last period date/tz stores begins 2037-10-25 and never ends; the
      // footer rule ends it in March 2038.
      {"Europe/Berlin", "2037-12-01T00:00:00Z", "2037-10-25T01:00:00Z", "2038-03-28T01:00:00Z", 60, "CET", false},
      {"Europe/Berlin", "2038-01-19T03:14:08Z", "2037-10-25T01:00:00Z", "2038-03-28T01:00:00Z", 60, "CET", false},
      {"Europe/Berlin", "2040-07-01T00:00:00Z", "2040-03-25T01:00:00Z", "2040-10-28T01:00:00Z", 120, "CEST", true},
      {"Europe/Berlin", "2100-07-01T00:00:00Z", "2100-03-28T01:00:00Z", "2100-10-31T01:00:00Z", 120, "CEST", true},
      // Past the precomputed table (2300): computed from the rule.
      {"Europe/Berlin", "2400-07-01T00:00:00Z", "2400-03-26T01:00:00Z", "2400-10-29T01:00:00Z", 120, "CEST", true},
      {"America/New_York", "2040-07-01T00:00:00Z", "2040-03-11T07:00:00Z", "2040-11-04T06:00:00Z", -240, "EDT", true},
      {"Australia/Lord_Howe", "2040-01-01T00:00:00Z", "2039-10-01T15:30:00Z", "2040-03-31T15:00:00Z", 660, "+11", true},
      {"Australia/Lord_Howe", "2040-07-01T00:00:00Z", "2040-03-31T15:00:00Z", "2040-10-06T15:30:00Z", 630, "+1030", false},
      {"Asia/Kathmandu", "2040-07-01T00:00:00Z", "1985-12-31T18:30:00Z", "", 345, "+0545", false},
      {"America/Nuuk", "2040-07-01T00:00:00Z", "2040-03-25T01:00:00Z", "2040-10-28T01:00:00Z", -60, "-01", true},
    };
    // clang-format on
    for (const PeriodCase& c : cases) {
      CAPTURE(c.zone);
      CAPTURE(c.at);
      const TimeZone zone = Zone(c.zone);
      const Period p = zone.PeriodAt(Sec(S(c.at)));
      CHECK(p.begin == Sec(S(c.begin)));
      if (c.end[0] == '\0') {
        CHECK(p.end == SysSeconds::max());
      } else {
        CHECK(p.end == Sec(S(c.end)));
      }
      CHECK(p.offset == std::chrono::minutes(c.offset_minutes));
      CHECK(p.abbrev == c.abbrev);
      CHECK(p.is_dst == c.is_dst);
      if (S(c.at) < S("2262-01-01T00:00:00Z")) {
        CHECK(zone.OffsetAt(T(c.at)) == p.offset);
      }
    }
  }

  TEST_CASE("cron: periods and spans tile the timeline without gaps or overlaps") {
    for (const char* name : kZones) {
      CAPTURE(name);
      const TimeZone zone = Zone(name);
      // From the first period to the year 2600, through date/tz's data, the
      // precomputed rule table (2037-2300) and the rule beyond it.
      const int64_t stop = S("2600-01-01T00:00:00Z");
      Period p = zone.PeriodAt(SysSeconds::min());
      REQUIRE(p.begin == SysSeconds::min());
      int count = 0;
      while (p.end != SysSeconds::max() && Sec(p.end) < stop) {
        REQUIRE(p.begin < p.end);
        // Both ends of the period map back to it.
        const Period last = zone.PeriodAt(p.end - std::chrono::seconds(1));
        CHECK(last.begin == p.begin);
        CHECK(last.end == p.end);
        const Period next = zone.PeriodAt(p.end);
        REQUIRE(next.begin == p.end);
        // Neighbours differ, or they would be one period.
        CHECK((next.offset != p.offset || next.abbrev != p.abbrev || next.is_dst != p.is_dst));
        p = next;
        REQUIRE(++count < 5000);
      }
      // Spans: maximal runs of one offset, with the offsets on either side.
      OffsetSpan s = zone.SpanAt(SysSeconds::min());
      REQUIRE(s.begin == SysSeconds::min());
      CHECK(s.offset_before == s.offset);
      count = 0;
      while (s.end != SysSeconds::max() && Sec(s.end) < stop) {
        REQUIRE(s.begin < s.end);
        CHECK(zone.PeriodAt(s.begin).offset == s.offset);
        CHECK(zone.PeriodAt(s.end - std::chrono::seconds(1)).offset == s.offset);
        if (Sec(s.end) < S("2262-01-01T00:00:00Z")) {
          CHECK(zone.OffsetAt(SystemTime(s.end - std::chrono::seconds(1))) == s.offset);
        }
        const OffsetSpan next = zone.SpanAt(s.end);
        REQUIRE(next.begin == s.end);
        CHECK(next.offset != s.offset);
        CHECK(next.offset_before == s.offset);
        CHECK(s.offset_after == next.offset);
        const OffsetSpan last = zone.SpanAt(s.end - std::chrono::seconds(1));
        CHECK(last.begin == s.begin);
        CHECK(last.offset_after == s.offset_after);
        s = next;
        REQUIRE(++count < 5000);
      }
    }
  }

  TEST_CASE("cron: far-future and far-past periods stay well defined") {
    const TimeZone berlin = Zone("Europe/Berlin");
    const Period last = berlin.PeriodAt(SysSeconds::max());
    CHECK(last.end == SysSeconds::max());
    CHECK(last.begin < SysSeconds::max());
    CHECK(berlin.PeriodAt(last.begin).end == SysSeconds::max());
    CHECK(berlin.PeriodAt(last.begin - std::chrono::seconds(1)).end == last.begin);
    const OffsetSpan span = berlin.SpanAt(SysSeconds::max());
    CHECK(span.end == SysSeconds::max());
    CHECK(span.offset_after == span.offset);
    const Period first = berlin.PeriodAt(SysSeconds::min());
    CHECK(first.begin == SysSeconds::min());
    CHECK(first.abbrev == "LMT");
    // Year 100000 still has summer time.
    const int64_t year = int64_t{100000 - 1970} * 31556952;
    CHECK(berlin.PeriodAt(Sec(year)).offset != berlin.PeriodAt(Sec(year + 182 * 86400)).offset);
  }

  TEST_CASE("cron: offsets agree with date/tz up to its last stored transition") {
    std::mt19937_64 rng(20260329);
    const int64_t lo = 0;
    const int64_t hi = S("2037-01-01T00:00:00Z");
    std::uniform_int_distribution<int64_t> instant(lo, hi);
    int zones = 0;
    for (const std::string& name : AllZones()) {
      CAPTURE(name);
      Result<TimeZone> zone = TimeZone::Load(name);
      REQUIRE_MESSAGE(zone.ok(), zone.status().ToString());
      const date::time_zone* dz = date::locate_zone(name);
      for (int i = 0; i < 100; ++i) {
        const int64_t t = instant(rng);
        const date::sys_info info = dz->get_info(date::sys_seconds(std::chrono::seconds(t)));
        const Period p = zone->PeriodAt(Sec(t));
        REQUIRE(p.offset == info.offset);
        CHECK(p.abbrev == info.abbrev);
        CHECK(p.is_dst == (info.save != std::chrono::minutes(0)));
      }
      ++zones;
    }
    CHECK(zones > 300);
  }

  TEST_CASE("cron: offsets agree with glibc from 1970 to 2262") {
    // glibc reads the POSIX TZ footer, so it is an independent check of ours
    // after 2037. Random instants, plus the seconds around each transition.
    std::mt19937_64 rng(1970);
    const int64_t hi = S("2262-04-11T00:00:00Z");
    std::uniform_int_distribution<int64_t> instant(0, hi);
    for (const std::string& name : AllZones()) {
      if (name == "localtime") continue;  // whatever /etc/localtime is here
      CAPTURE(name);
      const TimeZone zone = Zone(name);
      ScopedTz tz(name);
      for (int i = 0; i < 100; ++i) {
        const int64_t t = instant(rng);
        REQUIRE(zone.OffsetAt(testing::At(t)).count() == GlibcOffset(t));
      }
    }
    for (const char* name : kZones) {
      CAPTURE(name);
      const TimeZone zone = Zone(name);
      ScopedTz tz(name);
      for (OffsetSpan s = zone.SpanAt(Sec(0)); Sec(s.end) < hi; s = zone.SpanAt(s.end)) {
        const int64_t e = Sec(s.end);
        CAPTURE(e);
        CHECK(GlibcOffset(e - 1) == s.offset.count());
        CHECK(GlibcOffset(e) == s.offset_after.count());
      }
    }
  }

  TEST_CASE("cron: DST changes since 1970 are far apart") {
    // The cron search looks only at the neighbouring span for repeated and
    // skipped local times. That is exact when every offset span lasts longer
    // than the offset changes at both of its ends, so that a local time is
    // never covered by two spans that are not neighbours. Check it for the
    // installed tzdata over the whole search range.
    const int64_t hi = S("2262-04-12T00:00:00Z");
    for (const std::string& name : AllZones()) {
      CAPTURE(name);
      const TimeZone zone = Zone(name);
      for (OffsetSpan s = zone.SpanAt(Sec(0)); Sec(s.begin) < hi; s = zone.SpanAt(s.end)) {
        if (s.end == SysSeconds::max()) break;
        const int64_t length = Sec(s.end) - std::max<int64_t>(Sec(s.begin), 0);
        const int64_t changes = std::abs((s.offset - s.offset_before).count()) +
                                std::abs((s.offset_after - s.offset).count());
        CAPTURE(Sec(s.begin));
        CHECK(length > changes);
      }
    }
  }
}

}  // namespace
}  // namespace provisioner::cron
