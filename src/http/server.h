// The HTTP server: one listener for /metrics, /health*, /ready and /api/v1.
//
// A pimpl wrapper over cpp-httplib 0.11.4 (reference/debian-libraries.md §1):
// handlers see our own Request and Response, never httplib types, and never
// throw. Routes are registered with a template ("/api/v1/workspaces/:name"),
// which is what metrics and traces label requests with, never the raw path.
//
// In front of routing, a guard rejects, with a 4xx and a JSON error body and
// before any body is read, the request shapes 0.11.4 mishandles: paths over
// a limit (414), Range (416), Transfer-Encoding (501), Content-Encoding
// (415), a body method without Content-Length (411) or with two (400), a
// body over the limit (413), a body method whose Content-Type is not
// application/json on a JSON route (415), too many headers (431), CR or LF in
// a decoded header value (400). Exception text never reaches a client.
//
// Authentication follows Prometheus' exporter-toolkit web config
// (config/web_config.h): TLS (minimum 1.2), mTLS with a client CA, and
// bcrypt basic auth checked through libcrypt in constant time. Mutating
// routes are refused with 403 in read-only mode, and on a non-loopback
// listener without authentication unless explicitly allowed. Failed logins
// are logged under `auth`, never with the secret.
//
// Threads: a pool of min_threads..max_threads workers plus the accept thread.
// Start() binds first (port 0 picks a free port; port() tells which), then
// serves on its own thread. Stop() returns when every worker has finished.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/result.h"
#include "base/trace_context.h"
#include "config/web_config.h"
#include "telemetry/tracer.h"

namespace provisioner::http {

enum class Method : uint8_t { kGet, kPost };
std::string_view MethodName(Method m);  // "GET", "POST"

struct Request {
  Method method = Method::kGet;
  std::string path;                            // percent-decoded, as routed
  std::string route;                           // the template that matched
  std::map<std::string, std::string> params;   // path parameters by name (":name" -> "name")
  std::map<std::string, std::string> query;    // the last value of each query parameter
  std::map<std::string, std::string> headers;  // lowercased names; never reflect them back
  std::string body;
  std::string remote_addr;
  // The authenticated user (basic auth name, or the client certificate's CN
  // with mTLS); "" when the listener needs no authentication.
  std::string user;
  // The request's own span (a child of the client's traceparent, when it
  // sent a valid one): work the request starts is its child.
  TraceContext trace;

  // A header by lowercase name, or "".
  const std::string& Header(const std::string& lowercase_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed: the function is called until it returns
  // false, each call appending the next piece to `chunk` (possibly after
  // waiting for it, e.g. a job log that grows). `body` is ignored then.
  std::function<bool(std::string* chunk)> stream;

  // {"error":{"code":"<code>","message":"<message>"}} with `status`.
  static Response Error(int status, std::string_view code, std::string_view message);
  // A JSON body (already serialized) with `status`.
  static Response Json(int status, std::string body);
};

using Handler = std::function<Response(const Request&)>;

struct RouteOptions {
  // Changes state: refused in read-only mode and on an unauthenticated
  // non-loopback listener (unless allowed), audited.
  bool mutating = false;
  // Takes a JSON body: Content-Type must be application/json when a body
  // is sent.
  bool json_body = false;
  // Reachable without authentication (liveness and readiness probes).
  bool anonymous = false;
};

// Per-request telemetry; implemented by telemetry/ and the tracer.
class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void OnRequestStarted() {}
  // `route` is the template, or "unmatched" for requests that matched none
  // (and for requests refused before routing).
  //
  // OnRequestStarted and OnRequestFinished come in pairs, once per request,
  // on the worker thread serving it, also for guard rejections, 404s and the
  // errors cpp-httplib answers itself (a garbled request line, a URI over
  // 8 KB): those never reach the guard and are reported with a zero
  // duration. `method` is one of GET HEAD POST PUT DELETE PATCH OPTIONS
  // TRACE CONNECT, or "other". `route` is "unmatched" for guard rejections,
  // 404 and 405 (no such method on that template); authentication and
  // authorization refusals (401, 403) carry the template they were aimed
  // at. `duration` runs from the end of the headers to the last byte
  // written.
  virtual void OnRequestFinished(std::string_view method, std::string_view route, int status,
                                 std::chrono::nanoseconds duration) = 0;
};

struct ServerOptions {
  std::string listen = "127.0.0.1:9090";  // host:port; port 0 picks one
  // Measures request durations; null: the real monotonic clock. Not owned.
  Clock* clock = nullptr;
  config::WebConfig web;  // TLS and authentication
  bool read_only = false;
  bool allow_unauthenticated_writes = false;
  // Workers (http/worker_pool.h): `min_threads` stay, more start while
  // every worker is busy, up to `max_threads`; one connection holds one
  // worker until it closes.
  int min_threads = 4;
  int max_threads = 64;
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{10};
  std::chrono::seconds keep_alive_timeout{2};
  size_t keep_alive_max_requests = 100;
  size_t max_path_bytes = 256;
  size_t max_body_bytes = 1 << 20;
  size_t max_headers = 64;
  // One SERVER span per request outside the probes and /metrics, taking
  // part in W3C traceparent propagation; the reply carries the span's
  // traceparent. Null: no spans, no traceparent. Not owned.
  telemetry::Tracer* tracer = nullptr;
};

class Server {
 public:
  // Checks the options (TLS files readable, listen address valid). Never
  // owns the logger or the observer (which may be null).
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, log::Logger& log,
                                                RequestObserver* observer);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers a route before Start(). `pattern` is a template whose segments
  // are literals or ":name" (one path segment, no '/').
  void Route(Method method, std::string pattern, Handler handler, RouteOptions options = {});

  // Binds (failing with a clear error if the address is taken or not
  // available), then serves on a thread of its own.
  Status Start();
  // The bound port (after Start).
  int port() const;
  // Thread-safe. The first step of a shutdown: from now on mutating routes
  // are refused with 503 (code "shutting_down") before their handler runs,
  // while reads, probes and open streams are still served.
  void BeginDrain();
  // Stops accepting, finishes requests in flight, joins every thread. A
  // stream in progress ends at its next chunk.
  void Stop();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace provisioner::http
