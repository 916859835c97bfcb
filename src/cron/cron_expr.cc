#include "cron/cron_expr.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "cron/civil.h"

namespace provisioner::cron {
namespace {

using civil::kSecondsPerDay;

// ---------------------------------------------------------------------------
// Parsing

enum class FieldKind : uint8_t { kSecond, kMinute, kHour, kDayOfMonth, kMonth, kDayOfWeek };

struct FieldInfo {
  std::string_view name;
  int min;
  int max;
  int max_step;  // the number of distinct values
};

constexpr FieldInfo kFieldInfo[] = {
    {"second", 0, 59, 60},       {"minute", 0, 59, 60}, {"hour", 0, 23, 24},
    {"day-of-month", 1, 31, 31}, {"month", 1, 12, 12},  {"day-of-week", 0, 7, 7},
};

constexpr std::string_view kMonthNames[12] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::string_view kDayNames[7] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// Numbers are read with saturation so that "99999999999999999999" is an
// out-of-range value rather than an overflow.
constexpr int64_t kNumberCap = 1'000'000'000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Upper(a[i]) != Upper(b[i])) return false;
  }
  return true;
}

// User text inside a message: quoted, and cut short so that a megabyte of
// input does not become a megabyte of log line.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 24;
  // Appended rather than `"\"" + std::string(...)`, on which GCC 12 at -O3
  // warns -Wrestrict (GCC PR 105651).
  std::string out = "\"";
  out.append(text.substr(0, kMax));
  out.append(text.size() <= kMax ? "\"" : "...\"");
  return out;
}

// A character that was not expected, printable or not.
std::string Describe(char c) {
  if (c > ' ' && c < 127) return std::string{'"', c, '"'};
  static constexpr char kHex[] = "0123456789abcdef";
  const auto byte = static_cast<unsigned char>(c);
  return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 15];
}

std::string ShownNumber(std::string_view digits) {
  constexpr size_t kMax = 24;
  if (digits.size() <= kMax) return std::string(digits);
  return std::string(digits.substr(0, kMax)) + "...";
}

struct FieldValue {
  uint64_t bits = 0;  // bit v = value v; day-of-week 7 is folded into 0
  bool last_day = false;
  uint8_t last_weekday = 0;
  std::array<uint8_t, 7> nth{};
};

struct Failure {
  size_t offset = 0;  // in the original text
  std::string reason;
};

// One field, e.g. "MON-FRI" or "1,15,L". `base` is the field's offset in the
// original text, for error positions.
class FieldParser {
 public:
  FieldParser(std::string_view text, size_t base, FieldKind kind)
      : text_(text), base_(base), kind_(kind), info_(kFieldInfo[static_cast<int>(kind)]) {}

  // Fills `out`, or returns false with failure() set.
  bool Parse(FieldValue* out) {
    while (true) {
      if (!Item(out)) return false;
      if (AtEnd()) return true;
      if (Peek() != ',') return Fail(pos_, "unexpected " + Describe(Peek()));
      ++pos_;
    }
  }

  const Failure& failure() const { return failure_; }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  bool AtItemEnd() const { return AtEnd() || Peek() == ','; }
  bool IsDayField() const {
    return kind_ == FieldKind::kDayOfMonth || kind_ == FieldKind::kDayOfWeek;
  }

  bool Fail(size_t pos, std::string reason) {
    failure_ = {base_ + pos, std::move(reason)};
    return false;
  }

  // After `L`, `nL`, `DAY#n` nothing but the end of the item may follow.
  bool ExpectItemEnd(std::string_view what) {
    if (AtItemEnd()) return true;
    if (Peek() == '-' || Peek() == '/') {
      return Fail(pos_, Quote(what) + " cannot take a range or step");
    }
    return Fail(pos_, "unexpected " + Describe(Peek()));
  }

