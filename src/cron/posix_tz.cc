#include "cron/posix_tz.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "cron/civil.h"

namespace provisioner::cron {
namespace {

using civil::kSecondsPerDay;

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// About one million years. Beyond it the rule is not evaluated (see
// PosixPeriod), so that day and second counts stay far from int64 overflow.
constexpr int64_t kRuleLimit = int64_t{1'000'000} * 366 * kSecondsPerDay;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<PosixTz> Parse() {
    PosixTz tz;
    if (!Name(&tz.std_abbrev)) return Error();
    if (!Offset(&tz.std_offset, 24)) return Error();
    tz.std_offset = -tz.std_offset;
    if (AtEnd()) return tz;
    tz.has_dst = true;
    if (!Name(&tz.dst_abbrev)) return Error();
    tz.dst_offset = tz.std_offset + 3600;
    if (!AtEnd() && Peek() != ',') {
      if (!Offset(&tz.dst_offset, 24)) return Error();
      tz.dst_offset = -tz.dst_offset;
    }
    if (AtEnd()) {
      // POSIX leaves the rule implementation-defined; glibc uses the US rules.
      tz.start = {PosixDate::Kind::kMonthWeekDay, 0, 3, 2, 0, 7200};
      tz.end = {PosixDate::Kind::kMonthWeekDay, 0, 11, 1, 0, 7200};
      return tz;
    }
    if (!Expect(',') || !Date(&tz.start) || !Expect(',') || !Date(&tz.end)) {
      return Error();
    }
    if (!AtEnd()) {
      Fail("unexpected \"" + std::string(text_.substr(pos_, 1)) + "\"");
      return Error();
    }
    return tz;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  bool Fail(std::string reason) {
    if (reason_.empty()) {
      reason_ = std::move(reason);
      error_pos_ = pos_;
    }
    return false;
  }
  Status Error() const {
    return Status::InvalidArgument("POSIX TZ \"" + std::string(text_) + "\": " + reason_ +
                                   " at offset " + std::to_string(error_pos_));
  }

  bool Expect(char c) {
    if (Peek() != c) return Fail(std::string("expected \"") + c + "\"");
    ++pos_;
    return true;
  }

  bool Name(std::string* out) {
    if (Peek() == '<') {
      const size_t close = text_.find('>', pos_);
      if (close == std::string_view::npos) return Fail("unterminated <name>");
      const std::string_view name = text_.substr(pos_ + 1, close - pos_ - 1);
      for (char c : name) {
        if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-') {
          return Fail("invalid character in <name>");
        }
      }
      if (name.size() < 3) return Fail("name shorter than 3 characters");
      *out = std::string(name);
      pos_ = close + 1;
      return true;
    }
    const size_t start = pos_;
    while (IsAlpha(Peek())) ++pos_;
    if (pos_ - start < 3) {
      pos_ = start;
      return Fail("expected a zone name of 3 or more letters");
    }
    *out = std::string(text_.substr(start, pos_ - start));
    return true;
  }

  // Digits of a number of at most `max_digits` digits, no sign.
  bool Number(int* out, int max_digits) {
    const size_t start = pos_;
    int value = 0;
    while (IsDigit(Peek()) && pos_ - start < static_cast<size_t>(max_digits)) {
      value = value * 10 + (Peek() - '0');
      ++pos_;
    }
    if (pos_ == start) return Fail("expected a number");
    if (IsDigit(Peek())) return Fail("number too long");
    *out = value;
    return true;
  }

  // [+-]hh[:mm[:ss]] in seconds, hours at most max_hours.
  bool Offset(int32_t* out, int max_hours) {
    int sign = 1;
    if (Peek() == '+' || Peek() == '-') {
      sign = Peek() == '-' ? -1 : 1;
      ++pos_;
    }
    const size_t start = pos_;
    int hours = 0, minutes = 0, seconds = 0;
    if (!Number(&hours, 3)) return false;
    if (hours > max_hours) {
      pos_ = start;
      return Fail("hours " + std::to_string(hours) + " out of range 0-" +
                  std::to_string(max_hours));
    }
    if (Peek() == ':') {
      ++pos_;
      if (!Number(&minutes, 2)) return false;
      if (minutes > 59) return Fail("minutes out of range 0-59");
      if (Peek() == ':') {
        ++pos_;
        if (!Number(&seconds, 2)) return false;
        if (seconds > 59) return Fail("seconds out of range 0-59");
      }
    }
    *out = sign * (hours * 3600 + minutes * 60 + seconds);
    return true;
  }

