// Proleptic Gregorian calendar arithmetic on plain integers.
//
// The cron search converts between day counts and (year, month, day) many
// times per call; these are Howard Hinnant's public-domain algorithms
// ("chrono-Compatible Low-Level Date Algorithms") on int64_t, without the
// range limits of date::year (int16) and without any allocation. Internal to
// the cron module.
#pragma once

#include <cstdint>

namespace provisioner::cron::civil {

inline constexpr int64_t kSecondsPerDay = 86400;

// Division rounding towards negative infinity (b > 0).
constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
constexpr int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

constexpr bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

// month is 1-12.
constexpr int DaysInMonth(int64_t y, int month) {
  constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(y) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of the given date (month 1-12, day 1-31).
constexpr int64_t DaysFromCivil(int64_t y, int month, int day) {
  y -= month <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;                                                  // [0, 399]
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                          // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct CivilDay {
  int64_t year;
  int month;  // 1-12
  int day;    // 1-31
};

constexpr CivilDay CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

// 0 = Sunday ... 6 = Saturday. 1970-01-01 was a Thursday.
constexpr int WeekdayFromDays(int64_t z) { return static_cast<int>(FloorMod(z + 4, 7)); }

}  // namespace provisioner::cron::civil