  // Reads the digits at pos_ into `out`, saturating at kNumberCap; false
  // if there are none.
  bool Digits(int64_t* out) {
    if (!IsDigit(Peek())) return false;
    int64_t value = 0;
    while (IsDigit(Peek())) {
      value = std::min(kNumberCap, value * 10 + (Peek() - '0'));
      ++pos_;
    }
    *out = value;
    return true;
  }

  // "value 61 out of range 0-59", quoting the digits from `start` to pos_.
  bool FailRange(std::string_view what, size_t start, int min, int max) {
    return Fail(start, std::string(what) + " " + ShownNumber(text_.substr(start, pos_ - start)) +
                           " out of range " + std::to_string(min) + "-" + std::to_string(max));
  }

  void Set(int value) {
    if (kind_ == FieldKind::kDayOfWeek && value == 7) value = 0;
    bits_ |= uint64_t{1} << value;
  }

  // A number or a name at pos_. `*last_suffix` is set when a day-of-week
  // name carries an `L` suffix ("FRIL").
  bool Value(int* out, bool* last_suffix) {
    const size_t start = pos_;
    if (int64_t value = 0; Digits(&value)) {
      if (value < info_.min || value > info_.max) {
        return FailRange("value", start, info_.min, info_.max);
      }
      *out = static_cast<int>(value);
      return true;
    }
    if (IsAlpha(Peek())) {
      while (IsAlpha(Peek())) ++pos_;
      const std::string_view word = text_.substr(start, pos_ - start);
      if (kind_ == FieldKind::kMonth) {
        for (int i = 0; i < 12; ++i) {
          if (EqualsIgnoreCase(word, kMonthNames[i])) {
            *out = i + 1;
            return true;
          }
        }
      } else if (kind_ == FieldKind::kDayOfWeek) {
        for (int i = 0; i < 7; ++i) {
          if (EqualsIgnoreCase(word, kDayNames[i])) {
            *out = i;
            return true;
          }
          if (last_suffix != nullptr && word.size() == 4 && Upper(word[3]) == 'L' &&
              EqualsIgnoreCase(word.substr(0, 3), kDayNames[i])) {
            *out = i;
            *last_suffix = true;
            return true;
          }
        }
      } else {
        return Fail(start, "expected a number, got " + Quote(word));
      }
      return Fail(start, "unknown name " + Quote(word));
    }
    if (AtItemEnd()) return Fail(start, "missing value");
    return Fail(start, "unexpected " + Describe(Peek()));
  }

