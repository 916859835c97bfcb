#include "telemetry/otlp_json.h"

#include <nlohmann/json.hpp>

#include "support/otlp_validator.h"
#include "support/test_util.h"

namespace provisioner::telemetry {
namespace {

using nlohmann::json;
using std::chrono::nanoseconds;

SystemTime At(int64_t ns) {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(nanoseconds(ns)));
}

SpanData FullSpan() {
  SpanData s;
  s.context.trace_id = TraceId{0x5b8efff798038103ull, 0xd269b633813fc60cull};
  s.context.span_id = SpanId{0xeee19b7ec3c1b174ull};
  s.context.flags = kTraceFlagSampled | kTraceFlagRandom;
  s.context.trace_state = "rojo=00f067aa0ba902b7";
  s.parent = SpanId{0xeee19b7ec3c1b173ull};
  s.parent_remote = true;
  s.name = "POST /api/v1/workspaces/:name/deploy";
  s.kind = SpanKind::kServer;
  s.start = At(1544712660000000000);
  s.end = At(1544712661000000123);
  s.Set("http.request.method", std::string("POST"));
  s.Set("http.response.status_code", int64_t{500});
  s.Set("ratio", 0.25);
  s.Set("drift", true);
  s.Set("quote", std::string("a \"b\"\n\x01"));
  s.events.push_back({At(1544712660500000000), "retry scheduled", {{"attempt", int64_t{2}}}});
  TraceContext link;
  link.trace_id = TraceId{1, 2};
  link.span_id = SpanId{3};
  link.flags = kTraceFlagSampled;
  s.links.push_back({link, {{"provisioner.link", std::string("previous attempt")}}});
  s.status = SpanStatus::kError;
  s.status_message = "internal error";
  return s;
}

TEST_SUITE("telemetry") {
  TEST_CASE("otlp json: a span, field by field, as OTLP/HTTP JSON wants it") {
    Resource resource;
    resource.attributes.push_back({"service.name", std::string("provisioner")});
    resource.attributes.push_back({"process.pid", int64_t{42}});
    const SpanData span = FullSpan();
    const std::string body = EncodeExportRequest(resource, Scope{"provisioner", "1.2.3"},
                                                 std::span<const SpanData>(&span, 1));
    json j = json::parse(body);
    const json& rs = j["resourceSpans"][0];
    CHECK(rs["resource"]["attributes"][0] ==
          json::parse(R"({"key":"service.name","value":{"stringValue":"provisioner"}})"));
    CHECK(rs["resource"]["attributes"][1]["value"] == json::parse(R"({"intValue":"42"})"));
    CHECK(rs["scopeSpans"][0]["scope"] ==
          json::parse(R"({"name":"provisioner","version":"1.2.3"})"));
    const json& s = rs["scopeSpans"][0]["spans"][0];
    // Ids: lowercase hex, not base64.
    CHECK(s["traceId"] == "5b8efff798038103d269b633813fc60c");
    CHECK(s["spanId"] == "eee19b7ec3c1b174");
    CHECK(s["parentSpanId"] == "eee19b7ec3c1b173");
    CHECK(s["traceState"] == "rojo=00f067aa0ba902b7");
    // flags: W3C flags, has-is-remote (0x100) and is-remote (0x200).
    CHECK(s["flags"] == 0x303);
    // Enums: integers.
    CHECK(s["kind"] == 2);
    CHECK(s["status"] == json::parse(R"({"code":2,"message":"internal error"})"));
    // fixed64 and int64: decimal strings.
    CHECK(s["startTimeUnixNano"] == "1544712660000000000");
    CHECK(s["endTimeUnixNano"] == "1544712661000000123");
    const json& a = s["attributes"];
    CHECK(a[0] == json::parse(R"({"key":"http.request.method","value":{"stringValue":"POST"}})"));
    CHECK(a[1]["value"] == json::parse(R"({"intValue":"500"})"));
    CHECK(a[2]["value"] == json::parse(R"({"doubleValue":0.25})"));
    CHECK(a[3]["value"] == json::parse(R"({"boolValue":true})"));
    CHECK(a[4]["value"]["stringValue"] == "a \"b\"\n\x01");
    CHECK(s["events"][0] ==
          json::parse(R"({"timeUnixNano":"1544712660500000000","name":"retry scheduled",
                          "attributes":[{"key":"attempt","value":{"intValue":"2"}}]})"));
    CHECK(s["links"][0]["traceId"] == "00000000000000010000000000000002");
    CHECK(s["links"][0]["spanId"] == "0000000000000003");
    CHECK(s["links"][0]["flags"] == 0x101);

    std::string why;
    if (!testing::OtlpValidatorAvailable(&why) && testing::ToolMissing(why)) return;
    CHECK(testing::ValidateOtlpJson(body) == "");
  }

  TEST_CASE("otlp json: a root span has no parentSpanId and no status when unset") {
    SpanData s;
    s.context.trace_id = TraceId{0, 1};
    s.context.span_id = SpanId{2};
    s.context.flags = kTraceFlagSampled;
    s.name = "workspace.deploy";
    std::string out;
    AppendSpanJson(s, &out);
    json j = json::parse(out);
    CHECK_FALSE(j.contains("parentSpanId"));
    CHECK_FALSE(j.contains("status"));
    CHECK_FALSE(j.contains("traceState"));
    CHECK_FALSE(j.contains("attributes"));
    CHECK(j["kind"] == 1);
    CHECK(j["flags"] == 0x101);
  }

  TEST_CASE("otlp json: a batch of spans is one valid request") {
    std::vector<SpanData> spans;
    for (int i = 0; i < 3; ++i) {
      SpanData s = FullSpan();
      s.context.span_id = SpanId{static_cast<uint64_t>(100 + i)};
      s.Set("nan", std::numeric_limits<double>::quiet_NaN());
      spans.push_back(s);
    }
    const std::string body = EncodeExportRequest(Resource{}, Scope{}, spans);
    json j = json::parse(body);
    REQUIRE(j["resourceSpans"][0]["scopeSpans"][0]["spans"].size() == 3);
    CHECK(j["resourceSpans"][0]["scopeSpans"][0]["spans"][2]["spanId"] == "0000000000000066");
    CHECK(j["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"][5]["value"] ==
          json::parse(R"({"doubleValue":"NaN"})"));
    std::string why;
    if (!testing::OtlpValidatorAvailable(&why) && testing::ToolMissing(why)) return;
    CHECK(testing::ValidateOtlpJson(body) == "");
  }
}

}  // namespace
}  // namespace provisioner::telemetry
