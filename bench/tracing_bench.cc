// Issue 10 targets: starting and ending a sampled span under 1 µs, an
// unsampled one under 50 ns; the exporter holding at least 20,000 spans/s on
// one core.
//
//   build/tracing_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// "Sampled" runs the real path: a span with the attributes of an API request,
// ended into the real exporter's queue (bounded; the oldest is dropped, as
// when the collector is slow). "Exporter" is the export thread's work per
// batch of 512 spans: encode the OTLP JSON body and POST it over loopback to
// an HTTP server that answers 200 {}.
#include <benchmark/benchmark.h>
#include <httplib.h>

#include <thread>

#include "base/log.h"
#include "http/http_client.h"
#include "platform/posix_clock.h"
#include "telemetry/otlp_exporter.h"
#include "telemetry/tracer.h"

namespace provisioner {
namespace {

class NullSink final : public log::Sink {
 public:
  void Write(const log::Record&) override {}
};

class NoClient final : public platform::HttpClient {
 public:
  Result<platform::HttpResponse> Get(const platform::HttpRequest&) override {
    return Status::Unavailable("unused");
  }
  Result<platform::HttpResponse> Post(const platform::HttpRequest&) override {
    return Status::Unavailable("unused");
  }
};

void SpanLifecycle(benchmark::State& state, double ratio) {
  platform::PosixClock clock;
  NullSink sink;
  log::Logger logger(clock, sink);
  NoClient client;
  // Not started: spans stay in the bounded queue, which drops its oldest.
  telemetry::OtlpExporter exporter(telemetry::ExporterOptions{}, telemetry::Resource{},
                                   telemetry::Scope{}, client, clock, logger, nullptr);
  telemetry::Tracer tracer(clock, &exporter, ratio);
  TraceContext parent =
      *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  parent.flags = ratio > 0 ? kTraceFlagSampled : 0;
  for (auto _ : state) {
    telemetry::Span span = tracer.StartSpan("GET", telemetry::SpanKind::kServer, &parent);
    // As the server does: attributes are built only for a recording span.
    if (span.recording()) {
      span.SetName("GET /api/v1/workspaces/:name");
      span.SetAttribute("http.request.method", std::string("GET"));
      span.SetAttribute("http.route", std::string("/api/v1/workspaces/:name"));
      span.SetAttribute("http.response.status_code", int64_t{200});
    }
    span.End();
    benchmark::DoNotOptimize(span.context());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SampledSpan(benchmark::State& state) { SpanLifecycle(state, 1.0); }
void BM_UnsampledSpan(benchmark::State& state) { SpanLifecycle(state, 0.0); }
BENCHMARK(BM_SampledSpan);
BENCHMARK(BM_UnsampledSpan);

void BM_Traceparent(benchmark::State& state) {
  const std::string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  for (auto _ : state) {
    auto ctx = ParseTraceparent(header);
    benchmark::DoNotOptimize(ctx);
    std::string out = ctx->Traceparent();
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Traceparent);

std::vector<telemetry::SpanData> Batch(size_t n) {
  std::vector<telemetry::SpanData> spans(n);
  for (size_t i = 0; i < n; ++i) {
    telemetry::SpanData& s = spans[i];
    s.context.trace_id = TraceId{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
    s.context.span_id = SpanId{i + 1};
    s.context.flags = 1;
    s.parent = SpanId{0x00f067aa0ba902b7ull};
    s.name = "POST /api/v1/workspaces/:name/deploy";
    s.kind = telemetry::SpanKind::kServer;
    s.start = std::chrono::system_clock::now();
    s.end = s.start + std::chrono::milliseconds(3);
    s.Set("http.request.method", std::string("POST"));
    s.Set("http.route", std::string("/api/v1/workspaces/:name/deploy"));
    s.Set("url.path", std::string("/api/v1/workspaces/dev-env-42/deploy"));
    s.Set("http.response.status_code", int64_t{202});
    s.Set("client.address", std::string("127.0.0.1"));
  }
  return spans;
}

void BM_Encode512(benchmark::State& state) {
  auto spans = Batch(512);
  telemetry::Resource resource;
  resource.attributes.push_back({"service.name", std::string("provisioner")});
  for (auto _ : state) {
    std::string body = telemetry::EncodeExportRequest(resource, telemetry::Scope{}, spans);
    benchmark::DoNotOptimize(body);
  }
  state.SetItemsProcessed(state.iterations() * 512);
}
BENCHMARK(BM_Encode512);

void BM_ExportBatchOverLoopback(benchmark::State& state) {
  httplib::Server server;
  server.Post("/v1/traces", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{}", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  http::HttplibClient client;
  auto spans = Batch(512);
  telemetry::Resource resource;
  resource.attributes.push_back({"service.name", std::string("provisioner")});
  platform::HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  req.content_type = "application/json";
  for (auto _ : state) {
    req.body = telemetry::EncodeExportRequest(resource, telemetry::Scope{}, spans);
    auto res = client.Post(req);
    if (!res.ok() || res->status != 200) state.SkipWithError("export failed");
  }
  state.SetItemsProcessed(state.iterations() * 512);
  server.stop();
  thread.join();
}
BENCHMARK(BM_ExportBatchOverLoopback)->UseRealTime();

}  // namespace
}  // namespace provisioner

BENCHMARK_MAIN();
