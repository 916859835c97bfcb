// Tracing in the daemon (DESIGN.md §9, docs/tracing.md): the effective
// settings from the config and the OTEL_* environment, and the observer that
// turns the scheduler's job events into spans.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "config/config.h"
#include "platform/file_system.h"
#include "scheduler/observer.h"
#include "telemetry/metrics.h"
#include "telemetry/otlp_exporter.h"
#include "telemetry/tracer.h"

namespace provisioner::app {

struct TracingSettings {
  bool enabled = false;
  std::string endpoint;  // the traces URL, used as is
  double sampling_ratio = 0.1;
  std::string service_name;
  std::map<std::string, std::string> headers;  // secret: never logged
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  // Where each setting came from, for the start-up log line and `validate`.
  std::vector<std::string> notes;
  // Ignored environment values (invalid, unsupported), said once at start.
  std::vector<std::string> warnings;
};

// The config file wins for every key it sets; the OTEL_* variables fill in
// the rest as the OpenTelemetry spec defines them (OTEL_SDK_DISABLED and
// OTEL_TRACES_EXPORTER=none switch tracing off whatever the file says).
// Fails only on an unreadable or malformed tracing.headers_file, or a
// malformed endpoint from the environment.
Result<TracingSettings> ResolveTracing(const config::TracingConfig& config,
                                       const std::map<std::string, std::string>& env,
                                       platform::FileSystem& fs);

// `Name: value` lines; blank lines and lines starting with '#' are skipped.
// Names are HTTP tokens; values have no control characters. Errors name
// the line, never its value.
Result<std::map<std::string, std::string>> ParseHeadersFile(std::string_view text,
                                                            std::string_view path);

// OTEL_EXPORTER_OTLP_HEADERS: k1=v1,k2=v2 with percent-encoded values.
Result<std::map<std::string, std::string>> ParseOtelHeaders(std::string_view text);

// The environment a sampled job's tofu gets so that OpenTofu 1.10+ exports
// its own spans into the same trace (TRACEPARENT is set per step).
std::map<std::string, std::string> TofuTraceEnv(const TracingSettings& settings);

// No export has failed last, and none has been in flight for over a second:
// the collector answers, or has not been asked yet. At start-up the first
// jobs begin while the exporter's probe is still on its way; they must get
// tofu's trace environment too (a collector that refuses shows at once, a
// blackholed one after a second).
bool ExporterHealthy(const telemetry::OtlpExporter::Health& health, MonotonicTime now);

// The resource every span is reported under.
telemetry::Resource MakeResource(const TracingSettings& settings, const std::string& version);

// Job spans from the scheduler's events: `workspace.deploy` or
// `workspace.destroy` from the moment the job was queued (an event marks its
// start), with a `tofu.<step>` child per step, built when the job finishes.
// Only sampled jobs are tracked.
class TracingObserver final : public scheduler::Observer {
 public:
  explicit TracingObserver(telemetry::Tracer& tracer) : tracer_(tracer) {}

  void OnJobQueued(const state::JobRecord& job, const scheduler::JobTrace& trace) override;
  void OnJobStarted(const state::JobRecord& job, std::chrono::milliseconds lag) override;
  void OnJobProgress(const state::JobRecord& job, tofu::Step step,
                     const tofu::UiEvent& event) override;
  void OnJobStopRequested(const state::JobRecord& job, platform::StopReason reason) override;
  void OnJobRetryScheduled(const state::JobRecord& job, int next_attempt,
                           SystemTime not_before) override;
  void OnJobFinished(const state::JobRecord& job, const tofu::JobOutcome& outcome) override;

  size_t pending_for_testing();

 private:
  struct Pending {
    scheduler::JobTrace trace;
    std::vector<telemetry::SpanEvent> job_events;
    std::vector<std::pair<tofu::Step, telemetry::SpanEvent>> step_events;
  };

  telemetry::Tracer& tracer_;
  Mutex mu_;  // OnJobProgress comes from the runner's I/O thread
  std::unordered_map<std::string, Pending> pending_ GUARDED_BY(mu_);
};

// provisioner_trace_* metrics from the exporter.
class ExportMetrics final : public telemetry::ExportListener {
 public:
  explicit ExportMetrics(telemetry::Metrics& metrics) : metrics_(metrics) {}
  void OnSpans(std::string_view result, uint64_t count) override {
    metrics_.TraceSpans(result, count);
  }
  void OnExport(std::chrono::duration<double> seconds) override { metrics_.TraceExport(seconds); }

 private:
  telemetry::Metrics& metrics_;
};

}  // namespace provisioner::app
