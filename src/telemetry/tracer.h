// The tracer: starts spans, decides sampling, and hands finished sampled
// spans to a SpanSink (the OTLP exporter). Our own small implementation of
// the OpenTelemetry trace SDK (opentelemetry-cpp is not packaged in Debian
// 12); DESIGN.md §9 and docs/tracing.md say which spans exist.
//
//   telemetry::Span span = tracer.StartSpan("GET /api/v1/jobs/:id", SpanKind::kServer, &incoming);
//   span.SetAttribute("http.response.status_code", int64_t{200});
//   // ... span.context().Traceparent() goes back to the client
//   span.End();  // or let it go out of scope
//
// An unsampled span is a context and nothing else: no allocation, nothing
// queued, and every setter returns at once. Spans still get ids then, so that
// a reply can carry a traceparent and a child keeps the trace id.
//
// Thread-safety: Tracer is safe to use from any thread. A Span belongs to
// the thread that uses it.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/trace_context.h"
#include "telemetry/span.h"

namespace provisioner::telemetry {

class Tracer;

class Span {
 public:
  Span() = default;
  Span(Span&& other) noexcept { *this = std::move(other); }
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() { End(); }

  const TraceContext& context() const { return context_; }
  // Sampled and not yet ended: the setters below record.
  bool recording() const { return data_ != nullptr; }

  void SetName(std::string name);
  void SetAttribute(std::string key, AttributeValue value);
  void AddEvent(std::string name, Attributes attributes = {});
  void AddLink(const TraceContext& context, Attributes attributes = {});
  // Status ERROR with a message (never a secret).
  void SetError(std::string message);
  // Ends the span now and hands it to the sink. Idempotent.
  void End();

 private:
  friend class Tracer;
  Tracer* tracer_ = nullptr;
  TraceContext context_;
  std::unique_ptr<SpanData> data_;  // only when sampled
  MonotonicTime start_mono_;
};

class Tracer {
 public:
  // `sink` null means tracing is off: contexts are still made, never
  // sampled. Never owns the clock or the sink.
  Tracer(Clock& clock, SpanSink* sink, double sampling_ratio);
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool enabled() const { return sink_ != nullptr; }
  void SetSamplingRatio(double ratio);

  // The context of new work: a child of `parent` when it is valid (same
  // trace, a new span id, its tracestate), else the root of a new trace
  // (with the W3C random flag). Sampled as the sampler says, never when off.
  TraceContext NewContext(const TraceContext* parent) const;

  // Starts a span now, with a new context from NewContext(parent).
  Span StartSpan(std::string_view name, SpanKind kind, const TraceContext* parent);
  // The same with a context already made (one NewContext returned).
  Span StartSpanWith(std::string_view name, SpanKind kind, TraceContext context, SpanId parent,
                     bool parent_remote);

  // Hands a finished span built elsewhere to the sink, when it is sampled.
  void Export(SpanData span);

  Clock& clock() { return clock_; }

 private:
  Clock& clock_;
  SpanSink* const sink_;
  std::atomic<uint64_t> threshold_;
};

}  // namespace provisioner::telemetry
