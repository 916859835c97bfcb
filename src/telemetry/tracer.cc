#include "telemetry/tracer.h"

#include "platform/random.h"
#include "telemetry/sampler.h"

namespace provisioner::telemetry {

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    End();
    tracer_ = other.tracer_;
    context_ = std::move(other.context_);
    data_ = std::move(other.data_);
    start_mono_ = other.start_mono_;
    other.tracer_ = nullptr;
  }
  return *this;
}

void Span::SetName(std::string name) {
  if (data_) data_->name = std::move(name);
}

void Span::SetAttribute(std::string key, AttributeValue value) {
  if (data_) data_->Set(std::move(key), std::move(value));
}

void Span::AddEvent(std::string name, Attributes attributes) {
  if (data_)
    data_->events.push_back({tracer_->clock().Now(), std::move(name), std::move(attributes)});
}

void Span::AddLink(const TraceContext& context, Attributes attributes) {
  if (data_ && context.valid()) data_->links.push_back({context, std::move(attributes)});
}

void Span::SetError(std::string message) {
  if (!data_) return;
  data_->status = SpanStatus::kError;
  data_->status_message = std::move(message);
}

void Span::End() {
  if (!data_) return;
  // Wall-clock start, monotonic duration: an NTP step during the span
  // cannot make it negative.
  data_->end = data_->start + std::chrono::duration_cast<SystemTime::duration>(
                                  tracer_->clock().Monotonic() - start_mono_);
  tracer_->Export(std::move(*data_));
  data_.reset();
}

Tracer::Tracer(Clock& clock, SpanSink* sink, double sampling_ratio)
    : clock_(clock), sink_(sink), threshold_(RatioThreshold(sampling_ratio)) {}

void Tracer::SetSamplingRatio(double ratio) {
  threshold_.store(RatioThreshold(ratio), std::memory_order_relaxed);
}

TraceContext Tracer::NewContext(const TraceContext* parent) const {
  TraceContext ctx;
  const bool child = parent != nullptr && parent->valid();
  if (child) {
    ctx.trace_id = parent->trace_id;
    ctx.trace_state = parent->trace_state;
    ctx.flags = parent->flags & kTraceFlagRandom;
  } else {
    ctx.trace_id = platform::NewTraceId();
    ctx.flags = kTraceFlagRandom;
  }
  ctx.span_id = platform::NewSpanId();
  if (sink_ != nullptr &&
      ShouldSample(parent, ctx.trace_id, threshold_.load(std::memory_order_relaxed))) {
    ctx.flags |= kTraceFlagSampled;
  }
  return ctx;
}

Span Tracer::StartSpan(std::string_view name, SpanKind kind, const TraceContext* parent) {
  const bool child = parent != nullptr && parent->valid();
  return StartSpanWith(name, kind, NewContext(parent), child ? parent->span_id : SpanId{},
                       child && parent->remote);
}

Span Tracer::StartSpanWith(std::string_view name, SpanKind kind, TraceContext context,
                           SpanId parent, bool parent_remote) {
  Span span;
  span.tracer_ = this;
  span.context_ = std::move(context);
  if (sink_ == nullptr || !context.sampled()) return span;
  span.start_mono_ = clock_.Monotonic();
  span.data_ = std::make_unique<SpanData>();
  SpanData& d = *span.data_;
  d.context = span.context_;
  d.parent = parent;
  d.parent_remote = parent_remote;
  d.name = name;
  d.kind = kind;
  d.attributes.reserve(8);  // one allocation for a request's attributes
  d.start = clock_.Now();
  return span;
}

void Tracer::Export(SpanData span) {
  if (sink_ != nullptr && span.context.sampled()) sink_->Enqueue(std::move(span));
}

}  // namespace provisioner::telemetry
