#include "telemetry/otlp_exporter.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>

#include "platform/posix_clock.h"
#include "support/capture_sink.h"
#include "support/test_util.h"

namespace provisioner::telemetry {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

SpanData Span(const std::string& name) {
  SpanData s;
  s.context.trace_id = TraceId{1, 2};
  s.context.span_id = SpanId{3};
  s.context.flags = kTraceFlagSampled;
  s.name = name;
  return s;
}

// An HttpClient that answers from a script (then 200), records every body,
// and can hold a call until it is cancelled (a blackholed collector).
class ScriptedClient final : public platform::HttpClient {
 public:
  struct Answer {
    int status = 200;
    std::map<std::string, std::string> headers = {};
    bool transport_error = false;
    bool blackhole = false;  // never answers; only a cancel ends it
  };

  void Script(std::vector<Answer> answers) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.assign(answers.begin(), answers.end());
  }

  Result<platform::HttpResponse> Get(const platform::HttpRequest& r) override {
    return Status::Unavailable("GET " + r.url, "not used");
  }

  Result<platform::HttpResponse> Post(const platform::HttpRequest& r) override {
    Answer a;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(r.body);
      headers_ = r.headers;
      content_type_ = r.content_type;
      if (!script_.empty()) {
        a = script_.front();
        script_.pop_front();
      }
      cv_.notify_all();
    }
    if (a.blackhole) {
      bool aborted = false;
      REQUIRE(r.cancel != nullptr);
      if (r.cancel->Arm([&] {
            std::lock_guard<std::mutex> lock(mu_);
            aborted = true;
            cv_.notify_all();
          })) {
        std::unique_lock<std::mutex> lock(mu_);
        // Bounded so that a broken exporter fails the test instead of hanging it.
        cv_.wait_for(lock, seconds(30), [&] { return aborted; });
      }
      r.cancel->Disarm();
      return Status::Cancelled("POST " + r.url, "cancelled by the caller");
    }
    if (a.transport_error) return Status::Unavailable("POST " + r.url, "Connection refused");
    platform::HttpResponse resp;
    resp.status = a.status;
    resp.headers = a.headers;
    resp.body = a.status == 200 ? "{}" : R"({"code":3,"message":"bad"})";
    return resp;
  }

  // Waits (bounded) until `n` posts were made.
  bool WaitForPosts(size_t n, milliseconds timeout = milliseconds(10000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return bodies_.size() >= n; });
  }

  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  std::map<std::string, std::string> headers() {
    std::lock_guard<std::mutex> lock(mu_);
    return headers_;
  }
  std::string content_type() {
    std::lock_guard<std::mutex> lock(mu_);
    return content_type_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Answer> script_;
  std::vector<std::string> bodies_;
  std::map<std::string, std::string> headers_;
  std::string content_type_;
};

class CountingListener final : public ExportListener {
 public:
  void OnSpans(std::string_view result, uint64_t count) override {
    std::lock_guard<std::mutex> lock(mu_);
    counts_[std::string(result)] += count;
  }
  void OnExport(std::chrono::duration<double>) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++exports_;
  }
  uint64_t count(const std::string& result) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[result];
  }
  int exports() {
    std::lock_guard<std::mutex> lock(mu_);
    return exports_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, uint64_t> counts_;
  int exports_ = 0;
};

size_t SpansIn(const std::string& body) {
  return nlohmann::json::parse(body)["resourceSpans"][0]["scopeSpans"][0]["spans"].size();
}

struct Fixture {
  platform::PosixClock clock;
  testing::CaptureSink sink;
  log::Logger logger{clock, sink, log::Level::kDebug};
  ScriptedClient client;
  CountingListener listener;

  ExporterOptions Options() {
    ExporterOptions o;
    o.endpoint = "http://collector:4318/v1/traces";
    o.batch_delay = std::chrono::hours(1);  // only size and shutdown send
    o.initial_backoff = milliseconds(5);
    o.max_backoff = milliseconds(20);
    o.shutdown_budget = milliseconds(500);
    o.probe_on_start = false;  // the scripts below answer span exports
    return o;
  }
  std::unique_ptr<OtlpExporter> Make(ExporterOptions o) {
    return std::make_unique<OtlpExporter>(std::move(o), Resource{}, Scope{}, client, clock, logger,
                                          &listener);
  }
};

