#include "base/log.h"

#include "support/capture_sink.h"
#include "support/fake_clock.h"
#include "support/test_util.h"

namespace provisioner {
namespace {

using testing::CaptureSink;
using testing::FakeClock;

TEST_SUITE("base") {
  TEST_CASE("base: LOG builds a record with context fields and the clock's time") {
    FakeClock clock;
    CaptureSink sink;
    log::Logger logger(clock, sink, log::Level::kInfo);
    LOG(logger, kInfo, "scheduler")
        .Workspace("dev-env")
        .Operation("deploy")
        .JobId("j-1")
        .DurationMs(1250)
        .Field("trigger", "schedule")
        .Printf("deploy fired, %d to add", 3);
    auto records = sink.records();
    REQUIRE(records.size() == 1);
    const log::Record& r = records[0];
    CHECK(r.timestamp == clock.Now());
    CHECK(r.level == log::Level::kInfo);
    CHECK(r.category == "scheduler");
    CHECK(r.message == "deploy fired, 3 to add");
    CHECK(r.workspace == "dev-env");
    CHECK(r.operation == "deploy");
    CHECK(r.job_id == "j-1");
    CHECK(r.duration_ms == 1250);
    REQUIRE(r.extra.size() == 1);
    CHECK(r.extra[0].first == "trigger");
  }

  TEST_CASE("base: lines inside a sampled span carry trace_id and span_id") {
    FakeClock clock;
    CaptureSink sink;
    log::Logger logger(clock, sink, log::Level::kInfo);
    TraceContext sampled =
        *ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    TraceContext unsampled = sampled;
    unsampled.flags = 0;
    LOG(logger, kInfo, "job").Message("before");
    {
      log::ScopedTrace scope(sampled);
      LOG(logger, kInfo, "job").Message("inside");
      {
        log::ScopedTrace inner(unsampled);
        LOG(logger, kInfo, "job").Message("unsampled");
      }
      LOG(logger, kInfo, "job").Message("inside again");
    }
    LOG(logger, kInfo, "job").Trace(sampled).Message("explicit");
    LOG(logger, kInfo, "job").Message("after");
    auto r = sink.records();
    REQUIRE(r.size() == 6);
    CHECK(r[0].trace_id.empty());
    CHECK(r[1].trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(r[1].span_id == "00f067aa0ba902b7");
    CHECK(r[2].trace_id.empty());
    CHECK(r[3].trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(r[4].span_id == "00f067aa0ba902b7");
    CHECK(r[5].trace_id.empty());
    const std::string line = log::FormatJson(r[1], log::Tags{});
    CHECK(
        line.find(
            "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"") !=
        std::string::npos);
    CHECK(log::FormatText(r[1]).find(" trace_id=4bf92f3577b34da6a3ce929d0e0e4736") !=
          std::string::npos);
  }

  TEST_CASE("base: a disabled level does not evaluate its arguments") {
    FakeClock clock;
    CaptureSink sink;
    log::Logger logger(clock, sink, log::Level::kWarn);
    int evaluated = 0;
    auto expensive = [&evaluated] {
      ++evaluated;
      return std::string("x");
    };
    LOG(logger, kDebug, "scheduler").Workspace(expensive()).Printf("%s", expensive().c_str());
    LOG(logger, kInfo, "scheduler").Message(expensive());
    CHECK(evaluated == 0);
    CHECK(sink.records().empty());
    LOG(logger, kError, "scheduler").Message(expensive());
    CHECK(evaluated == 1);
    CHECK(sink.records().size() == 1);
    logger.SetLevel(log::Level::kTrace);
    LOG(logger, kTrace, "scheduler").Message("now on");
    CHECK(sink.records().size() == 2);
  }

  TEST_CASE("base: LOG inside an unbraced if/else binds correctly") {
    FakeClock clock;
    CaptureSink sink;
    log::Logger logger(clock, sink, log::Level::kInfo);
    bool took_else = false;
    for (bool cond : {true, false}) {
      if (cond)
        LOG(logger, kInfo, "x").Message("then");
      else
        took_else = true;
    }
    CHECK(took_else);
    CHECK(sink.records().size() == 1);
  }

  TEST_CASE("base: JSON line has the fields of DESIGN.md §9") {
    log::Record r;
    r.timestamp = SystemTime(std::chrono::milliseconds(1'764'000'000'123));
    r.level = log::Level::kWarn;
    r.category = "job";
    r.message = "apply failed: \"quota\"\n";
    r.workspace = "dev-env";
    r.job_id = "j-7";
    r.error = "exit 1";
    r.duration_ms = 42;
    r.extra = {{"attempt", "2"}};
    std::string line = log::FormatJson(r, {"0.1.0", "production"});
    CHECK(line ==
          "{\"timestamp\":\"2025-11-24T16:00:00.123Z\",\"level\":\"warn\",\"logger\":\"job\","
          "\"message\":\"apply failed: \\\"quota\\\"\\n\",\"workspace\":\"dev-env\","
          "\"job_id\":\"j-7\",\"duration_ms\":42,\"error\":\"exit 1\",\"attempt\":\"2\","
          "\"tags\":{\"component\":\"job\",\"version\":\"0.1.0\",\"environment\":\"production\"}}");
  }

  TEST_CASE("base: text line is readable and quotes ambiguous values") {
    log::Record r;
    r.timestamp = SystemTime(std::chrono::milliseconds(1'764'000'000'123));
    r.level = log::Level::kError;
    r.category = "opentofu";
    r.message = "plan failed";
    r.workspace = "dev-env";
    r.error = "Error acquiring the state lock";
    CHECK(log::FormatText(r) ==
          "2025-11-24T16:00:00.123Z ERROR opentofu: plan failed workspace=dev-env "
          "error=\"Error acquiring the state lock\"");
  }

  TEST_CASE("base: ParseLevel and ParseFormat") {
    CHECK(*log::ParseLevel("debug") == log::Level::kDebug);
    CHECK(log::ParseLevel("verbose").status().message() ==
          "unknown log level \"verbose\": use trace, debug, info, warn or error");
    CHECK(*log::ParseFormat("text") == log::Format::kText);
    CHECK_FALSE(log::ParseFormat("xml").ok());
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner
