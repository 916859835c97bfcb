#include "telemetry/sampler.h"

#include <cmath>

namespace provisioner::telemetry {
namespace {
constexpr uint64_t kTwo56 = uint64_t{1} << 56;
}  // namespace

uint64_t RatioThreshold(double ratio) {
  if (!(ratio > 0)) return kTwo56;  // NaN and <= 0: never
  if (ratio >= 1) return 0;
  // (1 - p) * 2^56, rounded; below 2^56 for any p > 0 that is not tiny.
  const double t = std::round((1.0 - ratio) * static_cast<double>(kTwo56));
  return t >= static_cast<double>(kTwo56) ? kTwo56 - 1 : static_cast<uint64_t>(t);
}

bool SampleTraceId(const TraceId& id, uint64_t threshold) {
  const uint64_t r = id.lo & (kTwo56 - 1);
  return r >= threshold;
}

bool ShouldSample(const TraceContext* parent, const TraceId& id, uint64_t threshold) {
  if (parent != nullptr && parent->valid()) return (parent->flags & kTraceFlagSampled) != 0;
  return SampleTraceId(id, threshold);
}

}  // namespace provisioner::telemetry
