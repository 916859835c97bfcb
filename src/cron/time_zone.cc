#include "cron/time_zone.h"

#include <date/tz.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

#include "cron/civil.h"
#include "cron/posix_tz.h"

namespace provisioner::cron {
namespace {

constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Where Debian's date-tz (USE_OS_TZDB) reads the compiled zones from; we read
// the same files for their footers.
constexpr std::string_view kZoneInfoDir = "/usr/share/zoneinfo/";

// Rule periods are precomputed up to here, past the end of SystemTime (2262),
// so that the cron search only ever does a binary search. Later instants are
// computed from the rule on demand.
constexpr int64_t kTableLimit = civil::DaysFromCivil(2300, 1, 1) * civil::kSecondsPerDay;
// A zone whose stored data ends before this (no real zone does) gets its rule
// table started here rather than at the dawn of time.
constexpr int64_t kRuleTableStart = civil::DaysFromCivil(1800, 1, 1) * civil::kSecondsPerDay;

SysSeconds ToSys(int64_t s) { return SysSeconds(std::chrono::seconds(s)); }
int64_t FromSys(SysSeconds t) { return t.time_since_epoch().count(); }

struct PeriodEntry {
  int64_t begin;
  int32_t offset;
  bool is_dst;
  uint16_t abbrev;  // index into TimeZone::Impl::abbrevs
};

struct SpanEntry {
  int64_t begin;
  int32_t offset;
};

struct RawPeriod {
  int64_t begin;
  int32_t offset;
  bool is_dst;
  std::string abbrev;
};

// The bytes between the last two newlines of a TZif v2+ file, which end in
// "\n<POSIX TZ string>\n". Empty for version 1 files and empty footers.
Result<std::string> ReadFooter(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read", path);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IoError("cannot read", path);
  if (data.size() < 44 || data.compare(0, 4, "TZif") != 0) {
    return Status::Corruption("not a TZif file", path);
  }
  if (data[4] < '2') return std::string();
  if (data.back() != '\n') {
    return Status::Corruption("TZif footer does not end in a newline", path);
  }
  const size_t open = data.rfind('\n', data.size() - 2);
  if (open == std::string::npos) {
    return Status::Corruption("TZif file without footer", path);
  }
  return data.substr(open + 1, data.size() - open - 2);
}

}  // namespace

class TimeZone::Impl {
 public:
  std::string name;
  // Period i is [periods[i].begin, periods[i + 1].begin); the last one ends
  // at table_end. periods[0].begin is INT64_MIN.
  std::vector<PeriodEntry> periods;
  std::vector<std::string> abbrevs;
  // The same timeline with equal neighbouring offsets joined; the last span
  // ends at span_table_end.
  std::vector<SpanEntry> spans;
  // From table_end (a switch of `rule`) on, periods come from `rule`.
  int64_t table_end = kInt64Max;
  int64_t span_table_end = kInt64Max;
  int32_t offset_after_spans = 0;  // the offset of the rule span at span_table_end
  PosixTz rule;
  std::optional<int32_t> fixed_offset;

  void Push(int64_t begin, int32_t offset, bool is_dst, const std::string& abbrev) {
    auto it = std::find(abbrevs.begin(), abbrevs.end(), abbrev);
    const auto index = static_cast<uint16_t>(it - abbrevs.begin());
    if (it == abbrevs.end()) abbrevs.push_back(abbrev);
    if (!periods.empty()) {
      const PeriodEntry& last = periods.back();
      if (last.offset == offset && last.is_dst == is_dst && last.abbrev == index) return;
    }
    periods.push_back({periods.empty() ? kInt64Min : begin, offset, is_dst, index});
  }

  void BuildSpans() {
    for (const PeriodEntry& p : periods) {
      if (spans.empty() || spans.back().offset != p.offset) {
        spans.push_back({p.begin, p.offset});
      }
    }
    if (table_end != kInt64Max && rule.std_offset != rule.dst_offset) {
      span_table_end = table_end;
      const bool dst = PosixPeriodAt(rule, table_end).is_dst;
      offset_after_spans = dst ? rule.dst_offset : rule.std_offset;
    }
    if (spans.size() == 1 && span_table_end == kInt64Max) {
      fixed_offset = spans[0].offset;
    }
  }