TEST_SUITE("telemetry") {
  TEST_CASE("otlp exporter: the queue drops its oldest span when full") {
    SpanQueue q(3);
    CHECK(q.Push(Span("a")) == 0);
    CHECK(q.Push(Span("b")) == 0);
    CHECK(q.Push(Span("c")) == 0);
    CHECK(q.Push(Span("d")) == 1);
    REQUIRE(q.size() == 3);
    auto batch = q.Take(2);
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].name == "b");
    CHECK(batch[1].name == "c");
    CHECK(q.Take(10).size() == 1);
    CHECK(q.empty());
  }

  TEST_CASE("otlp exporter: which answers are retried") {
    auto status = [](int code) {
      platform::HttpResponse r;
      r.status = code;
      return Result<platform::HttpResponse>(r);
    };
    CHECK(Classify(status(200)) == ExportVerdict::kDone);
    CHECK(Classify(status(202)) == ExportVerdict::kDone);
    for (int code : {429, 502, 503, 504}) CHECK(Classify(status(code)) == ExportVerdict::kRetry);
    for (int code : {400, 401, 403, 404, 413, 415, 500, 501}) {
      CHECK(Classify(status(code)) == ExportVerdict::kFail);
    }
    CHECK(Classify(Status::Unavailable("POST x", "refused")) == ExportVerdict::kRetry);
    CHECK(Classify(Status::DeadlineExceeded("POST x", "connect")) == ExportVerdict::kRetry);
    CHECK(Classify(Status::InvalidArgument("URL", "bad")) == ExportVerdict::kFail);
    CHECK(Classify(Status::Cancelled("POST x", "stop")) == ExportVerdict::kFail);
  }

  TEST_CASE("otlp exporter: exponential backoff with equal jitter, and Retry-After") {
    const milliseconds initial(1000);
    const milliseconds max(30000);
    CHECK(Backoff(1, initial, max, 0) == milliseconds(500));
    CHECK(Backoff(1, initial, max, 0.999) == milliseconds(999));
    CHECK(Backoff(2, initial, max, 0) == milliseconds(1000));
    CHECK(Backoff(3, initial, max, 0.5) == milliseconds(3000));
    CHECK(Backoff(10, initial, max, 0) == milliseconds(15000));   // capped at max
    CHECK(Backoff(100, initial, max, 1) == milliseconds(30000));  // no overflow

    const SystemTime now = std::chrono::sys_days(std::chrono::year(2026) / 12 / 3) +
                           std::chrono::hours(6);  // Thu, 03 Dec 2026 06:00:00 GMT
    CHECK(ParseRetryAfter("120", now) == milliseconds(120000));
    CHECK(ParseRetryAfter(" 0 ", now) == milliseconds(0));
    CHECK(ParseRetryAfter("Thu, 03 Dec 2026 06:00:30 GMT", now) == milliseconds(30000));
    CHECK(ParseRetryAfter("Wed, 02 Dec 2026 06:00:30 GMT", now) == milliseconds(0));
    CHECK_FALSE(ParseRetryAfter("-1", now));
    CHECK_FALSE(ParseRetryAfter("soon", now));
    CHECK_FALSE(ParseRetryAfter("Thu, 03 Dec 2026 06:00:30 UTC", now));
    CHECK_FALSE(ParseRetryAfter("Thu, 31 Feb 2026 06:00:30 GMT", now));
    CHECK_FALSE(ParseRetryAfter("Thu, 03 Dec 2026 25:00:30 GMT", now));
  }

  TEST_CASE("otlp exporter: batches of at most max_batch, the rest at shutdown") {
    Fixture f;
    auto exporter = f.Make(f.Options());
    exporter->Start();
    for (int i = 0; i < 1200; ++i) exporter->Enqueue(Span("s" + std::to_string(i)));
    REQUIRE(f.client.WaitForPosts(2));
    exporter->Shutdown();
    auto bodies = f.client.bodies();
    REQUIRE(bodies.size() == 3);
    CHECK(SpansIn(bodies[0]) == 512);
    CHECK(SpansIn(bodies[1]) == 512);
    CHECK(SpansIn(bodies[2]) == 176);
    CHECK(f.listener.count("exported") == 1200);
    CHECK(f.listener.count("dropped") == 0);
    CHECK(f.client.content_type() == "application/json");
    CHECK(exporter->health().ok);
    CHECK(exporter->health().last_success.has_value());
  }

  TEST_CASE("otlp exporter: an empty export first tells whether the collector answers") {
    Fixture f;
    f.client.Script({{.status = 401}});
    ExporterOptions o = f.Options();
    o.probe_on_start = true;
    auto exporter = f.Make(o);
    CHECK_FALSE(exporter->health().last_success.has_value());
    exporter->Start();
    REQUIRE(f.client.WaitForPosts(1));
    REQUIRE(f.client.bodies().size() == 1);
    CHECK(SpansIn(f.client.bodies()[0]) == 0);
    exporter->Shutdown();
    // Refused: health says so at once, before any span was made.
    CHECK_FALSE(exporter->health().ok);
    CHECK(exporter->health().last_error.find("HTTP 401") != std::string::npos);
    CHECK(f.listener.count("failed") == 0);
  }

  TEST_CASE("otlp exporter: a lone span goes out when the batch timer fires") {
    Fixture f;
    ExporterOptions o = f.Options();
    o.batch_delay = milliseconds(50);
    auto exporter = f.Make(o);
    exporter->Start();
    exporter->Enqueue(Span("alone"));
    REQUIRE(f.client.WaitForPosts(1));
    CHECK(SpansIn(f.client.bodies()[0]) == 1);
    exporter->Shutdown();
    CHECK(f.client.bodies().size() == 1);
  }

  TEST_CASE("otlp exporter: a full queue drops the oldest spans and counts them") {
    Fixture f;
    ExporterOptions o = f.Options();
    o.max_queue = 4;
    o.max_batch = 100;
    auto exporter = f.Make(o);
    for (int i = 0; i < 10; ++i) exporter->Enqueue(Span("s" + std::to_string(i)));
    CHECK(f.listener.count("dropped") == 6);
    exporter->Start();
    exporter->Shutdown();
    auto bodies = f.client.bodies();
    REQUIRE(bodies.size() == 1);
    auto spans = nlohmann::json::parse(bodies[0])["resourceSpans"][0]["scopeSpans"][0]["spans"];
    REQUIRE(spans.size() == 4);
    CHECK(spans[0]["name"] == "s6");
    CHECK(spans[3]["name"] == "s9");
    CHECK(f.listener.count("exported") == 4);
  }

  TEST_CASE("otlp exporter: 503 then 200 loses nothing, and headers go with every export") {
    Fixture f;
    f.client.Script({{.status = 503}, {.transport_error = true}, {.status = 200}});
    ExporterOptions o = f.Options();
    o.max_batch = 2;
    o.headers = {{"Authorization", "Bearer s3cret"}};
    auto exporter = f.Make(o);
    exporter->Start();
    exporter->Enqueue(Span("a"));
    exporter->Enqueue(Span("b"));
    REQUIRE(f.client.WaitForPosts(3));
    exporter->Shutdown();
    auto bodies = f.client.bodies();
    REQUIRE(bodies.size() == 3);
    CHECK(bodies[0] == bodies[2]);  // the same batch, again
    CHECK(f.listener.count("exported") == 2);
    CHECK(f.listener.count("failed") == 0);
    CHECK(f.client.headers().at("Authorization") == "Bearer s3cret");
    CHECK(exporter->health().ok);
    // The secret never reaches a log line.
    for (const log::Record& r : f.sink.records()) {
      CHECK(r.message.find("s3cret") == std::string::npos);
      CHECK(r.error.find("s3cret") == std::string::npos);
    }
  }

  TEST_CASE("otlp exporter: Retry-After wins over the backoff") {
    Fixture f;
    f.client.Script({{.status = 429, .headers = {{"retry-after", "0"}}}, {.status = 200}});
    ExporterOptions o = f.Options();
    o.max_batch = 1;
    // A backoff this long would time the test out: only Retry-After: 0 can
    // make the second attempt come at once.
    o.initial_backoff = std::chrono::minutes(10);
    o.max_backoff = std::chrono::minutes(10);
    auto exporter = f.Make(o);
    exporter->Start();
    exporter->Enqueue(Span("a"));
    REQUIRE(f.client.WaitForPosts(2));
    exporter->Shutdown();
    CHECK(f.listener.count("exported") == 1);
  }

  TEST_CASE("otlp exporter: a 400 is not retried, fails the batch, and is logged once") {
    Fixture f;
    f.client.Script({{.status = 400}, {.status = 400}});
    ExporterOptions o = f.Options();
    o.max_batch = 1;
    auto exporter = f.Make(o);
    exporter->Start();
    exporter->Enqueue(Span("a"));
    REQUIRE(f.client.WaitForPosts(1));
    exporter->Enqueue(Span("b"));
    REQUIRE(f.client.WaitForPosts(2));
    exporter->Enqueue(Span("c"));  // 200 now: recovered
    REQUIRE(f.client.WaitForPosts(3));
    exporter->Shutdown();
    CHECK(f.client.bodies().size() == 3);
    CHECK(f.listener.count("failed") == 2);
    CHECK(f.listener.count("exported") == 1);
    CHECK(f.sink.Find("trace export failed").size() == 1);
    CHECK(f.sink.Find("trace export failed")[0].error.find("HTTP 400") != std::string::npos);
    CHECK(f.sink.Find("trace export recovered").size() == 1);
  }

  TEST_CASE("otlp exporter: health is degraded while exports fail") {
    Fixture f;
    f.client.Script({{.status = 503}, {.status = 503}, {.status = 503}});
    ExporterOptions o = f.Options();
    o.max_batch = 1;
    o.max_attempts = 3;
    auto exporter = f.Make(o);
    exporter->Start();
    exporter->Enqueue(Span("a"));
    REQUIRE(f.client.WaitForPosts(3));
    exporter->Shutdown();
    OtlpExporter::Health h = exporter->health();
    CHECK_FALSE(h.ok);
    CHECK(h.last_error.find("HTTP 503") != std::string::npos);
    CHECK(h.last_error.find("gave up after 3 attempts") != std::string::npos);
    CHECK(f.listener.count("failed") == 1);
  }

  TEST_CASE("otlp exporter: a blackholed collector cannot hold shutdown past its budget") {
    Fixture f;
    f.client.Script({{.blackhole = true}});
    ExporterOptions o = f.Options();
    o.max_batch = 1;
    o.shutdown_budget = milliseconds(300);
    auto exporter = f.Make(o);
    exporter->Start();
    exporter->Enqueue(Span("a"));
    REQUIRE(f.client.WaitForPosts(1));  // the call is now stuck
    for (int i = 0; i < 5; ++i) exporter->Enqueue(Span("queued"));
    const auto t0 = std::chrono::steady_clock::now();
    exporter->Shutdown();
    const auto took = std::chrono::steady_clock::now() - t0;
    // The budget, then the abort; far below the 30 s the fake would wait.
    CHECK(took < seconds(5));
    // The stuck batch failed; what was queued behind it was dropped.
    CHECK(f.listener.count("exported") == 0);
    CHECK(f.listener.count("failed") + f.listener.count("dropped") == 6);
    // Spans after shutdown are dropped, never queued.
    exporter->Enqueue(Span("late"));
    CHECK(f.listener.count("failed") + f.listener.count("dropped") == 7);
  }

  TEST_CASE("otlp exporter: with nothing to flush, shutdown aborts a stuck probe at once") {
    // Given the start-up probe stuck on a blackholed collector and no span
    // queued, When the exporter shuts down with a long budget, Then it does
    // not wait for the budget (nothing would be lost by aborting), and it
    // logs no dropped spans.
    Fixture f;
    f.client.Script({{.blackhole = true}});
    ExporterOptions o = f.Options();
    o.probe_on_start = true;
    o.shutdown_budget = seconds(20);
    auto exporter = f.Make(o);
    exporter->Start();
    REQUIRE(f.client.WaitForPosts(1));  // the probe is now stuck
    const auto t0 = std::chrono::steady_clock::now();
    exporter->Shutdown();
    CHECK(std::chrono::steady_clock::now() - t0 < seconds(5));
    CHECK(f.listener.count("dropped") == 0);
    for (const log::Record& r : f.sink.records()) CHECK(r.level != log::Level::kWarn);
  }
}

}  // namespace
}  // namespace provisioner::telemetry
