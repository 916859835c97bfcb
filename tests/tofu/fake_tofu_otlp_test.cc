// The fake `tofu` exports one span per command like OpenTofu 1.10+ with
// OTEL_TRACES_EXPORTER=otlp and TRACEPARENT (tests/support/fake_tofu/README.md
// "Tracing"), checked against an OTLP/HTTP receiver on loopback.
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::tofu {
namespace {

#ifdef FAKE_TOFU_BINARY

using nlohmann::json;
using testing::FakeTofuEnv;
using testing::ProcessResult;
using namespace std::chrono_literals;

constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kParentId = "00f067aa0ba902b7";

std::string Traceparent(const std::string& flags = "01") {
  return std::string("00-") + kTraceId + "-" + kParentId + "-" + flags;
}

struct Export {
  std::string path;
  std::string content_type;
  httplib::Headers headers;
  json body;
};

// Records every POST on 127.0.0.1 and answers `status` with "{}".
class TraceReceiver {
 public:
  TraceReceiver() {
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        exports_.push_back({req.path, req.get_header_value("Content-Type"), req.headers,
                            json::parse(req.body, nullptr, /*allow_exceptions=*/false)});
      }
      cv_.notify_all();
      res.status = status.load();
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~TraceReceiver() {
    server_.stop();
    thread_.join();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The exports so far once there are at least `n`, or at the deadline.
  std::vector<Export> WaitFor(size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return exports_.size() >= n; });
    return exports_;
  }
  std::vector<Export> Exports() {
    std::lock_guard<std::mutex> lock(mu_);
    return exports_;
  }

  std::atomic<int> status{200};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Export> exports_;
};

// The environment that makes the fake export to `receiver`.
std::map<std::string, std::string> OtelEnv(const std::string& endpoint,
                                           const std::string& traceparent = Traceparent()) {
  return {{"OTEL_TRACES_EXPORTER", "otlp"},
          {"OTEL_EXPORTER_OTLP_ENDPOINT", endpoint},
          {"TRACEPARENT", traceparent}};
}

const json& OnlySpan(const Export& e) {
  REQUIRE(e.body.is_object());
  REQUIRE(e.body["resourceSpans"].size() == 1);
  REQUIRE(e.body["resourceSpans"][0]["scopeSpans"].size() == 1);
  const json& spans = e.body["resourceSpans"][0]["scopeSpans"][0]["spans"];
  REQUIRE(spans.size() == 1);
  return spans[0];
}

// The value object of attribute `key`, or null.
json Attr(const json& attributes, const std::string& key) {
  for (const json& a : attributes) {
    if (a["key"] == key) return a["value"];
  }
  return nullptr;
}

bool IsLowerHex(const std::string& s, size_t size) {
  return s.size() == size && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool IsDecimal(const json& v) {
  return v.is_string() && !v.get<std::string>().empty() &&
         v.get<std::string>().find_first_not_of("0123456789") == std::string::npos;
}

// The checks every exported span must pass; returns the span.
json CheckSpan(const Export& e, const std::string& command, int exit_code) {
  CAPTURE(e.body.dump());
  CHECK(e.content_type == "application/json");
  json span = OnlySpan(e);
  CHECK(span["traceId"] == kTraceId);
  CHECK(span["parentSpanId"] == kParentId);
  std::string span_id = span["spanId"].get<std::string>();
  CHECK(IsLowerHex(span_id, 16));
  CHECK(span_id != "0000000000000000");
  CHECK(span["name"] == "tofu");
  CHECK(span["kind"] == 1);
  REQUIRE(IsDecimal(span["startTimeUnixNano"]));
  REQUIRE(IsDecimal(span["endTimeUnixNano"]));
  CHECK(std::stoull(span["endTimeUnixNano"].get<std::string>()) >=
        std::stoull(span["startTimeUnixNano"].get<std::string>()));
  CHECK(Attr(span["attributes"], "tofu.command") == json{{"stringValue", command}});
  CHECK(Attr(span["attributes"], "process.exit.code") ==
        json{{"intValue", std::to_string(exit_code)}});
  CHECK(e.body["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"] == "fake-tofu");
  return span;
}

// A loopback port nobody listens on (bound, then closed).
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Lines of `text` that are the fake's OTLP notes.
int OtlpNotes(const std::string& text) {
  int n = 0;
  for (size_t at = text.find("fake_tofu: OTLP: "); at != std::string::npos;
       at = text.find("fake_tofu: OTLP: ", at + 1)) {
    ++n;
  }
  return n;
}

const std::vector<std::string> kInit = {"init", "-input=false", "-no-color"};
const std::vector<std::string> kPlan = {"plan", "-input=false", "-no-color", "-detailed-exitcode",
                                        "-lock-timeout=5s"};

TEST_SUITE("fake_tofu_otlp") {
  TEST_CASE("fake_tofu_otlp: init and plan each post one span under TRACEPARENT") {
    TraceReceiver receiver;
    FakeTofuEnv env;
    auto extra = OtelEnv(receiver.base());
    extra["TRACESTATE"] = "vendor=abc";
    extra["OTEL_EXPORTER_OTLP_HEADERS"] = "authorization=Bearer%20s3cret, x-tenant=a";
    extra["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = "X-Tenant=b";

    ProcessResult init = env.Run(kInit, extra);
    REQUIRE_MESSAGE(init.exit_code == 0, init.err);
    CHECK(receiver.WaitFor(1).size() == 1);
    ProcessResult plan = env.Run(kPlan, extra);
    CHECK_MESSAGE(plan.exit_code == 2, plan.err);  // changes present: not a failure
    std::vector<Export> exports = receiver.WaitFor(2);
    REQUIRE(exports.size() == 2);
    CHECK(OtlpNotes(init.err + plan.err) == 0);

    json first = CheckSpan(exports[0], "init", 0);
    json second = CheckSpan(exports[1], "plan", 2);
    CHECK(first["spanId"] != second["spanId"]);
    CHECK(first["traceState"] == "vendor=abc");
    for (const json* span : {&first, &second}) {
      CHECK_FALSE((*span)["status"].contains("code"));  // unset: not an error
    }
    for (const Export& e : exports) {
      CHECK(e.path == "/v1/traces");
      CHECK(e.headers.find("authorization")->second == "Bearer s3cret");
      CHECK(e.headers.count("x-tenant") == 1);
      CHECK(e.headers.find("x-tenant")->second == "b");
      const json& resource = e.body["resourceSpans"][0]["resource"]["attributes"];
      CHECK(Attr(resource, "service.name") == json{{"stringValue", "tofu"}});
    }
    // process.pid names the invocation (the log's start record of init).
    std::string init_pid;
    for (const std::string& line : env.LogLines()) {
      json record = json::parse(line);
      if (record["event"] == "start" && record["command"] == "init") {
        init_pid = std::to_string(record["pid"].get<int>());
      }
    }
    CHECK(Attr(first["attributes"], "process.pid") == json{{"intValue", init_pid}});
  }

  TEST_CASE("fake_tofu_otlp: endpoints, service name and a failing command") {
    TraceReceiver receiver;
    FakeTofuEnv env;
    SUBCASE("the generic endpoint gets /v1/traces after its path") {
      auto extra = OtelEnv(receiver.base() + "/collector/");
      REQUIRE(env.Run(kInit, extra).exit_code == 0);
      auto exports = receiver.WaitFor(1);
      REQUIRE(exports.size() == 1);
      CHECK(exports[0].path == "/collector/v1/traces");
    }
    SUBCASE("the traces endpoint is used as-is and wins") {
      auto extra = OtelEnv("http://127.0.0.1:1");
      extra["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.base() + "/custom/path";
      extra["OTEL_SERVICE_NAME"] = "tofu-under-test";
      REQUIRE(env.Run(kInit, extra).exit_code == 0);
      auto exports = receiver.WaitFor(1);
      REQUIRE(exports.size() == 1);
      CHECK(exports[0].path == "/custom/path");
      CHECK(Attr(exports[0].body["resourceSpans"][0]["resource"]["attributes"], "service.name") ==
            json{{"stringValue", "tofu-under-test"}});
    }
    SUBCASE("a failing plan has an error status") {
      REQUIRE(env.Run(kInit).exit_code == 0);
      env.WriteControl(R"({"scenario": "fail_plan"})");
      ProcessResult r = env.Run(kPlan, OtelEnv(receiver.base()));
      CHECK(r.exit_code == 1);
      auto exports = receiver.WaitFor(1);
      REQUIRE(exports.size() == 1);
      json span = CheckSpan(exports[0], "plan", 1);
      CHECK(span["status"]["code"] == 2);
      CHECK(span["status"]["message"] == "exit status 1");
    }
  }

  TEST_CASE("fake_tofu_otlp: an interrupted apply still posts its span") {
    TraceReceiver receiver;
    FakeTofuEnv env;
    REQUIRE(env.Run(kInit).exit_code == 0);
    env.WriteControl(R"({"scenario": "slow", "slow_seconds": 30, "time_scale": 0.01})");
    auto apply = env.Start({"apply", "-input=false", "-no-color", "-auto-approve"},
                           OtelEnv(receiver.base()));
    REQUIRE(apply->WaitForOutput("Creating...", 10s));
    apply->Signal(SIGINT);
    ProcessResult r = apply->Wait(10s);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    auto exports = receiver.WaitFor(1);
    REQUIRE(exports.size() == 1);
    json span = CheckSpan(exports[0], "apply", 1);
    CHECK(span["status"]["code"] == 2);
    CHECK(span["status"]["message"] == "exit status 1 after SIGINT");
  }

  TEST_CASE("fake_tofu_otlp: nothing is posted without otlp, a valid sampled parent or endpoint") {
    TraceReceiver receiver;
    FakeTofuEnv env;
    const std::string upper =
        std::string("00-4BF92F3577B34DA6A3CE929D0E0E4736-") + kParentId + "-01";
    const std::string zero_trace =
        std::string("00-") + std::string(32, '0') + "-" + kParentId + "-01";
    const std::string zero_parent =
        std::string("00-") + kTraceId + "-" + std::string(16, '0') + "-01";
    struct Case {
      const char* name;
      std::map<std::string, std::string> extra;
    };
    std::vector<Case> cases = {
        {"flags 00 (not sampled)", OtelEnv(receiver.base(), Traceparent("00"))},
        {"no OTEL_TRACES_EXPORTER",
         {{"OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base()}, {"TRACEPARENT", Traceparent()}}},
        {"OTEL_TRACES_EXPORTER=none", OtelEnv(receiver.base())},
        {"uppercase hex", OtelEnv(receiver.base(), upper)},
        {"all-zero trace id", OtelEnv(receiver.base(), zero_trace)},
        {"all-zero parent id", OtelEnv(receiver.base(), zero_parent)},
        {"version 01", OtelEnv(receiver.base(), "01" + Traceparent().substr(2))},
        {"trailing data", OtelEnv(receiver.base(), Traceparent() + "-00")},
        {"no TRACEPARENT", OtelEnv(receiver.base(), "")},
        {"no endpoint", OtelEnv("", Traceparent())},
        {"FAKE_TOFU_OTLP=off", OtelEnv(receiver.base())},
    };
    cases[2].extra["OTEL_TRACES_EXPORTER"] = "none";
    cases.back().extra["FAKE_TOFU_OTLP"] = "off";
    for (const Case& c : cases) {
      CAPTURE(c.name);
      size_t before = receiver.Exports().size();
      ProcessResult r = env.Run({"version"}, c.extra);
      CHECK(r.exit_code == 0);
      CHECK(r.err.empty());
      // The fake posts before it exits: once it has exited, nothing can come.
      CHECK(receiver.Exports().size() == before);
    }
    // A crash exits without a span, as a panicking tofu never flushes.
    REQUIRE(env.Run(kInit).exit_code == 0);
    env.WriteControl(R"({"scenario": "crash"})");
    CHECK(env.Run(kPlan, OtelEnv(receiver.base())).exit_code == 11);
    env.WriteControl("{}");
    REQUIRE(receiver.Exports().empty());
    // The same receiver does get the span of a valid configuration.
    REQUIRE(env.Run({"version"}, OtelEnv(receiver.base())).exit_code == 0);
    auto exports = receiver.WaitFor(1);
    REQUIRE(exports.size() == 1);
    CheckSpan(exports[0], "version", 0);
  }

  TEST_CASE("fake_tofu_otlp: a dead or failing receiver never changes the outcome") {
    FakeTofuEnv env;
    REQUIRE(env.Run(kInit).exit_code == 0);

    SUBCASE("closed port") {
      auto extra = OtelEnv("http://127.0.0.1:" + std::to_string(ClosedPort()));
      ProcessResult init = env.Run(kInit, extra);
      CHECK(init.exit_code == 0);
      ProcessResult plan = env.Run(kPlan, extra);
      CHECK(plan.exit_code == 2);
      CHECK(OtlpNotes(plan.err) == 1);
      CHECK(plan.err.find("Connection refused") != std::string::npos);
      env.WriteControl(R"({"scenario": "fail_plan"})");
      CHECK(env.Run(kPlan, extra).exit_code == 1);
    }
    SUBCASE("a listener that never answers costs at most the 2 s budget") {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      REQUIRE(fd >= 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
      REQUIRE(::listen(fd, 8) == 0);  // the kernel completes handshakes; nobody reads
      socklen_t len = sizeof(addr);
      REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
      auto start = std::chrono::steady_clock::now();
      ProcessResult r =
          env.Run(kPlan, OtelEnv("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))));
      auto took = std::chrono::steady_clock::now() - start;
      ::close(fd);
      CHECK(r.exit_code == 2);
      CHECK(OtlpNotes(r.err) == 1);
      CHECK(r.err.find("timed out") != std::string::npos);
      CHECK(took < 6s);
    }
    SUBCASE("HTTP 500") {
      TraceReceiver receiver;
      receiver.status = 500;
      ProcessResult r = env.Run(kPlan, OtelEnv(receiver.base()));
      CHECK(r.exit_code == 2);
      CHECK(receiver.WaitFor(1).size() == 1);
      CHECK(OtlpNotes(r.err) == 1);
      CHECK(r.err.find("HTTP 500") != std::string::npos);
    }
    SUBCASE("https is skipped with a note") {
      ProcessResult r = env.Run(kPlan, OtelEnv("https://127.0.0.1:4318"));
      CHECK(r.exit_code == 2);
      CHECK(OtlpNotes(r.err) == 1);
      CHECK(r.err.find("https") != std::string::npos);
    }
  }
}  // TEST_SUITE

#else

TEST_CASE("fake_tofu_otlp: not built") {
  testing::ToolMissing("the fake_tofu target is not configured");
}

#endif  // FAKE_TOFU_BINARY

}  // namespace
}  // namespace provisioner::tofu