  int32_t RuleOffset(bool is_dst) const { return is_dst ? rule.dst_offset : rule.std_offset; }
};

TimeZone::TimeZone(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

TimeZone TimeZone::Utc() {
  static const std::shared_ptr<const Impl> kUtc = [] {
    auto impl = std::make_shared<Impl>();
    impl->name = "UTC";
    impl->Push(kInt64Min, 0, false, "UTC");
    impl->BuildSpans();
    return impl;
  }();
  return TimeZone(kUtc);
}

Result<TimeZone> TimeZone::Load(std::string_view name) {
  const Status unknown = Status::InvalidArgument("unknown time zone \"" + std::string(name) + "\"");
  // date/tz finds zones by exact name in its directory scan, but the file
  // path below is built from the name too: refuse anything path-like.
  if (name.empty() || name.front() == '/' || name.find("..") != std::string_view::npos) {
    return unknown;
  }
  auto impl = std::make_shared<Impl>();
  impl->name = std::string(name);
  std::vector<RawPeriod> raw;
  std::string file_name;
  try {
    const date::time_zone* zone = date::locate_zone(name);
    file_name = std::string(zone->name());
    const auto date_end = date::sys_days(date::year::max() / date::December / 31);
    date::sys_info info = zone->get_info(date::sys_days(date::year::min() / date::January / 1));
    // A zone has a few hundred periods; the bound only guards against a
    // misbehaving library.
    for (int i = 0; i < 100000; ++i) {
      raw.push_back({raw.empty() ? kInt64Min : FromSys(info.begin),
                     static_cast<int32_t>(info.offset.count()), info.save.count() != 0,
                     info.abbrev});
      if (info.end >= date_end) break;
      date::sys_info next = zone->get_info(info.end);
      if (next.begin <= info.begin) break;
      info = std::move(next);
    }
  } catch (const std::exception&) {
    // date/tz throws std::runtime_error("X not found in timezone database").
    return unknown;
  }

  const std::string path = std::string(kZoneInfoDir) + file_name;
  const std::string context = "time zone \"" + impl->name + "\"";
  Result<std::string> footer = ReadFooter(path);
  if (!footer.ok()) return footer.status().WithContext(context);
  std::optional<PosixTz> rule;
  if (!footer->empty()) {
    Result<PosixTz> parsed = ParsePosixTz(*footer);
    if (!parsed.ok()) {
      return Status::Corruption(parsed.status().message(), path).WithContext(context);
    }
    rule = *std::move(parsed);
  }

  // date/tz's last period is open-ended and frozen; from its start on, the
  // footer rule is the truth (RFC 8536 §3.3).
  const int64_t rule_from = raw.back().begin;
  if (rule) raw.pop_back();
  for (const RawPeriod& p : raw) {
    impl->Push(p.begin, p.offset, p.is_dst, p.abbrev);
  }
  if (rule && !rule->has_transitions) {
    const bool dst = rule->always_dst;
    impl->Push(rule_from, dst ? rule->dst_offset : rule->std_offset, dst,
               dst ? rule->dst_abbrev : rule->std_abbrev);
  } else if (rule) {
    impl->rule = *rule;
    int64_t t = std::max(rule_from, kRuleTableStart);
    PosixPeriod p = PosixPeriodAt(impl->rule, t);
    impl->Push(rule_from, impl->RuleOffset(p.is_dst), p.is_dst,
               p.is_dst ? rule->dst_abbrev : rule->std_abbrev);
    // Two switches a year from at latest 1800 to 2300: the bound is generous.
    for (int i = 0; i < 10000 && p.end < kTableLimit; ++i) {
      t = p.end;
      p = PosixPeriodAt(impl->rule, t);
      impl->Push(t, impl->RuleOffset(p.is_dst), p.is_dst,
                 p.is_dst ? rule->dst_abbrev : rule->std_abbrev);
    }
    impl->table_end = p.end;
  }
  impl->BuildSpans();
  return TimeZone(std::move(impl));
}

const std::string& TimeZone::name() const { return impl_->name; }

bool TimeZone::IsUtc() const { return impl_->fixed_offset == 0; }

std::optional<std::chrono::seconds> TimeZone::FixedOffset() const {
  if (!impl_->fixed_offset) return std::nullopt;
  return std::chrono::seconds(*impl_->fixed_offset);
}

Period TimeZone::PeriodAt(SysSeconds t) const {
  const Impl& z = *impl_;
  const int64_t s = FromSys(t);
  if (s >= z.table_end) {
    const PosixPeriod p = PosixPeriodAt(z.rule, s);
    return Period{ToSys(std::max(p.begin, z.table_end)), ToSys(p.end),
                  std::chrono::seconds(z.RuleOffset(p.is_dst)),
                  p.is_dst ? z.rule.dst_abbrev : z.rule.std_abbrev, p.is_dst};
  }
  auto it = std::upper_bound(z.periods.begin(), z.periods.end(), s,
                             [](int64_t v, const PeriodEntry& p) { return v < p.begin; });
  --it;  // periods[0].begin is INT64_MIN, so `it` was not begin()
  const int64_t end = it + 1 == z.periods.end() ? z.table_end : (it + 1)->begin;
  return Period{ToSys(it->begin), ToSys(end), std::chrono::seconds(it->offset),
                z.abbrevs[it->abbrev], it->is_dst};
}

OffsetSpan TimeZone::SpanAt(SysSeconds t) const {
  const Impl& z = *impl_;
  const int64_t s = FromSys(t);
  if (s >= z.span_table_end) {
    // The rule alternates between two different offsets here.
    const PosixPeriod p = PosixPeriodAt(z.rule, s);
    const auto offset = std::chrono::seconds(z.RuleOffset(p.is_dst));
    const auto other = std::chrono::seconds(z.RuleOffset(!p.is_dst));
    return OffsetSpan{ToSys(std::max(p.begin, z.span_table_end)), ToSys(p.end), offset, other,
                      p.end == kInt64Max ? offset : other};
  }
  auto it = std::upper_bound(z.spans.begin(), z.spans.end(), s,
                             [](int64_t v, const SpanEntry& p) { return v < p.begin; });
  --it;
  const bool last = it + 1 == z.spans.end();
  const auto offset = std::chrono::seconds(it->offset);
  OffsetSpan span;
  span.begin = ToSys(it->begin);
  span.end = ToSys(last ? z.span_table_end : (it + 1)->begin);
  span.offset = offset;
  span.offset_before = it == z.spans.begin() ? offset : std::chrono::seconds((it - 1)->offset);
  if (!last) {
    span.offset_after = std::chrono::seconds((it + 1)->offset);
  } else {
    span.offset_after =
        z.span_table_end == kInt64Max ? offset : std::chrono::seconds(z.offset_after_spans);
  }
  return span;
}

std::chrono::seconds TimeZone::OffsetAt(SystemTime t) const {
  if (impl_->fixed_offset) return std::chrono::seconds(*impl_->fixed_offset);
  return SpanAt(std::chrono::floor<std::chrono::seconds>(t)).offset;
}

}  // namespace provisioner::cron
