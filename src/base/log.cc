#include "base/log.h"

#include <cstdarg>
#include <cstdio>

#include "base/strings.h"
#include "base/time_format.h"

namespace provisioner::log {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

Result<Level> ParseLevel(std::string_view name) {
  for (Level l : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == LevelName(l)) return l;
  }
  return Status::InvalidArgument("unknown log level \"" + std::string(name) + "\"",
                                 "use trace, debug, info, warn or error");
}

Result<Format> ParseFormat(std::string_view name) {
  if (name == "json") return Format::kJson;
  if (name == "text") return Format::kText;
  return Status::InvalidArgument("unknown log format \"" + std::string(name) + "\"",
                                 "use json or text");
}

namespace {

void AppendKey(std::string* out, std::string_view key) {
  out->push_back(',');
  AppendJsonString(out, key);
  out->push_back(':');
}

void AppendOptional(std::string* out, std::string_view key, const std::string& value) {
  if (value.empty()) return;
  AppendKey(out, key);
  AppendJsonString(out, value);
}

// A text value is quoted when it would otherwise be ambiguous to read or grep.
void AppendTextValue(std::string* out, std::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) plain = false;
  }
  if (plain) {
    AppendValidUtf8(out, value);
  } else {
    AppendJsonString(out, value);
  }
}

}  // namespace

std::string FormatJson(const Record& r, const Tags& tags) {
  std::string out;
  out.reserve(256 + r.message.size());
  out.append("{\"timestamp\":\"");
  out.append(FormatUtc(r.timestamp, 3));
  out.append("\",\"level\":\"");
  out.append(LevelName(r.level));
  out.push_back('"');
  AppendKey(&out, "logger");
  AppendJsonString(&out, r.category);
  AppendKey(&out, "message");
  AppendJsonString(&out, r.message);
  AppendOptional(&out, "workspace", r.workspace);
  AppendOptional(&out, "operation", r.operation);
  AppendOptional(&out, "job_id", r.job_id);
  AppendOptional(&out, "correlation_id", r.correlation_id);
  AppendOptional(&out, "trace_id", r.trace_id);
  AppendOptional(&out, "span_id", r.span_id);
  if (r.duration_ms) {
    AppendKey(&out, "duration_ms");
    out.append(std::to_string(*r.duration_ms));
  }
  AppendOptional(&out, "error", r.error);
  for (const auto& [key, value] : r.extra) {
    AppendKey(&out, key);
    AppendJsonString(&out, value);
  }
  out.append(",\"tags\":{\"component\":");
  AppendJsonString(&out, r.category);
  out.append(",\"version\":");
  AppendJsonString(&out, tags.version);
  out.append(",\"environment\":");
  AppendJsonString(&out, tags.environment);
  out.append("}}");
  return out;
}

std::string FormatText(const Record& r) {
  std::string out;
  out.reserve(128 + r.message.size());
  out.append(FormatUtc(r.timestamp, 3));
  out.push_back(' ');
  std::string level(LevelName(r.level));
  for (char& c : level) c = static_cast<char>(c - 'a' + 'A');  // names are lowercase ASCII
  level.resize(5, ' ');
  out.append(level);
  out.push_back(' ');
  out.append(r.category);
  out.append(": ");
  AppendValidUtf8(&out, r.message);
  auto field = [&out](std::string_view key, std::string_view value) {
    if (value.empty()) return;
    out.push_back(' ');
    out.append(key);
    out.push_back('=');
    AppendTextValue(&out, value);
  };
  field("workspace", r.workspace);
  field("operation", r.operation);
  field("job_id", r.job_id);
  field("correlation_id", r.correlation_id);
  field("trace_id", r.trace_id);
  field("span_id", r.span_id);
  if (r.duration_ms) field("duration_ms", std::to_string(*r.duration_ms));
  field("error", r.error);
  for (const auto& [key, value] : r.extra) field(key, value);
  return out;
}

Logger::Logger(Clock& clock, Sink& sink, Level min_level)
    : clock_(clock), sink_(sink), min_level_(min_level) {}

void Logger::Write(Record record) {
  record.timestamp = clock_.Now();
  sink_.Write(record);
}

namespace {
thread_local const TraceContext* tl_trace = nullptr;
}  // namespace

const TraceContext* SetThreadTrace(const TraceContext* ctx) {
  const TraceContext* previous = tl_trace;
  tl_trace = ctx;
  return previous;
}

ScopedTrace::ScopedTrace(const TraceContext& ctx) : previous_(SetThreadTrace(&ctx)) {}
ScopedTrace::~ScopedTrace() { tl_trace = previous_; }

Entry::Entry(Logger& logger, Level level, std::string_view category) : logger_(logger) {
  record_.level = level;
  record_.category.assign(category);
  if (tl_trace != nullptr) Trace(*tl_trace);
}

Entry& Entry::Trace(const TraceContext& ctx) {
  if (ctx.sampled()) {
    record_.trace_id = ctx.trace_id.Hex();
    record_.span_id = ctx.span_id.Hex();
  }
  return *this;
}

Entry::~Entry() { logger_.Write(std::move(record_)); }

Entry& Entry::Printf(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  char small[512];
  va_list ap2;
  va_copy(ap2, ap);
  int n = std::vsnprintf(small, sizeof small, format, ap);
  if (n >= 0 && static_cast<size_t>(n) < sizeof small) {
    record_.message.append(small, static_cast<size_t>(n));
  } else if (n >= 0) {
    size_t old = record_.message.size();
    record_.message.resize(old + static_cast<size_t>(n) + 1);
    std::vsnprintf(record_.message.data() + old, static_cast<size_t>(n) + 1, format, ap2);
    record_.message.resize(old + static_cast<size_t>(n));
  }
  va_end(ap2);
  va_end(ap);
  return *this;
}

}  // namespace provisioner::log