  bool Item(FieldValue* out) {
    const size_t start = pos_;
    int lo = info_.min;
    int hi = info_.max;
    if (Peek() == '?') {
      if (!IsDayField()) {
        return Fail(start, "\"?\" is only valid in day-of-month and day-of-week");
      }
      if (text_.size() != 1) {
        return Fail(start, "\"?\" must be the whole field");
      }
      ++pos_;
      for (int v = lo; v <= hi; ++v) Set(v);
      out->bits = bits_;
      return true;
    }
    if ((Peek() == 'L' || Peek() == 'l') &&
        (pos_ + 1 >= text_.size() || !IsAlpha(text_[pos_ + 1]))) {
      if (kind_ == FieldKind::kDayOfWeek) {
        return Fail(start,
                    "\"L\" needs a weekday in day-of-week, e.g. 5L for the "
                    "last Friday");
      }
      if (kind_ != FieldKind::kDayOfMonth) {
        return Fail(start, "\"L\" is only valid in day-of-month and day-of-week");
      }
      ++pos_;
      out->last_day = true;
      return ExpectItemEnd("L");
    }
    if (Peek() == '*') {
      ++pos_;
    } else {
      bool last_suffix = false;
      if (!Value(&lo, &last_suffix)) return false;
      if (!last_suffix && (Peek() == 'L' || Peek() == 'l')) {
        if (kind_ == FieldKind::kDayOfMonth) {
          return Fail(pos_, "\"L\" stands alone in day-of-month (the last day)");
        }
        if (kind_ != FieldKind::kDayOfWeek) {
          return Fail(pos_, "\"L\" is only valid in day-of-month and day-of-week");
        }
        ++pos_;
        last_suffix = true;
      }
      if (last_suffix) {
        out->last_weekday |= static_cast<uint8_t>(1u << (lo % 7));
        return ExpectItemEnd(text_.substr(start, pos_ - start));
      }
      if (Peek() == '#') {
        if (kind_ != FieldKind::kDayOfWeek) {
          return Fail(pos_, "\"#\" is only valid in day-of-week");
        }
        ++pos_;
        const size_t n_start = pos_;
        int64_t n = 0;
        if (!Digits(&n)) return Fail(pos_, "missing occurrence after \"#\"");
        if (n < 1 || n > 5) return FailRange("occurrence", n_start, 1, 5);
        out->nth[lo % 7] |= static_cast<uint8_t>(1u << n);
        return ExpectItemEnd(text_.substr(start, pos_ - start));
      }
      hi = lo;
      if (Peek() == '-') {
        ++pos_;
        if (!Value(&hi, nullptr)) return false;
        if (hi < lo) {
          return Fail(start, "reversed range " + Quote(text_.substr(start, pos_ - start)) +
                                 " (wrap-around is not supported)");
        }
      } else if (Peek() == '/') {
        hi = info_.max;  // `a/n` means a-max/n
      }
    }
    int64_t step = 1;
    if (Peek() == '/') {
      ++pos_;
      const size_t step_start = pos_;
      if (!Digits(&step)) return Fail(pos_, "missing step after \"/\"");
      if (step < 1 || step > info_.max_step) {
        return FailRange("step", step_start, 1, info_.max_step);
      }
    }
    for (int64_t v = lo; v <= hi; v += step) Set(static_cast<int>(v));
    out->bits = bits_;
    return true;
  }

  std::string_view text_;
  size_t base_;
  FieldKind kind_;
  FieldInfo info_;
  size_t pos_ = 0;
  uint64_t bits_ = 0;
  Failure failure_;
};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};

constexpr Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

// ---------------------------------------------------------------------------
// Matching

// The expression as plain integers, for the search. Bit m of `months` is
// month m (1-12); bit d of a day mask is day d (1-31).
class Matcher {
 public:
  explicit Matcher(const CronExpr& e)
      : seconds_(e.seconds.to_ullong()),
        minutes_(e.minutes.to_ullong()),
        hours_(static_cast<uint32_t>(e.hours.to_ulong())),
        dom_(static_cast<uint32_t>(e.days_of_month.to_ulong())),
        months_(static_cast<uint32_t>(e.months.to_ulong()) << 1),
        dow_(static_cast<uint32_t>(e.days_of_week.to_ulong())),
        last_weekday_(static_cast<uint32_t>(e.last_weekday_of_month.to_ulong())),
        last_dom_(e.last_day_of_month),
        dom_restricted_(e.dom_restricted),
        dow_restricted_(e.dow_restricted),
        every_hour_(e.every_hour) {
    for (int w = 0; w < 7; ++w) {
      nth_[w] = e.nth_weekday[w];
      any_nth_ = any_nth_ || nth_[w] != 0;
    }
  }

  bool every_hour() const { return every_hour_; }