  bool Date(PosixDate* out) {
    int a = 0;
    if (Peek() == 'J') {
      ++pos_;
      const size_t start = pos_;
      if (!Number(&a, 3)) return false;
      if (a < 1 || a > 365) {
        pos_ = start;
        return Fail("day " + std::to_string(a) + " out of range 1-365");
      }
      *out = {PosixDate::Kind::kJulian, a, 0, 0, 0, 7200};
    } else if (Peek() == 'M') {
      ++pos_;
      int month = 0, week = 0, weekday = 0;
      size_t start = pos_;
      if (!Number(&month, 2)) return false;
      if (month < 1 || month > 12) {
        pos_ = start;
        return Fail("month " + std::to_string(month) + " out of range 1-12");
      }
      if (!Expect('.')) return false;
      start = pos_;
      if (!Number(&week, 1)) return false;
      if (week < 1 || week > 5) {
        pos_ = start;
        return Fail("week " + std::to_string(week) + " out of range 1-5");
      }
      if (!Expect('.')) return false;
      start = pos_;
      if (!Number(&weekday, 1)) return false;
      if (weekday > 6) {
        pos_ = start;
        return Fail("weekday " + std::to_string(weekday) + " out of range 0-6");
      }
      *out = {PosixDate::Kind::kMonthWeekDay, 0, month, week, weekday, 7200};
    } else {
      const size_t start = pos_;
      if (!Number(&a, 3)) return false;
      if (a > 365) {
        pos_ = start;
        return Fail("day " + std::to_string(a) + " out of range 0-365");
      }
      *out = {PosixDate::Kind::kZeroBased, a, 0, 0, 0, 7200};
    }
    if (Peek() == '/') {
      ++pos_;
      if (!Offset(&out->time, 167)) return false;
    }
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string reason_;
  size_t error_pos_ = 0;
};

// Days since the epoch of the local date on which `date` falls in `year`.
int64_t LocalDay(const PosixDate& date, int64_t year) {
  const int64_t jan1 = civil::DaysFromCivil(year, 1, 1);
  switch (date.kind) {
    case PosixDate::Kind::kJulian:
      return jan1 + date.day - 1 + (civil::IsLeapYear(year) && date.day >= 60 ? 1 : 0);
    case PosixDate::Kind::kZeroBased:
      return jan1 + date.day;
    case PosixDate::Kind::kMonthWeekDay:
      break;
  }
  const int64_t first = civil::DaysFromCivil(year, date.month, 1);
  int day = (date.weekday - civil::WeekdayFromDays(first) + 7) % 7 + 7 * (date.week - 1);
  // Week 5 means the last such weekday, which may be the fourth.
  if (day >= civil::DaysInMonth(year, date.month)) day -= 7;
  return first + day;
}

struct Event {
  int64_t at;
  int64_t year;  // the rule year that produced it
  bool to_dst;
};

// The rule's switches for years [first, last], in time order, with
// switches at the same instant collapsed into the one that wins.
std::vector<Event> Events(const PosixTz& tz, int64_t first, int64_t last) {
  std::vector<Event> events;
  events.reserve(static_cast<size_t>(2 * (last - first + 1)));
  for (int64_t y = first; y <= last; ++y) {
    events.push_back({PosixDstStart(tz, y), y, true});
    events.push_back({PosixDstEnd(tz, y), y, false});
  }
  // Ties: a later year's switch wins (so "0/0,J365/25", which ends one
  // year's DST at the instant the next begins, is DST all year); within one
  // year the end wins (a zero-length DST is no DST).
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.at != b.at) return a.at < b.at;
    if (a.year != b.year) return a.year < b.year;
    return a.to_dst && !b.to_dst;
  });
  std::vector<Event> collapsed;
  collapsed.reserve(events.size());
  for (const Event& e : events) {
    if (!collapsed.empty() && collapsed.back().at == e.at) {
      collapsed.back() = e;
    } else {
      collapsed.push_back(e);
    }
  }
  return collapsed;
}

}  // namespace

int64_t PosixDstStart(const PosixTz& tz, int64_t year) {
  return LocalDay(tz.start, year) * kSecondsPerDay + tz.start.time - tz.std_offset;
}

int64_t PosixDstEnd(const PosixTz& tz, int64_t year) {
  return LocalDay(tz.end, year) * kSecondsPerDay + tz.end.time - tz.dst_offset;
}

Result<PosixTz> ParsePosixTz(std::string_view text) {
  Parser parser(text);
  Result<PosixTz> result = parser.Parse();
  if (!result.ok()) return result;
  PosixTz& tz = *result;
  if (tz.has_dst) {
    // Start and end dates repeat every 400 years (146097 days, a whole
    // number of weeks), so a rule that never switches over one such cycle
    // never switches at all. The years just outside the cycle only give its
    // first and last switches their neighbours; left in, an unpaired switch
    // at either end would look like a change.
    std::vector<Event> events = Events(tz, 1999, 2401);
    std::erase_if(events, [](const Event& e) { return e.year < 2000 || e.year > 2400; });
    tz.always_dst = events.front().to_dst;
    tz.has_transitions = std::any_of(events.begin(), events.end(), [&](const Event& e) {
      return e.to_dst != events.front().to_dst;
    });
  }
  return result;
}

PosixPeriod PosixPeriodAt(const PosixTz& tz, int64_t t) {
  if (!tz.has_transitions) return {kInt64Min, kInt64Max, tz.always_dst};
  const int64_t tc = std::clamp(t, -kRuleLimit, kRuleLimit);
  const int64_t year = civil::CivilFromDays(civil::FloorDiv(tc, kSecondsPerDay)).year;
  // Normal rules switch twice a year, so radius 2 finds both neighbours; the
  // wider windows only serve odd rules. Events of the outermost years may be
  // out of order relative to years outside the window (transition times can
  // be up to 167 h off their day), so only the inner years are trusted.
  for (int64_t radius = 2; radius <= 512; radius *= 4) {
    const std::vector<Event> events = Events(tz, year - radius, year + radius);
    auto trusted_switch = [&](size_t i) {
      return i > 0 && events[i].year > year - radius && events[i].year < year + radius &&
             events[i].to_dst != events[i - 1].to_dst;
    };
    size_t begin = events.size();
    size_t end = events.size();
    for (size_t i = 0; i < events.size(); ++i) {
      if (!trusted_switch(i)) continue;
      if (events[i].at <= tc) {
        begin = i;
      } else {
        end = i;
        break;
      }
    }
    if (begin == events.size() || end == events.size()) continue;
    PosixPeriod period{events[begin].at, events[end].at, events[begin].to_dst};
    if (period.begin <= -kRuleLimit) period.begin = kInt64Min;
    if (period.end > kRuleLimit) period.end = kInt64Max;
    return period;
  }
  // Unreachable: has_transitions means the rule switches in every 400 years.
  return {kInt64Min, kInt64Max, tz.always_dst};
}

}  // namespace provisioner::cron
