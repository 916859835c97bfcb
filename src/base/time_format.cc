#include "base/time_format.h"

#include <cstdio>

namespace provisioner {
namespace {

using std::chrono::days;
using std::chrono::duration_cast;
using std::chrono::floor;
using std::chrono::nanoseconds;
using std::chrono::seconds;

Status BadTime(std::string_view text, std::string_view why) {
  std::string msg = "time \"";
  msg.append(text);
  msg.append("\": ");
  msg.append(why);
  return Status::InvalidArgument(msg, "expected RFC 3339, e.g. 2026-03-29T03:00:00+02:00");
}

// Reads exactly `n` digits at text[*pos]; -1 if they are not all digits.
int ReadDigits(std::string_view text, size_t* pos, int n) {
  if (*pos + n > text.size()) return -1;
  int value = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  *pos += n;
  return value;
}

bool Expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

std::string FormatRfc3339(SystemTime t, seconds offset, Rfc3339Options options) {
  auto local = t + offset;
  auto day = floor<days>(local);
  std::chrono::year_month_day ymd{day};
  auto since_midnight = local - day;
  auto secs = floor<seconds>(since_midnight);
  long long s = secs.count();
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), s / 3600, (s / 60) % 60, s % 60);
  std::string out(buf, static_cast<size_t>(n));
  if (options.fraction_digits > 0) {
    long long frac = duration_cast<nanoseconds>(since_midnight - secs).count();
    std::snprintf(buf, sizeof buf, "%09lld", frac);
    out.push_back('.');
    out.append(buf, static_cast<size_t>(std::min(options.fraction_digits, 9)));
  }
  long long off = offset.count();
  if (off == 0 && options.utc_as_z) {
    out.push_back('Z');
  } else {
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    if (off % 60 != 0) {
      // RFC 3339 has no seconds in offsets; historical LMT offsets are rounded
      // towards zero here, which only matters for dates before ~1900.
      off -= off % 60;
    }
    std::snprintf(buf, sizeof buf, "%c%02lld:%02lld", sign, off / 3600, (off / 60) % 60);
    out.append(buf);
  }
  return out;
}

Result<SystemTime> ParseRfc3339(std::string_view text) {
  size_t pos = 0;
  int year = ReadDigits(text, &pos, 4);
  if (year < 0 || !Expect(text, &pos, '-')) return BadTime(text, "bad year");
  // SystemTime counts nanoseconds in 64 bits: it spans 1677-09-21 to 2262-04-11.
  if (year < 1678 || year > 2261) return BadTime(text, "year outside 1678-2261");
  int month = ReadDigits(text, &pos, 2);
  if (month < 1 || month > 12 || !Expect(text, &pos, '-')) return BadTime(text, "bad month");
  int day = ReadDigits(text, &pos, 2);
  std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{unsigned(month)},
                                  std::chrono::day{unsigned(day < 0 ? 0 : day)}};
  if (day < 1 || !ymd.ok()) return BadTime(text, "no such day");
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ')) {
    return BadTime(text, "missing time of day");
  }
  ++pos;
  int hour = ReadDigits(text, &pos, 2);
  if (hour < 0 || hour > 23 || !Expect(text, &pos, ':')) return BadTime(text, "bad hour");
  int minute = ReadDigits(text, &pos, 2);
  if (minute < 0 || minute > 59 || !Expect(text, &pos, ':')) return BadTime(text, "bad minute");
  int second = ReadDigits(text, &pos, 2);
  if (second < 0 || second > 59) return BadTime(text, "bad second");
  long long frac_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 9) frac_ns = frac_ns * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return BadTime(text, "empty fraction");
    for (int d = digits; d < 9; ++d) frac_ns *= 10;
  }
  long long offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int oh = ReadDigits(text, &pos, 2);
    if (oh < 0 || oh > 23 || !Expect(text, &pos, ':')) return BadTime(text, "bad offset");
    int om = ReadDigits(text, &pos, 2);
    if (om < 0 || om > 59) return BadTime(text, "bad offset");
    offset_s = sign * (oh * 3600LL + om * 60LL);
  } else {
    return BadTime(text, "missing UTC offset (Z or +HH:MM)");
  }
  if (pos != text.size()) return BadTime(text, "unexpected text after the offset");
  auto local = std::chrono::sys_days{ymd} + std::chrono::hours(hour) +
               std::chrono::minutes(minute) + seconds(second);
  auto utc = local - seconds(offset_s);
  return SystemTime(duration_cast<SystemTime::duration>(utc.time_since_epoch()) +
                    duration_cast<SystemTime::duration>(nanoseconds(frac_ns)));
}

}  // namespace provisioner