  // The days of month `month` of `year` that match; month_start is the day
  // number of its first day.
  uint32_t DayMask(int64_t year, int month, int64_t month_start) const {
    const int dim = civil::DaysInMonth(year, month);
    const auto valid = static_cast<uint32_t>((uint64_t{2} << dim) - 2);
    if (!dom_restricted_ && !dow_restricted_) return valid;
    uint32_t dom_mask = 0;
    if (dom_restricted_) {
      dom_mask = dom_ & valid;
      if (last_dom_) dom_mask |= 1u << dim;
    }
    uint32_t dow_mask = 0;
    if (dow_restricted_) {
      const int wd1 = civil::WeekdayFromDays(month_start);
      // Bit k of `week`: day 1 + k has a matching weekday. Copies of it every
      // 7 bits (0x10204081 = bits 0, 7, 14, 21, 28) cover the month.
      const uint64_t week = ((dow_ >> wd1) | (dow_ << (7 - wd1))) & 0x7f;
      dow_mask = static_cast<uint32_t>((week * 0x10204081ull) << 1) & valid;
      if (last_weekday_ != 0) {
        const int last_wd = (wd1 + dim - 1) % 7;
        for (int w = 0; w < 7; ++w) {
          if (last_weekday_ >> w & 1) {
            dow_mask |= 1u << (dim - (last_wd - w + 7) % 7);
          }
        }
      }
      if (any_nth_) {
        for (int w = 0; w < 7; ++w) {
          if (nth_[w] == 0) continue;
          const int first = 1 + (w - wd1 + 7) % 7;
          for (int n = 1; n <= 5; ++n) {
            const int day = first + 7 * (n - 1);
            if ((nth_[w] >> n & 1) && day <= dim) dow_mask |= 1u << day;
          }
        }
      }
    }
    // Vixie cron: when both day fields are restricted, either may match.
    if (dom_restricted_ && dow_restricted_) return dom_mask | dow_mask;
    return dom_restricted_ ? dom_mask : dow_mask;
  }

  bool MonthMatches(int month) const { return months_ >> month & 1; }

  // The smallest matching local time in [from, limit), by skipping whole
  // months, days, hours and minutes that cannot match. Each pass of the loop
  // either returns or moves the cursor to the start of a later month, day,
  // hour or minute, and every pass compares the cursor with `limit`, so the
  // loop is bounded by the span searched.
  std::optional<int64_t> Next(int64_t from, int64_t limit) const {
    if (from >= limit) return std::nullopt;
    const int64_t days = civil::FloorDiv(from, kSecondsPerDay);
    const auto sod = static_cast<int>(from - days * kSecondsPerDay);
    const civil::CivilDay cd = civil::CivilFromDays(days);
    int64_t y = cd.year;
    int mon = cd.month, d = cd.day, h = sod / 3600, mi = sod / 60 % 60, s = sod % 60;
    while (true) {
      if (!MonthMatches(mon)) {
        const uint32_t later = months_ & ~((2u << mon) - 1);
        if (later != 0) {
          mon = std::countr_zero(later);
        } else {
          ++y;
          mon = std::countr_zero(months_);
        }
        d = 1;
        h = mi = s = 0;
      }
      const int64_t month_start = civil::DaysFromCivil(y, mon, 1);
      const uint64_t day_mask = uint64_t{DayMask(y, mon, month_start)} >> d << d;
      if (day_mask == 0) {
        if (++mon > 12) {
          mon = 1;
          ++y;
        }
        d = 1;
        h = mi = s = 0;
        if (civil::DaysFromCivil(y, mon, 1) * kSecondsPerDay >= limit) {
          return std::nullopt;
        }
        continue;
      }
      if (const int nd = std::countr_zero(day_mask); nd != d) {
        d = nd;
        h = mi = s = 0;
      }
      const int64_t day_start = (month_start + d - 1) * kSecondsPerDay;
      if (day_start >= limit) return std::nullopt;
      const uint32_t hour_mask = hours_ >> h << h;
      if (hour_mask == 0) {
        ++d;
        h = mi = s = 0;
        continue;
      }
      if (const int nh = std::countr_zero(hour_mask); nh != h) {
        h = nh;
        mi = s = 0;
      }
      const uint64_t minute_mask = minutes_ >> mi << mi;
      if (minute_mask == 0) {
        ++h;
        mi = s = 0;
        continue;
      }
      if (const int nmi = std::countr_zero(minute_mask); nmi != mi) {
        mi = nmi;
        s = 0;
      }
      const uint64_t second_mask = seconds_ >> s << s;
      if (second_mask == 0) {
        ++mi;
        s = 0;
        continue;
      }
      s = std::countr_zero(second_mask);
      const int64_t local = day_start + h * 3600 + mi * 60 + s;
      if (local >= limit) return std::nullopt;
      return local;
    }
  }

