// A real Server on 127.0.0.1 port 0: routing, the observer, 404/405,
// errors and exceptions, streaming, lifecycle, and the auth matrix over
// plain HTTP. Hostile bytes are in hostile_request_test.cc, TLS in
// tls_test.cc.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "http/auth.h"
#include "http/server_harness.h"
#include "support/fake_clock.h"

namespace provisioner::http {
namespace {

using namespace std::chrono_literals;
using testing::Exchange;
using testing::Harness;
using testing::RawReply;
using testing::Statuses;
using testing::TestOptions;

TEST_CASE("http: server routes by template and reports the template") {
  // Given a server with a "/api/v1/workspaces/:name" route, When
  // /api/v1/workspaces/abc is fetched, Then the handler sees the parameter
  // and the observer reports the template, never the raw path.
  Harness h;
  auto cli = h.Client();
  auto res = cli->Get("/api/v1/workspaces/abc?q=1&q=last");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == R"({"name":"abc","user":"","route":"/api/v1/workspaces/:name","q":"last"})");
  CHECK(res->get_header_value("Content-Type") == "application/json");
  CHECK(res->get_header_value("X-Content-Type-Options") == "nosniff");

  auto finished = h.observer.WaitFor(1);
  REQUIRE(finished.size() == 1);
  CHECK(finished[0].method == "GET");
  CHECK(finished[0].route == "/api/v1/workspaces/:name");
  CHECK(finished[0].status == 200);
  CHECK(h.observer.started() == 1);
}

TEST_CASE("http: server prefers literal routes and decodes parameters") {
  Harness h;
  auto cli = h.Client();
  auto stats = cli->Get("/api/v1/jobs/stats");
  REQUIRE(stats);
  CHECK(stats->body == R"({"stats":true})");
  auto job = cli->Get("/api/v1/jobs/j-42");
  REQUIRE(job);
  CHECK(job->body == R"({"job":"j-42"})");
  auto encoded = cli->Get("/api/v1/workspaces/a%20b");
  REQUIRE(encoded);
  CHECK(encoded->body.starts_with(R"({"name":"a b")"));
  auto finished = h.observer.WaitFor(3);
  REQUIRE(finished.size() == 3);
  // The observer hears of a request after its reply is sent, and each
  // request has its own connection: the order of the reports is not the
  // order of the requests.
  std::multiset<std::string> routes;
  for (const auto& f : finished) routes.insert(f.route);
  CHECK(routes == std::multiset<std::string>{"/api/v1/jobs/stats", "/api/v1/jobs/:id",
                                             "/api/v1/workspaces/:name"});
}

TEST_CASE("http: server answers 404 and 405 in JSON") {
  Harness h;
  auto cli = h.Client();
  auto missing = cli->Get("/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->body == R"({"error":{"code":"not_found","message":"no route for this path"}})");
  CHECK(missing->get_header_value("Content-Type") == "application/json");

  auto wrong = cli->Get("/api/v1/workspaces/web/deploy");  // a POST route
  REQUIRE(wrong);
  CHECK(wrong->status == 405);
  CHECK(wrong->get_header_value("Allow") == "POST");
  CHECK(wrong->body.find("\"code\":\"method_not_allowed\"") != std::string::npos);

  auto post_health = cli->Post("/health", "", "application/json");
  REQUIRE(post_health);
  CHECK(post_health->status == 405);
  CHECK(post_health->get_header_value("Allow") == "GET, HEAD");

  auto put = cli->Put("/health", "", "application/json");
  REQUIRE(put);
  CHECK(put->status == 405);

  auto del = cli->Delete("/nope");
  REQUIRE(del);
  CHECK(del->status == 404);

  auto finished = h.observer.WaitFor(5);
  REQUIRE(finished.size() == 5);
  std::multiset<std::string> methods;  // in any order, as above
  for (const auto& f : finished) {
    CHECK(f.route == "unmatched");
    methods.insert(f.method);
  }
  CHECK(methods == std::multiset<std::string>{"GET", "GET", "POST", "PUT", "DELETE"});
  CHECK(h.handled == 0);
}

TEST_CASE("http: server HEAD uses the GET route without a body") {
  Harness h;
  auto cli = h.Client();
  auto res = cli->Head("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body.empty());
  auto finished = h.observer.WaitFor(1);
  REQUIRE(finished.size() == 1);
  CHECK(finished[0].method == "HEAD");
  CHECK(finished[0].route == "/health");
}

TEST_CASE("http: server hides exception text behind a JSON 500") {
  // Given a handler that throws, When it is called, Then the client gets a
  // JSON 500 without the exception's text (no EXCEPTION_WHAT header), the
  // log has it, and the server keeps serving.
  Harness h;
  RawReply reply =
      Exchange(h.port(), "GET /api/v1/boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  REQUIRE(Statuses(reply.bytes) == std::vector<int>{500});
  CHECK(testing::BodyOf(reply.bytes) ==
        R"({"error":{"code":"internal","message":"internal error"}})");
  CHECK(reply.bytes.find("hunter2") == std::string::npos);
  CHECK(reply.bytes.find("EXCEPTION_WHAT") == std::string::npos);
  CHECK(reply.bytes.find("secret") == std::string::npos);

  auto finished = h.observer.WaitFor(1);
  REQUIRE(finished.size() == 1);
  CHECK(finished[0].route == "/api/v1/boom");
  CHECK(finished[0].status == 500);
  bool logged = false;
  for (const auto& r : h.log.sink.records()) {
    if (r.category == "http" && r.error.find("secret detail") != std::string::npos) logged = true;
  }
  CHECK(logged);

  auto res = h.Client()->Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE("http: server fills empty error bodies and filters handler headers") {
  Harness h;
  auto res = h.Client()->Get("/api/v1/teapot");
  REQUIRE(res);
  CHECK(res->status == 418);
  CHECK(res->body == R"({"error":{"code":"error","message":"the request was refused"}})");
  CHECK(res->get_header_value("X-Custom") == "yes");
  CHECK(!res->has_header("X-Bad"));  // CR/LF values are dropped
  CHECK(!res->has_header("Injected"));
  CHECK(res->get_header_value("Content-Length") == std::to_string(res->body.size()));
}

TEST_CASE("http: server never reflects request headers") {
  Harness h;
  httplib::Headers headers = {{"X-Reflect", "marker-7f3a"}, {"Origin", "marker-origin"}};
  auto ok = h.Client()->Get("/api/v1/workspaces/abc", headers);
  REQUIRE(ok);
  auto missing = h.Client()->Get("/nope", headers);
  REQUIRE(missing);
  for (const auto* res : {&*ok, &*missing}) {
    for (const auto& [name, value] : res->headers) {
      CHECK(value.find("marker") == std::string::npos);
    }
    CHECK(res->body.find("marker") == std::string::npos);
  }
}

TEST_CASE("http: server measures durations with the injected clock") {
  // Given a fake clock that the handler moves by 1500 ms, Then the observer
  // reports exactly that duration.
  provisioner::testing::FakeClock clock;
  ServerOptions options = TestOptions();
  options.clock = &clock;
  Harness h(options, [&clock](Server& s) {
    s.Route(Method::kGet, "/slow", [&clock](const Request&) {
      clock.Advance(1500ms);
      return Response::Json(200, "{}");
    });
  });
  auto res = h.Client()->Get("/slow");
  REQUIRE(res);
  auto finished = h.observer.WaitFor(1);
  REQUIRE(finished.size() == 1);
  CHECK(finished[0].duration == 1500ms);
}

TEST_CASE("http: server streams a chunked response") {
  Harness h;
  auto pieces = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{"first\n", "", "second\n", "third\n"});
  auto next = std::make_shared<size_t>(0);
  h.stream_source = [pieces, next](std::string* chunk) {
    if (*next >= pieces->size()) return false;
    *chunk = (*pieces)[(*next)++];
    return true;
  };
  httplib::Headers gzip = {{"Accept-Encoding", "gzip"}};
  auto res = h.Client()->Get("/api/v1/stream", gzip);
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "first\nsecond\nthird\n");
  CHECK(res->get_header_value("Transfer-Encoding") == "chunked");
  CHECK(!res->has_header("Content-Encoding"));  // streams are never held back by gzip
}

// Signals when the stream's source is destroyed, i.e. when the server has
// given up the response.
struct DropSignal {
  std::mutex mu;
  std::condition_variable cv;
  bool dropped = false;
  bool WaitDropped(std::chrono::milliseconds deadline) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, deadline, [&] { return dropped; });
  }
};

struct Endless {
  std::shared_ptr<DropSignal> signal;
  std::shared_ptr<std::atomic<int>> calls;
  bool operator()(std::string* chunk) const {
    ++*calls;
    chunk->assign(16 * 1024, 'x');
    return true;
  }
};

std::function<bool(std::string*)> EndlessStream(std::shared_ptr<DropSignal> signal,
                                                std::shared_ptr<std::atomic<int>> calls) {
  // The guard's destructor runs when the last copy of the function goes.
  auto guard = std::shared_ptr<void>(nullptr, [signal](void*) {
    {
      std::lock_guard<std::mutex> lock(signal->mu);
      signal->dropped = true;
    }
    signal->cv.notify_all();
  });
  Endless endless{signal, calls};
  return [endless, guard](std::string* chunk) { return endless(chunk); };
}

TEST_CASE("http: server stops streaming when the client disconnects") {
  // Given an endless stream, When the client reads a little and hangs up,
  // Then the server stops calling the source and drops it.
  Harness h;
  auto signal = std::make_shared<DropSignal>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  h.stream_source = EndlessStream(signal, calls);
  int fd = testing::ConnectLoopback(h.port());
  REQUIRE(fd >= 0);
  REQUIRE(testing::SendAll(fd, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  char buf[4096];
  REQUIRE(::recv(fd, buf, sizeof(buf), 0) > 0);
  ::close(fd);
  h.stream_source = nullptr;  // the harness's copy must not keep it alive
  CHECK(signal->WaitDropped(10s));
  auto finished = h.observer.WaitFor(1);
  REQUIRE(finished.size() == 1);
  CHECK(finished[0].route == "/api/v1/stream");
}

TEST_CASE("http: server Stop ends a stream in progress") {
  auto h = std::make_unique<Harness>();
  auto signal = std::make_shared<DropSignal>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  h->stream_source = EndlessStream(signal, calls);
  int fd = testing::ConnectLoopback(h->port());
  REQUIRE(fd >= 0);
  REQUIRE(testing::SendAll(fd, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n"));
  char buf[4096];
  REQUIRE(::recv(fd, buf, sizeof(buf), 0) > 0);
  // The client neither reads nor hangs up; Stop() must still return.
  h->stream_source = nullptr;
  auto stopped = std::async(std::launch::async, [&] { h->server->Stop(); });
  CHECK(stopped.wait_for(15s) == std::future_status::ready);
  stopped.wait();
  CHECK(signal->WaitDropped(10s));
  ::close(fd);
}

TEST_CASE("http: server cannot bind a port another server holds") {
  // Given a running server, When a second one is started on its port, Then
  // it fails: SO_REUSEPORT (httplib's default) would have let it share.
  Harness first;
  ServerOptions options = TestOptions();
  options.listen = "127.0.0.1:" + std::to_string(first.port());
  testing::TestLog log;
  auto second = Server::Create(options, log.logger, nullptr);
  REQUIRE_OK(second);
  Status s = (*second)->Start();
  CHECK(!s.ok());
  CHECK(s.message().find("cannot listen on 127.0.0.1:" + std::to_string(first.port())) == 0);
  CHECK(s.message().find("in use") != std::string::npos);
  auto res = first.Client()->Get("/health");
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE("http: server start and stop edge cases") {
  testing::TestLog log;
  ServerOptions bad = TestOptions();
  bad.listen = "127.0.0.1";
  CHECK(Server::Create(bad, log.logger, nullptr).status().IsInvalidArgument());
  bad.listen = "127.0.0.1:70000";
  CHECK(Server::Create(bad, log.logger, nullptr).status().IsInvalidArgument());
  bad.listen = "127.0.0.1:0";
  bad.min_threads = 0;
  CHECK(Server::Create(bad, log.logger, nullptr).status().IsInvalidArgument());

  // Bad templates and duplicates surface at Start().
  auto s = Server::Create(TestOptions(), log.logger, nullptr);
  REQUIRE_OK(s);
  (*s)->Route(Method::kGet, "no-slash", [](const Request&) { return Response{}; });
  (*s)->Route(Method::kGet, "/x", [](const Request&) { return Response{}; });
  (*s)->Route(Method::kGet, "/x", [](const Request&) { return Response{}; });
  Status started = (*s)->Start();
  CHECK(started.IsInvalidArgument());
  CHECK(started.message().find("must start with '/'") != std::string::npos);
  CHECK(started.message().find("GET /x registered twice") != std::string::npos);

  // Stop without Start, and Stop twice, are harmless.
  auto idle = Server::Create(TestOptions(), log.logger, nullptr);
  REQUIRE_OK(idle);
  (*idle)->Stop();
  Harness h;
  h.server->Stop();
  h.server->Stop();
}

TEST_CASE("http: read-only mode refuses mutating routes") {
  ServerOptions options = TestOptions();
  options.read_only = true;
  Harness h(options);
  auto cli = h.Client();
  auto post = cli->Post("/api/v1/workspaces/web/deploy", "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 403);
  CHECK(post->body == R"({"error":{"code":"forbidden","message":"the server is read-only"}})");
  auto get = cli->Get("/api/v1/workspaces/web");
  REQUIRE(get);
  CHECK(get->status == 200);
  auto finished = h.observer.WaitFor(2);
  REQUIRE(finished.size() == 2);
  // Reports may arrive in either order (see above).
  auto post_report = std::find_if(finished.begin(), finished.end(),
                                  [](const auto& f) { return f.method == "POST"; });
  REQUIRE(post_report != finished.end());
  CHECK(post_report->route == "/api/v1/workspaces/:name/deploy");  // refused after matching
  CHECK(post_report->status == 403);
  CHECK(h.handled == 1);
}

TEST_CASE("http: a draining server refuses writes with 503 and still serves reads") {
  // Given a server that has begun to drain (the daemon is shutting down),
  Harness h;
  h.server->BeginDrain();
  auto cli = h.Client();
  // then a mutating route gets 503 before its handler runs,
  auto post = cli->Post("/api/v1/workspaces/web/deploy", "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 503);
  CHECK(post->body ==
        R"({"error":{"code":"shutting_down","message":"the daemon is shutting down; send the )"
        R"(request again once it is back"}})");
  // while reads and probes are answered.
  auto get = cli->Get("/api/v1/workspaces/web");
  REQUIRE(get);
  CHECK(get->status == 200);
  auto health = cli->Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(h.handled == 2);
}

TEST_CASE("http: a non-loopback listener without auth refuses writes") {
  // Given a listener on 0.0.0.0 and no web config, When a mutating route
  // is called (over 127.0.0.1), Then it is refused unless the operator
  // allowed unauthenticated writes; reads always work.
  ServerOptions options = TestOptions();
  options.listen = "0.0.0.0:0";
  {
    Harness h(options);
    auto cli = h.Client();
    auto post = cli->Post("/api/v1/workspaces/web/deploy", "{}", "application/json");
    REQUIRE(post);
    CHECK(post->status == 403);
    CHECK(post->body.find("non-loopback listener without authentication") != std::string::npos);
    auto get = cli->Get("/api/v1/workspaces/web");
    REQUIRE(get);
    CHECK(get->status == 200);
  }
  options.allow_unauthenticated_writes = true;
  {
    Harness h(options);
    auto post = h.Client()->Post("/api/v1/workspaces/web/deploy", "{}", "application/json");
    REQUIRE(post);
    CHECK(post->status == 202);
    CHECK(post->body == R"({"bytes":2,"user":""})");
  }
  // The same listener on loopback needs no opt-out.
  Harness loopback;
  auto post = loopback.Client()->Post("/api/v1/workspaces/web/deploy", "{}", "application/json");
  REQUIRE(post);
  CHECK(post->status == 202);
}

struct BasicAuthServer {
  std::string hash = *HashBcrypt("s3cr%t:pw", 4);
  ServerOptions options = [this] {
    ServerOptions o = TestOptions();
    o.web.basic_auth_users = {{"alice", hash}};
    return o;
  }();
};

TEST_CASE("http: basic auth matrix") {
  BasicAuthServer setup;
  Harness h(setup.options);
  auto get = [&](const httplib::Headers& headers) {
    return h.Client()->Get("/api/v1/workspaces/web", headers);
  };

  SUBCASE("no credentials") {
    auto res = get({});
    REQUIRE(res);
    CHECK(res->status == 401);
    CHECK(res->get_header_value("WWW-Authenticate") == "Basic realm=\"provisioner\"");
    CHECK(res->body == R"({"error":{"code":"unauthorized","message":"authentication required"}})");
  }
  SUBCASE("right password with '%' and ':'") {
    auto res = get({{"Authorization", testing::BasicHeader("alice", "s3cr%t:pw")}});
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body.find("\"user\":\"alice\"") != std::string::npos);
  }
  SUBCASE("scheme in lowercase") {
    std::string header = testing::BasicHeader("alice", "s3cr%t:pw");
    header.replace(0, 5, "basic");
    auto res = get({{"Authorization", header}});
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  SUBCASE("wrong password") {
    auto res = get({{"Authorization", testing::BasicHeader("alice", "s3cr%t:px")}});
    REQUIRE(res);
    CHECK(res->status == 401);
  }
  SUBCASE("unknown user") {
    auto res = get({{"Authorization", testing::BasicHeader("mallory", "s3cr%t:pw")}});
    REQUIRE(res);
    CHECK(res->status == 401);
  }
  SUBCASE("malformed headers") {
    for (const char* header :
         {"Basic", "Basic !!!!", "Bearer abc", "Basic YWxpY2U=", "Basic YWxpY2U6czNjciV0OnB3=="}) {
      CAPTURE(header);
      auto res = get({{"Authorization", header}});
      REQUIRE(res);
      CHECK(res->status == 401);
    }
  }
  SUBCASE("two Authorization headers") {
    std::string right = testing::BasicHeader("alice", "s3cr%t:pw");
    auto res = get({{"Authorization", right}, {"Authorization", right}});
    REQUIRE(res);
    CHECK(res->status == 401);
  }
  SUBCASE("percent-encoded base64 is decoded by httplib first") {
    // httplib 0.11.4 percent-decodes header values: %59 becomes 'Y', so
    // this is the right header in disguise, and it is judged as such.
    std::string right = testing::BasicHeader("alice", "s3cr%t:pw");
    size_t y = right.find('Y', 6);
    REQUIRE(y != std::string::npos);
    std::string disguised = right.substr(0, y) + "%59" + right.substr(y + 1);
    auto res = get({{"Authorization", disguised}});
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  SUBCASE("probes skip authentication") {
    auto res = h.Client()->Get("/health");
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  SUBCASE("authenticated writes carry the user") {
    auto res = h.Client()->Post("/api/v1/workspaces/web/deploy",
                                {{"Authorization", testing::BasicHeader("alice", "s3cr%t:pw")}},
                                "{}", "application/json");
    REQUIRE(res);
    CHECK(res->status == 202);
    CHECK(res->body == R"({"bytes":2,"user":"alice"})");
  }
  SUBCASE("unauthenticated writes are refused before the body is read") {
    auto res = h.Client()->Post("/api/v1/workspaces/web/deploy", "{}", "application/json");
    REQUIRE(res);
    CHECK(res->status == 401);
    CHECK(h.handled == 0);
  }
}

TEST_CASE("http: failed logins are logged without the secret") {
  BasicAuthServer setup;
  Harness h(setup.options);
  const std::string wrong = testing::BasicHeader("alice", "Hunter2-Secret");
  const std::string unknown = testing::BasicHeader("mallory", "Other-Secret");
  REQUIRE(h.Client()->Get("/api/v1/workspaces/web", {{"Authorization", wrong}}));
  REQUIRE(h.Client()->Get("/api/v1/workspaces/web", {{"Authorization", unknown}}));
  REQUIRE(h.Client()->Get("/api/v1/workspaces/web", {{"Authorization", "Basic garbage"}}));
  h.observer.WaitFor(3);

  auto failed = h.log.sink.Find("failed login");
  REQUIRE(failed.size() == 3);
  auto field = [](const log::Record& r, std::string_view key) {
    for (const auto& [k, v] : r.extra) {
      if (k == key) return v;
    }
    return std::string();
  };
  CHECK(failed[0].category == "auth");
  CHECK(failed[0].level == log::Level::kWarn);
  CHECK(field(failed[0], "user") == "alice");
  CHECK(field(failed[0], "remote_addr") == "127.0.0.1");
  CHECK(field(failed[0], "reason") == "wrong password");
  CHECK(field(failed[1], "user") == "mallory");
  CHECK(field(failed[1], "reason") == "unknown user");
  CHECK(field(failed[2], "reason") == "malformed Authorization header");
  for (const auto& r : h.log.sink.records()) {
    std::string all = r.message + r.error;
    for (const auto& [k, v] : r.extra) all += k + "=" + v + " ";
    CHECK(all.find("Hunter2") == std::string::npos);
    CHECK(all.find("Other-Secret") == std::string::npos);
    CHECK(all.find(wrong.substr(6)) == std::string::npos);
    CHECK(all.find("garbage") == std::string::npos);
  }
}

TEST_CASE("http: observer pairs started and finished for every request") {
  Harness h;
  auto cli = h.Client();
  REQUIRE(cli->Get("/health"));
  REQUIRE(cli->Get("/nope"));
  Exchange(h.port(), "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n");  // httplib's own 400
  auto finished = h.observer.WaitFor(3);
  REQUIRE(finished.size() == 3);
  CHECK(h.observer.started() == 3);
  // Reports come after the reply is written, so two connections' reports
  // may arrive in either order.
  auto brew =
      std::find_if(finished.begin(), finished.end(), [](const auto& f) { return f.status == 400; });
  REQUIRE(brew != finished.end());
  CHECK(brew->method == "other");
  CHECK(brew->route == "unmatched");
}

}  // namespace
}  // namespace provisioner::http
