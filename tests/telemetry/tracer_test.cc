#include "telemetry/tracer.h"

#include <mutex>
#include <vector>

#include "support/fake_clock.h"
#include "support/test_util.h"

namespace provisioner::telemetry {
namespace {

class VectorSink final : public SpanSink {
 public:
  void Enqueue(SpanData span) override {
    std::lock_guard<std::mutex> lock(mu_);
    spans.push_back(std::move(span));
  }
  std::mutex mu_;
  std::vector<SpanData> spans;
};

TEST_SUITE("telemetry") {
  TEST_CASE("tracer: a sampled span records, ends once, and times itself monotonically") {
    testing::FakeClock clock;
    VectorSink sink;
    Tracer tracer(clock, &sink, 1.0);
    const SystemTime start = clock.Now();
    {
      Span span = tracer.StartSpan("GET /x", SpanKind::kServer, nullptr);
      CHECK(span.recording());
      CHECK(span.context().sampled());
      CHECK((span.context().flags & kTraceFlagRandom) != 0);
      span.SetAttribute("k", int64_t{1});
      span.AddEvent("e");
      clock.Advance(std::chrono::milliseconds(1500));
      // An NTP step back must not make the span negative.
      clock.SetWallTime(start - std::chrono::hours(1));
      span.SetError("boom");
      span.End();
      span.End();
      CHECK_FALSE(span.recording());
    }
    REQUIRE(sink.spans.size() == 1);
    const SpanData& d = sink.spans[0];
    CHECK(d.name == "GET /x");
    CHECK(d.kind == SpanKind::kServer);
    CHECK_FALSE(d.parent.valid());
    CHECK(d.start == start);
    CHECK(d.end - d.start == std::chrono::milliseconds(1500));
    CHECK(d.status == SpanStatus::kError);
    CHECK(d.status_message == "boom");
    REQUIRE(d.attributes.size() == 1);
    CHECK(d.events.size() == 1);
  }

  TEST_CASE("tracer: an unsampled span has ids but records and exports nothing") {
    testing::FakeClock clock;
    VectorSink sink;
    Tracer tracer(clock, &sink, 0.0);
    {
      Span span = tracer.StartSpan("x", SpanKind::kInternal, nullptr);
      CHECK_FALSE(span.recording());
      CHECK(span.context().valid());
      CHECK_FALSE(span.context().sampled());
      span.SetAttribute("k", std::string("v"));
    }
    CHECK(sink.spans.empty());

    // Off (no sink): contexts still come, never sampled, even under a
    // sampled parent.
    Tracer off(clock, nullptr, 1.0);
    TraceContext parent =
        *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    TraceContext child = off.NewContext(&parent);
    CHECK(child.trace_id == parent.trace_id);
    CHECK_FALSE(child.sampled());
  }

  TEST_CASE("tracer: a child keeps the trace, its tracestate and its parent's decision") {
    testing::FakeClock clock;
    VectorSink sink;
    Tracer tracer(clock, &sink, 0.0);  // roots are never sampled here
    TraceContext parent =
        *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=1");
    {
      Span span = tracer.StartSpan("child", SpanKind::kServer, &parent);
      CHECK(span.context().trace_id == parent.trace_id);
      CHECK(span.context().span_id != parent.span_id);
      CHECK(span.context().sampled());
      CHECK(span.context().trace_state == "rojo=1");
      CHECK_FALSE(span.context().remote);
    }
    REQUIRE(sink.spans.size() == 1);
    CHECK(sink.spans[0].parent == parent.span_id);
    CHECK(sink.spans[0].parent_remote);

    parent.flags = 0;  // the client decided against sampling
    CHECK_FALSE(tracer.NewContext(&parent).sampled());
    tracer.SetSamplingRatio(1.0);
    CHECK_FALSE(tracer.NewContext(&parent).sampled());
    CHECK(tracer.NewContext(nullptr).sampled());
  }
}

}  // namespace
}  // namespace provisioner::telemetry
