// The POSIX TZ footer parser and its rule arithmetic.
#include "cron/posix_tz.h"

#include <limits>
#include <string>

#include "cron/civil.h"
#include "cron/cron_test_util.h"

namespace provisioner::cron {
namespace {

using testing::S;
using testing::Sec;
using testing::T;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

std::string ShowDate(const PosixDate& d) {
  // Appended piece by piece: GCC 12 at -O3 warns -Wrestrict on
  // `"J" + std::string` (GCC PR 105651).
  std::string out;
  switch (d.kind) {
    case PosixDate::Kind::kJulian:
      out = "J";
      out += std::to_string(d.day);
      break;
    case PosixDate::Kind::kZeroBased:
      out = std::to_string(d.day);
      break;
    case PosixDate::Kind::kMonthWeekDay:
      out = "M";
      out +=
          std::to_string(d.month) + "." + std::to_string(d.week) + "." + std::to_string(d.weekday);
      break;
  }
  return out + "/" + std::to_string(d.time);
}

// "CET 3600 CEST 7200 M3.5.0/7200 M10.5.0/10800", or "UTC 0" without DST,
// with " const-dst"/" const-std" for rules that never switch.
std::string Show(const PosixTz& tz) {
  std::string out = tz.std_abbrev + " " + std::to_string(tz.std_offset);
  if (!tz.has_dst) return out;
  out += " " + tz.dst_abbrev + " " + std::to_string(tz.dst_offset) + " " + ShowDate(tz.start) +
         " " + ShowDate(tz.end);
  if (!tz.has_transitions) out += tz.always_dst ? " const-dst" : " const-std";
  return out;
}

struct GoodCase {
  const char* text;
  const char* want;
};

struct BadCase {
  const char* text;
  const char* message;
};

TEST_SUITE("cron") {
  TEST_CASE("cron: POSIX TZ strings parse") {
    // clang-format off
    const GoodCase cases[] = {
      {"CET-1CEST,M3.5.0,M10.5.0/3", "CET 3600 CEST 7200 M3.5.0/7200 M10.5.0/10800"},
      {"EST5EDT,M3.2.0,M11.1.0", "EST -18000 EDT -14400 M3.2.0/7200 M11.1.0/7200"},
      {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", "+1030 37800 +11 39600 M10.1.0/7200 M4.1.0/7200"},
      {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "-02 -7200 -01 -3600 M3.5.0/-3600 M10.5.0/0"},
      {"IST-2IDT,M3.4.4/26,M10.5.0", "IST 7200 IDT 10800 M3.4.4/93600 M10.5.0/7200"},
      {"<+0545>-5:45", "+0545 20700"},
      {"<-05>5", "-05 -18000"},
      {"<+13>-13", "+13 46800"},
      {"UTC0", "UTC 0"},
      {"NZST-12NZDT,M9.5.0,M4.1.0/3", "NZST 43200 NZDT 46800 M9.5.0/7200 M4.1.0/10800"},
      {"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "+1245 45900 +1345 49500 M9.5.0/9900 M4.1.0/13500"},
      {"AAA+3:30:15BBB+2,J60/2:00:01,300/-167", "AAA -12615 BBB -7200 J60/7201 300/-601200"},
      // No rule: the US rules, as glibc does.
      {"EST5EDT", "EST -18000 EDT -14400 M3.2.0/7200 M11.1.0/7200"},
      // DST all year (RFC 8536 §3.3.1), and a zero-length DST.
      {"EST5EDT,0/0,J365/25", "EST -18000 EDT -14400 0/0 J365/90000 const-dst"},
      {"AAA3BBB,M3.2.0,M3.2.0/3", "AAA -10800 BBB -7200 M3.2.0/7200 M3.2.0/10800 const-std"},
      // Ends an hour before it starts (02:00 daylight time is 01:00 standard
      // time): DST all year but for one hour.
      {"AAA3BBB,M3.2.0,M3.2.0", "AAA -10800 BBB -7200 M3.2.0/7200 M3.2.0/7200"},
    };
    // clang-format on
    for (const GoodCase& c : cases) {
      CAPTURE(c.text);
      Result<PosixTz> tz = ParsePosixTz(c.text);
      REQUIRE_MESSAGE(tz.ok(), tz.status().ToString());
      CHECK(Show(*tz) == c.want);
    }
  }

  TEST_CASE("cron: POSIX TZ errors") {
    // clang-format off
    const BadCase cases[] = {
      {"", "POSIX TZ \"\": expected a zone name of 3 or more letters at offset 0"},
      {"C1", "POSIX TZ \"C1\": expected a zone name of 3 or more letters at offset 0"},
      {"CET", "POSIX TZ \"CET\": expected a number at offset 3"},
      {"CET-25", "POSIX TZ \"CET-25\": hours 25 out of range 0-24 at offset 4"},
      {"CET-1:60", "POSIX TZ \"CET-1:60\": minutes out of range 0-59 at offset 8"},
      {"CET-1CEST,M13.1.0,M10.5.0", "POSIX TZ \"CET-1CEST,M13.1.0,M10.5.0\": month 13 out of range 1-12 at offset 11"},
      {"CET-1CEST,M3.6.0,M10.5.0", "POSIX TZ \"CET-1CEST,M3.6.0,M10.5.0\": week 6 out of range 1-5 at offset 13"},
      {"CET-1CEST,M3.5.7,M10.5.0", "POSIX TZ \"CET-1CEST,M3.5.7,M10.5.0\": weekday 7 out of range 0-6 at offset 15"},
      {"CET-1CEST,J0,J365", "POSIX TZ \"CET-1CEST,J0,J365\": day 0 out of range 1-365 at offset 11"},
      {"CET-1CEST,366,0", "POSIX TZ \"CET-1CEST,366,0\": day 366 out of range 0-365 at offset 10"},
      {"CET-1CEST,M3.5.0/168,M10.5.0", "POSIX TZ \"CET-1CEST,M3.5.0/168,M10.5.0\": hours 168 out of range 0-167 at offset 17"},
      {"CET-1CEST,M3.5.0", "POSIX TZ \"CET-1CEST,M3.5.0\": expected \",\" at offset 16"},
      {"CET-1CEST,M3.5.0,M10.5.0x", "POSIX TZ \"CET-1CEST,M3.5.0,M10.5.0x\": unexpected \"x\" at offset 24"},
      {"CET-1CEST,M3.5", "POSIX TZ \"CET-1CEST,M3.5\": expected \".\" at offset 14"},
      {"<+1030", "POSIX TZ \"<+1030\": unterminated <name> at offset 0"},
      {"<a>1", "POSIX TZ \"<a>1\": name shorter than 3 characters at offset 0"},
      {"<a b>1", "POSIX TZ \"<a b>1\": invalid character in <name> at offset 0"},
      {"CET-1CEST1234", "POSIX TZ \"CET-1CEST1234\": number too long at offset 12"},
    };
    // clang-format on
    for (const BadCase& c : cases) {
      CAPTURE(c.text);
      Result<PosixTz> tz = ParsePosixTz(c.text);
      REQUIRE_FALSE(tz.ok());
      CHECK(tz.status().message() == c.message);
    }
  }

  struct TransitionCase {
    const char* rule;
    int year;
    const char* start;  // UTC
    const char* end;
  };

  TEST_CASE("cron: POSIX TZ transitions") {
    // clang-format off
    const TransitionCase cases[] = {
      {"CET-1CEST,M3.5.0,M10.5.0/3", 2026, "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"},
      {"CET-1CEST,M3.5.0,M10.5.0/3", 2100, "2100-03-28T01:00:00Z", "2100-10-31T01:00:00Z"},
      {"EST5EDT,M3.2.0,M11.1.0", 2026, "2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"},
      // Southern hemisphere: DST starts in October and ends in April.
      {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 2026, "2026-10-03T15:30:00Z", "2026-04-04T15:00:00Z"},
      // Negative and zero times: 23:00 the day before, and midnight.
      {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 2026, "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"},
      // Thursday at 26:00, i.e. Friday 02:00.
      {"IST-2IDT,M3.4.4/26,M10.5.0", 2026, "2026-03-27T00:00:00Z", "2026-10-24T23:00:00Z"},
      // Week 5 in a month with four such weekdays is the fourth.
      {"AAA0BBB,M2.5.0/0,M11.5.6/0", 2026, "2026-02-22T00:00:00Z", "2026-11-27T23:00:00Z"},
      // J60 is March 1 in every year; day 59 (zero-based) is Feb 29 in leap years.
      {"AAA0BBB,J60/0,59/0", 2024, "2024-03-01T00:00:00Z", "2024-02-28T23:00:00Z"},
      {"AAA0BBB,J60/0,59/0", 2026, "2026-03-01T00:00:00Z", "2026-02-28T23:00:00Z"},
      {"AAA0BBB,J365/0,365/0", 2024, "2024-12-31T00:00:00Z", "2024-12-30T23:00:00Z"},
      {"AAA0BBB,J365/0,365/0", 2026, "2026-12-31T00:00:00Z", "2026-12-31T23:00:00Z"},
    };
    // clang-format on
    for (const TransitionCase& c : cases) {
      CAPTURE(c.rule);
      CAPTURE(c.year);
      Result<PosixTz> tz = ParsePosixTz(c.rule);
      REQUIRE_OK(tz);
      CHECK(PosixDstStart(*tz, c.year) == S(c.start));
      CHECK(PosixDstEnd(*tz, c.year) == S(c.end));
    }
  }

  TEST_CASE("cron: POSIX TZ periods tile the timeline") {
    const char* rules[] = {
        "CET-1CEST,M3.5.0,M10.5.0/3",      "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
        "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "IST-2IDT,M3.4.4/26,M10.5.0",
        "AAA0BBB,J1/-167,J365/167",  // switches a week outside the year
        "AAA0BBB,M1.1.0/0,M12.5.6/0",
    };
    for (const char* rule : rules) {
      CAPTURE(rule);
      Result<PosixTz> tz = ParsePosixTz(rule);
      REQUIRE_OK(tz);
      REQUIRE(tz->has_transitions);
      int64_t t = civil::DaysFromCivil(1800, 1, 1) * civil::kSecondsPerDay;
      PosixPeriod p = PosixPeriodAt(*tz, t);
      CHECK(p.begin <= t);
      for (int i = 0; i < 2 * 500; ++i) {
        CAPTURE(p.begin);
        REQUIRE(p.begin < p.end);
        REQUIRE(p.end != kMax);
        const PosixPeriod next = PosixPeriodAt(*tz, p.end);
        REQUIRE(next.begin == p.end);
        CHECK(next.is_dst != p.is_dst);
        const PosixPeriod last = PosixPeriodAt(*tz, p.end - 1);
        CHECK(last.begin == p.begin);
        CHECK(last.end == p.end);
        p = next;
      }
    }
  }

  TEST_CASE("cron: POSIX TZ rules at the ends of int64") {
    Result<PosixTz> tz = ParsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3");
    REQUIRE_OK(tz);
    const PosixPeriod last = PosixPeriodAt(*tz, kMax);
    CHECK(last.end == kMax);
    CHECK(PosixPeriodAt(*tz, last.begin).end == kMax);
    CHECK(PosixPeriodAt(*tz, last.begin - 1).end == last.begin);
    const PosixPeriod first = PosixPeriodAt(*tz, kMin);
    CHECK(first.begin == kMin);
    CHECK(PosixPeriodAt(*tz, first.end).begin == first.end);
    // Rules that never switch have a single period.
    Result<PosixTz> fixed = ParsePosixTz("<+0545>-5:45");
    REQUIRE_OK(fixed);
    const PosixPeriod all = PosixPeriodAt(*fixed, 0);
    CHECK(all.begin == kMin);
    CHECK(all.end == kMax);
    CHECK_FALSE(all.is_dst);
    Result<PosixTz> always = ParsePosixTz("EST5EDT,0/0,J365/25");
    REQUIRE_OK(always);
    CHECK(PosixPeriodAt(*always, 0).is_dst);
    CHECK(PosixPeriodAt(*always, 0).end == kMax);
  }
}

}  // namespace
}  // namespace provisioner::cron
