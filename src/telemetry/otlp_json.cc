#include "telemetry/otlp_json.h"

#include <charconv>
#include <cmath>

#include "base/strings.h"

namespace provisioner::telemetry {
namespace {

void AppendKey(std::string* out, std::string_view key) {
  out->push_back('"');
  out->append(key);
  out->append("\":");
}

void AppendUnixNano(std::string* out, SystemTime t) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  // fixed64: a decimal string; a time before 1970 cannot be sent.
  out->push_back('"');
  out->append(std::to_string(ns < 0 ? 0 : ns));
  out->push_back('"');
}

void AppendValue(std::string* out, const AttributeValue& value) {
  out->push_back('{');
  if (const auto* s = std::get_if<std::string>(&value)) {
    AppendKey(out, "stringValue");
    AppendJsonString(out, *s);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    AppendKey(out, "intValue");
    out->push_back('"');
    out->append(std::to_string(*i));
    out->push_back('"');
  } else if (const auto* d = std::get_if<double>(&value)) {
    AppendKey(out, "doubleValue");
    if (std::isfinite(*d)) {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), *d);
      out->append(buf, r.ptr);
    } else {
      // proto3 JSON spells the non-finite doubles as strings.
      out->append(std::isnan(*d) ? "\"NaN\"" : *d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    }
  } else {
    AppendKey(out, "boolValue");
    out->append(std::get<bool>(value) ? "true" : "false");
  }
  out->push_back('}');
}

void AppendAttributes(std::string* out, const Attributes& attributes) {
  AppendKey(out, "attributes");
  out->push_back('[');
  bool first = true;
  for (const Attribute& a : attributes) {
    if (!first) out->push_back(',');
    first = false;
    out->push_back('{');
    AppendKey(out, "key");
    AppendJsonString(out, a.key);
    out->push_back(',');
    AppendKey(out, "value");
    AppendValue(out, a.value);
    out->push_back('}');
  }
  out->push_back(']');
}

void AppendString(std::string* out, std::string_view key, std::string_view value) {
  AppendKey(out, key);
  AppendJsonString(out, value);
}

}  // namespace

void AppendSpanJson(const SpanData& span, std::string* out) {
  out->push_back('{');
  AppendString(out, "traceId", span.context.trace_id.Hex());
  out->push_back(',');
  AppendString(out, "spanId", span.context.span_id.Hex());
  if (!span.context.trace_state.empty()) {
    out->push_back(',');
    AppendString(out, "traceState", span.context.trace_state);
  }
  if (span.parent.valid()) {
    out->push_back(',');
    AppendString(out, "parentSpanId", span.parent.Hex());
  }
  // flags: the W3C flags in the low byte, then "has is_remote" (0x100) and
  // "parent is remote" (0x200).
  uint32_t flags = (span.context.flags & 0xff) | 0x100;
  if (span.parent.valid() && span.parent_remote) flags |= 0x200;
  out->push_back(',');
  AppendKey(out, "flags");
  out->append(std::to_string(flags));
  out->push_back(',');
  AppendString(out, "name", span.name);
  out->push_back(',');
  AppendKey(out, "kind");
  out->append(std::to_string(static_cast<int>(span.kind)));
  out->push_back(',');
  AppendKey(out, "startTimeUnixNano");
  AppendUnixNano(out, span.start);
  out->push_back(',');
  AppendKey(out, "endTimeUnixNano");
  AppendUnixNano(out, span.end);
  if (!span.attributes.empty()) {
    out->push_back(',');
    AppendAttributes(out, span.attributes);
  }
  if (!span.events.empty()) {
    out->append(",\"events\":[");
    bool first = true;
    for (const SpanEvent& e : span.events) {
      if (!first) out->push_back(',');
      first = false;
      out->push_back('{');
      AppendKey(out, "timeUnixNano");
      AppendUnixNano(out, e.time);
      out->push_back(',');
      AppendString(out, "name", e.name);
      if (!e.attributes.empty()) {
        out->push_back(',');
        AppendAttributes(out, e.attributes);
      }
      out->push_back('}');
    }
    out->push_back(']');
  }
  if (!span.links.empty()) {
    out->append(",\"links\":[");
    bool first = true;
    for (const SpanLink& l : span.links) {
      if (!first) out->push_back(',');
      first = false;
      out->push_back('{');
      AppendString(out, "traceId", l.context.trace_id.Hex());
      out->push_back(',');
      AppendString(out, "spanId", l.context.span_id.Hex());
      if (!l.context.trace_state.empty()) {
        out->push_back(',');
        AppendString(out, "traceState", l.context.trace_state);
      }
      if (!l.attributes.empty()) {
        out->push_back(',');
        AppendAttributes(out, l.attributes);
      }
      out->push_back(',');
      AppendKey(out, "flags");
      out->append(
          std::to_string((l.context.flags & 0xff) | 0x100 | (l.context.remote ? 0x200 : 0)));
      out->push_back('}');
    }
    out->push_back(']');
  }
  if (span.status != SpanStatus::kUnset) {
    out->append(",\"status\":{");
    AppendKey(out, "code");
    out->append(std::to_string(static_cast<int>(span.status)));
    if (!span.status_message.empty()) {
      out->push_back(',');
      AppendString(out, "message", span.status_message);
    }
    out->push_back('}');
  }
  out->push_back('}');
}

std::string EncodeExportRequest(const Resource& resource, const Scope& scope,
                                std::span<const SpanData> spans) {
  std::string out;
  out.reserve(256 + spans.size() * 512);
  out.append("{\"resourceSpans\":[{\"resource\":{");
  AppendAttributes(&out, resource.attributes);
  out.append("},\"scopeSpans\":[{\"scope\":{");
  AppendString(&out, "name", scope.name);
  if (!scope.version.empty()) {
    out.push_back(',');
    AppendString(&out, "version", scope.version);
  }
  out.append("},\"spans\":[");
  bool first = true;
  for (const SpanData& s : spans) {
    if (!first) out.push_back(',');
    first = false;
    AppendSpanJson(s, &out);
  }
  out.append("]}]}]}");
  return out;
}

}  // namespace provisioner::telemetry
