#include "telemetry/otlp_exporter.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/strings.h"
#include "platform/random.h"

namespace provisioner::telemetry {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

size_t SpanQueue::Push(SpanData span) {
  size_t dropped = 0;
  if (capacity_ == 0) return 1;
  if (spans_.size() >= capacity_) {
    spans_.pop_front();
    dropped = 1;
  }
  spans_.push_back(std::move(span));
  return dropped;
}

std::vector<SpanData> SpanQueue::Take(size_t max) {
  const size_t n = std::min(max, spans_.size());
  std::vector<SpanData> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(std::move(spans_.front()));
    spans_.pop_front();
  }
  return out;
}

ExportVerdict Classify(const Result<platform::HttpResponse>& result) {
  if (!result.ok()) {
    // Refused, reset, timed out: the collector may be back soon. A bad URL
    // or a cancel will not get better by waiting.
    const Status::Code code = result.status().code();
    return code == Status::Code::kInvalidArgument || code == Status::Code::kCancelled
               ? ExportVerdict::kFail
               : ExportVerdict::kRetry;
  }
  const int status = result->status;
  if (status >= 200 && status < 300) return ExportVerdict::kDone;
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    return ExportVerdict::kRetry;
  }
  return ExportVerdict::kFail;
}

std::optional<milliseconds> ParseRetryAfter(std::string_view value, SystemTime now) {
  value = Trim(value);
  if (auto seconds = ParseUint(value)) {
    return milliseconds(static_cast<int64_t>(std::min<uint64_t>(*seconds, 86400)) * 1000);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  char wday[4] = {};
  char mon[4] = {};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  char zone[4] = {};
  const std::string text(value);
  if (std::sscanf(text.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", wday, &day, mon, &year, &hh, &mm,
                  &ss, zone) != 8 ||
      std::strcmp(zone, "GMT") != 0 || text.size() != 29 || text[3] != ',') {
    return std::nullopt;
  }
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (std::strcmp(mon, kMonths[i]) == 0) month = i + 1;
  }
  if (month == 0 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                        std::chrono::day(day)};
  if (!ymd.ok()) return std::nullopt;
  const SystemTime at = std::chrono::sys_days(ymd) + std::chrono::hours(hh) +
                        std::chrono::minutes(mm) + std::chrono::seconds(ss);
  if (at <= now) return milliseconds(0);
  return std::min(duration_cast<milliseconds>(at - now), milliseconds(86400 * 1000));
}

milliseconds Backoff(int attempt, milliseconds initial, milliseconds max, double jitter) {
  const int shift = std::clamp(attempt - 1, 0, 30);
  milliseconds d = initial * (int64_t{1} << shift);
  if (d > max || d < initial) d = max;
  jitter = std::clamp(jitter, 0.0, 1.0);
  return d / 2 + milliseconds(static_cast<int64_t>(static_cast<double>(d.count() / 2) * jitter));
}

OtlpExporter::OtlpExporter(ExporterOptions options, Resource resource, Scope scope,
                           platform::HttpClient& client, Clock& clock, log::Logger& log,
                           ExportListener* listener)
    : options_(std::move(options)),
      resource_(std::move(resource)),
      scope_(std::move(scope)),
      client_(client),
      clock_(clock),
      log_(log),
      listener_(listener),
      queue_(options_.max_queue) {}

OtlpExporter::~OtlpExporter() { Shutdown(); }

void OtlpExporter::Start() {
  MutexLock lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

void OtlpExporter::Count(std::string_view result, uint64_t n) {
  if (listener_ != nullptr && n > 0) listener_->OnSpans(result, n);
}

void OtlpExporter::Enqueue(SpanData span) {
  size_t dropped = 0;
  {
    MutexLock lock(mu_);
    if (stopping_) {
      dropped = 1;
    } else {
      dropped = queue_.Push(std::move(span));
      // The first span starts the batch timer; a full batch goes at once.
      if (!first_waiting_) {
        first_waiting_ = clock_.Monotonic();
        cv_.notify_one();
      } else if (queue_.size() >= options_.max_batch) {
        cv_.notify_one();
      }
    }
  }
  Count("dropped", dropped);
}

void OtlpExporter::Shutdown() {
  {
    MutexLock lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = clock_.Monotonic() + options_.shutdown_budget;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      // The thread ends by the deadline on its own unless a call is stuck
      // in flight: then abort that call.
      // The clock is the real one here: the wait is on steady_clock.
      const MonotonicTime until = clock_.Monotonic() + options_.shutdown_budget;
      while (!done_ && (in_flight_spans_ > 0 || !queue_.empty()) &&
             cv_.wait_until(mu_, until) == std::cv_status::no_timeout) {
      }
    }
  }
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
  uint64_t left = 0;
  {
    MutexLock lock(mu_);
    left = queue_.size();
    queue_.Take(left);
  }
  if (left > 0) {
    LOG(log_, kWarn, "daemon")
        .Field("spans", static_cast<int64_t>(left))
        .Printf("trace export did not finish within the %lld ms shutdown budget; spans dropped",
                static_cast<long long>(options_.shutdown_budget.count()));
  }
  Count("dropped", left);
}

OtlpExporter::Health OtlpExporter::health() {
  MutexLock lock(mu_);
  Health h = health_;
  h.queued = queue_.size();
  return h;
}

