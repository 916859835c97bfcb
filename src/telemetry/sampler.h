// The sampler: ParentBased(root = TraceIdRatio(ratio)) as the OpenTelemetry
// SDK spec defines it (reference/debian-libraries.md §8.4).
//
// A span with a parent follows the parent's sampled flag, remote or local.
// A root decides on its trace id alone, so that every service that sees the
// trace decides the same way: the rightmost 56 bits of the id as R, and
// T = (1 - ratio) * 2^56; sampled iff R >= T. That is the comparison of the
// spec's successor sampler (ProbabilitySampler), whose inputs the W3C
// "random" flag promises are uniform; a ratio of 1 samples every trace and 0
// none, and a higher ratio samples a superset.
#pragma once

#include "base/trace_context.h"

namespace provisioner::telemetry {

// The rejection threshold T for `ratio` (clamped to [0, 1]).
uint64_t RatioThreshold(double ratio);

// The root decision: R >= T.
bool SampleTraceId(const TraceId& id, uint64_t threshold);

// The whole decision for a new span: `parent` valid means follow it.
bool ShouldSample(const TraceContext* parent, const TraceId& id, uint64_t threshold);

}  // namespace provisioner::telemetry
