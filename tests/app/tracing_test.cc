#include "app/tracing.h"

#include <mutex>

#include "support/fake_clock.h"
#include "support/memory_file_system.h"
#include "support/test_util.h"

namespace provisioner::app {
namespace {

using Env = std::map<std::string, std::string>;

class VectorSink final : public telemetry::SpanSink {
 public:
  void Enqueue(telemetry::SpanData span) override {
    std::lock_guard<std::mutex> lock(mu_);
    spans.push_back(std::move(span));
  }
  std::mutex mu_;
  std::vector<telemetry::SpanData> spans;
};

TracingSettings Resolve(const config::TracingConfig& c, const Env& env) {
  testing::MemoryFileSystem fs;
  auto r = ResolveTracing(c, env, fs);
  REQUIRE(r.ok());
  return *r;
}

const telemetry::Attribute* Attr(const telemetry::SpanData& s, const std::string& key) {
  for (const auto& a : s.attributes) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

TEST_SUITE("app") {
  TEST_CASE("tracing: tofu gets the trace environment unless the collector fails") {
    using telemetry::OtlpExporter;
    const MonotonicTime now{std::chrono::seconds(100)};
    // Before any answer (the start-up probe on its way): yes, so that the
    // first jobs of a start have tofu's spans too.
    CHECK(ExporterHealthy(OtlpExporter::Health{}, now));
    OtlpExporter::Health probing;
    probing.in_flight_since = now - std::chrono::milliseconds(200);
    CHECK(ExporterHealthy(probing, now));
    // A call in flight for over a second (a blackholed collector): no.
    OtlpExporter::Health stuck;
    stuck.in_flight_since = now - std::chrono::seconds(2);
    CHECK_FALSE(ExporterHealthy(stuck, now));
    // The last export failed: no.
    OtlpExporter::Health failed;
    failed.ok = false;
    failed.last_error = "POST http://collector:4318/v1/traces: connection refused";
    CHECK_FALSE(ExporterHealthy(failed, now));
    OtlpExporter::Health fine;
    fine.last_success = SystemTime{};
    CHECK(ExporterHealthy(fine, now));
  }

  TEST_CASE("tracing settings: the config file wins, OTEL_* fills in the rest") {
    config::TracingConfig c;
    c.enabled = true;
    c.enabled_set = true;
    // Nothing else in the file: the environment decides.
    TracingSettings s = Resolve(c, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"},
                                    {"OTEL_SERVICE_NAME", "prov-eu"},
                                    {"OTEL_TRACES_SAMPLER_ARG", "0.25"}});
    CHECK(s.enabled);
    CHECK(s.endpoint == "http://collector:4318/v1/traces");
    CHECK(s.service_name == "prov-eu");
    CHECK(s.sampling_ratio == 0.25);
    CHECK(s.warnings.empty());

    // The traces-specific endpoint is used as is and beats the generic one.
    s = Resolve(c, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318/"},
                    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/custom"}});
    CHECK(s.endpoint == "http://b:4318/custom");
    s = Resolve(c, {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318"}});
    CHECK(s.endpoint == "http://b:4318/");
    s = Resolve(c, {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/mycollector/"}});
    CHECK(s.endpoint == "http://c:4318/mycollector/v1/traces");

    // Keys the file sets win.
    c.endpoint = "http://jaeger:4318/v1/traces";
    c.endpoint_set = true;
    c.sampling_ratio = 0.5;
    c.sampling_ratio_set = true;
    c.service_name_set = true;
    s = Resolve(c, {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/x"},
                    {"OTEL_SERVICE_NAME", "other"},
                    {"OTEL_TRACES_SAMPLER_ARG", "1"}});
    CHECK(s.endpoint == "http://jaeger:4318/v1/traces");
    CHECK(s.service_name == "provisioner");
    CHECK(s.sampling_ratio == 0.5);
  }

  TEST_CASE("tracing settings: kill switches, samplers, and bad values warned about") {
    config::TracingConfig c;
    c.enabled = true;
    c.enabled_set = true;
    CHECK_FALSE(Resolve(c, {{"OTEL_SDK_DISABLED", "TRUE"}}).enabled);
    CHECK_FALSE(Resolve(c, {{"OTEL_TRACES_EXPORTER", "none"}}).enabled);
    CHECK(Resolve(c, {{"OTEL_SDK_DISABLED", "false"}}).enabled);
    CHECK(Resolve(c, {{"OTEL_TRACES_SAMPLER", "always_off"}}).sampling_ratio == 0);
    CHECK(Resolve(c, {{"OTEL_TRACES_SAMPLER", "parentbased_always_on"}}).sampling_ratio == 1);
    CHECK(Resolve(c, {{"OTEL_TRACES_SAMPLER", "parentbased_traceidratio"}}).sampling_ratio == 1);
    CHECK(Resolve(c, {}).sampling_ratio == 0.1);  // the config default

    TracingSettings s = Resolve(c, {{"OTEL_TRACES_SAMPLER_ARG", "1.5"},
                                    {"OTEL_TRACES_SAMPLER", "xray"},
                                    {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                                    {"OTEL_EXPORTER_OTLP_TIMEOUT", "abc"},
                                    {"OTEL_RESOURCE_ATTRIBUTES", "service.name=%zz"}});
    CHECK(s.sampling_ratio == 0.1);
    CHECK(s.service_name == "provisioner");
    CHECK(s.warnings.size() == 4);  // sampler, protocol, timeout, resource attributes
    CHECK(Resolve(c, {{"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"}}).timeout ==
          std::chrono::milliseconds(2500));
    CHECK(
        Resolve(c, {{"OTEL_RESOURCE_ATTRIBUTES", "a=b,service.name=from%20attrs"}}).service_name ==
        "from attrs");

    testing::MemoryFileSystem fs;
    auto bad = ResolveTracing(c, {{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318"}}, fs);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().ToString().find("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != std::string::npos);
  }

  TEST_CASE("tracing settings: collector headers from a file or OTEL_EXPORTER_OTLP_HEADERS") {
    auto file = ParseHeadersFile("# auth\nAuthorization: Bearer abc\r\n\nX-Scope-OrgID:  t1 \n",
                                 "/etc/provisioner/otlp-headers");
    REQUIRE(file.ok());
    CHECK(file->at("Authorization") == "Bearer abc");
    CHECK(file->at("X-Scope-OrgID") == "t1");
    auto no_colon = ParseHeadersFile("Authorization Bearer abc\n", "h");
    REQUIRE_FALSE(no_colon.ok());
    CHECK(no_colon.status().ToString().find("h:1") != std::string::npos);
    // The error names the line, never the value (a secret).
    auto bad_name = ParseHeadersFile("\nBad Name: secret\n", "h");
    REQUIRE_FALSE(bad_name.ok());
    CHECK(bad_name.status().ToString().find("h:2") != std::string::npos);
    CHECK(bad_name.status().ToString().find("secret") == std::string::npos);

    auto env = ParseOtelHeaders("api-key=a%2Cb%3Dc, x-tenant=t1");
    REQUIRE(env.ok());
    CHECK(env->at("api-key") == "a,b=c");
    CHECK(env->at("x-tenant") == "t1");
    CHECK_FALSE(ParseOtelHeaders("novalue").ok());
    CHECK_FALSE(ParseOtelHeaders("k=%0d%0aInjected: 1").ok());

    config::TracingConfig c;
    c.enabled = c.enabled_set = true;
    testing::MemoryFileSystem fs;
    REQUIRE(fs.CreateDirs("/etc").ok());
    REQUIRE(fs.WriteFile("/etc/h", "Authorization: Basic dXNlcjpwYXNz\n").ok());
    c.headers_file = "/etc/h";
    c.headers_file_set = true;
    auto s = ResolveTracing(c, {{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=ignored"}}, fs);
    REQUIRE(s.ok());
    CHECK(s->headers.at("Authorization") == "Basic dXNlcjpwYXNz");
    c.headers_file = "/etc/missing";
    CHECK_FALSE(ResolveTracing(c, {}, fs).ok());

    // The tofu child gets the endpoint and the same headers, re-encoded.
    TracingSettings t;
    t.enabled = true;
    t.endpoint = "http://c:4318/v1/traces";
    t.headers = {{"api-key", "a,b=c"}};
    Env child = TofuTraceEnv(t);
    CHECK(child.at("OTEL_TRACES_EXPORTER") == "otlp");
    CHECK(child.at("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "http://c:4318/v1/traces");
    CHECK(child.at("OTEL_EXPORTER_OTLP_TRACES_HEADERS") == "api-key=a%2Cb%3Dc");
    CHECK(ParseOtelHeaders(child.at("OTEL_EXPORTER_OTLP_TRACES_HEADERS"))->at("api-key") ==
          "a,b=c");
    t.enabled = false;
    CHECK(TofuTraceEnv(t).empty());
  }

  TEST_CASE("tracing observer: a job span from queue to end, with a child per step") {
    testing::FakeClock clock;
    VectorSink sink;
    telemetry::Tracer tracer(clock, &sink, 1.0);
    TracingObserver observer(tracer);

    TraceContext request = tracer.NewContext(nullptr);
    scheduler::JobTrace trace;
    trace.context = tracer.NewContext(&request);
    trace.parent = request.span_id;
    trace.queued_at = clock.Now();
    TraceContext before = tracer.NewContext(nullptr);
    trace.previous_attempt = before;

    state::JobRecord job;
    job.id = "web-1";
    job.workspace = "web";
    job.operation = state::Operation::kDeploy;
    job.trigger = state::Trigger::kManual;
    job.attempt = 2;
    observer.OnJobQueued(job, trace);
    clock.Advance(std::chrono::seconds(3));  // queue wait
    job.started_at = clock.Now();
    observer.OnJobStarted(job, std::chrono::milliseconds(3000));
    tofu::UiEvent lock_event;
    lock_event.type = tofu::UiEventType::kStateLockAcquire;
    lock_event.message = "Acquiring state lock";
    observer.OnJobProgress(job, tofu::Step::kPlan, lock_event);

    tofu::JobOutcome outcome;
    tofu::StepResult init;
    init.step = tofu::Step::kInit;
    init.exit_code = 0;
    init.started_at = clock.Now();
    init.duration = std::chrono::milliseconds(800);
    init.span_id = SpanId{0x11};
    tofu::StepResult plan;
    plan.step = tofu::Step::kPlan;
    plan.exit_code = 1;
    plan.started_at = clock.Now() + std::chrono::seconds(1);
    plan.duration = std::chrono::milliseconds(2000);
    plan.span_id = SpanId{0x22};
    outcome.steps = {init, plan};
    outcome.error = "Error: Invalid reference";
    clock.Advance(std::chrono::seconds(4));
    job.finished_at = clock.Now();
    job.result = state::JobResult::kFailed;
    job.error = outcome.error;
    observer.OnJobFinished(job, outcome);
    CHECK(observer.pending_for_testing() == 0);

    REQUIRE(sink.spans.size() == 3);
    const telemetry::SpanData& s_init = sink.spans[0];
    const telemetry::SpanData& s_plan = sink.spans[1];
    const telemetry::SpanData& s_job = sink.spans[2];
    CHECK(s_job.name == "workspace.deploy");
    CHECK(s_job.kind == telemetry::SpanKind::kInternal);
    CHECK(s_job.context.span_id == trace.context.span_id);
    CHECK(s_job.parent == request.span_id);
    CHECK(s_job.start == trace.queued_at);
    CHECK(s_job.end == *job.finished_at);
    CHECK(s_job.status == telemetry::SpanStatus::kError);
    CHECK(s_job.status_message == "Error: Invalid reference");
    REQUIRE(s_job.events.size() == 1);
    CHECK(s_job.events[0].name == "job started");
    CHECK(s_job.events[0].time == *job.started_at);
    REQUIRE(s_job.links.size() == 1);
    CHECK(s_job.links[0].context.span_id == before.span_id);
    CHECK(std::get<std::string>(Attr(s_job, "provisioner.workspace")->value) == "web");
    CHECK(std::get<std::string>(Attr(s_job, "provisioner.trigger")->value) == "manual");
    CHECK(std::get<std::string>(Attr(s_job, "provisioner.result")->value) == "failed");
    CHECK(std::get<int64_t>(Attr(s_job, "provisioner.attempt")->value) == 2);

    CHECK(s_init.name == "tofu.init");
    CHECK(s_init.kind == telemetry::SpanKind::kClient);
    CHECK(s_init.parent == trace.context.span_id);
    CHECK(s_init.context.trace_id == trace.context.trace_id);
    CHECK(s_init.context.span_id == SpanId{0x11});
    CHECK(s_init.end - s_init.start == std::chrono::milliseconds(800));
    CHECK(s_init.status == telemetry::SpanStatus::kUnset);
    CHECK(std::get<int64_t>(Attr(s_init, "process.exit.code")->value) == 0);
    CHECK(s_plan.name == "tofu.plan");
    CHECK(s_plan.status == telemetry::SpanStatus::kError);
    CHECK(s_plan.status_message == "Error: Invalid reference");
    REQUIRE(s_plan.events.size() == 1);
    CHECK(s_plan.events[0].name == "state lock acquire");
  }

  TEST_CASE("tracing observer: unsampled jobs are not tracked, and plan exit 2 is no error") {
    testing::FakeClock clock;
    VectorSink sink;
    telemetry::Tracer tracer(clock, &sink, 0.0);
    TracingObserver observer(tracer);
    scheduler::JobTrace trace;
    trace.context = tracer.NewContext(nullptr);
    state::JobRecord job;
    job.id = "a-1";
    observer.OnJobQueued(job, trace);
    CHECK(observer.pending_for_testing() == 0);
    observer.OnJobFinished(job, tofu::JobOutcome{});
    CHECK(sink.spans.empty());

    telemetry::Tracer on(clock, &sink, 1.0);
    TracingObserver sampled(on);
    trace.context = on.NewContext(nullptr);
    trace.queued_at = clock.Now();
    sampled.OnJobQueued(job, trace);
    tofu::JobOutcome outcome;
    tofu::StepResult plan;
    plan.step = tofu::Step::kPlan;
    plan.exit_code = 2;
    plan.span_id = SpanId{5};
    outcome.steps = {plan};
    job.result = state::JobResult::kSucceeded;
    job.finished_at = clock.Now();
    sampled.OnJobFinished(job, outcome);
    REQUIRE(sink.spans.size() == 2);
    CHECK(sink.spans[0].status == telemetry::SpanStatus::kUnset);
    CHECK(sink.spans[1].status == telemetry::SpanStatus::kUnset);
  }
}

}  // namespace
}  // namespace provisioner::app
