// A job's place in a trace (DESIGN.md §9), as plain data. The scheduler
// carries it from the queue to the tofu child; the tracer, an Observer,
// turns it into spans. The scheduler itself never includes telemetry.
#pragma once

#include <optional>

#include "base/clock.h"
#include "base/trace_context.h"

namespace provisioner::scheduler {

struct JobTrace {
  // The job span's own context. Not sampled: no spans and no TRACEPARENT.
  TraceContext context;
  // The API request span that asked for the job; invalid for a job that
  // starts its own trace (scheduled, catch-up, retry).
  SpanId parent;
  bool parent_remote = false;
  // A retry links to the attempt before it (in this process).
  std::optional<TraceContext> previous_attempt;
  // The job span starts here, so that queue wait shows.
  SystemTime queued_at;
};

}  // namespace provisioner::scheduler
