#include "base/trace_context.h"

#include <string>

#include "support/test_util.h"

namespace provisioner {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST_SUITE("base") {
  TEST_CASE("trace context: the W3C spec's valid traceparent round-trips") {
    auto ctx = ParseTraceparent(kValid);
    REQUIRE(ctx.has_value());
    CHECK(ctx->trace_id.Hex() == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(ctx->span_id.Hex() == "00f067aa0ba902b7");
    CHECK(ctx->flags == 0x01);
    CHECK(ctx->sampled());
    CHECK(ctx->remote);
    CHECK(ctx->Traceparent() == kValid);

    auto unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    REQUIRE(unsampled.has_value());
    CHECK_FALSE(unsampled->sampled());
  }

  TEST_CASE("trace context: invalid traceparent headers are ignored, not errors") {
    const char* bad[] = {
        "",
        "00",
        // uppercase hex is not allowed
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        // all-zero trace id and all-zero parent id
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        // version ff is forbidden
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        // version 00 is exactly 55 characters
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        // wrong separators and lengths
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        // non-hex
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        // a later version with a longer header needs a '-' after the flags
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    };
    for (const char* tp : bad) {
      INFO("traceparent: " << tp);
      CHECK_FALSE(ParseTraceparent(tp).has_value());
    }
  }

  TEST_CASE("trace context: a later version is read for its first fields") {
    auto ctx =
        ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever");
    REQUIRE(ctx.has_value());
    CHECK(ctx->sampled());
    // We speak version 00, and send only the flags it defines.
    auto odd = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
    REQUIRE(odd.has_value());
    CHECK(odd->Traceparent() == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
  }

  TEST_CASE("trace context: tracestate is kept when well formed, dropped otherwise") {
    CHECK(ParseTraceparent(kValid, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")->trace_state ==
          "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    CHECK(ValidTracestate("fw529a3039@dt=abc, tenant1@vendor=x y"));
    CHECK(ValidTracestate("a=1,,b=2"));  // empty members are allowed
    CHECK_FALSE(ValidTracestate(""));
    CHECK_FALSE(ValidTracestate("Rojo=1"));         // keys are lowercase
    CHECK_FALSE(ValidTracestate("rojo"));           // no '='
    CHECK_FALSE(ValidTracestate("rojo=1,rojo=2"));  // a key twice
    CHECK_FALSE(ValidTracestate("rojo=a=b"));       // '=' in a value
    CHECK(ValidTracestate("rojo=trailing ows "));  // OWS around a member
    CHECK_FALSE(ValidTracestate("rojo=a\x7f"));
    CHECK_FALSE(ValidTracestate("rojo=a,b"));
    CHECK_FALSE(ValidTracestate("a@verylongsystemid=1"));  // system id over 14
    std::string many;
    for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
    CHECK_FALSE(ValidTracestate(many));
    // An invalid tracestate does not void the traceparent.
    auto ctx = ParseTraceparent(kValid, "Bad Key=1");
    REQUIRE(ctx.has_value());
    CHECK(ctx->trace_state.empty());
  }

  TEST_CASE("trace context: ids parse back from their hex") {
    CHECK(ParseTraceId("4bf92f3577b34da6a3ce929d0e0e4736")->Hex() ==
          "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK_FALSE(ParseTraceId("00000000000000000000000000000000"));
    CHECK_FALSE(ParseTraceId("4bf92f3577b34da6a3ce929d0e0e473"));
    CHECK(ParseSpanId("00f067aa0ba902b7")->value == 0x00f067aa0ba902b7ull);
    CHECK_FALSE(ParseSpanId("0000000000000000"));
    CHECK(TraceContext{}.Traceparent() ==
          "00-00000000000000000000000000000000-0000000000000000-00");
    CHECK_FALSE(TraceContext{}.sampled());
  }
}

}  // namespace
}  // namespace provisioner
