// Traces end to end: the real daemon exports OTLP/HTTP JSON to a loopback
// receiver written here, the fake tofu exports its own spans under the step
// spans (as OpenTofu 1.10+ does), and a client's traceparent reaches the job.
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "integration/daemon_harness.h"
#include "support/otlp_validator.h"

namespace provisioner::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// An OTLP/HTTP receiver on 127.0.0.1: keeps every body; answers 503 to the
// first export from the daemon (scope "provisioner") when asked to.
class OtlpReceiver {
 public:
  explicit OtlpReceiver(bool fail_first_daemon_export = false)
      : fail_first_(fail_first_daemon_export) {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      // The daemon's first export with spans in it (its start-up probe is
      // an empty one).
      const bool ours = req.body.find("\"scope\":{\"name\":\"provisioner\"") != std::string::npos &&
                        req.body.find("\"spans\":[{") != std::string::npos;
      if (ours && fail_first_) {
        fail_first_ = false;
        ++refused_;
        res.status = 503;
        res.set_content(R"({"code":14,"message":"try later"})", "application/json");
        return;
      }
      bodies_.push_back(req.body);
      content_types_.insert(req.get_header_value("Content-Type"));
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~OtlpReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces";
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  int refused() {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }
  std::set<std::string> content_types() {
    std::lock_guard<std::mutex> lock(mu_);
    return content_types_;
  }
  // Every span received, with the service that sent it.
  std::vector<std::pair<std::string, json>> Spans() {
    std::vector<std::pair<std::string, json>> out;
    for (const std::string& body : bodies()) {
      json j = json::parse(body);
      for (const json& rs : j["resourceSpans"]) {
        std::string service;
        for (const json& a : rs["resource"]["attributes"]) {
          if (a["key"] == "service.name") service = a["value"]["stringValue"];
        }
        for (const json& ss : rs["scopeSpans"]) {
          for (const json& s : ss["spans"]) out.emplace_back(service, s);
        }
      }
    }
    return out;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  bool fail_first_;
  int refused_ = 0;
  std::vector<std::string> bodies_;
  std::set<std::string> content_types_;
};

// A collector that takes the connection and never answers: a listening
// socket nobody accepts on (the kernel completes the handshakes).
class Blackhole {
 public:
  Blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~Blackhole() { ::close(fd_); }
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces";
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

void WriteTracingConfig(DaemonHarness& h, const std::string& endpoint, double ratio,
                        const std::string& workspaces) {
  WriteFileOrDie(h.config_path(),
                 "server: {listen: \"127.0.0.1:0\"}\n"
                 "scheduler: {timezone: UTC, max_concurrent_jobs: 2, kill_grace: 5s}\n"
                 "opentofu: {lock_timeout: 20s, plugin_cache_dir: cache, "
                 "pass_env: [\"FAKE_TOFU_*\"]}\n"
                 "state: {dir: state}\n"
                 "logging: {level: debug, format: text}\n"
                 "tracing: {enabled: true, endpoint: \"" +
                     endpoint + "\", sampling_ratio: " + std::to_string(ratio) +
                     ", service_name: provisioner-test}\n"
                     "templates_dir: templates\n"
                     "workspaces:\n" +
                     workspaces);
}

const json* Find(const std::vector<std::pair<std::string, json>>& spans, const std::string& name) {
  for (const auto& [service, s] : spans) {
    if (s["name"] == name) return &s;
  }
  return nullptr;
}

std::string Attr(const json& span, const std::string& key) {
  for (const json& a : span["attributes"]) {
    if (a["key"] == key) {
      const json& v = a["value"];
      if (v.contains("stringValue")) return v["stringValue"];
      if (v.contains("intValue")) return v["intValue"];
      return v.dump();
    }
  }
  return "";
}

void ValidateEveryBody(OtlpReceiver& receiver) {
  std::string why;
  if (!OtlpValidatorAvailable(&why) && ToolMissing(why)) return;
  for (const std::string& body : receiver.bodies()) {
    INFO("body: " << body.substr(0, 300));
    CHECK(ValidateOtlpJson(body) == "");
  }
}

// The environment of the daemon's live child whose command line holds `needle`.
std::map<std::string, std::string> EnvironOf(pid_t daemon, const std::string& needle) {
  std::map<std::string, std::string> env;
  for (const ProcessEntry& p : ChildProcesses(daemon)) {
    if (p.cmdline.find(needle) == std::string::npos) continue;
    std::string raw = ReadFileOrDie("/proc/" + std::to_string(p.pid) + "/environ");
    for (std::string_view kv : Split(raw, '\0')) {
      size_t eq = kv.find('=');
      if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
    }
    return env;
  }
  return env;
}

TEST_SUITE("integration") {
  TEST_CASE("integration: a scheduled job is one trace across the daemon and tofu") {
    OtlpReceiver receiver(/*fail_first_daemon_export=*/true);
    DaemonHarness h;
    h.fake().WriteControl(R"({"resources": 2})");
    const SystemTime fire = WholeSecondsFromNow(3);
    WriteTracingConfig(
        h, receiver.endpoint(), 1.0,
        "  - {name: web, template: t, schedule: {deploy: \"" + OneShot(fire) + "\"}}\n");
    h.Start();
    REQUIRE(WaitUntil([&] { return h.History("web").size() == 1; }, seconds(40)));
    const state::JobRecord job = h.History("web")[0];
    REQUIRE(job.result == state::JobResult::kSucceeded);
    REQUIRE(job.trace_id.size() == 32);
    // SIGTERM flushes what the batch timer has not sent yet.
    CHECK(h.Stop() == 0);

    auto spans = receiver.Spans();
    const json* job_span = Find(spans, "workspace.deploy");
    REQUIRE_MESSAGE(job_span != nullptr, "spans received: " << spans.size());
    CHECK((*job_span)["traceId"] == job.trace_id);
    CHECK_FALSE(job_span->contains("parentSpanId"));  // a scheduled job starts its trace
    CHECK((*job_span)["kind"] == 1);
    CHECK(Attr(*job_span, "provisioner.workspace") == "web");
    // A fire handled by the schedule, or by the level-triggered pass of the
    // same tick (catch_up): either way the job starts its own trace.
    CHECK(Attr(*job_span, "provisioner.trigger") != "manual");
    CHECK(Attr(*job_span, "provisioner.job_id") == job.id);
    CHECK(Attr(*job_span, "provisioner.result") == "succeeded");
    CHECK(Attr(*job_span, "provisioner.changes.add") == "2");

    // Steps below the job; the fake tofu's spans below each step.
    std::map<std::string, std::string> step_ids;  // name -> span id
    for (const auto& [service, s] : spans) {
      const std::string name = s["name"];
      if (!name.starts_with("tofu.")) continue;
      CHECK(service == "provisioner-test");
      CHECK(s["traceId"] == job.trace_id);
      CHECK(s["parentSpanId"] == (*job_span)["spanId"]);
      CHECK(s["kind"] == 3);
      CHECK(Attr(s, "process.exit.code") != "");
      step_ids[name] = s["spanId"];
    }
    CHECK(step_ids.count("tofu.init") == 1);
    CHECK(step_ids.count("tofu.plan") == 1);
    CHECK(step_ids.count("tofu.apply") == 1);
    std::set<std::string> tofu_parents;
    for (const auto& [service, s] : spans) {
      if (service == "provisioner-test") continue;
      CHECK(s["traceId"] == job.trace_id);
      tofu_parents.insert(s["parentSpanId"].get<std::string>());
    }
    std::string seen;  // every span, for the failure message
    for (const auto& [service, s] : spans) {
      seen += service + " " + s["name"].get<std::string>() + " span " +
              s["spanId"].get<std::string>() + " parent " + s.value("parentSpanId", std::string()) +
              "\n";
    }
    for (const auto& step : step_ids) {
      INFO("step " << step.first << "; spans received:\n"
                   << seen << "job log:\n"
                   << ReadFileOrDie(job.log_path));
      CHECK(tofu_parents.count(step.second) == 1);
    }
    // The 503 lost nothing: the batch went again.
    CHECK(receiver.refused() == 1);
    CHECK(receiver.content_types() == std::set<std::string>{"application/json"});
    // Log lines inside the job span carry its ids.
    CHECK(h.LogHas({"job finished", "trace_id=" + job.trace_id}));
    ValidateEveryBody(receiver);
  }

  TEST_CASE("integration: a client's traceparent reaches the job it starts") {
    OtlpReceiver receiver;
    DaemonHarness h;
    // Roots are never sampled: only the client's decision can sample this.
    WriteTracingConfig(h, receiver.endpoint(), 0.0,
                       "  - {name: api, template: t}\n");  // no schedule: nothing else runs
    h.Start();
    httplib::Client client("127.0.0.1", h.port());
    const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    auto res = client.Post("/api/v1/workspaces/api/deploy",
                           {{"traceparent", "00-" + trace + "-00f067aa0ba902b7-01"}}, "{}",
                           "application/json");
    REQUIRE(res);
    REQUIRE_MESSAGE(res->status == 202, res->body);
    const std::string echoed = res->get_header_value("traceparent");
    REQUIRE(echoed.size() == 55);
    CHECK(echoed.substr(3, 32) == trace);
    CHECK(echoed.substr(36, 16) != "00f067aa0ba902b7");  // our span, not the client's
    CHECK(echoed.substr(53) == "01");
    const std::string job_id = json::parse(res->body)["job_id"];
    REQUIRE(WaitUntil([&] { return h.History("api").size() == 1; }, seconds(40)));
    CHECK(h.History("api")[0].trace_id == trace);
    // GET /jobs/{id} shows it, so an operator goes from a job to its trace.
    auto got = client.Get("/api/v1/jobs/" + job_id);
    REQUIRE(got);
    CHECK(json::parse(got->body)["trace_id"] == trace);
    // So does `provisioner jobs`.
    auto cli = Subprocess::Start({PROVISIONER_BINARY, "jobs", "--server", h.url()}, h.fake().Env(),
                                 h.root_.path());
    ProcessResult listed = cli->Wait(seconds(20));
    REQUIRE_FALSE(listed.timed_out);
    CHECK_MESSAGE(listed.out.find(trace) != std::string::npos, listed.out);
    // An unsampled request still gets a traceparent: not sampled, random id.
    auto plain = client.Get("/api/v1/workspaces");
    REQUIRE(plain);
    CHECK(plain->get_header_value("traceparent").size() == 55);
    CHECK(plain->get_header_value("traceparent").ends_with("-02"));
    CHECK(h.Stop() == 0);

    auto spans = receiver.Spans();
    const json* request = Find(spans, "POST /api/v1/workspaces/:name/deploy");
    REQUIRE_MESSAGE(request != nullptr, "spans received: " << spans.size());
    CHECK((*request)["traceId"] == trace);
    CHECK((*request)["parentSpanId"] == "00f067aa0ba902b7");
    CHECK((*request)["spanId"] == echoed.substr(36, 16));
    CHECK((*request)["kind"] == 2);
    CHECK(Attr(*request, "http.route") == "/api/v1/workspaces/:name/deploy");
    CHECK(Attr(*request, "http.response.status_code") == "202");
    const json* job = Find(spans, "workspace.deploy");
    REQUIRE(job != nullptr);
    CHECK((*job)["traceId"] == trace);
    CHECK((*job)["parentSpanId"] == (*request)["spanId"]);
    CHECK(Attr(*job, "provisioner.trigger") == "manual");
    ValidateEveryBody(receiver);
  }

  TEST_CASE("integration: sampling_ratio 0 exports nothing and gives tofu no TRACEPARENT") {
    OtlpReceiver receiver;
    DaemonHarness h;
    h.fake().WriteControl(R"({"resources": 1, "apply_seconds": 60})");
    WriteTracingConfig(h, receiver.endpoint(), 0.0,
                       "  - {name: quiet, template: t, schedule: {deploy: \"" +
                           OneShot(WholeSecondsFromNow(2)) + "\"}}\n");
    h.Start();
    REQUIRE(WaitUntil([&] { return h.FakeStarts("apply") == 1; }, seconds(40)));
    std::map<std::string, std::string> env;
    REQUIRE(WaitUntil(
        [&] {
          env = EnvironOf(h.daemon().pid(), " apply ");
          return !env.empty();
        },
        seconds(10)));
    CHECK(env.count("TRACEPARENT") == 0);
    CHECK(env.count("OTEL_TRACES_EXPORTER") == 0);
    CHECK(env.count("TF_IN_AUTOMATION") == 1);  // it is the tofu child's environment
    CHECK(h.Stop() == 0);
    // Only the exporter's empty start-up probe reached the receiver: no span.
    CHECK(receiver.Spans().empty());
    CHECK(h.History("quiet")[0].trace_id.empty());
  }

  TEST_CASE("integration: a blackholed collector slows no job and no shutdown") {
    Blackhole collector;
    DaemonHarness h;
    h.fake().WriteControl(R"({"resources": 1})");
    WriteTracingConfig(h, collector.endpoint(), 1.0,
                       "  - {name: a, template: t, schedule: {deploy: \"" +
                           OneShot(WholeSecondsFromNow(2)) + "\"}}\n");
    h.Start();
    REQUIRE(WaitUntil([&] { return h.History("a").size() == 1; }, seconds(40)));
    CHECK(h.History("a")[0].result == state::JobResult::kSucceeded);
    // /health answers at once while the export is stuck.
    httplib::Client client("127.0.0.1", h.port());
    client.set_read_timeout(2, 0);
    auto health = client.Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(h.Stop(seconds(15)) == 0);
    const auto took = std::chrono::steady_clock::now() - t0;
    // The exporter's 2 s flush budget, and nothing of its 10 s timeout.
    CHECK(took < seconds(6));
    // The job's spans waited behind the stuck start-up probe: dropped, and
    // the log says so.
    CHECK(h.LogHas({"shutdown budget; spans dropped"}));
  }
}

}  // namespace
}  // namespace provisioner::testing
