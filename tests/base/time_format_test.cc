#include "base/time_format.h"

#include "support/test_util.h"

namespace provisioner {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

SystemTime At(int64_t unix_seconds) { return SystemTime(seconds(unix_seconds)); }

TEST_SUITE("base") {
  TEST_CASE("base: FormatRfc3339 with offsets and fractions") {
    // 2026-03-29T01:00:00Z, the Berlin spring-forward instant.
    SystemTime t = At(1774746000);
    CHECK(FormatRfc3339(t, hours(2)) == "2026-03-29T03:00:00+02:00");
    CHECK(FormatRfc3339(t, seconds(0)) == "2026-03-29T01:00:00+00:00");
    CHECK(FormatUtc(t) == "2026-03-29T01:00:00Z");
    CHECK(FormatRfc3339(t, -hours(5)) == "2026-03-28T20:00:00-05:00");
    CHECK(FormatRfc3339(t, hours(5) + minutes(45)) == "2026-03-29T06:45:00+05:45");
    CHECK(FormatRfc3339(t, -(hours(9) + minutes(30))) == "2026-03-28T15:30:00-09:30");
    CHECK(FormatUtc(t + milliseconds(123), 3) == "2026-03-29T01:00:00.123Z");
    // Truncated, not rounded: 999.9 ms stays in the same second.
    CHECK(FormatUtc(t + std::chrono::microseconds(999'900), 3) == "2026-03-29T01:00:00.999Z");
    CHECK(FormatUtc(At(0)) == "1970-01-01T00:00:00Z");
    CHECK(FormatUtc(At(2147483648)) == "2038-01-19T03:14:08Z");
    CHECK(FormatUtc(At(4107542400)) == "2100-03-01T00:00:00Z");
  }

  TEST_CASE("base: ParseRfc3339 accepts valid forms") {
    struct Case {
      const char* text;
      int64_t unix_seconds;
    };
    const Case cases[] = {
        {"2026-03-29T03:00:00+02:00", 1774746000}, {"2026-03-29T01:00:00Z", 1774746000},
        {"2026-03-29t01:00:00z", 1774746000},      {"2026-03-29 01:00:00Z", 1774746000},
        {"2026-03-28T20:00:00-05:00", 1774746000}, {"2024-02-29T00:00:00Z", 1709164800},
        {"2038-01-19T03:14:08Z", 2147483648},      {"1970-01-01T00:00:00+00:00", 0},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      auto t = ParseRfc3339(c.text);
      REQUIRE_OK(t);
      CHECK(*t == At(c.unix_seconds));
    }
    auto frac = ParseRfc3339("2026-03-29T01:00:00.25Z");
    REQUIRE_OK(frac);
    CHECK(*frac == At(1774746000) + milliseconds(250));
  }

  TEST_CASE("base: ParseRfc3339 rejects with the problem named") {
    struct Case {
      const char* text;
      const char* why;
    };
    const Case cases[] = {
        {"", "bad year"},
        {"2026-13-01T00:00:00Z", "bad month"},
        {"2025-02-29T00:00:00Z", "no such day"},
        {"2026-04-31T00:00:00Z", "no such day"},
        {"2026-03-29", "missing time of day"},
        {"2026-03-29T24:00:00Z", "bad hour"},
        {"2026-03-29T10:60:00Z", "bad minute"},
        {"2026-03-29T10:00:60Z", "bad second"},
        {"2026-03-29T10:00:00", "missing UTC offset (Z or +HH:MM)"},
        {"2026-03-29T10:00:00+0200", "bad offset"},
        {"2026-03-29T10:00:00Zjunk", "unexpected text after the offset"},
        {"2026-03-29T10:00:00.Z", "empty fraction"},
        {"9999-01-01T00:00:00Z", "year outside 1678-2261"},
        {"tomorrow", "bad year"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      auto t = ParseRfc3339(c.text);
      REQUIRE_FALSE(t.ok());
      CHECK(t.status().IsInvalidArgument());
      CHECK(t.status().message() == "time \"" + std::string(c.text) + "\": " + c.why +
                                        ": expected RFC 3339, e.g. 2026-03-29T03:00:00+02:00");
    }
  }

  TEST_CASE("base: RFC 3339 round trip over many instants") {
    for (int64_t s = 0; s < 4'000'000'000; s += 7'777'777) {
      for (seconds off :
           {seconds(0), seconds(hours(2)), seconds(-hours(10)), seconds(hours(5) + minutes(45))}) {
        auto text = FormatRfc3339(At(s), off);
        auto back = ParseRfc3339(text);
        REQUIRE_OK(back);
        CHECK(*back == At(s));
      }
    }
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner
