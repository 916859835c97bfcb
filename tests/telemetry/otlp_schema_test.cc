// The OTLP/JSON validator (tests/support/otlp_validate.py) against the
// upstream example and against one broken copy of a request per rule of
// reference/debian-libraries.md §8.1. The exporter's own tests use the same
// validator on what the exporter sends.
#include <string>
#include <string_view>
#include <vector>

#include "support/otlp_validator.h"
#include "support/test_util.h"

namespace provisioner::telemetry {
namespace {

using testing::OtlpValidatorAvailable;
using testing::ValidateOtlpJson;

// True, after ToolMissing has skipped or failed the test, when the
// validator cannot run here.
bool ValidatorMissing() {
  std::string why;
  return !OtlpValidatorAvailable(&why) && testing::ToolMissing(why);
}

// The request of reference/debian-libraries.md §8.1: a server span with a
// parent, three attributes and an error status.
constexpr std::string_view kRequest = R"({"resourceSpans":[{
  "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"provisioner"}}]},
  "scopeSpans":[{
    "scope":{"name":"provisioner","version":"0.1.0"},
    "spans":[{
      "traceId":"5b8efff798038103d269b633813fc60c",
      "spanId":"eee19b7ec3c1b174",
      "parentSpanId":"eee19b7ec3c1b173",
      "name":"GET /api/v1/workspaces/:name",
      "kind":2,
      "startTimeUnixNano":"1544712660000000000",
      "endTimeUnixNano":"1544712661000000000",
      "attributes":[
        {"key":"http.request.method","value":{"stringValue":"GET"}},
        {"key":"http.route","value":{"stringValue":"/api/v1/workspaces/:name"}},
        {"key":"http.response.status_code","value":{"intValue":"500"}}],
      "status":{"code":2,"message":"internal error"}
    }]}]}]})";

// A problem with the span of kRequest: its JSON path, then `rest`.
std::string AtSpan(std::string_view rest) {
  return "$.resourceSpans[0].scopeSpans[0].spans[0]" + std::string(rest);
}

// `body` with `from`, which must occur exactly once, replaced by `to`.
std::string Replace(std::string body, std::string_view from, std::string_view to) {
  const size_t at = body.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "not in the body: " << from);
  REQUIRE_MESSAGE(body.find(from, at + 1) == std::string::npos, "more than once: " << from);
  body.replace(at, from.size(), to);
  return body;
}

std::string With(std::string_view from, std::string_view to) {
  return Replace(std::string(kRequest), from, to);
}

struct Edit {
  std::string what;
  std::string_view from;
  std::string_view to;
};

struct Rejection {
  Edit edit;
  std::string problem;  // the validator's whole answer
};

TEST_SUITE("telemetry") {
  TEST_CASE("telemetry: otlp validator accepts the upstream example request") {
    if (ValidatorMissing()) return;
    const std::string body =
        testing::ReadFileOrDie(std::string(testing::kOtlpFixturesDir) + "/examples-trace.json");
    CHECK(ValidateOtlpJson(body) == "");
  }

  TEST_CASE("telemetry: otlp validator accepts the reference request and what OTLP allows") {
    // Given the §8.1 request and copies that differ only in ways OTLP/JSON
    // allows, when each is validated, then none has a problem.
    if (ValidatorMissing()) return;
    CHECK(ValidateOtlpJson(std::string(kRequest)) == "");
    const std::vector<Edit> allowed = {
        {"upper-case hex ids", R"("traceId":"5b8efff798038103d269b633813fc60c")",
         R"("traceId":"5B8EFFF798038103D269B633813FC60C")"},
        {"a root span without parentSpanId", R"("parentSpanId":"eee19b7ec3c1b173",)", ""},
        {"a root span with an empty parentSpanId", R"("parentSpanId":"eee19b7ec3c1b173")",
         R"("parentSpanId":"")"},
        {"a 64-bit time as a JSON number", R"("startTimeUnixNano":"1544712660000000000")",
         R"("startTimeUnixNano":1544712660000000000)"},
        {"an intValue as a JSON number", R"({"intValue":"500"})", R"({"intValue":500})"},
        {"a span without an end time", R"("endTimeUnixNano":"1544712661000000000",)", ""},
    };
    for (const Edit& e : allowed) {
      CAPTURE(e.what);
      CHECK(ValidateOtlpJson(With(e.from, e.to)) == "");
    }
  }

  TEST_CASE("telemetry: otlp validator rejects each OTLP/JSON deviation with its own message") {
    // Given the valid §8.1 request, when one piece of it breaks a rule, then
    // the validator reports exactly that piece, by its JSON path.
    if (ValidatorMissing()) return;
    REQUIRE(ValidateOtlpJson(std::string(kRequest)) == "");
    const std::vector<Rejection> rejections = {
        {{"a snake_case key", R"("startTimeUnixNano":)", R"("start_time_unix_nano":)"},
         AtSpan(R"(.start_time_unix_nano: key is not lowerCamelCase (OTLP/JSON wants )"
                R"("startTimeUnixNano"))")},
        {{"a base64 trace id (proto3 JSON, not OTLP)",
          R"("traceId":"5b8efff798038103d269b633813fc60c")",
          R"("traceId":"W47/95gDgQPSabYzgT/GDA==")"},
         AtSpan(R"(.traceId: id is not hex (OTLP/JSON ids are hex, not base64): )"
                R"("W47/95gDgQPSabYzgT/GDA==")")},
        {{"a trace id of 31 hex digits", R"("traceId":"5b8efff798038103d269b633813fc60c")",
          R"("traceId":"5b8efff798038103d269b633813fc60")"},
         AtSpan(
             R"(.traceId: id must be 32 hex digits, not 31: "5b8efff798038103d269b633813fc60")")},
        {{"an all-zero span id", R"("spanId":"eee19b7ec3c1b174")",
          R"("spanId":"0000000000000000")"},
         AtSpan(".spanId: id is all zeros (invalid)")},
        {{"an all-zero parent span id", R"("parentSpanId":"eee19b7ec3c1b173")",
          R"("parentSpanId":"0000000000000000")"},
         AtSpan(".parentSpanId: id is all zeros (invalid; omit parentSpanId on a root span)")},
        {{"kind by name", R"("kind":2)", R"("kind":"SPAN_KIND_SERVER")"},
         AtSpan(R"(.kind: enum must be an integer, not the name "SPAN_KIND_SERVER" (2))")},
        {{"status.code by name", R"("code":2)", R"("code":"STATUS_CODE_ERROR")"},
         AtSpan(R"(.status.code: enum must be an integer, not the name "STATUS_CODE_ERROR" (2))")},
        {{"an unknown span field", R"("kind":2,)", R"("kind":2,"foo":1,)"},
         AtSpan(R"(.foo: unknown field "foo" in opentelemetry.proto.trace.v1.Span)")},
        {{"a misspelt field", R"("resource":)", R"("resources":)"},
         R"($.resourceSpans[0].resources: unknown field "resources" in )"
         R"(opentelemetry.proto.trace.v1.ResourceSpans)"},
        {{"an intValue that is not a decimal string", R"({"intValue":"500"})",
          R"({"intValue":"12a"})"},
         AtSpan(R"(.attributes[2].value.intValue: not an integer (a decimal string or a )"
                R"(number): "12a")")},
        {{"an empty span name", R"("name":"GET /api/v1/workspaces/:name")", R"("name":"")"},
         AtSpan(".name: span name is empty (required)")},
        {{"a span that ends before it starts", R"("endTimeUnixNano":"1544712661000000000")",
          R"("endTimeUnixNano":"1544712659000000000")"},
         AtSpan(".endTimeUnixNano: ends before it starts (endTimeUnixNano 1544712659000000000 "
                "< startTimeUnixNano 1544712660000000000)")},
        // Left to protobuf's own json_format.Parse: the proof that it runs.
        {{"two members of the AnyValue oneof", R"({"stringValue":"GET"})",
          R"({"stringValue":"GET","boolValue":true})"},
         AtSpan(R"(.attributes[0].value: Message type "opentelemetry.proto.common.v1.AnyValue" )"
                R"(should not have multiple "value" oneof fields)")},
    };
    for (const Rejection& r : rejections) {
      CAPTURE(r.edit.what);
      CHECK(ValidateOtlpJson(With(r.edit.from, r.edit.to)) == r.problem);
    }
  }

  TEST_CASE("telemetry: otlp validator reports every problem of a body, one a line") {
    if (ValidatorMissing()) return;
    SUBCASE("two problems in document order") {
      const std::string body =
          Replace(With(R"("spanId":"eee19b7ec3c1b174")", R"("spanId":"0000000000000000")"),
                  R"("kind":2)", R"("kind":"SPAN_KIND_SERVER")");
      CHECK(ValidateOtlpJson(body) ==
            AtSpan(".spanId: id is all zeros (invalid)\n") +
                AtSpan(R"(.kind: enum must be an integer, not the name "SPAN_KIND_SERVER" (2))"));
    }
    SUBCASE("not JSON") {
      CHECK(ValidateOtlpJson(R"({"resourceSpans":[)") ==
            "$: not JSON: Expecting value: line 1 column 19 (char 18)");
    }
    SUBCASE("not an object") {
      CHECK(ValidateOtlpJson("[]") ==
            "$: the body must be a JSON object (ExportTraceServiceRequest)");
    }
  }
}

}  // namespace
}  // namespace provisioner::telemetry
