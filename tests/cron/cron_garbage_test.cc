// Garbage never crashes or hangs the parser, and whatever parses can be
// searched: random bytes, random token soup, very long inputs and huge
// numbers. The seeds are fixed; each failure prints the input.
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cron/cron_expr.h"
#include "cron/cron_test_util.h"

namespace provisioner::cron {
namespace {

using testing::At;
using testing::Zone;

// The contract of a parse result, whatever the input.
void CheckParse(const std::string& text, const std::vector<TimeZone>& zones, std::mt19937_64& rng) {
  CronError error;
  Result<CronExpr> parsed = ParseCron(text, &error);
  if (!parsed.ok()) {
    REQUIRE(parsed.status().code() == Status::Code::kInvalidArgument);
    REQUIRE(error.message == parsed.status().message());
    REQUIRE_FALSE(error.message.empty());
    // Messages quote at most a short piece of the input.
    REQUIRE(error.message.size() < 200);
    REQUIRE(error.offset <= text.size());
    REQUIRE(error.field >= 0);
    REQUIRE(error.field <= 6);
    if (error.field > 0) {
      REQUIRE(error.message.rfind("field " + std::to_string(error.field) + " (", 0) == 0);
    }
    return;
  }
  // Whatever parses, fires: Next and Previous find something from a random
  // instant (the parser refused anything that never fires).
  std::uniform_int_distribution<int64_t> instant(0, 9'000'000'000);
  const TimeZone& zone = zones[rng() % zones.size()];
  const SystemTime t = At(instant(rng));
  std::optional<Fire> next = NextFire(*parsed, zone, t);
  std::optional<Fire> prev = PreviousFire(*parsed, zone, t);
  REQUIRE((next || prev));
  if (next) REQUIRE(next->at > t);
  if (prev) REQUIRE(prev->at <= t);
}

TEST_SUITE("cron") {
  TEST_CASE("cron: random bytes never crash the parser") {
    std::mt19937_64 rng(42);
    const std::vector<TimeZone> zones = {TimeZone::Utc(), Zone("Europe/Berlin")};
    std::uniform_int_distribution<int> length(0, 40);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int i = 0; i < 20000; ++i) {
      std::string text(static_cast<size_t>(length(rng)), '\0');
      for (char& c : text) c = static_cast<char>(byte(rng));
      CAPTURE(i);
      CAPTURE(text);
      CheckParse(text, zones, rng);
    }
  }

  TEST_CASE("cron: token soup never crashes the parser") {
    std::mt19937_64 rng(4242);
    const std::vector<TimeZone> zones = {TimeZone::Utc(), Zone("Europe/Berlin"),
                                         Zone("Australia/Lord_Howe")};
    const std::vector<std::string> tokens = {
        "*",
        "?",
        "L",
        "#",
        "/",
        "-",
        ",",
        " ",
        "\t",
        "0",
        "1",
        "5",
        "7",
        "12",
        "13",
        "23",
        "24",
        "29",
        "31",
        "59",
        "60",
        "5L",
        "L",
        "W",
        "LW",
        "FRI",
        "fri",
        "JAN",
        "feb",
        "FRU",
        "#5",
        "#6",
        "#0",
        "*/",
        "/0",
        "/7",
        "@",
        "@daily",
        "@hourly",
        "@yearly",
        "99999999999999999999",
        "-1",
        "0-",
        "3-1",
        "x",
        "\x01",
        "\xff",
        "@reboot",
        "MON-FRI",
        "1/2",
    };
    std::uniform_int_distribution<size_t> pick(0, tokens.size() - 1);
    std::uniform_int_distribution<int> count(0, 14);
    int valid = 0;
    for (int i = 0; i < 40000; ++i) {
      std::string text;
      const int n = count(rng);
      for (int k = 0; k < n; ++k) text += tokens[pick(rng)];
      CAPTURE(i);
      CAPTURE(text);
      CheckParse(text, zones, rng);
      valid += ParseCron(text).ok() ? 1 : 0;
    }
    // The soup does produce valid expressions now and then, so the search
    // half of CheckParse runs too.
    CHECK(valid > 50);
  }

  TEST_CASE("cron: long inputs and huge numbers") {
    std::mt19937_64 rng(7);
    const std::vector<TimeZone> zones = {TimeZone::Utc()};
    std::string list;
    for (int i = 0; i < 100000; ++i) list += std::to_string(i % 60) + ",";
    list += "0 * * * *";
    CHECK_OK(ParseCron(list));
    CheckParse(list, zones, rng);

    std::string fields;
    for (int i = 0; i < 100000; ++i) fields += "* ";
    CronError error;
    CHECK(ParseCron(fields, &error).status().message() == "expected 5 or 6 fields, got 100000");
    CHECK(error.offset == 12);

    const std::string digits(1 << 20, '9');
    Result<CronExpr> huge = ParseCron(digits + " * * * *", &error);
    REQUIRE_FALSE(huge.ok());
    CHECK(huge.status().message() ==
          "field 1 (minute): value 999999999999999999999999... out of range "
          "0-59");
    CHECK(ParseCron("*/" + digits + " * * * *").status().message() ==
          "field 1 (minute): step 999999999999999999999999... out of range 1-60");
    CHECK(ParseCron("0 0 * * 1#" + digits).status().message() ==
          "field 5 (day-of-week): occurrence 999999999999999999999999... out "
          "of range 1-5");
    const std::string name(100000, 'A');
    CHECK(ParseCron("0 0 * " + name + " *").status().message() ==
          "field 4 (month): unknown name \"AAAAAAAAAAAAAAAAAAAAAAAA...\"");
    CHECK(ParseCron("@" + name).status().message() ==
          "unknown macro \"@AAAAAAAAAAAAAAAAAAAAAAA...\"");
    for (const std::string& text : {list, fields, digits, name, std::string(100000, ' '),
                                    std::string(100000, ','), std::string(100000, '\0')}) {
      CheckParse(text, zones, rng);
    }
  }
}

}  // namespace
}  // namespace provisioner::cron
