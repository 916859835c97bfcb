#include "app/tracing.h"

#include <charconv>
#include <cstdio>

#include "base/strings.h"
#include "platform/process_info.h"

namespace provisioner::app {
namespace {

using telemetry::Attributes;
using telemetry::SpanData;
using telemetry::SpanEvent;

std::string Get(const std::map<std::string, std::string>& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : std::string(Trim(it->second));
}

bool IsHttpUrl(std::string_view url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

// An HTTP token (RFC 9110 §5.6.2).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// No CR, LF or other control characters: a value must not be able to start
// a header of its own (cpp-httplib 0.11.4 does not check, CVE-2026-21428).
bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = HexDigit(s[i + 1]);
    const int lo = HexDigit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// service.name from OTEL_RESOURCE_ATTRIBUTES (k=v,k=v, percent-encoded); a
// malformed variable is discarded whole, as the spec says.
std::optional<std::string> ServiceNameFromResource(std::string_view attrs,
                                                   std::vector<std::string>* warnings) {
  std::optional<std::string> name;
  for (std::string_view item : Split(attrs, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    auto key =
        eq == std::string_view::npos ? std::nullopt : PercentDecode(Trim(item.substr(0, eq)));
    auto value =
        eq == std::string_view::npos ? std::nullopt : PercentDecode(Trim(item.substr(eq + 1)));
    if (!key || !value || key->empty()) {
      warnings->push_back("OTEL_RESOURCE_ATTRIBUTES is malformed and was ignored");
      return std::nullopt;
    }
    if (*key == "service.name") name = *value;
  }
  return name;
}

std::optional<double> ParseRatio(std::string_view text) {
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || !(v >= 0 && v <= 1)) {
    return std::nullopt;
  }
  return v;
}

bool StepFailed(const tofu::StepResult& s) {
  // plan -detailed-exitcode exits 2 when it found changes: a success.
  return !(s.exit_code == 0 || (s.step == tofu::Step::kPlan && s.exit_code == 2));
}

}  // namespace

Result<std::map<std::string, std::string>> ParseHeadersFile(std::string_view text,
                                                            std::string_view path) {
  std::map<std::string, std::string> out;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view t = Trim(line);
    if (t.empty() || t.front() == '#') continue;
    const std::string where = std::string(path) + ":" + std::to_string(line_no);
    const size_t colon = t.find(':');
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument(where, "expected \"Name: value\"");
    }
    std::string_view name = Trim(t.substr(0, colon));
    std::string_view value = Trim(t.substr(colon + 1));
    if (!IsToken(name))
      return Status::InvalidArgument(where, "the header name is not an HTTP token");
    if (!IsFieldValue(value)) {
      return Status::InvalidArgument(where, "the header value has control characters");
    }
    out[std::string(name)] = std::string(value);
  }
  return out;
}

Result<std::map<std::string, std::string>> ParseOtelHeaders(std::string_view text) {
  std::map<std::string, std::string> out;
  int n = 0;
  for (std::string_view item : Split(text, ',')) {
    ++n;
    item = Trim(item);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string where = "header " + std::to_string(n);
    if (eq == std::string_view::npos) return Status::InvalidArgument(where, "expected key=value");
    auto name = PercentDecode(Trim(item.substr(0, eq)));
    auto value = PercentDecode(Trim(item.substr(eq + 1)));
    if (!name || !value) return Status::InvalidArgument(where, "bad percent-encoding");
    if (!IsToken(*name)) return Status::InvalidArgument(where, "the name is not an HTTP token");
    if (!IsFieldValue(*value)) {
      return Status::InvalidArgument(where, "the value has control characters");
    }
    out[*name] = *value;
  }
  return out;
}