  // The largest matching local time in [lower, from]; the mirror of Next.
  std::optional<int64_t> Previous(int64_t from, int64_t lower) const {
    if (from < lower) return std::nullopt;
    const int64_t days = civil::FloorDiv(from, kSecondsPerDay);
    const auto sod = static_cast<int>(from - days * kSecondsPerDay);
    const civil::CivilDay cd = civil::CivilFromDays(days);
    int64_t y = cd.year;
    int mon = cd.month, d = cd.day, h = sod / 3600, mi = sod / 60 % 60, s = sod % 60;
    auto to_month_end = [&] {
      d = civil::DaysInMonth(y, mon);
      h = 23;
      mi = s = 59;
    };
    while (true) {
      if (!MonthMatches(mon)) {
        const uint32_t earlier = months_ & ((1u << mon) - 1);
        if (earlier != 0) {
          mon = std::bit_width(earlier) - 1;
        } else {
          --y;
          mon = std::bit_width(months_) - 1;
        }
        to_month_end();
      }
      const int64_t month_start = civil::DaysFromCivil(y, mon, 1);
      const uint64_t day_mask = DayMask(y, mon, month_start) & UpTo(d);
      if (day_mask == 0) {
        if (--mon < 1) {
          mon = 12;
          --y;
        }
        to_month_end();
        if ((civil::DaysFromCivil(y, mon, d) + 1) * kSecondsPerDay <= lower) {
          return std::nullopt;
        }
        continue;
      }
      if (const int nd = std::bit_width(day_mask) - 1; nd != d) {
        d = nd;
        h = 23;
        mi = s = 59;
      }
      const int64_t day_start = (month_start + d - 1) * kSecondsPerDay;
      if (day_start + kSecondsPerDay <= lower) return std::nullopt;
      const uint64_t hour_mask = hours_ & UpTo(h);
      if (hour_mask == 0) {
        --d;
        h = 23;
        mi = s = 59;
        continue;
      }
      if (const int nh = std::bit_width(hour_mask) - 1; nh != h) {
        h = nh;
        mi = s = 59;
      }
      const uint64_t minute_mask = minutes_ & UpTo(mi);
      if (minute_mask == 0) {
        --h;
        mi = s = 59;
        continue;
      }
      if (const int nmi = std::bit_width(minute_mask) - 1; nmi != mi) {
        mi = nmi;
        s = 59;
      }
      const uint64_t second_mask = seconds_ & UpTo(s);
      if (second_mask == 0) {
        --mi;
        s = 59;
        continue;
      }
      s = std::bit_width(second_mask) - 1;
      const int64_t local = day_start + h * 3600 + mi * 60 + s;
      if (local < lower) return std::nullopt;
      return local;
    }
  }

 private:
  // Bits 0..k; none for k < 0.
  static uint64_t UpTo(int k) { return k < 0 ? 0 : (uint64_t{2} << k) - 1; }

  uint64_t seconds_;
  uint64_t minutes_;
  uint32_t hours_;
  uint32_t dom_;
  uint32_t months_;
  uint32_t dow_;
  uint32_t last_weekday_;
  std::array<uint8_t, 7> nth_{};
  bool any_nth_ = false;
  bool last_dom_;
  bool dom_restricted_;
  bool dow_restricted_;
  bool every_hour_;
};

// The Gregorian calendar, weekdays included, repeats every 400 years
// (146097 days, a whole number of weeks), so one cycle decides exactly
// whether some day matches.
bool SomeDayMatches(const Matcher& m) {
  for (int64_t y = 2000; y < 2400; ++y) {
    for (int mon = 1; mon <= 12; ++mon) {
      if (m.MonthMatches(mon) && m.DayMask(y, mon, civil::DaysFromCivil(y, mon, 1)) != 0) {
        return true;
      }
    }
  }
  return false;
}