void OtlpExporter::Run() {
  MutexLock lock(mu_);
  // An empty export first: a valid request that every receiver answers, so
  // that a wrong endpoint or a refused credential shows at start-up, and
  // health() tells early whether the collector answers.
  if (options_.probe_on_start) Send({});
  while (!stopping_) {
    if (queue_.size() >= options_.max_batch ||
        (first_waiting_ && clock_.Monotonic() >= *first_waiting_ + options_.batch_delay)) {
      std::vector<SpanData> batch = queue_.Take(options_.max_batch);
      first_waiting_ = queue_.empty() ? std::nullopt : std::optional(clock_.Monotonic());
      Send(std::move(batch));
      continue;
    }
    if (first_waiting_) {
      const auto left = *first_waiting_ + options_.batch_delay - clock_.Monotonic();
      cv_.wait_for(mu_, left);
    } else {
      cv_.wait(mu_);
    }
  }
  // Shutdown: what is queued goes out while the budget lasts.
  while (!queue_.empty() && clock_.Monotonic() < stop_deadline_) {
    Send(queue_.Take(options_.max_batch));
  }
  done_ = true;
  cv_.notify_all();
}

void OtlpExporter::NoteFailure(const std::string& error, uint64_t spans) {
  health_.ok = false;
  health_.last_error = error;
  // Once per kind of failure: a collector that stays down is one line, not
  // one per batch.
  if (error != last_logged_error_) {
    last_logged_error_ = error;
    LOG(log_, kWarn, "daemon")
        .Error(error)
        .Field("spans", static_cast<int64_t>(spans))
        .Message("trace export failed; spans dropped (logged once until exports recover)");
  }
}

void OtlpExporter::Send(std::vector<SpanData> batch) {
  const uint64_t n = batch.size();
  in_flight_spans_ = n;
  // Every return below leaves with mu_ held.
  struct Landed {
    size_t& spans;
    ~Landed() { spans = 0; }
  } landed{in_flight_spans_};
  platform::HttpRequest req;
  req.url = options_.endpoint;
  req.headers = options_.headers;
  req.content_type = "application/json";
  req.ca_file = options_.ca_file;
  req.max_body_bytes = 4 << 20;  // the spec's response limit
  req.follow_redirects = false;
  req.cancel = &cancel_;
  mu_.unlock();
  req.body = EncodeExportRequest(resource_, scope_, batch);
  batch.clear();
  mu_.lock();

  for (int attempt = 1;; ++attempt) {
    milliseconds connect = options_.connect_timeout;
    milliseconds timeout = options_.timeout;
    if (stopping_) {
      const auto left = duration_cast<milliseconds>(stop_deadline_ - clock_.Monotonic());
      if (left <= milliseconds(0)) {
        NoteFailure("shutdown deadline reached before the export finished", n);
        Count("dropped", n);
        return;
      }
      connect = std::min(connect, left);
      timeout = std::min(timeout, left);
    }
    req.connect_timeout = connect;
    req.timeout = timeout;
    const MonotonicTime t0 = clock_.Monotonic();
    health_.in_flight_since = t0;
    mu_.unlock();
    Result<platform::HttpResponse> res = client_.Post(req);
    if (listener_ != nullptr) listener_->OnExport(clock_.Monotonic() - t0);
    mu_.lock();
    health_.in_flight_since.reset();

    if (stopping_ && !res.ok() && res.status().code() == Status::Code::kCancelled) {
      // Shutdown aborted the call: not a collector failure.
      if (n > 0) {
        LOG(log_, kWarn, "daemon")
            .Field("spans", static_cast<int64_t>(n))
            .Message("trace export cut off by the shutdown budget; spans dropped");
      }
      Count("dropped", n);
      return;
    }
    const ExportVerdict verdict = Classify(res);
    if (verdict == ExportVerdict::kDone) {
      if (!health_.ok) {
        LOG(log_, kInfo, "daemon").Message("trace export recovered");
      }
      health_.ok = true;
      health_.last_error.clear();
      health_.last_success = clock_.Now();
      last_logged_error_.clear();
      Count("exported", n);
      return;
    }
    std::string error;
    if (res.ok()) {
      // The collector's google.rpc.Status body, shortened: it says why.
      const std::string body = res->body.substr(0, 200);
      error = "POST " + options_.endpoint + ": HTTP " + std::to_string(res->status);
      if (!Trim(body).empty()) error += ": " + std::string(Trim(body));
    } else {
      error = res.status().message();
    }
    if (verdict == ExportVerdict::kFail || attempt >= options_.max_attempts) {
      if (verdict == ExportVerdict::kRetry) {
        error += " (gave up after " + std::to_string(attempt) + " attempts)";
      }
      NoteFailure(error, n);
      Count("failed", n);
      return;
    }
    double jitter = 0;
    {
      uint32_t r = 0;
      platform::RandomBytes(&r, sizeof(r));
      jitter = static_cast<double>(r) / 4294967296.0;
    }
    milliseconds wait = Backoff(attempt, options_.initial_backoff, options_.max_backoff, jitter);
    if (res.ok() && (res->status == 429 || res->status == 503)) {
      auto it = res->headers.find("retry-after");
      if (it != res->headers.end()) {
        if (auto after = ParseRetryAfter(it->second, clock_.Now())) {
          wait = std::min(*after, options_.max_backoff);
        }
      }
    }
    const MonotonicTime retry_at = clock_.Monotonic() + wait;
    while (clock_.Monotonic() < retry_at) {
      if (stopping_ && retry_at >= stop_deadline_) break;
      cv_.wait_for(mu_, retry_at - clock_.Monotonic());
    }
    if (stopping_ && clock_.Monotonic() >= stop_deadline_) {
      NoteFailure(error, n);
      Count("dropped", n);
      return;
    }
  }
}

}  // namespace provisioner::telemetry