Result<TracingSettings> ResolveTracing(const config::TracingConfig& config,
                                       const std::map<std::string, std::string>& env,
                                       platform::FileSystem& fs) {
  TracingSettings out;
  std::vector<std::string>& warn = out.warnings;

  out.enabled = config.enabled;
  if (AsciiLower(Get(env, "OTEL_SDK_DISABLED")) == "true" && out.enabled) {
    out.enabled = false;
    out.notes.push_back("off: OTEL_SDK_DISABLED=true");
  }
  if (const std::string e = Get(env, "OTEL_TRACES_EXPORTER"); !e.empty()) {
    if (e == "none") {
      if (out.enabled) out.notes.push_back("off: OTEL_TRACES_EXPORTER=none");
      out.enabled = false;
    } else if (e != "otlp") {
      warn.push_back("OTEL_TRACES_EXPORTER=" + e + " is not supported (only otlp); ignored");
    }
  }

  if (config.endpoint_set) {
    out.endpoint = config.endpoint;
  } else if (std::string e = Get(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !e.empty()) {
    // Used as is; only an empty path becomes "/".
    if (!IsHttpUrl(e)) {
      return Status::InvalidArgument("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\"" + e + "\"",
                                     "not an http:// or https:// URL");
    }
    if (e.find('/', e.find("://") + 3) == std::string::npos) e += '/';
    out.endpoint = e;
    out.notes.push_back("endpoint from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  } else if (std::string base = Get(env, "OTEL_EXPORTER_OTLP_ENDPOINT"); !base.empty()) {
    if (!IsHttpUrl(base)) {
      return Status::InvalidArgument("OTEL_EXPORTER_OTLP_ENDPOINT=\"" + base + "\"",
                                     "not an http:// or https:// URL");
    }
    if (base.back() != '/') base += '/';
    out.endpoint = base + "v1/traces";
    out.notes.push_back("endpoint from OTEL_EXPORTER_OTLP_ENDPOINT");
  } else {
    out.endpoint = config.endpoint;
  }
  for (const char* var : {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"}) {
    if (const std::string p = Get(env, var); !p.empty()) {
      if (p != "http/json") {
        warn.push_back(std::string(var) + "=" + p +
                       " is not supported; the daemon exports http/json (its tofu children "
                       "keep their own default)");
      }
      break;
    }
  }

  if (config.service_name_set) {
    out.service_name = config.service_name;
  } else if (std::string s = Get(env, "OTEL_SERVICE_NAME"); !s.empty()) {
    out.service_name = s;
  } else if (auto s2 = ServiceNameFromResource(Get(env, "OTEL_RESOURCE_ATTRIBUTES"), &warn)) {
    out.service_name = *s2;
  } else {
    out.service_name = config.service_name;
  }

  out.sampling_ratio = config.sampling_ratio;
  if (!config.sampling_ratio_set) {
    const std::string sampler = Get(env, "OTEL_TRACES_SAMPLER");
    const std::string arg = Get(env, "OTEL_TRACES_SAMPLER_ARG");
    if (sampler == "always_on" || sampler == "parentbased_always_on") {
      out.sampling_ratio = 1;
    } else if (sampler == "always_off" || sampler == "parentbased_always_off") {
      out.sampling_ratio = 0;
    } else if (sampler.empty() || sampler == "traceidratio" ||
               sampler == "parentbased_traceidratio") {
      if (!arg.empty()) {
        if (auto r = ParseRatio(arg)) {
          out.sampling_ratio = *r;
        } else {
          warn.push_back("OTEL_TRACES_SAMPLER_ARG=" + arg + " is not a ratio in [0, 1]; ignored");
        }
      } else if (!sampler.empty()) {
        out.sampling_ratio = 1;  // the spec's default argument
      }
    } else {
      warn.push_back("OTEL_TRACES_SAMPLER=" + sampler + " is not supported; ignored");
    }
  }

  if (config.headers_file_set && !config.headers_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, fs.ReadFile(config.headers_file, 64 << 10));
    ASSIGN_OR_RETURN(out.headers, ParseHeadersFile(text, config.headers_file));
  } else {
    for (const char* var : {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"}) {
      auto it = env.find(var);
      if (it == env.end()) continue;
      auto headers = ParseOtelHeaders(it->second);
      if (headers.ok()) {
        out.headers = std::move(*headers);
      } else {
        // Never the value: it holds credentials.
        warn.push_back(std::string(var) + " is malformed (" + headers.status().ToString() +
                       "); no headers are sent");
      }
      break;
    }
  }

  for (const char* var : {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"}) {
    const std::string t = Get(env, var);
    if (t.empty()) continue;
    auto ms = ParseUint(t);
    if (!ms || *ms == 0 || *ms > 600000) {
      warn.push_back(std::string(var) + "=" + t +
                     " is not supported (milliseconds, 1 to 600000); 10000 is used");
    } else {
      out.timeout = std::chrono::milliseconds(*ms);
    }
    break;
  }
  return out;
}

std::map<std::string, std::string> TofuTraceEnv(const TracingSettings& settings) {
  std::map<std::string, std::string> env;
  if (!settings.enabled) return env;
  env["OTEL_TRACES_EXPORTER"] = "otlp";
  env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = settings.endpoint;
  // Bounds how long a tofu command waits for a slow or blackholed collector
  // when it exits (the Go SDK's default is 10 s per export).
  env["OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"] = "2000";
  if (!settings.headers.empty()) {
    std::string h;
    for (const auto& [name, value] : settings.headers) {
      if (!h.empty()) h += ',';
      h += name + "=";
      for (char c : value) {
        // Percent-encode what the k=v,k=v syntax would misread.
        if (c == ',' || c == '=' || c == '%' || c == ' ') {
          char buf[4];
          std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
          h += buf;
        } else {
          h += c;
        }
      }
    }
    env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = h;
  }
  return env;
}

bool ExporterHealthy(const telemetry::OtlpExporter::Health& health, MonotonicTime now) {
  return health.ok &&
         (!health.in_flight_since || now - *health.in_flight_since < std::chrono::seconds(1));
}

telemetry::Resource MakeResource(const TracingSettings& settings, const std::string& version) {
  telemetry::Resource r;
  r.attributes.push_back({"service.name", settings.service_name});
  r.attributes.push_back({"service.version", version});
  r.attributes.push_back({"host.name", platform::HostName()});
  r.attributes.push_back({"process.pid", platform::ProcessId()});
  return r;
}

void TracingObserver::OnJobQueued(const state::JobRecord& job, const scheduler::JobTrace& trace) {
  if (!trace.context.sampled()) return;
  MutexLock lock(mu_);
  // A job that never reports back (it cannot happen today) must not make
  // this grow without bound.
  if (pending_.size() >= 10000) pending_.clear();
  pending_[job.id].trace = trace;
}

void TracingObserver::OnJobStarted(const state::JobRecord& job, std::chrono::milliseconds lag) {
  MutexLock lock(mu_);
  auto it = pending_.find(job.id);
  if (it == pending_.end()) return;
  it->second.job_events.push_back(
      {job.started_at.value_or(tracer_.clock().Now()),
       "job started",
       {{"provisioner.schedule_lag_ms", static_cast<int64_t>(lag.count())}}});
}

void TracingObserver::OnJobProgress(const state::JobRecord& job, tofu::Step step,
                                    const tofu::UiEvent& event) {
  const bool lock_event = event.type == tofu::UiEventType::kStateLockAcquire ||
                          event.type == tofu::UiEventType::kStateLockRelease;
  if (!lock_event) return;
  MutexLock lock(mu_);
  auto it = pending_.find(job.id);
  if (it == pending_.end()) return;
  it->second.step_events.push_back(
      {step,
       {tracer_.clock().Now(),
        event.type == tofu::UiEventType::kStateLockAcquire ? "state lock acquire"
                                                           : "state lock release",
        {{"message", event.message}}}});
}

void TracingObserver::OnJobStopRequested(const state::JobRecord& job, platform::StopReason reason) {
  MutexLock lock(mu_);
  auto it = pending_.find(job.id);
  if (it == pending_.end()) return;
  it->second.job_events.push_back(
      {tracer_.clock().Now(),
       "stop requested",
       {{"provisioner.stop_reason", std::string(platform::StopReasonName(reason))},
        {"signal", std::string("SIGINT")}}});
}

void TracingObserver::OnJobRetryScheduled(const state::JobRecord& job, int next_attempt,
                                          SystemTime not_before) {
  MutexLock lock(mu_);
  auto it = pending_.find(job.id);
  if (it == pending_.end()) return;
  it->second.job_events.push_back(
      {tracer_.clock().Now(),
       "retry scheduled",
       {{"provisioner.next_attempt", int64_t{next_attempt}},
        {"provisioner.retry_in_ms",
         static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  not_before - tracer_.clock().Now())
                                  .count())}}});
}

void TracingObserver::OnJobFinished(const state::JobRecord& job, const tofu::JobOutcome& outcome) {
  Pending p;
  {
    MutexLock lock(mu_);
    auto it = pending_.find(job.id);
    if (it == pending_.end()) return;
    p = std::move(it->second);
    pending_.erase(it);
  }
  const TraceContext& ctx = p.trace.context;
  const SystemTime end = job.finished_at.value_or(tracer_.clock().Now());
  const std::string op(state::OperationName(job.operation));

  SpanData span;
  span.context = ctx;
  span.parent = p.trace.parent;
  span.parent_remote = p.trace.parent_remote;
  span.name = "workspace." + op;
  span.kind = telemetry::SpanKind::kInternal;
  span.start = std::min(p.trace.queued_at, end);
  span.end = end;
  span.Set("provisioner.workspace", job.workspace);
  span.Set("provisioner.operation", op);
  span.Set("provisioner.trigger", std::string(state::TriggerName(job.trigger)));
  span.Set("provisioner.job_id", job.id);
  span.Set("provisioner.attempt", int64_t{job.attempt});
  const std::string result = job.result ? std::string(state::JobResultName(*job.result)) : "failed";
  span.Set("provisioner.result", result);
  span.Set("provisioner.changes.add", int64_t{job.changes.add});
  span.Set("provisioner.changes.change", int64_t{job.changes.change});
  span.Set("provisioner.changes.destroy", int64_t{job.changes.remove});
  if (job.operation == state::Operation::kDeploy) span.Set("provisioner.drift", job.drift);
  span.events = std::move(p.job_events);
  if (p.trace.previous_attempt) {
    span.links.push_back({*p.trace.previous_attempt, {{"provisioner.link", "previous attempt"}}});
  }
  if (!job.result || !state::IsSuccess(*job.result)) {
    span.status = telemetry::SpanStatus::kError;
    span.status_message = job.error.empty() ? result : job.error;
  }

  for (size_t i = 0; i < outcome.steps.size(); ++i) {
    const tofu::StepResult& s = outcome.steps[i];
    if (!s.span_id.valid()) continue;
    SpanData step;
    step.context = ctx;
    step.context.span_id = s.span_id;
    step.parent = ctx.span_id;
    step.name = "tofu." + std::string(tofu::StepName(s.step));
    step.kind = telemetry::SpanKind::kClient;
    step.start = s.started_at;
    step.end = s.started_at + s.duration;
    step.Set("provisioner.workspace", job.workspace);
    step.Set("provisioner.job_id", job.id);
    if (s.exit_code >= 0) step.Set("process.exit.code", int64_t{s.exit_code});
    if (s.term_signal != 0) step.Set("process.exit.signal", int64_t{s.term_signal});
    for (auto& [st, e] : p.step_events) {
      if (st == s.step) step.events.push_back(e);
    }
    if (s.stop_reason != platform::StopReason::kNone) {
      step.events.push_back(
          {step.end,
           "stopped",
           {{"provisioner.stop_reason", std::string(platform::StopReasonName(s.stop_reason))},
            {"killed", s.killed}}});
    }
    if (i + 1 == outcome.steps.size() && outcome.state_lock) {
      step.events.push_back({step.end,
                             "state lock held",
                             {{"lock.who", outcome.state_lock->who},
                              {"lock.operation", outcome.state_lock->operation}}});
    }
    if (StepFailed(s)) {
      step.status = telemetry::SpanStatus::kError;
      step.status_message = i + 1 == outcome.steps.size() && !outcome.error.empty()
                                ? outcome.error
                                : "exit " + std::to_string(s.exit_code);
    }
    tracer_.Export(std::move(step));
  }
  tracer_.Export(std::move(span));
}

size_t TracingObserver::pending_for_testing() {
  MutexLock lock(mu_);
  return pending_.size();
}

}  // namespace provisioner::app