// Why an expression never fires. With day-of-week unrestricted (any
// day-of-week rule matches some day in every month of some year), only
// day-of-month values that no chosen month has can cause it.
std::string NeverFiresReason(const CronExpr& e) {
  std::string days;
  int count = 0;
  for (int d = 1; d <= 31; ++d) {
    if (!e.days_of_month.test(d)) continue;
    if (count++ > 0) days += ",";
    days += std::to_string(d);
  }
  std::string months;
  for (int m = 0; m < 12; ++m) {
    if (!e.months.test(m)) continue;
    if (!months.empty()) months += ",";
    months += kMonthNames[m];
  }
  if (e.dom_restricted && !e.dow_restricted && count > 0) {
    return "never fires: " + std::string(count == 1 ? "day " : "days ") + days +
           (count == 1 ? " does not exist in " : " do not exist in ") + months;
  }
  return "never fires: no day matches the day-of-month, month and day-of-week "
         "fields";
}

Result<CronExpr> ParseFields(std::string_view text, size_t trimmed_at, std::string_view source,
                             CronError* error) {
  auto fail = [&](int field, size_t offset, std::string message) {
    if (error != nullptr) *error = CronError{field, offset, message};
    return Status::InvalidArgument(message);
  };

  struct Token {
    std::string_view text;
    size_t offset;
  };
  std::array<Token, 6> tokens;
  size_t count = 0;
  size_t extra_at = 0;  // offset of the 7th field
  for (size_t i = 0; i < text.size();) {
    if (IsSpace(text[i])) {
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    if (count < tokens.size()) {
      tokens[count] = {text.substr(start, i - start), trimmed_at + start};
    }
    if (count == tokens.size()) extra_at = trimmed_at + start;
    ++count;
  }
  if (count != 5 && count != 6) {
    return fail(0, count > 6 ? extra_at : trimmed_at + text.size(),
                "expected 5 or 6 fields, got " + std::to_string(count));
  }

  static constexpr FieldKind kSix[] = {FieldKind::kSecond, FieldKind::kMinute,
                                       FieldKind::kHour,   FieldKind::kDayOfMonth,
                                       FieldKind::kMonth,  FieldKind::kDayOfWeek};
  const FieldKind* kinds = count == 6 ? kSix : kSix + 1;
  FieldValue values[6];
  FieldValue* by_kind[6] = {};
  for (size_t i = 0; i < count; ++i) {
    FieldParser parser(tokens[i].text, tokens[i].offset, kinds[i]);
    if (!parser.Parse(&values[i])) {
      const Failure& f = parser.failure();
      const int field = static_cast<int>(i) + 1;
      return fail(field, f.offset,
                  "field " + std::to_string(field) + " (" +
                      std::string(kFieldInfo[static_cast<int>(kinds[i])].name) + "): " + f.reason);
    }
    by_kind[static_cast<int>(kinds[i])] = &values[i];
  }

  CronExpr expr;
  expr.source = std::string(source);
  expr.has_seconds = count == 6;
  expr.seconds = count == 6 ? std::bitset<60>(by_kind[0]->bits) : std::bitset<60>(1);
  expr.minutes = std::bitset<60>(by_kind[1]->bits);
  expr.hours = std::bitset<24>(by_kind[2]->bits);
  const FieldValue& dom = *by_kind[3];
  const FieldValue& dow = *by_kind[5];
  expr.days_of_month = std::bitset<32>(dom.bits);
  expr.last_day_of_month = dom.last_day;
  expr.months = std::bitset<12>(by_kind[4]->bits >> 1);
  expr.days_of_week = std::bitset<7>(dow.bits);
  expr.last_weekday_of_month = std::bitset<7>(dow.last_weekday);
  for (int w = 0; w < 7; ++w) expr.nth_weekday[w] = dow.nth[w];
  auto restricted = [](std::string_view field) { return field != "*" && field != "?"; };
  const size_t dom_index = count == 6 ? 3 : 2;
  expr.dom_restricted = restricted(tokens[dom_index].text);
  expr.dow_restricted = restricted(tokens[dom_index + 2].text);
  expr.every_hour = expr.hours.all();

  if (!SomeDayMatches(Matcher(expr))) {
    return fail(0, trimmed_at, NeverFiresReason(expr));
  }
  return expr;
}

// ---------------------------------------------------------------------------
// Searching

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// The search domain: 1970-01-01T00:00:00Z to the last whole second of
// SystemTime (2262-04-11T23:47:16Z).
constexpr int64_t kSearchMin = 0;
constexpr int64_t kSearchMax =
    std::chrono::floor<std::chrono::seconds>(SystemTime::max()).time_since_epoch().count();
// Offset spans between 1970 and 2262 number a few hundred in the busiest
// zones; the cap only makes the bound explicit.
constexpr int kMaxSpans = 100000;

int64_t Seconds(SystemTime t) {
  return std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
}

Fire MakeFire(int64_t at, int64_t local, DstNote note) {
  return Fire{SystemTime(std::chrono::seconds(at)), LocalSeconds(local), note};
}

// The offset span as integers, with the DST facts the fire set needs.
struct SpanFacts {
  int64_t begin;
  int64_t end;
  int64_t offset;
  int64_t offset_before;
  int64_t offset_after;
  // Local times [begin + offset_before, begin + offset) do not exist.
  bool gap_at_begin;
  // Local times [begin + offset, begin + offset_before) happened before, in
  // the previous span: these are second occurrences.
  bool repeat_at_begin;
  // Local times [end + offset_after, end + offset) happen again, in the next
  // span: these are first occurrences.
  bool repeat_at_end;

  explicit SpanFacts(const OffsetSpan& s)
      : begin(s.begin.time_since_epoch().count()),
        end(s.end.time_since_epoch().count()),
        offset(s.offset.count()),
        offset_before(s.offset_before.count()),
        offset_after(s.offset_after.count()),
        gap_at_begin(begin != kInt64Min && offset > offset_before),
        repeat_at_begin(begin != kInt64Min && offset_before > offset),
        repeat_at_end(end != kInt64Max && offset_after < offset) {}

  DstNote NoteFor(int64_t local, bool every_hour) const {
    if (repeat_at_begin && local < begin + offset_before) {
      return DstNote::kRepeatedEach;
    }
    if (repeat_at_end && local >= end + offset_after) {
      return every_hour ? DstNote::kRepeatedEach : DstNote::kFirstOfRepeated;
    }
    return DstNote::kNone;
  }

  // The fire at `begin` for the matching local times in the gap before it,
  // if any.
  std::optional<Fire> GapFire(const Matcher& m) const {
    if (!gap_at_begin || m.every_hour()) return std::nullopt;
    const std::optional<int64_t> nominal = m.Next(begin + offset_before, begin + offset);
    if (!nominal) return std::nullopt;
    return MakeFire(begin, *nominal, DstNote::kShiftedFromGap);
  }
};

}  // namespace

