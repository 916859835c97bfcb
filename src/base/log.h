// The structured logger (DESIGN.md §9).
//
//   LOG(log_, kInfo, "scheduler").Workspace(ws.name).JobId(id)
//       .Printf("deploy fired, %d resources to add", n);
//
// One record becomes one line: JSON on stderr for journald by default, or a
// text form for humans. When a level is off, LOG skips the whole statement,
// so its arguments are not even evaluated. The record is emitted when the
// statement ends.
//
// Categories (the `logger` field) are fixed names: scheduler, workspace, job,
// template, opentofu, http, auth, audit, config, state, daemon.
// Secrets (environment values, sensitive outputs, Authorization headers) must
// never be passed to a logger.
//
// Thread-safety: Logger and the sinks here are safe to use from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/trace_context.h"

namespace provisioner::log {

enum class Level : uint8_t { kTrace = 0, kDebug, kInfo, kWarn, kError };
enum class Format : uint8_t { kJson, kText };

std::string_view LevelName(Level level);            // "info"
Result<Level> ParseLevel(std::string_view name);    // trace|debug|info|warn|error
Result<Format> ParseFormat(std::string_view name);  // json|text

struct Record {
  SystemTime timestamp;
  Level level = Level::kInfo;
  std::string category;
  std::string message;
  // Context fields; empty means absent.
  std::string workspace;
  std::string operation;
  std::string job_id;
  std::string correlation_id;
  // Of the sampled span the line was written in (DESIGN.md §9).
  std::string trace_id;
  std::string span_id;
  std::string error;
  std::optional<int64_t> duration_ms;
  // Further fields, in order, e.g. {"trigger", "schedule"}.
  std::vector<std::pair<std::string, std::string>> extra;
};

// `tags` of every JSON line.
struct Tags {
  std::string version;
  std::string environment;
};

// Renders one record as a JSON object without the trailing newline.
std::string FormatJson(const Record& record, const Tags& tags);
// Renders one record as "2026-11-23T10:30:00.123Z INFO  scheduler: message key=value".
std::string FormatText(const Record& record);

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void Write(const Record& record) = 0;
};

class Logger {
 public:
  // The logger never owns the clock or the sink.
  Logger(Clock& clock, Sink& sink, Level min_level = Level::kInfo);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool Enabled(Level level) const { return level >= min_level_.load(std::memory_order_relaxed); }
  void SetLevel(Level level) { min_level_.store(level, std::memory_order_relaxed); }
  Level level() const { return min_level_.load(std::memory_order_relaxed); }

  // Stamps the record with the clock's time and hands it to the sink.
  void Write(Record record);

 private:
  Clock& clock_;
  Sink& sink_;
  std::atomic<Level> min_level_;
};

// Makes the lines written on this thread carry trace_id and span_id of
// `*ctx` when it is sampled, until the next call (null: none). `ctx` must
// outlive that. Returns the previous one.
const TraceContext* SetThreadTrace(const TraceContext* ctx);

// SetThreadTrace for a scope (the scheduler handling one job).
class ScopedTrace {
 public:
  explicit ScopedTrace(const TraceContext& ctx);
  ~ScopedTrace();
  ScopedTrace(const ScopedTrace&) = delete;
  ScopedTrace& operator=(const ScopedTrace&) = delete;

 private:
  const TraceContext* previous_;
};

// One log statement under construction; written out by its destructor.
class Entry {
 public:
  Entry(Logger& logger, Level level, std::string_view category);
  ~Entry();
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

  Entry& Workspace(std::string_view v) { return Set(&record_.workspace, v); }
  Entry& Operation(std::string_view v) { return Set(&record_.operation, v); }
  Entry& JobId(std::string_view v) { return Set(&record_.job_id, v); }
  Entry& CorrelationId(std::string_view v) { return Set(&record_.correlation_id, v); }
  // trace_id and span_id of `ctx` when it is sampled; otherwise nothing.
  Entry& Trace(const TraceContext& ctx);
  Entry& Error(std::string_view v) { return Set(&record_.error, v); }
  Entry& Error(const Status& status) { return Set(&record_.error, status.ToString()); }
  Entry& DurationMs(int64_t ms) {
    record_.duration_ms = ms;
    return *this;
  }
  Entry& Field(std::string_view key, std::string_view value) {
    record_.extra.emplace_back(std::string(key), std::string(value));
    return *this;
  }
  Entry& Field(std::string_view key, int64_t value) {
    return Field(key, std::string_view(std::to_string(value)));
  }

  Entry& Message(std::string_view text) {
    record_.message.append(text);
    return *this;
  }
  Entry& Printf(const char* format, ...) __attribute__((format(printf, 2, 3)));

 private:
  Entry& Set(std::string* field, std::string_view v) {
    // Not assign(v): GCC 12 at -O3 warns -Wrestrict on its overlap path when
    // v comes from a temporary string (GCC PR 105651).
    field->clear();
    field->append(v);
    return *this;
  }

  Logger& logger_;
  Record record_;
};

}  // namespace provisioner::log

// LOG(logger, kInfo, "scheduler").Workspace(name).Printf("...", ...);
// The if/else form keeps the arguments unevaluated when the level is off and
// is safe inside an unbraced if/else.
#define LOG(logger, level, category) LOG_AT(logger, ::provisioner::log::Level::level, category)

// The same with a level computed at run time: LOG_AT(log, ok ? kInfo : kWarn, ...)
// needs ::provisioner::log::Level values.
#define LOG_AT(logger, level_value, category) \
  if (!(logger).Enabled(level_value)) {       \
  } else                                      \
    ::provisioner::log::Entry((logger), (level_value), (category))
