// The OTLP/HTTP JSON body of a trace export: an ExportTraceServiceRequest in
// the proto3 JSON mapping with OTLP's deviations (reference/debian-libraries.md
// §8.1): ids as lowercase hex, enums as integers, 64-bit integers as decimal
// strings, lowerCamelCase keys, parentSpanId omitted on roots. Written
// directly rather than through a JSON DOM, because the exporter must keep up
// with tens of thousands of spans a second on one core.
#pragma once

#include <span>
#include <string>

#include "telemetry/span.h"

namespace provisioner::telemetry {

struct Scope {
  std::string name = "provisioner";
  std::string version;
};

// {"resourceSpans":[{"resource":{...},"scopeSpans":[{"scope":{...},"spans":[...]}]}]}
std::string EncodeExportRequest(const Resource& resource, const Scope& scope,
                                std::span<const SpanData> spans);

// One span object, appended to `out` (for tests and the encoder).
void AppendSpanJson(const SpanData& span, std::string* out);

}  // namespace provisioner::telemetry