Result<CronExpr> ParseCron(std::string_view text, CronError* error) {
  size_t b = 0;
  size_t e = text.size();
  while (b < e && IsSpace(text[b])) ++b;
  while (e > b && IsSpace(text[e - 1])) --e;
  const std::string_view trimmed = text.substr(b, e - b);
  if (!trimmed.empty() && trimmed.front() == '@') {
    size_t end = 0;
    while (end < trimmed.size() && !IsSpace(trimmed[end])) ++end;
    const std::string_view name = trimmed.substr(0, end);
    for (const Macro& macro : kMacros) {
      if (!EqualsIgnoreCase(name, macro.name)) continue;
      if (end != trimmed.size()) {
        size_t extra = end;
        while (IsSpace(trimmed[extra])) ++extra;
        std::string message =
            "unexpected " + Quote(trimmed.substr(extra)) + " after " + std::string(macro.name);
        if (error != nullptr) *error = CronError{0, b + extra, message};
        return Status::InvalidArgument(message);
      }
      // The expansion cannot fail; errors would point into it, not the text.
      return ParseFields(macro.expansion, 0, trimmed, nullptr);
    }
    std::string message = "unknown macro " + Quote(name);
    if (error != nullptr) *error = CronError{0, b, message};
    return Status::InvalidArgument(message);
  }
  return ParseFields(trimmed, b, trimmed, error);
}

