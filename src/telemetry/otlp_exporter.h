// The OTLP/HTTP JSON exporter: a bounded queue of finished spans and one
// thread that posts them in batches (reference/debian-libraries.md §8).
//
// Enqueue never blocks beyond a short lock and never fails: when the queue
// is full the oldest span is dropped and counted. The thread sends a batch
// when max_batch spans are waiting or batch_delay after the first of them.
// A batch that gets 429, 502, 503, 504 or a transport error is retried with
// exponential backoff and jitter (Retry-After honoured), up to max_attempts;
// any other answer fails it at once, and the first failure of a kind is
// logged (a collector that stays down is not a log line per batch).
//
// The thread begins with an empty export (no spans), which tells early
// whether the collector answers. Shutdown flushes for at most shutdown_budget, aborting a call in
// flight at the end of it (a collector that accepts the connection and never answers), then drops
// what is left. So a down, slow or blackholed collector delays no job, no probe and no shutdown by
// more than that budget.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/thread_annotations.h"
#include "platform/http_client.h"
#include "telemetry/otlp_json.h"
#include "telemetry/span.h"

namespace provisioner::telemetry {

struct ExporterOptions {
  std::string endpoint = "http://localhost:4318/v1/traces";  // used as is
  // Sent with every export (collector auth); never logged.
  std::map<std::string, std::string> headers;
  std::string ca_file;  // empty: the system's CA store
  size_t max_queue = 2048;
  size_t max_batch = 512;
  std::chrono::milliseconds batch_delay{std::chrono::seconds(5)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // OTEL_EXPORTER_OTLP_TIMEOUT
  std::chrono::milliseconds initial_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
  int max_attempts = 5;
  std::chrono::milliseconds shutdown_budget{std::chrono::seconds(2)};
  // Begin with an empty export (see above).
  bool probe_on_start = true;
};

// A bounded FIFO that drops its oldest span to make room.
class SpanQueue {
 public:
  explicit SpanQueue(size_t capacity) : capacity_(capacity) {}
  // Returns how many spans were dropped to make room (0 or 1).
  size_t Push(SpanData span);
  // Up to `max` spans, oldest first.
  std::vector<SpanData> Take(size_t max);
  size_t size() const { return spans_.size(); }
  bool empty() const { return spans_.empty(); }

 private:
  size_t capacity_;
  std::deque<SpanData> spans_;
};

// What to do after one export attempt.
enum class ExportVerdict : uint8_t { kDone, kRetry, kFail };
ExportVerdict Classify(const Result<platform::HttpResponse>& result);

// A Retry-After value: delay-seconds, or an HTTP-date (IMF-fixdate)
// relative to `now`. nullopt when malformed; a date in the past is 0.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, SystemTime now);

// The wait before attempt `attempt + 1`: initial * 2^(attempt-1), capped at
// `max`, then "equal jitter": half of it fixed, the other half scaled by
// `jitter` in [0, 1).
std::chrono::milliseconds Backoff(int attempt, std::chrono::milliseconds initial,
                                  std::chrono::milliseconds max, double jitter);

// Counts and timings, for provisioner_trace_spans_total{result} and
// provisioner_trace_export_duration_seconds. Called on the exporter's
// thread (dropped: also on the thread that enqueued).
class ExportListener {
 public:
  virtual ~ExportListener() = default;
  // result: "exported", "dropped" (queue full or left at shutdown), "failed"
  virtual void OnSpans(std::string_view result, uint64_t count) = 0;
  virtual void OnExport(std::chrono::duration<double> seconds) = 0;
};

class OtlpExporter final : public SpanSink {
 public:
  // Never owns the client, clock, logger or listener (which may be null).
  // `clock` must tell real time: the thread's waits are on steady_clock.
  OtlpExporter(ExporterOptions options, Resource resource, Scope scope,
               platform::HttpClient& client, Clock& clock, log::Logger& log,
               ExportListener* listener);
  ~OtlpExporter() override;
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  // Starts the export thread.
  void Start();
  void Enqueue(SpanData span) override;
  // Flushes for at most shutdown_budget, then drops the rest and joins.
  // With nothing queued and no spans in flight (say, the start-up probe
  // stuck on a blackholed collector) it does not wait at all.
  // Idempotent; later spans are dropped.
  void Shutdown();

  struct Health {
    bool ok = true;          // no export yet, or the last one succeeded
    std::string last_error;  // of the last failed export, with the endpoint
    std::optional<SystemTime> last_success;
    size_t queued = 0;
    // When the export in flight began (none in flight: unset).
    std::optional<MonotonicTime> in_flight_since;
  };
  Health health();

 private:
  void Run();
  // Sends one batch with retries; within the shutdown deadline once
  // stopping.
  void Send(std::vector<SpanData> batch) REQUIRES(mu_);
  void NoteFailure(const std::string& error, uint64_t spans) REQUIRES(mu_);
  void Count(std::string_view result, uint64_t n);

  const ExporterOptions options_;
  const Resource resource_;
  const Scope scope_;
  platform::HttpClient& client_;
  Clock& clock_;
  log::Logger& log_;
  ExportListener* const listener_;
  platform::HttpCancel cancel_;

  Mutex mu_;
  std::condition_variable_any cv_;
  SpanQueue queue_ GUARDED_BY(mu_);
  // When the oldest waiting span arrived (the batch timer).
  std::optional<MonotonicTime> first_waiting_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  MonotonicTime stop_deadline_ GUARDED_BY(mu_);
  bool done_ GUARDED_BY(mu_) = false;
  // Spans of the export in flight; an empty probe has none to lose.
  size_t in_flight_spans_ GUARDED_BY(mu_) = 0;
  Health health_ GUARDED_BY(mu_);
  std::string last_logged_error_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace provisioner::telemetry
