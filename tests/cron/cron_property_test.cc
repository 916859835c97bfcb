// NextFire and PreviousFire against a brute-force reference, over thousands
// of random expressions and instants in zones with gaps, overlaps, 30- and
// 45-minute offsets and a skipped day.
//
// The reference knows nothing of the search: it enumerates local wall-clock
// times, matches each against the expression with std::chrono's calendar,
// finds the instants that show that local time by trying every offset in
// effect nearby, and applies the fire-set rules of cron_expr.h literally:
//  - a local time shown by one instant fires there;
//  - shown twice: every-hour expressions fire at both, others at the first;
//  - shown never (a gap): every-hour expressions skip it, others fire once
//    at the instant the gap ends, nominal = the earliest matching gap time;
//    that instant's own local time, if it matches, is the same fire.
// Offsets come from TimeZone::OffsetAt, which time_zone_test.cc checks
// against glibc on its own.
//
// The random expressions are built from a model, so the parsed sets are
// checked against the model too. Seeds are fixed and printed on failure;
// set CRON_PROPERTY_SEED to explore others.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cron/cron_expr.h"
#include "cron/cron_test_util.h"

namespace provisioner::cron {
namespace {

using testing::At;
using testing::Describe;
using testing::S;
using testing::Sec;
using testing::Zone;

constexpr int64_t kDay = 86400;
constexpr int64_t kSearchMax = 9223372036;  // 2262-04-11T23:47:16Z

uint64_t Seed(uint64_t fallback) {
  if (const char* env = std::getenv("CRON_PROPERTY_SEED")) {
    return std::strtoull(env, nullptr, 10);
  }
  return fallback;
}

// ---------------------------------------------------------------------------
// Random expressions with their expected sets

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  int64_t Int64(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }

 private:
  std::mt19937_64 rng_;
};

enum Kind { kSecond, kMinute, kHour, kDom, kMonth, kDow };

struct FieldModel {
  std::set<int> values;  // as written; day-of-week 7 is kept as 7 here
  bool last_day = false;
  std::set<int> last_weekday;
  std::set<std::pair<int, int>> nth;  // (weekday, n)
};

struct ExprModel {
  std::string text;
  bool has_seconds = false;
  FieldModel f[6];
  bool dom_restricted = false;
  bool dow_restricted = false;
};

const char* const kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

std::string RandomCase(Gen& g, std::string s) {
  for (char& c : s) {
    if (g.Chance(0.3)) c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

int Lo(Kind k) { return k == kDom || k == kMonth ? 1 : 0; }
int Hi(Kind k) {
  switch (k) {
    case kSecond:
    case kMinute:
      return 59;
    case kHour:
      return 23;
    case kDom:
      return 31;
    case kMonth:
      return 12;
    case kDow:
      return 7;
  }
  return 0;
}
int MaxStep(Kind k) { return k == kDow ? 7 : Hi(k) - Lo(k) + 1; }

// A value biased the way DST tests need it: hours near the small hours,
// days near month ends.
int RandomValue(Gen& g, Kind k) {
  if (k == kHour && g.Chance(0.6)) return g.Int(0, 4);
  if (k == kDom && g.Chance(0.4)) return g.Int(27, 31);
  if ((k == kMinute || k == kSecond) && g.Chance(0.4)) {
    return g.Pick(std::vector<int>{0, 15, 30, 45});
  }
  return g.Int(Lo(k), Hi(k));
}

std::string ValueText(Gen& g, Kind k, int v) {
  if (k == kMonth && g.Chance(0.3)) return RandomCase(g, kMonthNames[v - 1]);
  if (k == kDow && v < 7 && g.Chance(0.3)) return RandomCase(g, kDayNames[v]);
  return std::to_string(v);
}

// One list item; adds its values to `m`.
std::string RandomItem(Gen& g, Kind k, FieldModel* m) {
  const int r = g.Int(0, 99);
  if (k == kDom && r < 8) {
    m->last_day = true;
    return "L";
  }
  if (k == kDow && r < 10) {
    const int w = g.Int(0, 7);
    m->last_weekday.insert(w % 7);
    return ValueText(g, k, w) + "L";
  }
  if (k == kDow && r < 22) {
    const int w = g.Int(0, 7);
    const int n = g.Int(1, 5);
    m->nth.insert({w % 7, n});
    return ValueText(g, k, w) + "#" + std::to_string(n);
  }
  if (r < 45) {
    const int v = RandomValue(g, k);
    m->values.insert(v);
    return ValueText(g, k, v);
  }
  if (r < 65) {
    int a = RandomValue(g, k), b = RandomValue(g, k);
    if (a > b) std::swap(a, b);
    for (int v = a; v <= b; ++v) m->values.insert(v);
    return ValueText(g, k, a) + "-" + ValueText(g, k, b);
  }
  const int step = g.Chance(0.7) ? g.Int(1, std::min(12, MaxStep(k))) : g.Int(1, MaxStep(k));
  int a = Lo(k), b = Hi(k);
  std::string head = "*";
  if (r < 80) {
    a = RandomValue(g, k);
    head = ValueText(g, k, a);  // a/n: a to the maximum
  } else if (r < 90) {
    a = RandomValue(g, k);
    b = RandomValue(g, k);
    if (a > b) std::swap(a, b);
    head = ValueText(g, k, a) + "-" + ValueText(g, k, b);
  }
  for (int v = a; v <= b; v += step) m->values.insert(v);
  return head + "/" + std::to_string(step);
}

std::string RandomField(Gen& g, Kind k, double star, FieldModel* m, bool* restricted) {
  *restricted = true;
  if (g.Chance(star)) {
    *restricted = false;
    for (int v = Lo(k); v <= Hi(k); ++v) m->values.insert(v);
    if ((k == kDom || k == kDow) && g.Chance(0.3)) return "?";
    return "*";
  }
  std::string text = RandomItem(g, k, m);
  const int more = g.Chance(0.3) ? g.Int(1, 2) : 0;
  for (int i = 0; i < more; ++i) {
    // Not `"," + std::string`: GCC 12 at -O3 warns -Wrestrict on it (GCC PR 105651).
    text += ',';
    text += RandomItem(g, k, m);
  }
  return text;
}

struct Density {
  double second_star;
  double minute_star;
  double hour_star;
  double dom_star;
  double month_star;
  double dow_star;
};

ExprModel RandomExpr(Gen& g, bool six, const Density& d) {
  ExprModel e;
  e.has_seconds = six;
  bool ignored = false;
  std::string text;
  if (six) {
    text = RandomField(g, kSecond, d.second_star, &e.f[kSecond], &ignored);
    text += " ";
  } else {
    e.f[kSecond].values = {0};
  }
  text += RandomField(g, kMinute, d.minute_star, &e.f[kMinute], &ignored) + " ";
  text += RandomField(g, kHour, d.hour_star, &e.f[kHour], &ignored) + " ";
  text += RandomField(g, kDom, d.dom_star, &e.f[kDom], &e.dom_restricted) + " ";
  text += RandomField(g, kMonth, d.month_star, &e.f[kMonth], &ignored) + " ";
  text += RandomField(g, kDow, d.dow_star, &e.f[kDow], &e.dow_restricted);
  e.text = text;
  return e;
}

// The parsed expression has exactly the model's sets.
void CheckAgainstModel(const CronExpr& c, const ExprModel& m) {
  for (int v = 0; v < 60; ++v) {
    REQUIRE(c.seconds.test(v) == (m.f[kSecond].values.count(v) > 0));
    REQUIRE(c.minutes.test(v) == (m.f[kMinute].values.count(v) > 0));
  }
  for (int v = 0; v < 24; ++v) {
    REQUIRE(c.hours.test(v) == (m.f[kHour].values.count(v) > 0));
  }
  for (int v = 1; v <= 31; ++v) {
    REQUIRE(c.days_of_month.test(v) == (m.f[kDom].values.count(v) > 0));
  }
  for (int v = 1; v <= 12; ++v) {
    REQUIRE(c.months.test(v - 1) == (m.f[kMonth].values.count(v) > 0));
  }
  for (int w = 0; w < 7; ++w) {
    const bool set = m.f[kDow].values.count(w) > 0 || (w == 0 && m.f[kDow].values.count(7) > 0);
    REQUIRE(c.days_of_week.test(w) == set);
    REQUIRE(c.last_weekday_of_month.test(w) == (m.f[kDow].last_weekday.count(w) > 0));
    for (int n = 1; n <= 5; ++n) {
      REQUIRE(((c.nth_weekday[w] >> n) & 1) == (m.f[kDow].nth.count({w, n}) > 0 ? 1 : 0));
    }
  }
  REQUIRE(c.last_day_of_month == m.f[kDom].last_day);
  REQUIRE(c.dom_restricted == m.dom_restricted);
  REQUIRE(c.dow_restricted == m.dow_restricted);
  REQUIRE(c.every_hour == (m.f[kHour].values.size() == 24));
  REQUIRE(c.has_seconds == m.has_seconds);
}

// The sets of a model, built without the parser.
CronExpr FromModel(const ExprModel& m) {
  CronExpr c;
  c.has_seconds = m.has_seconds;
  for (int v : m.f[kSecond].values) c.seconds.set(v);
  for (int v : m.f[kMinute].values) c.minutes.set(v);
  for (int v : m.f[kHour].values) c.hours.set(v);
  for (int v : m.f[kDom].values) c.days_of_month.set(v);
  for (int v : m.f[kMonth].values) c.months.set(v - 1);
  for (int v : m.f[kDow].values) c.days_of_week.set(v % 7);
  for (int v : m.f[kDow].last_weekday) c.last_weekday_of_month.set(v);
  for (const auto& [w, n] : m.f[kDow].nth) {
    c.nth_weekday[w] |= static_cast<uint8_t>(1 << n);
  }
  c.last_day_of_month = m.f[kDom].last_day;
  c.dom_restricted = m.dom_restricted;
  c.dow_restricted = m.dow_restricted;
  c.every_hour = c.hours.all();
  return c;
}

// ---------------------------------------------------------------------------
// The reference

// Whether the civil day `day` (days since 1970-01-01) matches, by
// std::chrono's calendar.
bool DayMatches(const CronExpr& e, int64_t day) {
  using namespace std::chrono;
  const sys_days sd{days(day)};
  const year_month_day ymd(sd);
  const int d = static_cast<int>(static_cast<unsigned>(ymd.day()));
  const int m = static_cast<int>(static_cast<unsigned>(ymd.month()));
  const int last = static_cast<int>(
      static_cast<unsigned>(year_month_day_last(ymd.year(), month_day_last(ymd.month())).day()));
  const int wd = static_cast<int>(weekday(sd).c_encoding());
  if (!e.months.test(m - 1)) return false;
  const bool dom = e.days_of_month.test(d) || (e.last_day_of_month && d == last);
  const bool dow = e.days_of_week.test(wd) || (e.last_weekday_of_month.test(wd) && d + 7 > last) ||
                   ((e.nth_weekday[wd] >> ((d - 1) / 7 + 1)) & 1);
  return e.dom_restricted && e.dow_restricted ? (dom || dow) : (dom && dow);
}

bool TimeMatches(const CronExpr& e, int64_t second_of_day) {
  return e.hours.test(second_of_day / 3600) && e.minutes.test(second_of_day / 60 % 60) &&
         e.seconds.test(second_of_day % 60);
}

struct Transition {
  int64_t at;
  int64_t before;
  int64_t after;
};

// Offset changes in [a, b]: sampled every `step` seconds, then bisected to
// the exact second.
std::vector<Transition> FindTransitions(const TimeZone& z, int64_t a, int64_t b, int64_t step) {
  std::vector<Transition> out;
  auto off = [&](int64_t t) { return z.OffsetAt(At(t)).count(); };
  int64_t prev_t = a;
  int64_t prev = off(a);
  for (int64_t t = a + step;; t += step) {
    t = std::min(t, b);
    const int64_t o = off(t);
    if (o != prev) {
      int64_t lo = prev_t, hi = t;  // off(lo) == prev, off(hi) != prev
      while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        (off(mid) == prev ? lo : hi) = mid;
      }
      out.push_back({hi, prev, off(hi)});
    }
    prev = o;
    prev_t = t;
    if (t == b) break;
  }
  return out;
}

struct RefFire {
  int64_t at;
  int64_t nominal;
  DstNote note;
};

class Reference {
 public:
  // Fires with instants in [a, b]; local times are enumerated by `each_local`.
  Reference(const CronExpr& e, const TimeZone& z, int64_t a, int64_t b, int64_t sample_step)
      : e_(e), z_(z), a_(a), b_(b) {
    transitions_ = FindTransitions(z, std::max<int64_t>(a - 2 * kDay, -kDay),
                                   std::min(b + 2 * kDay, kSearchMax), sample_step);
    offsets_.insert(z.OffsetAt(At(std::max<int64_t>(a - 2 * kDay, -kDay))).count());
    for (const Transition& t : transitions_) offsets_.insert(t.after);
    lo_local_ = a + *offsets_.begin() - kDay;
    hi_local_ = b + *offsets_.rbegin() + kDay;
  }

  int64_t lo_local() const { return lo_local_; }
  int64_t hi_local() const { return hi_local_; }

  // Every local time (whole seconds) in [lo_local, hi_local] that could
  // match: on a minute grid for 5-field expressions.
  void EnumerateDense() {
    const int64_t step = e_.has_seconds ? 1 : 60;
    int64_t day = -1;
    bool day_ok = false;
    for (int64_t l = lo_local_ - ((lo_local_ % step) + step) % step; l <= hi_local_; l += step) {
      const int64_t d = l >= 0 ? l / kDay : (l - kDay + 1) / kDay;
      if (d != day) {
        day = d;
        day_ok = DayMatches(e_, d);
      }
      if (day_ok && TimeMatches(e_, l - d * kDay)) AddLocal(l);
    }
  }

  // Day by day, then the expression's times of day (for sparse times).
  void EnumerateByDay() {
    std::vector<int64_t> times;
    for (int h = 0; h < 24; ++h) {
      if (!e_.hours.test(h)) continue;
      for (int m = 0; m < 60; ++m) {
        if (!e_.minutes.test(m)) continue;
        for (int s = 0; s < 60; ++s) {
          if (e_.seconds.test(s)) times.push_back(h * 3600 + m * 60 + s);
        }
      }
    }
    for (int64_t d = lo_local_ / kDay - 1; d <= hi_local_ / kDay + 1; ++d) {
      if (!DayMatches(e_, d)) continue;
      for (int64_t t : times) AddLocal(d * kDay + t);
    }
  }

  std::vector<RefFire> Fires() const {
    std::vector<RefFire> out;
    for (const auto& [at, fire] : fires_) {
      if (at >= a_ && at <= b_) out.push_back(fire);
    }
    return out;
  }

 private:
  void AddLocal(int64_t l) {
    std::vector<int64_t> instants;
    for (int64_t o : offsets_) {
      const int64_t u = l - o;
      if (u >= -kDay && u <= kSearchMax && z_.OffsetAt(At(u)).count() == o) {
        instants.push_back(u);
      }
    }
    std::sort(instants.begin(), instants.end());
    if (!instants.empty()) {
      const bool twice = instants.size() > 1;
      if (e_.every_hour) {
        for (int64_t u : instants) {
          Put({u, l, twice ? DstNote::kRepeatedEach : DstNote::kNone});
        }
      } else {
        Put({instants[0], l, twice ? DstNote::kFirstOfRepeated : DstNote::kNone});
      }
      return;
    }
    // A gap: find the change that skipped `l`.
    for (const Transition& t : transitions_) {
      if (t.after > t.before && l >= t.at + t.before && l < t.at + t.after) {
        if (!e_.every_hour) Put({t.at, l, DstNote::kShiftedFromGap});
        return;
      }
    }
    // Outside the instants the reference can map (before 1970 or after
    // 2262): irrelevant, but say so if it is inside the window.
    if (l - *offsets_.rbegin() >= a_ && l - *offsets_.begin() <= b_ && a_ > kDay &&
        b_ < kSearchMax - kDay) {
      FAIL("reference: local time " << testing::LocalString(l) << " has no instant and no gap");
    }
  }

  void Put(const RefFire& f) {
    auto [it, inserted] = fires_.emplace(f.at, f);
    if (inserted) return;
    RefFire& have = it->second;
    // One instant, one fire: a gap fire absorbs the instant's own local
    // time, and keeps the earliest gap time as its nominal.
    if (f.note == DstNote::kShiftedFromGap) {
      if (have.note != DstNote::kShiftedFromGap || f.nominal < have.nominal) {
        have = f;
      }
    }
  }

  const CronExpr& e_;
  const TimeZone& z_;
  int64_t a_;
  int64_t b_;
  std::vector<Transition> transitions_;
  std::set<int64_t> offsets_;
  int64_t lo_local_ = 0;
  int64_t hi_local_ = 0;
  std::map<int64_t, RefFire> fires_;
};

std::string Show(const RefFire& f, const TimeZone& z) {
  return Describe(Fire{At(f.at), LocalSeconds(f.nominal), f.note}, z);
}

bool Same(const std::optional<Fire>& got, const RefFire& want) {
  return got && Sec(got->at) == want.at && got->nominal.count() == want.nominal &&
         got->note == want.note;
}

// NextFire and PreviousFire reproduce the reference's fires in [a, b] and
// nothing else there; also from random sub-second instants. Plain ifs
// rather than REQUIREs in the loops: millions of fires are compared.
void CheckWindow(const CronExpr& e, const TimeZone& z, int64_t a, int64_t b,
                 const std::vector<RefFire>& want, Gen& g) {
  auto show = [&](const std::optional<Fire>& f) {
    return f ? Describe(*f, z) : std::string("nothing");
  };
  int64_t t = a - 1;
  for (const RefFire& f : want) {
    const std::optional<Fire> got = NextFire(e, z, At(t));
    if (!Same(got, f)) {
      FAIL("NextFire after " << t << ": got " << show(got) << ", want " << Show(f, z));
    }
    t = f.at;
  }
  if (std::optional<Fire> after = NextFire(e, z, At(t))) {
    REQUIRE_MESSAGE(Sec(after->at) > b, "extra fire " << Describe(*after, z));
  } else {
    // Nothing after b in the whole range: then the last fire of all is
    // at or before b.
    std::optional<Fire> last = PreviousFire(e, z, SystemTime::max());
    REQUIRE_MESSAGE((!last || Sec(last->at) <= b), "NextFire gave up after " << t);
  }
  t = b;
  for (auto it = want.rbegin(); it != want.rend(); ++it) {
    const std::optional<Fire> got = PreviousFire(e, z, At(t));
    if (!Same(got, *it)) {
      FAIL("PreviousFire at " << t << ": got " << show(got) << ", want " << Show(*it, z));
    }
    t = it->at - 1;
  }
  if (std::optional<Fire> before = PreviousFire(e, z, At(t))) {
    REQUIRE_MESSAGE(Sec(before->at) < a, "extra fire " << Describe(*before, z));
  } else {
    // Nothing before a since 1970: then the first fire of all is at or
    // after a.
    std::optional<Fire> first = NextFire(e, z, At(-1));
    REQUIRE_MESSAGE((!first || Sec(first->at) >= a), "PreviousFire gave up at " << t);
  }
  for (int i = 0; i < 4; ++i) {
    const SystemTime x = At(g.Int64(a, b)) + std::chrono::nanoseconds(g.Int64(0, 999'999'999));
    auto next =
        std::find_if(want.begin(), want.end(), [&](const RefFire& f) { return At(f.at) > x; });
    if (next != want.end()) {
      const std::optional<Fire> got = NextFire(e, z, x);
      if (!Same(got, *next)) {
        FAIL("NextFire from a fraction: got " << show(got));
      }
    }
    auto prev =
        std::find_if(want.rbegin(), want.rend(), [&](const RefFire& f) { return At(f.at) <= x; });
    if (prev != want.rend()) {
      const std::optional<Fire> got = PreviousFire(e, z, x);
      if (!Same(got, *prev)) {
        FAIL("PreviousFire from a fraction: got " << show(got));
      }
    }
  }
}

// How many fires of each note a run compared, to show the DST rules were
// exercised.
struct NoteCounts {
  int total = 0;
  int by_note[4] = {0, 0, 0, 0};
  void Add(const std::vector<RefFire>& fires) {
    for (const RefFire& f : fires) {
      ++total;
      ++by_note[static_cast<int>(f.note)];
    }
  }
};

struct ZoneChoice {
  const char* name;
  int64_t lo;  // instants are drawn from [lo, hi]
  int64_t hi;
};

// An instant near one of the zone's offset changes, or anywhere.
int64_t RandomInstant(Gen& g, const TimeZone& z, const ZoneChoice& c) {
  const int r = g.Int(0, 99);
  if (r < 3) return g.Int64(0, 3 * kDay);
  if (r < 6) return g.Int64(kSearchMax - 3 * kDay, kSearchMax);
  const int64_t t = g.Int64(c.lo, c.hi);
  if (r < 30 || z.FixedOffset()) return t;
  const OffsetSpan s = z.SpanAt(testing::Sec(t));
  const int64_t edge = g.Chance(0.5) ? Sec(s.begin) : Sec(s.end);
  if (edge < 0 || edge > kSearchMax) return t;
  return std::clamp<int64_t>(edge + g.Int64(-kDay - kDay / 2, kDay + kDay / 2), 0, kSearchMax);
}

const std::vector<ZoneChoice>& Zones() {
  static const std::vector<ZoneChoice> zones = {
      {"UTC", 0, kSearchMax},
      {"Europe/Berlin", 0, kSearchMax},
      {"America/New_York", 0, kSearchMax},
      {"Australia/Lord_Howe", 0, kSearchMax},
      {"Asia/Kathmandu", S("1985-01-01T00:00:00Z"), S("1987-01-01T00:00:00Z")},
      {"Asia/Kathmandu", 0, kSearchMax},
      {"Pacific/Apia", S("2010-06-01T00:00:00Z"), S("2012-06-01T00:00:00Z")},
      {"Asia/Kolkata", 0, kSearchMax},
  };
  return zones;
}

TEST_SUITE("cron") {
  TEST_CASE(
      "cron: property - Next and Previous match the reference in short "
      "windows") {
    const uint64_t seed = Seed(0x5eed0001);
    INFO("seed " << seed << " (set CRON_PROPERTY_SEED to reproduce another)");
    Gen g(seed);
    std::vector<TimeZone> zones;
    for (const ZoneChoice& c : Zones()) zones.push_back(Zone(c.name));
    // Dense expressions so that a few days hold many fires.
    const Density dense{0.4, 0.35, 0.3, 0.8, 0.85, 0.8};
    int cases = 0, never = 0;
    NoteCounts fires;
    for (int i = 0; i < 2500; ++i) {
      const size_t zi = static_cast<size_t>(g.Int(0, static_cast<int>(zones.size()) - 1));
      const TimeZone& zone = zones[zi];
      const bool six = g.Chance(0.15);
      const ExprModel model = RandomExpr(g, six, dense);
      CAPTURE(i);
      CAPTURE(model.text);
      CAPTURE(zone.name());
      Result<CronExpr> parsed = ParseCron(model.text);
      if (!parsed.ok()) {
        // Only a day-of-month that no chosen month has may be refused.
        REQUIRE_MESSAGE(parsed.status().message().rfind("never fires: ", 0) == 0,
                        parsed.status().message());
        ++never;
        continue;
      }
      CheckAgainstModel(*parsed, model);
      const int64_t t = RandomInstant(g, zone, Zones()[zi]);
      const int64_t half = six ? 3600 : 2 * kDay;
      const int64_t a = std::max<int64_t>(0, t - half);
      const int64_t b = std::min(kSearchMax, t + half);
      CAPTURE(a);
      CAPTURE(b);
      Reference ref(*parsed, zone, a, b, 600);
      ref.EnumerateDense();
      const std::vector<RefFire> want = ref.Fires();
      CheckWindow(*parsed, zone, a, b, want, g);
      ++cases;
      fires.Add(want);
    }
    MESSAGE("short windows: " << cases << " expressions, " << fires.total << " fires compared ("
                              << fires.by_note[1] << " shifted from a gap, " << fires.by_note[2]
                              << " first of repeated, " << fires.by_note[3] << " repeated each), "
                              << never << " refused as never firing");
    CHECK(cases > 2000);
    CHECK(fires.total > 100000);
    CHECK(fires.by_note[1] > 20);
    CHECK(fires.by_note[2] > 100);
    CHECK(fires.by_note[3] > 1000);
  }

  TEST_CASE("cron: property - DST changes match the reference") {
    // Windows around an offset change, with the hour field made to name the
    // local hours of the change, so that gaps and repeats matter.
    const uint64_t seed = Seed(0x5eed0004);
    INFO("seed " << seed);
    Gen g(seed);
    const std::vector<ZoneChoice> choices = {
        {"Europe/Berlin", 0, kSearchMax},
        {"America/New_York", 0, kSearchMax},
        {"Australia/Lord_Howe", 0, kSearchMax},
        {"Pacific/Apia", S("2011-01-01T00:00:00Z"), S("2013-01-01T00:00:00Z")},
        {"Asia/Kathmandu", S("1985-06-01T00:00:00Z"), S("1986-06-01T00:00:00Z")},
    };
    std::vector<TimeZone> zones;
    for (const ZoneChoice& c : choices) zones.push_back(Zone(c.name));
    const Density dense{0.3, 0.3, 0.0, 0.85, 0.9, 0.85};
    int cases = 0;
    NoteCounts fires;
    for (int i = 0; i < 1500; ++i) {
      const size_t zi = static_cast<size_t>(g.Int(0, static_cast<int>(zones.size()) - 1));
      const TimeZone& zone = zones[zi];
      const OffsetSpan span = zone.SpanAt(testing::Sec(g.Int64(choices[zi].lo, choices[zi].hi)));
      const int64_t change = Sec(span.end);
      if (change > kSearchMax) continue;
      const bool six = g.Chance(0.15);
      ExprModel model = RandomExpr(g, six, dense);
      // The local hours just before and after the change.
      const int64_t before = (change + span.offset.count()) % kDay / 3600;
      const int64_t after = (change + span.offset_after.count()) % kDay / 3600;
      std::string hours = std::to_string(g.Chance(0.5) ? before : after);
      if (g.Chance(0.4)) hours += "," + std::to_string(g.Int(0, 23));
      if (g.Chance(0.2)) {
        hours =
            std::to_string(std::min(before, after)) + "-" + std::to_string(std::max(before, after));
      }
      if (g.Chance(0.15)) hours = "*";
      const size_t first_space = model.text.find(' ', six ? model.text.find(' ') + 1 : 0);
      const size_t second_space = model.text.find(' ', first_space + 1);
      model.text = model.text.substr(0, first_space + 1) + hours + model.text.substr(second_space);
      CAPTURE(i);
      CAPTURE(model.text);
      CAPTURE(zone.name());
      Result<CronExpr> parsed = ParseCron(model.text);
      if (!parsed.ok()) continue;
      const int64_t half = six ? 2 * 3600 : kDay;
      const int64_t a = std::max<int64_t>(0, change - half + g.Int64(-3600, 3600));
      const int64_t b = std::min(kSearchMax, change + half + g.Int64(-3600, 3600));
      CAPTURE(a);
      CAPTURE(b);
      Reference ref(*parsed, zone, a, b, 600);
      ref.EnumerateDense();
      const std::vector<RefFire> want = ref.Fires();
      CheckWindow(*parsed, zone, a, b, want, g);
      ++cases;
      fires.Add(want);
    }
    MESSAGE("DST windows: " << cases << " expressions, " << fires.total << " fires compared ("
                            << fires.by_note[1] << " shifted from a gap, " << fires.by_note[2]
                            << " first of repeated, " << fires.by_note[3] << " repeated each)");
    CHECK(cases > 1000);
    CHECK(fires.by_note[1] > 200);
    CHECK(fires.by_note[2] > 200);
    CHECK(fires.by_note[3] > 200);
  }

  TEST_CASE("cron: property - rare expressions over years match the reference") {
    const uint64_t seed = Seed(0x5eed0002);
    INFO("seed " << seed);
    Gen g(seed);
    std::vector<TimeZone> zones;
    for (const ZoneChoice& c : Zones()) zones.push_back(Zone(c.name));
    // Few times of day, restricted days: fires weeks or years apart.
    const Density rare{0.0, 0.0, 0.0, 0.3, 0.5, 0.4};
    int cases = 0;
    NoteCounts fires;
    for (int i = 0; i < 300; ++i) {
      const size_t zi = static_cast<size_t>(g.Int(0, static_cast<int>(zones.size()) - 1));
      const TimeZone& zone = zones[zi];
      ExprModel model = RandomExpr(g, false, rare);
      // Keep the times of day sparse: one or two minutes, one to three hours.
      const int m1 = g.Int(0, 59);
      const int h1 = g.Int(0, 4), h2 = g.Int(0, 23);
      const std::string times = std::to_string(m1) + " " + std::to_string(h1) +
                                (g.Chance(0.5) ? "," + std::to_string(h2) : "");
      model.text = times + model.text.substr(model.text.find(' ', model.text.find(' ') + 1));
      CAPTURE(i);
      CAPTURE(model.text);
      CAPTURE(zone.name());
      Result<CronExpr> parsed = ParseCron(model.text);
      if (!parsed.ok()) continue;
      const int64_t t = RandomInstant(g, zone, Zones()[zi]);
      const int64_t years = g.Int(1, 12);
      const int64_t a = std::max<int64_t>(0, t - years * 365 * kDay / 2);
      const int64_t b = std::min(kSearchMax, t + years * 365 * kDay / 2);
      CAPTURE(a);
      CAPTURE(b);
      Reference ref(*parsed, zone, a, b, 3 * 3600);
      ref.EnumerateByDay();
      const std::vector<RefFire> want = ref.Fires();
      CheckWindow(*parsed, zone, a, b, want, g);
      ++cases;
      fires.Add(want);
    }
    MESSAGE("long windows: " << cases << " expressions, " << fires.total << " fires compared ("
                             << fires.by_note[1] << " shifted from a gap, " << fires.by_note[2]
                             << " first of repeated)");
    CHECK(cases > 250);
    CHECK(fires.by_note[1] > 10);
    CHECK(fires.by_note[2] > 10);
  }

  TEST_CASE("cron: property - never fires is exact") {
    // An expression is refused as never firing exactly when no day of a
    // whole 400-year cycle matches the sets of its model.
    const uint64_t seed = Seed(0x5eed0003);
    INFO("seed " << seed);
    Gen g(seed);
    const Density days_only{1.0, 1.0, 1.0, 0.0, 0.0, 0.7};
    int refused = 0, accepted = 0;
    for (int i = 0; i < 200; ++i) {
      ExprModel model = RandomExpr(g, false, days_only);
      if (g.Chance(0.6)) {
        // Push towards the impossible: late days in short months.
        model = ExprModel();
        model.f[kSecond].values = {0};
        model.f[kMinute].values = {0};
        model.f[kHour].values = {0};
        const int month = g.Pick(std::vector<int>{2, 4, 6, 9, 11});
        const int day = g.Int(29, 31);
        model.f[kDom].values = {day};
        model.f[kMonth].values = {month};
        model.dom_restricted = true;
        model.text = "0 0 " + std::to_string(day) + " " + std::to_string(month);
        if (g.Chance(0.5)) {
          for (int w = 0; w < 8; ++w) model.f[kDow].values.insert(w);
          model.text += " *";
        } else {
          const int w = g.Int(0, 6);
          model.f[kDow].nth.insert({w, 5});
          model.dow_restricted = true;
          model.text += ' ';
          model.text += std::to_string(w) + "#5";
        }
      }
      CAPTURE(model.text);
      const CronExpr sets = FromModel(model);
      // Every day of the cycle, skipping months that are not in the set.
      bool found = false;
      for (int y = 2000; y < 2400 && !found; ++y) {
        for (unsigned m = 1; m <= 12 && !found; ++m) {
          if (!sets.months.test(m - 1)) continue;
          const std::chrono::sys_days first = std::chrono::year_month_day(
              std::chrono::year(y), std::chrono::month(m), std::chrono::day(1));
          for (int64_t d = 0; d < 31 && !found; ++d) {
            const int64_t day = first.time_since_epoch().count() + d;
            const std::chrono::year_month_day ymd{std::chrono::sys_days(std::chrono::days(day))};
            if (static_cast<unsigned>(ymd.month()) != m) break;
            found = DayMatches(sets, day);
          }
        }
      }
      Result<CronExpr> parsed = ParseCron(model.text);
      REQUIRE(parsed.ok() == found);
      if (!parsed.ok()) {
        CHECK(parsed.status().message().rfind("never fires: ", 0) == 0);
        ++refused;
      } else {
        CheckAgainstModel(*parsed, model);
        ++accepted;
      }
    }
    CHECK(refused > 20);
    CHECK(accepted > 20);
  }
}

}  // namespace
}  // namespace provisioner::cron
