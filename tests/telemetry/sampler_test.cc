#include "telemetry/sampler.h"

#include <ios>
#include <set>

#include "platform/random.h"
#include "support/test_util.h"

namespace provisioner::telemetry {
namespace {

TraceId Id(uint64_t hi, uint64_t lo) { return TraceId{hi, lo}; }

TEST_SUITE("telemetry") {
  TEST_CASE("sampler: the root decision on the trace id's rightmost 56 bits") {
    // R = lo & (2^56 - 1); T = (1 - ratio) * 2^56; sampled iff R >= T.
    struct Case {
      uint64_t lo;
      double ratio;
      bool sampled;
    };
    const uint64_t half = uint64_t{1} << 55;  // T for ratio 0.5
    const Case cases[] = {
        {0, 1.0, true},                             // ratio 1: everything
        {0x00ffffffffffffffull, 0.0, false},        // ratio 0: nothing, even the largest R
        {half, 0.5, true},                          // R == T
        {half - 1, 0.5, false},                     // just below
        {0xff00000000000000ull | half, 0.5, true},  // the top byte is not part of R
        {0xff00000000000000ull, 0.5, false},
    };
    for (const Case& c : cases) {
      INFO("lo=" << std::hex << c.lo << " ratio=" << c.ratio);
      CHECK(SampleTraceId(Id(0x1234, c.lo), RatioThreshold(c.ratio)) == c.sampled);
    }
    // T(0.1) is 0.9 * 2^56 as exactly as a double carries it.
    const uint64_t t10 = RatioThreshold(0.1);
    CHECK(t10 > 0x00e6666666666666ull - 16);
    CHECK(t10 < 0x00e6666666666666ull + 16);
    CHECK(SampleTraceId(Id(1, t10), t10));
    CHECK_FALSE(SampleTraceId(Id(1, t10 - 1), t10));
    CHECK(RatioThreshold(-1) == uint64_t{1} << 56);
    CHECK(RatioThreshold(2) == 0);
  }

  TEST_CASE("sampler: a higher ratio samples a superset, near the ratio") {
    int sampled_10 = 0;
    int sampled_50 = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      const TraceId id = platform::NewTraceId();
      const bool at10 = SampleTraceId(id, RatioThreshold(0.1));
      const bool at50 = SampleTraceId(id, RatioThreshold(0.5));
      if (at10) CHECK(at50);
      sampled_10 += at10;
      sampled_50 += at50;
    }
    // Binomial: 6 standard deviations either side.
    CHECK(sampled_10 > 1750);
    CHECK(sampled_10 < 2250);
    CHECK(sampled_50 > 9580);
    CHECK(sampled_50 < 10420);
  }

  TEST_CASE("sampler: a parent's decision wins, remote or local") {
    TraceContext parent;
    parent.trace_id = Id(1, 1);
    parent.span_id = SpanId{7};
    parent.flags = kTraceFlagSampled;
    const TraceId never = Id(0, 0);  // R = 0: sampled only at ratio 1
    CHECK(ShouldSample(&parent, never, RatioThreshold(0)));
    parent.flags = 0;
    CHECK_FALSE(ShouldSample(&parent, Id(0, 0x00ffffffffffffffull), RatioThreshold(1)));
    // An invalid parent is no parent: the root rule applies.
    TraceContext invalid;
    CHECK(ShouldSample(&invalid, never, RatioThreshold(1)));
    CHECK_FALSE(ShouldSample(nullptr, never, RatioThreshold(0.5)));
  }

  TEST_CASE("sampler: new ids are never zero and do not repeat") {
    std::set<std::pair<uint64_t, uint64_t>> seen;
    for (int i = 0; i < 10000; ++i) {
      TraceId t = platform::NewTraceId();
      CHECK(t.valid());
      CHECK(seen.insert({t.hi, t.lo}).second);
      CHECK(platform::NewSpanId().valid());
    }
  }
}

}  // namespace
}  // namespace provisioner::telemetry
