// A real http::Server on 127.0.0.1 port 0 with a fixed set of test routes,
// for the socket tests (server_test.cc, hostile_request_test.cc,
// tls_test.cc).
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "base/strings.h"
#include "http/http_test_support.h"
#include "http/server.h"
#include "support/test_util.h"

namespace provisioner::http::testing {

inline ServerOptions TestOptions() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.min_threads = 2;
  o.max_threads = 4;
  o.read_timeout = std::chrono::seconds(2);
  o.write_timeout = std::chrono::seconds(2);
  o.keep_alive_timeout = std::chrono::seconds(1);
  o.max_body_bytes = 4096;
  o.max_headers = 32;
  return o;
}

struct Harness {
  TestLog log;
  RecordingObserver observer;
  std::unique_ptr<Server> server;
  std::atomic<int> handled{0};   // handler calls
  std::atomic<int> smuggled{0};  // calls for a workspace named "smuggled"
  // The stream route's source, replaceable per test.
  std::function<bool(std::string*)> stream_source;

  explicit Harness(ServerOptions options = TestOptions(),
                   const std::function<void(Server&)>& extra_routes = nullptr) {
    auto created = Server::Create(std::move(options), log.logger, &observer);
    REQUIRE_OK(created);
    server = std::move(*created);
    AddRoutes();
    if (extra_routes) extra_routes(*server);
    REQUIRE_OK(server->Start());
  }
  ~Harness() { server->Stop(); }

  int port() const { return server->port(); }

  std::unique_ptr<httplib::Client> Client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port());
    c->set_connection_timeout(std::chrono::seconds(5));
    c->set_read_timeout(std::chrono::seconds(10));
    c->set_write_timeout(std::chrono::seconds(5));
    return c;
  }

 private:
  void AddRoutes() {
    const RouteOptions probe{.anonymous = true};
    const RouteOptions read{};
    const RouteOptions write{.mutating = true, .json_body = true};
    server->Route(
        Method::kGet, "/health",
        [this](const Request&) {
          ++handled;
          return Response::Json(200, "{\"status\":\"healthy\"}");
        },
        probe);
    server->Route(
        Method::kGet, "/api/v1/workspaces/:name",
        [this](const Request& r) {
          ++handled;
          if (r.params.at("name") == "smuggled") ++smuggled;
          std::string body = "{\"name\":";
          AppendJsonString(&body, r.params.at("name"));
          body += ",\"user\":";
          AppendJsonString(&body, r.user);
          body += ",\"route\":";
          AppendJsonString(&body, r.route);
          body += ",\"q\":";
          AppendJsonString(&body, r.query.count("q") ? r.query.at("q") : "");
          body += "}";
          return Response::Json(200, body);
        },
        read);
    server->Route(
        Method::kPost, "/api/v1/workspaces/:name/deploy",
        [this](const Request& r) {
          ++handled;
          std::string body = "{\"bytes\":" + std::to_string(r.body.size()) + ",\"user\":";
          AppendJsonString(&body, r.user);
          body += "}";
          return Response::Json(202, body);
        },
        write);
    server->Route(
        Method::kGet, "/api/v1/jobs/:id",
        [this](const Request& r) {
          ++handled;
          return Response::Json(200, "{\"job\":\"" + r.params.at("id") + "\"}");
        },
        read);
    server->Route(
        Method::kGet, "/api/v1/jobs/stats",
        [this](const Request&) {
          ++handled;
          return Response::Json(200, "{\"stats\":true}");
        },
        read);
    server->Route(
        Method::kGet, "/api/v1/boom",
        [this](const Request&) -> Response {
          ++handled;
          throw std::runtime_error("secret detail: db password is hunter2");
        },
        read);
    server->Route(
        Method::kGet, "/api/v1/teapot",
        [this](const Request&) {
          ++handled;
          Response r;
          r.status = 418;
          r.headers.emplace_back("X-Custom", "yes");
          r.headers.emplace_back("X-Bad", "a\r\nInjected: 1");
          r.headers.emplace_back("Content-Length", "9999");
          return r;  // no body: the server fills a JSON error
        },
        read);
    server->Route(
        Method::kGet, "/api/v1/stream",
        [this](const Request&) {
          ++handled;
          Response r;
          r.content_type = "text/plain";
          r.stream = stream_source;
          return r;
        },
        read);
  }
};

// "Basic base64(user:password)"
// (httplib's own encoder, so that the server's decoder is not checked
// against itself.)
inline std::string BasicHeader(std::string_view user, std::string_view password) {
  return httplib::make_basic_authentication_header(std::string(user), std::string(password), false)
      .second;
}

}  // namespace provisioner::http::testing
