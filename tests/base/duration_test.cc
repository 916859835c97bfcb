#include "base/duration.h"

#include "support/test_util.h"

namespace provisioner {
namespace {

using std::chrono::milliseconds;

TEST_SUITE("base") {
  TEST_CASE("base: ParseDuration accepts the config forms") {
    struct Case {
      const char* text;
      int64_t ms;
    };
    const Case cases[] = {
        {"90s", 90'000},
        {"5m", 300'000},
        {"1h30m", 5'400'000},
        {"2h", 7'200'000},
        {"0", 0},
        {"0s", 0},
        {"250ms", 250},
        {"1h0m5s", 3'605'000},
        {"1m30s500ms", 90'500},
        {"36h", 129'600'000},
        {"1000000h", 3'600'000'000'000},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      auto d = ParseDuration(c.text);
      REQUIRE_OK(d);
      CHECK(d->count() == c.ms);
    }
  }

  TEST_CASE("base: ParseDuration rejects with a reason") {
    struct Case {
      const char* text;
      const char* message;
    };
    const Case cases[] = {
        {"", "duration is empty (e.g. 90s, 5m, 1h30m)"},
        {"90", "duration \"90\": missing unit (use ms, s, m or h, e.g. 90s)"},
        {"5x", "duration \"5x\": unknown unit \"x\" (use ms, s, m or h)"},
        {"5 m", "duration \"5 m\": unknown unit \" m\" (use ms, s, m or h)"},
        {"-5m", "duration \"-5m\": must not be negative"},
        {"1.5h", "duration \"1.5h\": fractions are not supported (write 1h30m, not 1.5h)"},
        {"30m1h", "duration \"30m1h\": units must go from largest to smallest, each once"},
        {"5m5m", "duration \"5m5m\": units must go from largest to smallest, each once"},
        {"m", "duration \"m\": expected a number at position 1"},
        {"99999999999999999999h", "duration \"99999999999999999999h\": too large"},
        {"9999999999999h", "duration \"9999999999999h\": too large"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      auto d = ParseDuration(c.text);
      REQUIRE_FALSE(d.ok());
      CHECK(d.status().IsInvalidArgument());
      CHECK(d.status().message() == c.message);
    }
  }

  TEST_CASE("base: FormatDuration is the shortest form and round-trips") {
    CHECK(FormatDuration(milliseconds(0)) == "0s");
    CHECK(FormatDuration(milliseconds(5'400'000)) == "1h30m");
    CHECK(FormatDuration(milliseconds(90'000)) == "1m30s");
    CHECK(FormatDuration(milliseconds(1'500)) == "1s500ms");
    CHECK(FormatDuration(milliseconds(300'000)) == "5m");
    for (int64_t ms : {1, 999, 1000, 61'000, 3'600'000, 3'661'001, 86'400'000}) {
      auto back = ParseDuration(FormatDuration(milliseconds(ms)));
      REQUIRE_OK(back);
      CHECK(back->count() == ms);
    }
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner
