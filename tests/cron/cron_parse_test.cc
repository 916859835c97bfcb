// ParseCron: the dialect of DESIGN.md §4, and its error messages.
#include <string>
#include <vector>

#include "cron/cron_expr.h"
#include "cron/cron_test_util.h"

namespace provisioner::cron {
namespace {

// The set as "1-5,7": runs of three or more as ranges. `first` is the value
// of bit 0 (1 for months).
template <size_t N>
std::string Show(const std::bitset<N>& bits, int first = 0) {
  std::string out;
  for (size_t i = 0; i < N;) {
    if (!bits.test(i)) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j + 1 < N && bits.test(j + 1)) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(static_cast<int>(i) + first);
    if (j >= i + 1) {
      // Appended apart: GCC 12 at -O3 warns -Wrestrict on `"-" + std::string`
      // (GCC PR 105651).
      out += j >= i + 2 ? '-' : ',';
      out += std::to_string(static_cast<int>(j) + first);
    }
    i = j + 1;
  }
  return out;
}

std::string ShowNth(const CronExpr& e) {
  std::string out;
  for (int w = 0; w < 7; ++w) {
    for (int n = 1; n <= 5; ++n) {
      if (e.nth_weekday[w] >> n & 1) {
        if (!out.empty()) out += ",";
        out += std::to_string(w) + "#" + std::to_string(n);
      }
    }
  }
  return out;
}

// Flags, as letters: S = has seconds, L = last day of month, D = day-of-month
// restricted, W = day-of-week restricted, H = every hour.
std::string Flags(const CronExpr& e) {
  std::string out;
  if (e.has_seconds) out += "S";
  if (e.last_day_of_month) out += "L";
  if (e.dom_restricted) out += "D";
  if (e.dow_restricted) out += "W";
  if (e.every_hour) out += "H";
  return out;
}

struct GoodCase {
  const char* text;
  const char* source;
  const char* seconds;
  const char* minutes;
  const char* hours;
  const char* dom;
  const char* months;
  const char* dow;
  const char* last_weekday;
  const char* nth;
  const char* flags;
};

TEST_SUITE("cron") {
  TEST_CASE("cron: parse accepts the dialect") {
    // clang-format off
    const GoodCase cases[] = {
      // text, source, sec, min, hour, dom, month, dow, nL, #, flags
      {"0 8 * * MON-FRI", "0 8 * * MON-FRI", "0", "0", "8", "1-31", "1-12", "1-5", "", "", "W"},
      {"*/15 9-17 * * 1-5", "*/15 9-17 * * 1-5", "0", "0,15,30,45", "9-17", "1-31", "1-12", "1-5", "", "", "W"},
      {"30 */5 * * * *", "30 */5 * * * *", "30", "0,5,10,15,20,25,30,35,40,45,50,55", "0-23", "1-31", "1-12", "0-6", "", "", "SH"},
      {"0 0 L * *", "0 0 L * *", "0", "0", "0", "", "1-12", "0-6", "", "", "LD"},
      {"0 0 1,15,L * *", "0 0 1,15,L * *", "0", "0", "0", "1,15", "1-12", "0-6", "", "", "LD"},
      {"0 9 * * FRI#2", "0 9 * * FRI#2", "0", "0", "9", "1-31", "1-12", "", "", "5#2", "W"},
      {"0 9 * * 5#3,1#1", "0 9 * * 5#3,1#1", "0", "0", "9", "1-31", "1-12", "", "", "1#1,5#3", "W"},
      {"0 9 * * 5L", "0 9 * * 5L", "0", "0", "9", "1-31", "1-12", "", "5", "", "W"},
      {"0 9 * * friL,MON", "0 9 * * friL,MON", "0", "0", "9", "1-31", "1-12", "1", "5", "", "W"},
      {"0 9 * * 7L", "0 9 * * 7L", "0", "0", "9", "1-31", "1-12", "", "0", "", "W"},
      {"0 0 ? * 7", "0 0 ? * 7", "0", "0", "0", "1-31", "1-12", "0", "", "", "W"},
      {"0 0 1 * ?", "0 0 1 * ?", "0", "0", "0", "1", "1-12", "0-6", "", "", "D"},
      {"0 0 * jan,Jul-SEP *", "0 0 * jan,Jul-SEP *", "0", "0", "0", "1-31", "1,7-9", "0-6", "", "", ""},
      {"0 0 * * 5-7", "0 0 * * 5-7", "0", "0", "0", "1-31", "1-12", "0,5,6", "", "", "W"},
      {"0 0 * * 0-7", "0 0 * * 0-7", "0", "0", "0", "1-31", "1-12", "0-6", "", "", "W"},
      {"0 0 * * */2", "0 0 * * */2", "0", "0", "0", "1-31", "1-12", "0,2,4,6", "", "", "W"},
      {"0 0 * * 1/2", "0 0 * * 1/2", "0", "0", "0", "1-31", "1-12", "0,1,3,5", "", "", "W"},
      {"0 0 * * FRI/2", "0 0 * * FRI/2", "0", "0", "0", "1-31", "1-12", "0,5", "", "", "W"},
      {"0 0 * * *,MON", "0 0 * * *,MON", "0", "0", "0", "1-31", "1-12", "0-6", "", "", "W"},
      {"0 0 */2 * *", "0 0 */2 * *", "0", "0", "0", "1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31", "1-12", "0-6", "", "", "D"},
      {"5/20 * * * *", "5/20 * * * *", "0", "5,25,45", "0-23", "1-31", "1-12", "0-6", "", "", "H"},
      {"10-40/15 * * * *", "10-40/15 * * * *", "0", "10,25,40", "0-23", "1-31", "1-12", "0-6", "", "", "H"},
      {"*/60 * * * *", "*/60 * * * *", "0", "0", "0-23", "1-31", "1-12", "0-6", "", "", "H"},
      {"0 */1 * * *", "0 */1 * * *", "0", "0", "0-23", "1-31", "1-12", "0-6", "", "", "H"},
      {"0 0-23 * * *", "0 0-23 * * *", "0", "0", "0-23", "1-31", "1-12", "0-6", "", "", "H"},
      {"0 0-22 * * *", "0 0-22 * * *", "0", "0", "0-22", "1-31", "1-12", "0-6", "", "", ""},
      {"007 08 01 01 *", "007 08 01 01 *", "0", "7", "8", "1", "1", "0-6", "", "", "D"},
      {"  0 12 * * sun \n", "0 12 * * sun", "0", "0", "12", "1-31", "1-12", "0", "", "", "W"},
      {"0\t12\t*\t*\t*", "0\t12\t*\t*\t*", "0", "0", "12", "1-31", "1-12", "0-6", "", "", ""},
      {"59 59 23 31 12 6", "59 59 23 31 12 6", "59", "59", "23", "31", "12", "6", "", "", "SDW"},
      {"0 0 29 FEB *", "0 0 29 FEB *", "0", "0", "0", "29", "2", "0-6", "", "", "D"},
      {"0 0 30 FEB MON", "0 0 30 FEB MON", "0", "0", "0", "30", "2", "1", "", "", "DW"},
      {"0 0 * FEB 1#5", "0 0 * FEB 1#5", "0", "0", "0", "1-31", "2", "", "", "1#5", "W"},
      {"0 0 31 * *", "0 0 31 * *", "0", "0", "0", "31", "1-12", "0-6", "", "", "D"},
      {"@yearly", "@yearly", "0", "0", "0", "1", "1", "0-6", "", "", "D"},
      {"@annually", "@annually", "0", "0", "0", "1", "1", "0-6", "", "", "D"},
      {"@monthly", "@monthly", "0", "0", "0", "1", "1-12", "0-6", "", "", "D"},
      {"@weekly", "@weekly", "0", "0", "0", "1-31", "1-12", "0", "", "", "W"},
      {" @DAILY ", "@DAILY", "0", "0", "0", "1-31", "1-12", "0-6", "", "", ""},
      {"@midnight", "@midnight", "0", "0", "0", "1-31", "1-12", "0-6", "", "", ""},
      {"@hourly", "@hourly", "0", "0", "0-23", "1-31", "1-12", "0-6", "", "", "H"},
    };
    // clang-format on
    for (const GoodCase& c : cases) {
      CAPTURE(c.text);
      CronError error;
      Result<CronExpr> parsed = ParseCron(c.text, &error);
      REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
      const CronExpr& e = *parsed;
      CHECK(e.source == c.source);
      CHECK(Show(e.seconds) == c.seconds);
      CHECK(Show(e.minutes) == c.minutes);
      CHECK(Show(e.hours) == c.hours);
      CHECK(Show(e.days_of_month) == c.dom);
      CHECK(Show(e.months, 1) == c.months);
      CHECK(Show(e.days_of_week) == c.dow);
      CHECK(Show(e.last_weekday_of_month) == c.last_weekday);
      CHECK(ShowNth(e) == c.nth);
      CHECK(Flags(e) == c.flags);
    }
  }

  TEST_CASE("cron: a macro parses to the same sets as its expansion") {
    const char* pairs[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
        {"@daily", "0 0 * * *"},  {"@hourly", "0 * * * *"},
    };
    for (const auto& pair : pairs) {
      // Not a structured binding: clang 14 cannot capture one (CAPTURE).
      const char* macro = pair[0];
      const char* expansion = pair[1];
      CAPTURE(macro);
      CronExpr a = testing::Expr(macro);
      CronExpr b = testing::Expr(expansion);
      CHECK(a.source == macro);
      a.source = b.source;
      CHECK(a == b);
    }
  }

  struct BadCase {
    const char* text;
    int field;
    size_t offset;
    const char* message;
  };

  TEST_CASE("cron: parse errors name the field, the position and the reason") {
    // clang-format off
    const BadCase cases[] = {
      {"61 * * * *", 1, 0, "field 1 (minute): value 61 out of range 0-59"},
      {"0 24 * * *", 2, 2, "field 2 (hour): value 24 out of range 0-23"},
      {"0 0 0 * *", 3, 4, "field 3 (day-of-month): value 0 out of range 1-31"},
      {"0 0 32 * *", 3, 4, "field 3 (day-of-month): value 32 out of range 1-31"},
      {"0 0 * 13 *", 4, 6, "field 4 (month): value 13 out of range 1-12"},
      {"0 0 * 0 *", 4, 6, "field 4 (month): value 0 out of range 1-12"},
      {"0 0 * * 8", 5, 8, "field 5 (day-of-week): value 8 out of range 0-7"},
      {"60 0 0 * * *", 1, 0, "field 1 (second): value 60 out of range 0-59"},
      {"0 60 0 * * *", 2, 2, "field 2 (minute): value 60 out of range 0-59"},
      {"0 0 24 * * *", 3, 4, "field 3 (hour): value 24 out of range 0-23"},
      {"0 0 0 * * 9", 6, 10, "field 6 (day-of-week): value 9 out of range 0-7"},
      {"1-70 * * * *", 1, 2, "field 1 (minute): value 70 out of range 0-59"},
      {"99999999999999999999 * * * *", 1, 0, "field 1 (minute): value 99999999999999999999 out of range 0-59"},
      {"0 0 * * FRU", 5, 8, "field 5 (day-of-week): unknown name \"FRU\""},
      {"0 0 * JANUARY *", 4, 6, "field 4 (month): unknown name \"JANUARY\""},
      {"0 0 * * MON-FRU", 5, 12, "field 5 (day-of-week): unknown name \"FRU\""},
      {"0 0 * MON *", 4, 6, "field 4 (month): unknown name \"MON\""},
      {"0 0 * * JAN", 5, 8, "field 5 (day-of-week): unknown name \"JAN\""},
      {"abc * * * *", 1, 0, "field 1 (minute): expected a number, got \"abc\""},
      {"0 0 LW * *", 3, 4, "field 3 (day-of-month): expected a number, got \"LW\""},
      {"0 0 * * 5-1", 5, 8, "field 5 (day-of-week): reversed range \"5-1\" (wrap-around is not supported)"},
      {"0 22-2 * * *", 2, 2, "field 2 (hour): reversed range \"22-2\" (wrap-around is not supported)"},
      {"0 0 * DEC-JAN *", 4, 6, "field 4 (month): reversed range \"DEC-JAN\" (wrap-around is not supported)"},
      {"*/0 * * * *", 1, 2, "field 1 (minute): step 0 out of range 1-60"},
      {"*/61 * * * *", 1, 2, "field 1 (minute): step 61 out of range 1-60"},
      {"0 */25 * * *", 2, 4, "field 2 (hour): step 25 out of range 1-24"},
      {"0 0 * * 1-5/8", 5, 12, "field 5 (day-of-week): step 8 out of range 1-7"},
      {"*/ * * * *", 1, 2, "field 1 (minute): missing step after \"/\""},
      {"*/x * * * *", 1, 2, "field 1 (minute): missing step after \"/\""},
      {"1,,2 * * * *", 1, 2, "field 1 (minute): missing value"},
      {"1, * * * *", 1, 2, "field 1 (minute): missing value"},
      {",1 * * * *", 1, 0, "field 1 (minute): missing value"},
      {"1- * * * *", 1, 2, "field 1 (minute): missing value"},
      {"0 0 * * MON-", 5, 12, "field 5 (day-of-week): missing value"},
      {"-5 * * * *", 1, 0, "field 1 (minute): unexpected \"-\""},
      {"5x * * * *", 1, 1, "field 1 (minute): unexpected \"x\""},
      {"5-10x * * * *", 1, 4, "field 1 (minute): unexpected \"x\""},
      {"*/5x * * * *", 1, 3, "field 1 (minute): unexpected \"x\""},
      {"5/10/2 * * * *", 1, 4, "field 1 (minute): unexpected \"/\""},
      {"0 0 * * 1\x01", 5, 9, "field 5 (day-of-week): unexpected byte 0x01"},
      {"0 0 * * \xc3\xa9", 5, 8, "field 5 (day-of-week): unexpected byte 0xc3"},
      {"L * * * *", 1, 0, "field 1 (minute): \"L\" is only valid in day-of-month and day-of-week"},
      {"0 0 * L *", 4, 6, "field 4 (month): \"L\" is only valid in day-of-month and day-of-week"},
      {"5L * * * *", 1, 1, "field 1 (minute): \"L\" is only valid in day-of-month and day-of-week"},
      {"0 0 * * L", 5, 8, "field 5 (day-of-week): \"L\" needs a weekday in day-of-week, e.g. 5L for the last Friday"},
      {"0 0 5L * *", 3, 5, "field 3 (day-of-month): \"L\" stands alone in day-of-month (the last day)"},
      {"0 0 L-3 * *", 3, 5, "field 3 (day-of-month): \"L\" cannot take a range or step"},
      {"0 0 L/2 * *", 3, 5, "field 3 (day-of-month): \"L\" cannot take a range or step"},
      {"0 0 * * 5L-6", 5, 10, "field 5 (day-of-week): \"5L\" cannot take a range or step"},
      {"0 0 * * 5#2-3", 5, 11, "field 5 (day-of-week): \"5#2\" cannot take a range or step"},
      {"0 0 * * 5#2x", 5, 11, "field 5 (day-of-week): unexpected \"x\""},
      {"0 0 1#2 * *", 3, 5, "field 3 (day-of-month): \"#\" is only valid in day-of-week"},
      {"0 0 * JAN#2 *", 4, 9, "field 4 (month): \"#\" is only valid in day-of-week"},
      {"0 0 * * FRI#6", 5, 12, "field 5 (day-of-week): occurrence 6 out of range 1-5"},
      {"0 0 * * FRI#0", 5, 12, "field 5 (day-of-week): occurrence 0 out of range 1-5"},
      {"0 0 * * 5#99999999999999999999", 5, 10, "field 5 (day-of-week): occurrence 99999999999999999999 out of range 1-5"},
      {"0 0 * * FRI#", 5, 12, "field 5 (day-of-week): missing occurrence after \"#\""},
      {"0 0 * * 8#1", 5, 8, "field 5 (day-of-week): value 8 out of range 0-7"},
      {"0 ? * * *", 2, 2, "field 2 (hour): \"?\" is only valid in day-of-month and day-of-week"},
      {"0 0 ?,1 * *", 3, 4, "field 3 (day-of-month): \"?\" must be the whole field"},
      {"0 0 ?/2 * *", 3, 4, "field 3 (day-of-month): \"?\" must be the whole field"},
      {"0 0 1 * ?x", 5, 8, "field 5 (day-of-week): \"?\" must be the whole field"},
      {"", 0, 0, "expected 5 or 6 fields, got 0"},
      {"   ", 0, 3, "expected 5 or 6 fields, got 0"},
      {"* * * *", 0, 7, "expected 5 or 6 fields, got 4"},
      {"* * * * * * *", 0, 12, "expected 5 or 6 fields, got 7"},
      {" * * * * * * * *", 0, 13, "expected 5 or 6 fields, got 8"},
      {"@reboot", 0, 0, "unknown macro \"@reboot\""},
      {"  @", 0, 2, "unknown macro \"@\""},
      {"@daily 5", 0, 7, "unexpected \"5\" after @daily"},
      {"@hourly  * * *", 0, 9, "unexpected \"* * *\" after @hourly"},
      {"0 0 30 FEB *", 0, 0, "never fires: day 30 does not exist in FEB"},
      {" 0 0 30 2 *", 0, 1, "never fires: day 30 does not exist in FEB"},
      {"0 0 31 4,6,9,11 *", 0, 0, "never fires: day 31 does not exist in APR,JUN,SEP,NOV"},
      {"0 0 30,31 2 *", 0, 0, "never fires: days 30,31 do not exist in FEB"},
      {"0 0 0 31 APR ?", 0, 0, "never fires: day 31 does not exist in APR"},
    };
    // clang-format on
    for (const BadCase& c : cases) {
      CAPTURE(c.text);
      CronError error;
      Result<CronExpr> parsed = ParseCron(c.text, &error);
      REQUIRE_FALSE(parsed.ok());
      CHECK(parsed.status().code() == Status::Code::kInvalidArgument);
      CHECK(parsed.status().message() == c.message);
      CHECK(error.message == c.message);
      CHECK(error.field == c.field);
      CHECK(error.offset == c.offset);
      // The error pointer is optional.
      CHECK(ParseCron(c.text).status() == parsed.status());
    }
  }

  TEST_CASE("cron: never-fires is decided exactly over the 400-year cycle") {
    // Each fires somewhere in the cycle, however rarely.
    const char* rare[] = {
        "0 0 29 2 *",       // leap years
        "0 0 * 2 1#5",      // a leap February that starts on a Monday
        "0 0 29 2 1#5",     // Vixie OR: either one
        "0 0 * 2 0L",       // last Sunday of February
        "0 0 L 2 *",        // the 28th or 29th
        "0 0 30,31 2,4 *",  // April 30
        "0 0 31 2,12 *",    // December 31
    };
    for (const char* text : rare) {
      CAPTURE(text);
      CHECK_OK(ParseCron(text));
    }
    // With a day-of-week restriction the OR makes any day-of-month harmless.
    CHECK_OK(ParseCron("0 0 30 2 SUN"));
    CHECK_OK(ParseCron("0 0 31 4 1#1"));
    // But `*` and `?` in day-of-week are not restrictions.
    CHECK_FALSE(ParseCron("0 0 30 2 *").ok());
    CHECK_FALSE(ParseCron("0 0 30 2 ?").ok());
  }
}

}  // namespace
}  // namespace provisioner::cron
