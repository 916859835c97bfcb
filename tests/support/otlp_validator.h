// Checks OTLP/HTTP JSON trace bodies (ExportTraceServiceRequest) against the
// official protobuf schema in shared/fixtures/otlp, with the OTLP/JSON rules
// of reference/debian-libraries.md §8.1: hex ids, integer enums,
// lowerCamelCase keys. The work is done by tests/support/otlp_validate.py
// (its docstring lists every rule), run under Debian's /usr/bin/python3 with
// python3-protobuf and /usr/bin/protoc (protobuf-compiler).
//
//   std::string why;
//   if (!OtlpValidatorAvailable(&why) && ToolMissing(why)) return;
//   CHECK(ValidateOtlpJson(body) == "");
#pragma once

#include <string>

namespace provisioner::testing {

// The schema and the upstream example request (examples-trace.json).
inline constexpr const char* kOtlpFixturesDir = PROVISIONER_SOURCE_DIR "/../shared/fixtures/otlp";

// True when ValidateOtlpJson can run: protoc, /usr/bin/python3 with
// google.protobuf, and the fixtures. Otherwise false, with *why saying what
// is missing in words fit for ToolMissing. Starts a Python process.
bool OtlpValidatorAvailable(std::string* why);

// Validates one request body. Returns "" when it is valid; otherwise the
// problems, one a line ("$.resourceSpans[0].scopeSpans[0].spans[0].kind:
// enum must be an integer, ..."), without a final newline, or a line saying
// why the validator could not run. Never "" unless the validator accepted the
// body. Each call compiles the schema with protoc and starts Python (about
// 0.15 s); it gives up after 60 s.
std::string ValidateOtlpJson(const std::string& body);

}  // namespace provisioner::testing
