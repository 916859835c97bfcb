// The span model (OpenTelemetry trace API, the parts we use): what the
// tracer records and the OTLP exporter sends.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/trace_context.h"

namespace provisioner::telemetry {

// OTLP's Span.SpanKind values.
enum class SpanKind : uint8_t { kInternal = 1, kServer = 2, kClient = 3 };
// OTLP's Status.StatusCode values.
enum class SpanStatus : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttributeValue value;
};
using Attributes = std::vector<Attribute>;

struct SpanEvent {
  SystemTime time;
  std::string name;
  Attributes attributes;
};

struct SpanLink {
  TraceContext context;
  Attributes attributes;
};

struct SpanData {
  TraceContext context;  // trace id, span id, flags, tracestate
  SpanId parent;         // invalid for a root span
  bool parent_remote = false;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  SystemTime start;
  SystemTime end;
  Attributes attributes;
  std::vector<SpanEvent> events;
  std::vector<SpanLink> links;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;  // with kError only

  void Set(std::string key, AttributeValue value) {
    attributes.push_back({std::move(key), std::move(value)});
  }
};

// The process that produced the spans (OTLP Resource).
struct Resource {
  Attributes attributes;  // service.name, service.version, host.name, process.pid ...
};

// Where finished spans go (the exporter). Enqueue must not block beyond a
// short lock: it runs on job, request and scheduler threads.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void Enqueue(SpanData span) = 0;
};

}  // namespace provisioner::telemetry