std::optional<Fire> NextFire(const CronExpr& expr, const TimeZone& zone, SystemTime after) {
  const Matcher m(expr);
  // Strictly after, at whole seconds: 10:00:00.5 -> 10:00:01.
  const int64_t first = std::max(Seconds(after) + 1, kSearchMin);
  if (first > kSearchMax) return std::nullopt;
  if (const std::optional<std::chrono::seconds> fixed = zone.FixedOffset()) {
    const int64_t o = fixed->count();
    const std::optional<int64_t> local = m.Next(first + o, kSearchMax + 1 + o);
    if (!local) return std::nullopt;
    return MakeFire(*local - o, *local, DstNote::kNone);
  }
  int64_t u = first;
  for (int i = 0; i < kMaxSpans; ++i) {
    const SpanFacts span(zone.SpanAt(SysSeconds(std::chrono::seconds(u))));
    if (u == span.begin) {
      if (std::optional<Fire> fire = span.GapFire(m)) return fire;
    }
    int64_t from = u + span.offset;
    // Second occurrences fire only for every-hour expressions.
    if (span.repeat_at_begin && !m.every_hour()) {
      from = std::max(from, span.begin + span.offset_before);
    }
    const int64_t end = std::min(span.end, kSearchMax + 1);
    if (const std::optional<int64_t> local = m.Next(from, end + span.offset)) {
      return MakeFire(*local - span.offset, *local, span.NoteFor(*local, m.every_hour()));
    }
    if (end > kSearchMax) return std::nullopt;
    u = end;
  }
  return std::nullopt;
}

std::optional<Fire> PreviousFire(const CronExpr& expr, const TimeZone& zone,
                                 SystemTime at_or_before) {
  const Matcher m(expr);
  // At or before, at whole seconds: 10:00:00.5 -> 10:00:00.
  const int64_t last = std::min(Seconds(at_or_before), kSearchMax);
  if (last < kSearchMin) return std::nullopt;
  if (const std::optional<std::chrono::seconds> fixed = zone.FixedOffset()) {
    const int64_t o = fixed->count();
    const std::optional<int64_t> local = m.Previous(last + o, kSearchMin + o);
    if (!local) return std::nullopt;
    return MakeFire(*local - o, *local, DstNote::kNone);
  }
  int64_t u = last;
  for (int i = 0; i < kMaxSpans; ++i) {
    const SpanFacts span(zone.SpanAt(SysSeconds(std::chrono::seconds(u))));
    const bool begin_in_range = span.begin >= kSearchMin;
    int64_t lower = std::max(span.begin, kSearchMin) + span.offset;
    if (span.repeat_at_begin && !m.every_hour()) {
      lower = std::max(lower, span.begin + span.offset_before);
    }
    if (const std::optional<int64_t> local = m.Previous(u + span.offset, lower)) {
      // The instant `begin` fires for the gap before it in preference to
      // its own local time, as in NextFire.
      if (begin_in_range && *local == span.begin + span.offset) {
        if (std::optional<Fire> fire = span.GapFire(m)) return fire;
      }
      return MakeFire(*local - span.offset, *local, span.NoteFor(*local, m.every_hour()));
    }
    if (begin_in_range) {
      if (std::optional<Fire> fire = span.GapFire(m)) return fire;
    }
    if (span.begin <= kSearchMin) return std::nullopt;
    u = span.begin - 1;
  }
  return std::nullopt;
}

}  // namespace provisioner::cron
