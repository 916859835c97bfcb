// NextFire and PreviousFire on hand-checked tables: DST gaps and overlaps,
// half-hour and 45-minute zones, a skipped day, month ends, leap days, and
// the years past 2037 where the zone rules come from the TZif footer.
//
// Every transition used here was checked against glibc's localtime_r, which
// does read the footer:
//   Europe/Berlin     2026-03-29T01:00Z +1 -> +2, 2026-10-25T01:00Z +2 -> +1,
//                     2040-03-25, 2040-10-28, 2100-03-28, 2100-10-31 (01:00Z)
//   America/New_York  2026-03-08T07:00Z -5 -> -4, 2026-11-01T06:00Z -4 -> -5,
//                     2040-03-11T07:00Z
//   Lord_Howe         2026-04-04T15:00Z +11 -> +10:30, 2026-10-03T15:30Z back
//   Pacific/Apia      2011-12-30T10:00Z -10 -> +14 (local Dec 30 never
//   happened)
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cron/cron_expr.h"
#include "cron/cron_test_util.h"

namespace provisioner::cron {
namespace {

using testing::Describe;
using testing::Expr;
using testing::T;
using testing::Zone;

struct SequenceCase {
  const char* expr;
  const char* zone;
  const char* from;  // exclusive
  std::vector<const char*> fires;
};

TEST_SUITE("cron") {
  TEST_CASE("cron: fire sequences, forwards and backwards") {
    // clang-format off
    const SequenceCase cases[] = {
      // --- Europe/Berlin, spring forward: 02:00-02:59 does not exist.
      {"30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00+01:00",
       {"2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00 gap 2026-03-29T02:30:00",
        "2026-03-30T02:30:00+02:00"}},
      {"0,30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
       {"2026-03-29T03:00:00+02:00 gap 2026-03-29T02:00:00", "2026-03-30T02:00:00+02:00",
        "2026-03-30T02:30:00+02:00"}},
      // 02:00 is shifted onto 03:00, which matches too: still one fire.
      {"0 2,3 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
       {"2026-03-29T03:00:00+02:00 gap 2026-03-29T02:00:00", "2026-03-30T02:00:00+02:00",
        "2026-03-30T03:00:00+02:00"}},
      {"* 2 * * *", "Europe/Berlin", "2026-03-29T01:58:00+01:00",
       {"2026-03-29T03:00:00+02:00 gap 2026-03-29T02:00:00",
        "2026-03-30T02:00:00+02:00", "2026-03-30T02:01:00+02:00"}},
      {"0 30 2 * * *", "Europe/Berlin", "2026-03-29T00:00:00+01:00",
       {"2026-03-29T03:00:00+02:00 gap 2026-03-29T02:30:00", "2026-03-30T02:30:00+02:00"}},
      {"0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
       {"2026-03-29T03:00:00+02:00", "2026-03-30T03:00:00+02:00"}},
      {"59 1 * * *", "Europe/Berlin", "2026-03-28T12:00:00+01:00",
       {"2026-03-29T01:59:00+01:00", "2026-03-30T01:59:00+02:00"}},
      // Every-hour expressions skip the gap.
      {"*/30 * * * *", "Europe/Berlin", "2026-03-29T01:15:00+01:00",
       {"2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"}},
      // --- Europe/Berlin, fall back: 02:00-02:59 happens twice.
      {"30 2 * * *", "Europe/Berlin", "2026-10-24T00:00:00+02:00",
       {"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00 first",
        "2026-10-26T02:30:00+01:00"}},
      {"0 2,3 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00",
       {"2026-10-25T02:00:00+02:00 first", "2026-10-25T03:00:00+01:00",
        "2026-10-26T02:00:00+01:00"}},
      {"*/30 * * * *", "Europe/Berlin", "2026-10-25T01:15:00+02:00",
       {"2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00 each",
        "2026-10-25T02:30:00+02:00 each", "2026-10-25T02:00:00+01:00 each",
        "2026-10-25T02:30:00+01:00 each", "2026-10-25T03:00:00+01:00"}},
      {"0 0 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00",
       {"2026-10-25T02:00:00+02:00 first", "2026-10-26T02:00:00+01:00"}},
      // --- America/New_York
      {"30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00",
       {"2026-03-08T03:00:00-04:00 gap 2026-03-08T02:30:00", "2026-03-09T02:30:00-04:00"}},
      {"15 * * * *", "America/New_York", "2026-03-08T01:20:00-05:00",
       {"2026-03-08T03:15:00-04:00", "2026-03-08T04:15:00-04:00"}},
      {"30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00",
       {"2026-11-01T01:30:00-04:00 first", "2026-11-02T01:30:00-05:00"}},
      {"0 * * * *", "America/New_York", "2026-11-01T00:30:00-04:00",
       {"2026-11-01T01:00:00-04:00 each", "2026-11-01T01:00:00-05:00 each",
        "2026-11-01T02:00:00-05:00"}},
      {"0 9 * * MON-FRI", "America/New_York", "2026-03-06T10:00:00-05:00",
       {"2026-03-09T09:00:00-04:00", "2026-03-10T09:00:00-04:00"}},
      {"30 2 * * *", "America/New_York", "2040-03-10T12:00:00-05:00",
       {"2040-03-11T03:00:00-04:00 gap 2040-03-11T02:30:00", "2040-03-12T02:30:00-04:00"}},
      // --- Australia/Lord_Howe: a 30-minute shift, DST over new year.
      {"15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00+10:30",
       {"2026-10-04T02:30:00+11:00 gap 2026-10-04T02:15:00", "2026-10-05T02:15:00+11:00"}},
      {"45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00+11:00",
       {"2026-04-05T01:45:00+11:00 first", "2026-04-06T01:45:00+10:30"}},
      {"*/15 * * * *", "Australia/Lord_Howe", "2026-04-05T01:40:00+11:00",
       {"2026-04-05T01:45:00+11:00 each", "2026-04-05T01:30:00+10:30 each",
        "2026-04-05T01:45:00+10:30 each", "2026-04-05T02:00:00+10:30"}},
      {"0 12 1 1 *", "Australia/Lord_Howe", "2041-06-01T00:00:00Z",
       {"2042-01-01T12:00:00+11:00", "2043-01-01T12:00:00+11:00"}},
      // --- Half-hour and 45-minute offsets.
      {"0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z",
       {"2026-01-01T09:00:00+05:30", "2026-01-02T09:00:00+05:30"}},
      {"0 0 1 * *", "Asia/Kolkata", "2026-01-31T20:00:00Z",
       {"2026-03-01T00:00:00+05:30", "2026-04-01T00:00:00+05:30"}},
      {"30 8 * * *", "Asia/Kathmandu", "2026-06-01T00:00:00Z",
       {"2026-06-01T08:30:00+05:45", "2026-06-02T08:30:00+05:45"}},
      {"*/15 * * * *", "Asia/Kathmandu", "2026-06-01T00:00:00Z",
       {"2026-06-01T06:00:00+05:45", "2026-06-01T06:15:00+05:45"}},
      // --- Pacific/Apia skipped all of 2011-12-30.
      {"0 12 * * *", "Pacific/Apia", "2011-12-29T00:00:00-10:00",
       {"2011-12-29T12:00:00-10:00", "2011-12-31T00:00:00+14:00 gap 2011-12-30T12:00:00",
        "2011-12-31T12:00:00+14:00"}},
      {"0 9,18 * * *", "Pacific/Apia", "2011-12-29T12:00:00-10:00",
       {"2011-12-29T18:00:00-10:00", "2011-12-31T00:00:00+14:00 gap 2011-12-30T09:00:00",
        "2011-12-31T09:00:00+14:00"}},
      {"0 * * * *", "Pacific/Apia", "2011-12-29T22:30:00-10:00",
       {"2011-12-29T23:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T01:00:00+14:00"}},
      {"0 9 30 12 *", "Pacific/Apia", "2011-06-01T00:00:00Z",
       {"2011-12-31T00:00:00+14:00 gap 2011-12-30T09:00:00", "2012-12-30T09:00:00+14:00"}},
      // --- Leap days and month ends (UTC).
      {"0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z",
       {"2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"}},
      {"0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z",
       {"2104-02-29T00:00:00+00:00", "2108-02-29T00:00:00+00:00"}},
      {"0 0 29 2 *", "Europe/Berlin", "2096-03-01T00:00:00Z",
       {"2104-02-29T00:00:00+01:00"}},
      {"0 0 31 * *", "UTC", "2026-04-01T00:00:00Z",
       {"2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00"}},
      {"0 0 L * *", "UTC", "2026-01-15T00:00:00Z",
       {"2026-01-31T00:00:00+00:00", "2026-02-28T00:00:00+00:00", "2026-03-31T00:00:00+00:00",
        "2026-04-30T00:00:00+00:00"}},
      {"0 0 L * *", "UTC", "2028-01-31T00:00:00Z",
       {"2028-02-29T00:00:00+00:00", "2028-03-31T00:00:00+00:00"}},
      {"0 0 L 2 *", "UTC", "2099-03-01T00:00:00Z",
       {"2100-02-28T00:00:00+00:00", "2101-02-28T00:00:00+00:00", "2102-02-28T00:00:00+00:00",
        "2103-02-28T00:00:00+00:00", "2104-02-29T00:00:00+00:00"}},
      {"0 0 L * *", "Europe/Berlin", "2026-10-30T00:00:00+01:00",
       {"2026-10-31T00:00:00+01:00", "2026-11-30T00:00:00+01:00"}},
      // --- Steps that wrap.
      {"*/7 * * * *", "UTC", "2026-05-05T10:48:00Z",
       {"2026-05-05T10:49:00+00:00", "2026-05-05T10:56:00+00:00", "2026-05-05T11:00:00+00:00",
        "2026-05-05T11:07:00+00:00"}},
      {"0 */5 * * *", "UTC", "2026-05-05T19:00:00Z",
       {"2026-05-05T20:00:00+00:00", "2026-05-06T00:00:00+00:00", "2026-05-06T05:00:00+00:00"}},
      {"0 0 */10 * *", "UTC", "2026-01-25T00:00:00Z",
       {"2026-01-31T00:00:00+00:00", "2026-02-01T00:00:00+00:00", "2026-02-11T00:00:00+00:00"}},
      // --- Day-of-week forms (2026-01-01 is a Thursday, 02-01 and 03-01 Sundays).
      {"0 9 * * 5L", "UTC", "2026-01-01T00:00:00Z",
       {"2026-01-30T09:00:00+00:00", "2026-02-27T09:00:00+00:00", "2026-03-27T09:00:00+00:00"}},
      {"0 9 * * FRI#2", "UTC", "2026-01-01T00:00:00Z",
       {"2026-01-09T09:00:00+00:00", "2026-02-13T09:00:00+00:00", "2026-03-13T09:00:00+00:00"}},
      {"0 9 * * 5#3,0#1", "UTC", "2026-01-01T00:00:00Z",
       {"2026-01-04T09:00:00+00:00", "2026-01-16T09:00:00+00:00", "2026-02-01T09:00:00+00:00",
        "2026-02-20T09:00:00+00:00"}},
      {"0 0 * 2 1#5", "UTC", "2020-01-01T00:00:00Z",
       {"2044-02-29T00:00:00+00:00", "2072-02-29T00:00:00+00:00"}},
      {"0 9 * * FRI#2", "Europe/Berlin", "2026-01-01T00:00:00Z",
       {"2026-01-09T09:00:00+01:00", "2026-02-13T09:00:00+01:00"}},
      // Vixie OR: the 13th, and every Friday.
      {"0 0 13 * FRI", "UTC", "2026-01-01T00:00:00Z",
       {"2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00", "2026-01-13T00:00:00+00:00",
        "2026-01-16T00:00:00+00:00"}},
      {"0 0 L * 1#1", "UTC", "2026-01-02T00:00:00Z",
       {"2026-01-05T00:00:00+00:00", "2026-01-31T00:00:00+00:00", "2026-02-02T00:00:00+00:00",
        "2026-02-28T00:00:00+00:00"}},
      // `*/2` in day-of-month is a restriction, so the OR applies.
      {"0 0 */15 * MON", "UTC", "2026-01-01T00:00:00Z",
       {"2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00", "2026-01-16T00:00:00+00:00",
        "2026-01-19T00:00:00+00:00"}},
      // --- Six fields.
      {"30 */5 * * * *", "UTC", "2026-01-01T10:50:30Z",
       {"2026-01-01T10:55:30+00:00", "2026-01-01T11:00:30+00:00", "2026-01-01T11:05:30+00:00"}},
      {"*/20 0 0 1 1 *", "UTC", "2026-01-01T00:00:00Z",
       {"2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00", "2027-01-01T00:00:00+00:00"}},
      {"*/20 * * * * *", "Europe/Berlin", "2026-03-29T01:59:30+01:00",
       {"2026-03-29T01:59:40+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:00:20+02:00"}},
      // --- Macros.
      {"@weekly", "UTC", "2026-01-01T00:00:00Z",
       {"2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00"}},
      {"@hourly", "UTC", "2026-01-01T10:00:00Z",
       {"2026-01-01T11:00:00+00:00", "2026-01-01T12:00:00+00:00"}},
      {"@yearly", "Europe/Berlin", "2026-06-01T00:00:00Z",
       {"2027-01-01T00:00:00+01:00", "2028-01-01T00:00:00+01:00"}},
      {"@monthly", "America/New_York", "2026-01-15T00:00:00Z",
       {"2026-02-01T00:00:00-05:00", "2026-03-01T00:00:00-05:00", "2026-04-01T00:00:00-04:00"}},
      // --- 2038 and beyond.
      {"8 14 3 19 1 *", "UTC", "2038-01-19T03:14:07Z",
       {"2038-01-19T03:14:08+00:00", "2039-01-19T03:14:08+00:00"}},
      {"* * * * *", "Europe/Berlin", "2038-01-19T03:14:07Z",
       {"2038-01-19T04:15:00+01:00", "2038-01-19T04:16:00+01:00"}},
      {"30 2 * * *", "Europe/Berlin", "2040-03-24T12:00:00+01:00",
       {"2040-03-25T03:00:00+02:00 gap 2040-03-25T02:30:00", "2040-03-26T02:30:00+02:00"}},
      {"30 2 * * *", "Europe/Berlin", "2040-10-27T12:00:00+02:00",
       {"2040-10-28T02:30:00+02:00 first", "2040-10-29T02:30:00+01:00"}},
      {"30 2 * * *", "Europe/Berlin", "2100-03-27T12:00:00+01:00",
       {"2100-03-28T03:00:00+02:00 gap 2100-03-28T02:30:00", "2100-03-29T02:30:00+02:00"}},
      {"0 * * * *", "Europe/Berlin", "2100-10-31T01:30:00+02:00",
       {"2100-10-31T02:00:00+02:00 each", "2100-10-31T02:00:00+01:00 each",
        "2100-10-31T03:00:00+01:00"}},
      {"0 12 * * *", "Europe/Berlin", "2262-04-09T00:00:00Z",
       {"2262-04-09T12:00:00+02:00", "2262-04-10T12:00:00+02:00", "2262-04-11T12:00:00+02:00"}},
    };
    // clang-format on
    for (const SequenceCase& c : cases) {
      CAPTURE(c.expr);
      CAPTURE(c.zone);
      CAPTURE(c.from);
      const CronExpr expr = Expr(c.expr);
      const TimeZone zone = Zone(c.zone);
      std::vector<Fire> fires;
      SystemTime t = T(c.from);
      for (size_t i = 0; i < c.fires.size(); ++i) {
        std::optional<Fire> fire = NextFire(expr, zone, t);
        REQUIRE(fire.has_value());
        CHECK(Describe(*fire, zone) == c.fires[i]);
        fires.push_back(*fire);
        t = fire->at;
      }
      // Backwards: each fire is the previous fire of itself, and of the
      // instant just before the next one.
      for (size_t i = fires.size(); i-- > 0;) {
        std::optional<Fire> at = PreviousFire(expr, zone, fires[i].at);
        REQUIRE(at.has_value());
        CHECK(Describe(*at, zone) == c.fires[i]);
        if (i > 0) {
          std::optional<Fire> before =
              PreviousFire(expr, zone, fires[i].at - std::chrono::seconds(1));
          REQUIRE(before.has_value());
          CHECK(Describe(*before, zone) == c.fires[i - 1]);
        } else {
          std::optional<Fire> before = PreviousFire(expr, zone, T(c.from));
          if (before) CHECK(before->at <= T(c.from));
        }
      }
    }
  }

  struct EdgeCase {
    const char* expr;
    const char* zone;
    bool next;  // NextFire, else PreviousFire
    SystemTime from;
    const char* want;  // "" for nullopt
  };

  TEST_CASE("cron: sub-second inputs and the edges of the supported range") {
    using testing::At;
    constexpr auto kMaxSec = std::chrono::floor<std::chrono::seconds>(SystemTime::max());
    // clang-format off
    const EdgeCase cases[] = {
      {"* * * * * *", "UTC", true, T("2026-01-01T10:00:00.5Z"), "2026-01-01T10:00:01+00:00"},
      {"* * * * * *", "UTC", false, T("2026-01-01T10:00:00.5Z"), "2026-01-01T10:00:00+00:00"},
      {"* * * * * *", "UTC", true, T("2026-01-01T10:00:00Z"), "2026-01-01T10:00:01+00:00"},
      {"* * * * * *", "UTC", false, T("2026-01-01T10:00:00Z"), "2026-01-01T10:00:00+00:00"},
      {"* * * * * *", "Europe/Berlin", true, T("2026-01-01T10:00:00.999999999Z"), "2026-01-01T11:00:01+01:00"},
      {"* * * * *", "UTC", true, T("2026-01-01T10:00:00.5Z"), "2026-01-01T10:01:00+00:00"},
      {"* * * * *", "UTC", false, T("2026-01-01T10:00:59.9Z"), "2026-01-01T10:00:00+00:00"},
      {"* * * * * *", "UTC", true, T("1969-12-31T23:59:59.5Z"), "1970-01-01T00:00:00+00:00"},
      // Nothing before 1970-01-01T00:00:00Z.
      {"0 0 1 1 *", "UTC", false, T("1970-01-01T00:00:00Z"), "1970-01-01T00:00:00+00:00"},
      {"0 0 2 1 *", "UTC", false, T("1970-01-01T12:00:00Z"), ""},
      {"* * * * * *", "UTC", false, T("1969-12-31T23:59:59.9Z"), ""},
      {"* * * * *", "Europe/Berlin", false, T("1970-01-01T00:00:59Z"), "1970-01-01T01:00:00+01:00"},
      {"0 0 2 1 *", "UTC", true, T("1960-01-01T00:00:00Z"), "1970-01-02T00:00:00+00:00"},
      {"0 0 * * *", "Europe/Berlin", true, SystemTime::min(), "1970-01-02T00:00:00+01:00"},
      {"0 0 * * *", "UTC", false, SystemTime::min(), ""},
      // Nothing after 2262-04-11T23:47:16Z, the last second of SystemTime.
      {"0 0 1 1 *", "UTC", true, T("2262-01-01T00:00:00Z"), ""},
      {"* * * * * *", "UTC", true, T("2262-04-11T23:47:15Z"), "2262-04-11T23:47:16+00:00"},
      {"* * * * * *", "UTC", true, T("2262-04-11T23:47:16Z"), ""},
      {"* * * * * *", "UTC", true, SystemTime::max(), ""},
      {"* * * * * *", "UTC", false, SystemTime::max(), "2262-04-11T23:47:16+00:00"},
      {"0 0 * * *", "UTC", false, SystemTime::max(), "2262-04-11T00:00:00+00:00"},
      {"0 0 * * *", "Europe/Berlin", false, SystemTime::max(), "2262-04-12T00:00:00+02:00"},
      {"0 0 * * *", "Europe/Berlin", true, SystemTime(kMaxSec) - std::chrono::hours(24), "2262-04-12T00:00:00+02:00"},
      {"0 0 * * *", "Europe/Berlin", true, T("2262-04-11T22:00:00Z"), ""},
      {"0 0 29 2 *", "UTC", true, T("2260-03-01T00:00:00Z"), ""},
      {"0 0 29 2 *", "UTC", false, T("1971-01-01T00:00:00Z"), ""},
      {"0 0 29 2 *", "UTC", false, T("1972-03-01T00:00:00Z"), "1972-02-29T00:00:00+00:00"},
      {"0 0 * * 5L", "Etc/GMT+5", true, At(0), "1970-01-30T00:00:00-05:00"},
    };
    // clang-format on
    for (const EdgeCase& c : cases) {
      CAPTURE(c.expr);
      CAPTURE(c.zone);
      CAPTURE(c.next);
      CAPTURE(c.from.time_since_epoch().count());
      const CronExpr expr = Expr(c.expr);
      const TimeZone zone = Zone(c.zone);
      std::optional<Fire> fire =
          c.next ? NextFire(expr, zone, c.from) : PreviousFire(expr, zone, c.from);
      CHECK(fire.has_value() == (c.want[0] != '\0'));
      if (fire) CHECK(Describe(*fire, zone) == c.want);
    }
  }

  TEST_CASE("cron: a zone and an expression are shared across threads") {
    // Given one TimeZone and one CronExpr, when eight threads search with
    // them at once (half with their own copy of the zone, loaded
    // concurrently), then every thread sees the single-threaded answers.
    // Meant for the TSan build.
    const TimeZone shared = Zone("Europe/Berlin");
    const CronExpr expr = Expr("*/30 1-3 * * *");
    auto chain = [&expr](const TimeZone& zone) {
      std::vector<std::string> out;
      SystemTime t = T("2026-10-24T00:00:00Z");
      for (int i = 0; i < 50; ++i) {
        std::optional<Fire> fire = NextFire(expr, zone, t);
        if (!fire) break;
        out.push_back(Describe(*fire, zone));
        t = fire->at;
      }
      return out;
    };
    const std::vector<std::string> want = chain(shared);
    REQUIRE(want.size() == 50);
    std::vector<std::vector<std::string>> got(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < got.size(); ++i) {
      threads.emplace_back([&, i] {
        if (i % 2 == 0) {
          got[i] = chain(shared);
        } else {
          Result<TimeZone> own = TimeZone::Load("Europe/Berlin");
          if (own.ok()) got[i] = chain(*own);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    for (const std::vector<std::string>& g : got) CHECK(g == want);
  }

  TEST_CASE("cron: UTC and a fixed-offset zone agree with the equivalent shift") {
    // Etc/GMT+5 is UTC-5 for all time: its fires are UTC's fires of the same
    // local times, five hours later.
    const TimeZone utc = TimeZone::Utc();
    const TimeZone minus5 = Zone("Etc/GMT+5");
    REQUIRE(minus5.FixedOffset() == std::chrono::hours(-5));
    const CronExpr expr = Expr("0 9 * * MON-FRI");
    SystemTime t = T("2026-01-01T00:00:00Z");
    for (int i = 0; i < 20; ++i) {
      std::optional<Fire> a = NextFire(expr, utc, t);
      std::optional<Fire> b = NextFire(expr, minus5, t + std::chrono::hours(5));
      REQUIRE(a.has_value());
      REQUIRE(b.has_value());
      CHECK(b->at - a->at == std::chrono::hours(5));
      CHECK(b->nominal == a->nominal);
      t = a->at;
    }
  }
}

}  // namespace
}  // namespace provisioner::cron
