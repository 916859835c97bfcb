// TraceContext: where a piece of work sits in a distributed trace, as plain
// data, and its W3C Trace Context form (traceparent and tracestate).
//
// It lives in base because it travels everywhere: an API request parses it
// from headers, the scheduler carries a job's context in the job spec, the
// tofu client hands a step's context to the child as TRACEPARENT, and the
// logger stamps trace_id and span_id on lines. None of those may include the
// tracer (telemetry/), which turns contexts into spans.
//
//   00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
//   ^  ^ trace id (16 bytes)            ^ span id (8)    ^ flags: 01 sampled
//
// Parsing follows the W3C spec strictly (version 00 is exactly 55 lowercase
// characters; all-zero ids and version ff are invalid). An invalid header is
// ignored, never an error: the receiver starts a new trace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace provisioner {

struct TraceId {
  uint64_t hi = 0;  // bytes 0-7, big-endian
  uint64_t lo = 0;  // bytes 8-15
  bool valid() const { return hi != 0 || lo != 0; }
  std::string Hex() const;  // 32 lowercase hex digits
  friend bool operator==(const TraceId&, const TraceId&) = default;
};

struct SpanId {
  uint64_t value = 0;
  bool valid() const { return value != 0; }
  std::string Hex() const;  // 16 lowercase hex digits
  friend bool operator==(const SpanId&, const SpanId&) = default;
};

// W3C trace-flags bits.
inline constexpr uint8_t kTraceFlagSampled = 0x01;
inline constexpr uint8_t kTraceFlagRandom = 0x02;  // the trace id's right 7 bytes are random

struct TraceContext {
  TraceId trace_id;
  SpanId span_id;
  uint8_t flags = 0;
  // The tracestate header as received (validated), passed on unchanged.
  std::string trace_state;
  // Parsed from a request rather than started here.
  bool remote = false;

  bool valid() const { return trace_id.valid() && span_id.valid(); }
  bool sampled() const { return valid() && (flags & kTraceFlagSampled) != 0; }
  // "00-<trace>-<span>-<flags>"; only the flags this version defines.
  std::string Traceparent() const;

  friend bool operator==(const TraceContext&, const TraceContext&) = default;
};

// The context a `traceparent` header carries (remote = true), with
// `tracestate` kept when it is well formed (dropped otherwise, the
// traceparent still counts). nullopt when traceparent is absent or invalid.
std::optional<TraceContext> ParseTraceparent(std::string_view traceparent,
                                             std::string_view tracestate = {});

// A tracestate header is at most 32 comma-separated key=value members with
// the spec's key and value grammar, each key once.
bool ValidTracestate(std::string_view tracestate);

// Lowercase hex of exactly 32 (trace) or 16 (span) digits, not all zero; for
// ids read back from JSON.
std::optional<TraceId> ParseTraceId(std::string_view hex);
std::optional<SpanId> ParseSpanId(std::string_view hex);

}  // namespace provisioner
