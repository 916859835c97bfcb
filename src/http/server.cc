// http::Server over cpp-httplib 0.11.4 as Debian ships it. Every number and
// hook order here comes from reference/debian-libraries.md §1; the notes say
// which part each piece of code answers.
//
// How a request flows through httplib's hooks (§1.3), all on one worker
// thread:
//   pre-routing  PreRoute: guard, route match (404/405), authentication
//                (401), write rules (403), body type (415). A refusal is
//                written here, before any body byte is read.
//   routing      httplib reads the body (Content-Length, bounded by the
//                guard) and calls the one catch-all handler per method
//                table, which runs our handler for the matched template.
//   error        fills an empty body of a >= 400 reply with our JSON error
//                (httplib's own 400/414/416 never reach pre-routing).
//   post-routing makes a closing reply say "Connection: close".
//   logger       reports the request to the observer and resets the
//                per-thread request state.
// Routing is ours (RouteMatcher), not httplib's regex table: the guard and
// authentication need the matched route before the body is read, metrics
// need the template, and 405 needs to know which methods a path has.
//
// Closing the connection after a refusal. A refusal written before the body
// is read leaves that body on the connection, where httplib would parse it
// as the next request (§1.10): a rejected POST whose body is a whole HTTP
// request would get a second, smuggled, response. 0.11.4 has no per-response
// close switch: "Connection: close" in the reply does not close, the
// keep-alive decision is taken before routing from the request's headers,
// and the socket is not reachable from a handler. What does close it is a
// failed body write: httplib's keep-alive loop stops when process_request
// returns false, which it does when a content provider returns false. So a
// refusal's body is served by a provider that writes all of it and then
// returns false ("cancelled"); the client has the complete reply, and
// httplib shuts the socket down instead of reading the next request. The
// post-routing hook swaps the Keep-Alive header for "Connection: close" so
// that clients know. A reply to HEAD has no body, so the provider would not
// run: a refused HEAD is answered as a GET (the bytes after the headers are
// followed by the close). The same path closes after the errors httplib
// answers itself, where the read position in the stream is unknown. A
// keep_alive_max_count of 1 would also close, but for every request.
//
// Two places write to the httplib::Request that hooks receive as const: the
// refusal path clears the parsed Range list (or apply_ranges would slice our
// error body) and rewrites HEAD to GET, and a streamed reply drops
// Accept-Encoding (httplib's gzip holds back output until 16 KB pile up,
// which would stall a followed log). The object is a non-const local of
// httplib's process_request, so this is well-defined; MutableRequest() is
// the one place that casts.
#include "http/server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <thread>

#include "base/strings.h"
#include "http/auth.h"
#include "http/guard.h"
#include "http/route_matcher.h"
#include "http/worker_pool.h"
#include "platform/posix_clock.h"
#include "platform/socket_options.h"

namespace provisioner::http {

namespace {

// httplib's TaskQueue over our growing pool (http/worker_pool.h).
class PoolTaskQueue final : public httplib::TaskQueue {
 public:
  PoolTaskQueue(size_t min_threads, size_t max_threads)
      : pool_(min_threads, max_threads, kIdleWorkerTimeout) {}
  void enqueue(std::function<void()> fn) override { pool_.Enqueue(std::move(fn)); }
  void shutdown() override { pool_.Shutdown(); }

 private:
  // A worker above the minimum lives this long without a connection.
  static constexpr std::chrono::seconds kIdleWorkerTimeout{10};
  WorkerPool pool_;
};

}  // namespace

std::string_view MethodName(Method m) {
  switch (m) {
    case Method::kGet:
      return "GET";
    case Method::kPost:
      return "POST";
  }
  return "GET";
}

const std::string& Request::Header(const std::string& lowercase_name) const {
  static const std::string kEmpty;
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? kEmpty : it->second;
}

namespace {

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":{\"code\":";
  AppendJsonString(&out, code);
  out += ",\"message\":";
  AppendJsonString(&out, message);
  out += "}}";
  return out;
}

}  // namespace

Response Response::Error(int status, std::string_view code, std::string_view message) {
  Response r;
  r.status = status;
  r.body = ErrorBody(code, message);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

namespace {

constexpr std::string_view kUnmatched = "unmatched";
constexpr std::string_view kRealm = "Basic realm=\"provisioner\"";

// What the worker thread knows about the request it serves, from
// pre-routing to the logger (§1.2: one thread runs the whole request). The
// logger resets it, because httplib's early errors skip pre-routing.
struct RequestContext {
  bool active = false;  // OnRequestStarted sent
  MonotonicTime start{};
  int route = -1;  // RouteMatcher index once matched; -1 reports "unmatched"
  bool close = false;
  std::map<std::string, std::string> params;
  std::string user;
  // The request's SERVER span; its context stays valid (unsampled) when
  // there is no tracer or the route is not traced.
  telemetry::Span span;
};
thread_local RequestContext tl_request;

// Probes and scrapes are not traced: a span per Prometheus scrape would
// bury the API's traces.
bool Traced(std::string_view route) {
  return route != "/metrics" && !route.starts_with("/health") && route != "/ready";
}

// The client's trace context: exactly one valid traceparent header; any
// tracestate headers, joined as the W3C spec allows.
std::optional<TraceContext> IncomingTrace(const httplib::Request& req) {
  if (req.get_header_value_count("traceparent") != 1) return std::nullopt;
  std::string state;
  const size_t states = req.get_header_value_count("tracestate");
  for (size_t i = 0; i < states; ++i) {
    if (i > 0) state += ',';
    state += req.get_header_value("tracestate", i);
  }
  return ParseTraceparent(req.get_header_value("traceparent"), state);
}

httplib::Request& MutableRequest(const httplib::Request& req) {
  return const_cast<httplib::Request&>(req);  // see the file comment
}

// A bounded label: httplib stores whatever the request line said.
std::string_view MethodLabel(const std::string& method) {
  static constexpr std::array<std::string_view, 9> kKnown = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"};
  for (std::string_view m : kKnown) {
    if (method == m) return m;
  }
  return "other";
}

std::string_view DefaultMessage(int status) {
  switch (status) {
    case 400:
      return "the request is malformed";
    case 404:
      return "no route for this path";
    case 413:
      return "the body is too large";
    case 414:
      return "the request target is too long";
    case 416:
      return "range requests are not supported";
    case 500:
      return "internal error";
    default:
      return status >= 500 ? "internal error" : "the request was refused";
  }
}

// Serves `body` and then makes httplib close the connection (see the file
// comment).
void SetClosingBody(const httplib::Request& req, httplib::Response& res, std::string body) {
  httplib::Request& mutable_req = MutableRequest(req);
  mutable_req.ranges.clear();
  res.body.clear();
  if (mutable_req.method == "HEAD") {
    // No body is written for HEAD, so the provider cannot close. Only a
    // HEAD that may have bytes behind it needs closing: then it is answered
    // as a GET.
    bool pending = !tl_request.active || mutable_req.has_header("Transfer-Encoding");
    if (mutable_req.has_header("Content-Length") &&
        mutable_req.get_header_value("Content-Length") != "0") {
      pending = true;
    }
    if (!pending) {
      res.set_header("Content-Type", "application/json");
      res.body = std::move(body);
      return;
    }
    mutable_req.method = "GET";
  }
  auto shared = std::make_shared<const std::string>(std::move(body));
  res.set_content_provider(shared->size(), "application/json",
                           [shared](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(shared->data() + offset, length);
                             return false;
                           });
  tl_request.close = true;
}

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    if (!out.empty()) out += "; ";
    out += buf.data();
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Status CheckReadable(const std::string& path, std::string_view what) {
  if (path.empty()) return Status::InvalidArgument(what, "no file given");
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return Status::InvalidArgument(std::string(what) + " " + path, "cannot be read");
  return Status::Ok();
}

// Names that frame the message; httplib writes them itself.
bool IsFramingHeader(std::string_view lower) {
  return lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
         lower == "keep-alive" || lower == "content-type";
}

bool IsSyntheticHeader(const std::string& name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
         name == "LOCAL_PORT";
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, log::Logger& log, RequestObserver* observer)
      : options_(std::move(options)),
        log_(log),
        observer_(observer),
        tracer_(options_.tracer),
        clock_(options_.clock != nullptr ? *options_.clock : own_clock_) {}

  ~Impl() { Stop(); }

  Status Init();
  void Route(Method method, std::string pattern, Handler handler, RouteOptions route_options);
  Status Start();
  void Stop();
  void BeginDrain() { draining_ = true; }
  int port() const { return port_; }

 private:
  struct RouteEntry {
    std::array<Handler, 2> handlers;
    std::array<RouteOptions, 2> options;
    std::string Allow() const {
      if (handlers[0] && handlers[1]) return "GET, HEAD, POST";
      return handlers[0] ? "GET, HEAD" : "POST";
    }
  };

  Status ParseListen();
  void Configure();
  httplib::Server::HandlerResponse PreRoute(const httplib::Request& req, httplib::Response& res);
  httplib::Server::HandlerResponse Refuse(const httplib::Request& req, httplib::Response& res,
                                          int status, std::string_view code,
                                          std::string_view message);
  void Dispatch(const httplib::Request& req, httplib::Response& res);
  void WriteResponse(const httplib::Request& req, Response out, httplib::Response& res);
  void OnError(const httplib::Request& req, httplib::Response& res);
  void OnException(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep);
  void OnPostRouting(httplib::Response& res);
  void OnLogged(const httplib::Request& req, const httplib::Response& res);
  void LogFailedLogin(const httplib::Request& req, const BasicAuthenticator::Decision& d);

  ServerOptions options_;
  log::Logger& log_;
  RequestObserver* observer_;
  telemetry::Tracer* tracer_;
  platform::PosixClock own_clock_;
  Clock& clock_;

  std::string host_;  // as httplib wants it: no brackets, "0.0.0.0" for all
  int requested_port_ = 0;
  GuardLimits limits_;
  AccessRules access_;
  bool mtls_ = false;
  std::unique_ptr<BasicAuthenticator> basic_;  // null without basic_auth_users
  std::unique_ptr<httplib::Server> svr_;

  // Filled before Start(), read-only afterwards.
  RouteMatcher matcher_;
  std::vector<RouteEntry> routes_;
  std::vector<std::string> route_errors_;

  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  bool started_ = false;
  int port_ = 0;
};

Status Server::Impl::ParseListen() {
  const std::string& listen = options_.listen;
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("listen address \"" + listen + "\"", "needs host:port");
  }
  std::optional<uint64_t> port = ParseUint(std::string_view(listen).substr(colon + 1));
  if (!port || *port > 65535) {
    return Status::InvalidArgument("listen address \"" + listen + "\"", "bad port");
  }
  requested_port_ = static_cast<int>(*port);
  host_ = listen.substr(0, colon);
  access_.loopback_listener = IsLoopbackHost(host_);
  if (host_.size() >= 2 && host_.front() == '[' && host_.back() == ']') {
    host_ = host_.substr(1, host_.size() - 2);
  }
  if (host_.empty()) host_ = "0.0.0.0";
  return Status::Ok();
}

Status Server::Impl::Init() {
  RETURN_IF_ERROR(ParseListen());
  if (options_.min_threads < 1 || options_.max_threads < options_.min_threads) {
    return Status::InvalidArgument("http threads", "need 1 <= min_threads <= max_threads");
  }
  if (options_.keep_alive_max_requests < 1) {
    return Status::InvalidArgument("keep_alive_max_requests", "must be at least 1");
  }
  limits_ = GuardLimits{options_.max_path_bytes, options_.max_body_bytes, options_.max_headers};

  const config::WebConfig& web = options_.web;
  mtls_ = web.tls_config.client_auth == config::ClientAuth::kRequireAndVerifyClientCert;
  if (mtls_ && !web.tls) {
    return Status::InvalidArgument("web config", "client certificates need tls_server_config");
  }
  for (const auto& [user, hash] : web.basic_auth_users) {
    if (user.empty() || !IsBcryptHash(hash)) {
      return Status::InvalidArgument("web config",
                                     "basic_auth_users[" + user + "]: not a bcrypt hash");
    }
  }
  access_.read_only = options_.read_only;
  access_.authenticates = web.authenticates();
  access_.allow_unauthenticated_writes = options_.allow_unauthenticated_writes;
  if (!web.basic_auth_users.empty()) {
    basic_ = std::make_unique<BasicAuthenticator>(web.basic_auth_users);
  }

  if (web.tls) {
    const config::TlsConfig& tls = web.tls_config;
    RETURN_IF_ERROR(CheckReadable(tls.cert_file, "TLS certificate"));
    RETURN_IF_ERROR(CheckReadable(tls.key_file, "TLS key"));
    if (mtls_) RETURN_IF_ERROR(CheckReadable(tls.client_ca_file, "client CA"));
    ERR_clear_error();
    // With a client CA the constructor sets SSL_VERIFY_PEER |
    // SSL_VERIFY_FAIL_IF_NO_PEER_CERT: the handshake itself refuses clients
    // without a certificate signed by that CA (§1.6).
    auto ssl = std::make_unique<httplib::SSLServer>(tls.cert_file.c_str(), tls.key_file.c_str(),
                                                    mtls_ ? tls.client_ca_file.c_str() : nullptr);
    if (!ssl->is_valid()) {
      return Status::InvalidArgument("TLS certificate " + tls.cert_file + " or key " + tls.key_file,
                                     OpenSslErrors());
    }
    SSL_CTX* ctx = ssl->ssl_context();
    // httplib sets TLS 1.1 as the minimum (§1.6).
    const int min_version = tls.min_version == "TLS13" ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) {
      return Status::Internal("cannot set the minimum TLS version", OpenSslErrors());
    }
    if (mtls_) {
      // The constructor does not check that the CA file loaded; a file
      // with no certificate would refuse every client without saying why.
      if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
        return Status::InvalidArgument("client CA " + tls.client_ca_file, OpenSslErrors());
      }
      // Tells clients which CA to pick a certificate for.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
      if (names == nullptr) {
        return Status::InvalidArgument("client CA " + tls.client_ca_file, OpenSslErrors());
      }
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    svr_ = std::move(ssl);
  } else {
    svr_ = std::make_unique<httplib::Server>();
  }
  Configure();
  return Status::Ok();
}

void Server::Impl::Configure() {
  const size_t min_threads = static_cast<size_t>(options_.min_threads);
  const size_t max_threads = static_cast<size_t>(options_.max_threads);
  // httplib owns and deletes the queue (its API takes a raw pointer).
  svr_->new_task_queue = [min_threads, max_threads] {
    return new PoolTaskQueue(min_threads, max_threads);
  };
  svr_->set_read_timeout(options_.read_timeout);
  svr_->set_write_timeout(options_.write_timeout);
  svr_->set_keep_alive_timeout(static_cast<time_t>(options_.keep_alive_timeout.count()));
  svr_->set_keep_alive_max_count(options_.keep_alive_max_requests);
  // Only enforced with a Content-Length (§1.5); the guard refuses the rest.
  svr_->set_payload_max_length(options_.max_body_bytes);
  // httplib writes the headers and the body in two send()s; with Nagle the
  // second waits for the client's delayed ACK (up to 40 ms on Linux).
  svr_->set_tcp_nodelay(true);
  svr_->set_socket_options([this](socket_t fd) {
    if (Status s = platform::ConfigureListenerSocket(fd); !s.ok()) {
      LOG(log_, kWarn, "http").Error(s).Message("cannot set listener socket options");
    }
  });

  // Hooks other than pre-routing and the handlers run outside httplib's
  // try/catch: an exception there would end the worker thread, and the
  // process with it. Each catches everything.
  svr_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) { return PreRoute(req, res); });
  svr_->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        try {
          OnError(req, res);
        } catch (...) {
          res.status = 500;
        }
        // Handled makes httplib run apply_ranges, which sets Content-Length.
        return httplib::Server::HandlerResponse::Handled;
      }));
  svr_->set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                     std::exception_ptr ep) { OnException(req, res, ep); });
  svr_->set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    try {
      OnPostRouting(res);
    } catch (...) {
    }
  });
  svr_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    try {
      OnLogged(req, res);
    } catch (...) {
      tl_request = RequestContext{};
    }
  });

  // One catch-all per method table: PreRoute has matched the template
  // already, and the guard keeps paths short enough for std::regex (§1.9).
  // [\s\S] because '.' does not match a decoded %0a.
  auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
    Dispatch(req, res);
  };
  svr_->Get(R"([\s\S]*)", dispatch);
  svr_->Post(R"([\s\S]*)", dispatch);
}

void Server::Impl::Route(Method method, std::string pattern, Handler handler,
                         RouteOptions route_options) {
  if (started_) {
    route_errors_.push_back("route " + pattern + " registered after Start()");
    return;
  }
  Result<size_t> index = matcher_.Add(pattern);
  if (!index.ok()) {
    route_errors_.push_back(index.status().message());
    return;
  }
  if (*index == routes_.size()) routes_.emplace_back();
  const size_t m = method == Method::kGet ? 0 : 1;
  RouteEntry& entry = routes_[*index];
  if (entry.handlers[m]) {
    route_errors_.push_back(std::string(MethodName(method)) + " " + pattern + " registered twice");
    return;
  }
  entry.handlers[m] = std::move(handler);
  entry.options[m] = route_options;
}

Status Server::Impl::Start() {
  if (started_) return Status::FailedPrecondition("the HTTP server was already started");
  if (!route_errors_.empty()) return Status::InvalidArgument("routes", Join(route_errors_, "; "));
  errno = 0;
  int port = requested_port_;
  bool bound = requested_port_ == 0 ? (port = svr_->bind_to_any_port(host_)) > 0
                                    : svr_->bind_to_port(host_, requested_port_);
  if (!bound) {
    const int err = errno;
    const std::string context = "cannot listen on " + options_.listen;
    if (err != 0) return Status::FromErrno(err, context);
    return Status::Unavailable(context, "address not available");
  }
  port_ = port;
  started_ = true;
  thread_ = std::thread([this] {
    svr_->listen_after_bind();
    listen_returned_ = true;
  });
  // stop() is a no-op until listen_after_bind() has set is_running, and
  // 0.11.4 has no wait_until_ready() (§1.8). Connections that arrive
  // meanwhile wait in the backlog, so this only bounds Stop()'s race.
  while (!svr_->is_running() && !listen_returned_) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return Status::Ok();
}

void Server::Impl::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  // Start() waited for is_running(), so this stop() is not lost. Only once:
  // a second call while the accept loop winds down would find the socket
  // already closed.
  if (!listen_returned_) svr_->stop();
  thread_.join();
}

httplib::Server::HandlerResponse Server::Impl::Refuse(const httplib::Request& req,
                                                      httplib::Response& res, int status,
                                                      std::string_view code,
                                                      std::string_view message) {
  res.status = status;
  SetClosingBody(req, res, ErrorBody(code, message));
  return httplib::Server::HandlerResponse::Handled;
}

httplib::Server::HandlerResponse Server::Impl::PreRoute(const httplib::Request& req,
                                                        httplib::Response& res) {
  RequestContext& ctx = tl_request;
  log::SetThreadTrace(nullptr);
  ctx = RequestContext{};
  ctx.active = true;
  ctx.start = clock_.Monotonic();
  if (observer_ != nullptr) observer_->OnRequestStarted();

  GuardRequest g;
  g.method = req.method;
  g.path = req.path;
  g.headers.reserve(req.headers.size());
  for (const auto& [name, value] : req.headers) g.headers.emplace_back(name, value);
  if (std::optional<Rejection> r = CheckRequest(g, limits_)) {
    return Refuse(req, res, r->status, r->code, r->message);
  }

  std::optional<RouteMatcher::Match> match = matcher_.Find(req.path);
  if (tracer_ != nullptr &&
      (!match || Traced(matcher_.pattern(static_cast<size_t>(match->index))))) {
    std::optional<TraceContext> incoming = IncomingTrace(req);
    ctx.span = tracer_->StartSpan(req.method, telemetry::SpanKind::kServer,
                                  incoming ? &*incoming : nullptr);
    log::SetThreadTrace(&ctx.span.context());
    res.set_header("traceparent", ctx.span.context().Traceparent());
  }
  if (!match) return Refuse(req, res, 404, "not_found", "no route for this path");
  const RouteEntry& entry = routes_[match->index];
  int m = -1;
  if (req.method == "GET" || req.method == "HEAD") m = 0;
  if (req.method == "POST") m = 1;
  if (m < 0 || !entry.handlers[static_cast<size_t>(m)]) {
    res.set_header("Allow", entry.Allow());
    return Refuse(req, res, 405, "method_not_allowed",
                  "this method is not allowed here; see the Allow header");
  }
  ctx.route = static_cast<int>(match->index);
  const RouteOptions& opts = entry.options[static_cast<size_t>(m)];

  if (!opts.anonymous) {
    // With mTLS the handshake has verified the certificate; basic auth,
    // when configured as well, is required on top and names the user.
    if (mtls_) ctx.user = PeerCommonName(req.ssl);
    if (basic_ != nullptr) {
      BasicAuthenticator::Decision d;
      if (req.get_header_value_count("Authorization") > 1) {
        d.outcome = BasicAuthenticator::Outcome::kMalformed;
      } else {
        d = basic_->Check(req.get_header_value("Authorization"));
      }
      if (d.outcome != BasicAuthenticator::Outcome::kOk) {
        LogFailedLogin(req, d);
        res.set_header("WWW-Authenticate", std::string(kRealm));
        return Refuse(req, res, 401, "unauthorized", "authentication required");
      }
      ctx.user = std::move(d.user);
    }
  }
  if (opts.mutating) {
    if (std::optional<std::string> why = RefuseMutation(access_)) {
      return Refuse(req, res, 403, "forbidden", *why);
    }
    if (draining_) {
      return Refuse(req, res, 503, "shutting_down",
                    "the daemon is shutting down; send the request again once it is back");
    }
  }
  if (req.method == "POST") {
    if (std::optional<Rejection> r = CheckBodyType(g, opts.json_body)) {
      return Refuse(req, res, r->status, r->code, r->message);
    }
  }
  for (const auto& [name, value] : match->params) {
    ctx.params.emplace(std::string(name), std::string(value));
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

void Server::Impl::LogFailedLogin(const httplib::Request& req,
                                  const BasicAuthenticator::Decision& d) {
  using Outcome = BasicAuthenticator::Outcome;
  std::string_view reason = "no credentials";
  switch (d.outcome) {
    case Outcome::kMalformed:
      reason = "malformed Authorization header";
      break;
    case Outcome::kUnknownUser:
      reason = "unknown user";
      break;
    case Outcome::kWrongPassword:
      reason = "wrong password";
      break;
    default:
      break;
  }
  // A client without credentials (a first curl, a browser) is not a failed
  // login; it only gets the 401 challenge.
  const log::Level level = d.outcome == Outcome::kMissing ? log::Level::kDebug : log::Level::kWarn;
  // Never the password or the header; the user name is capped because a
  // client that swapped the fields would otherwise log a whole secret.
  LOG_AT(log_, level, "auth")
      .Field("user", std::string_view(d.user).substr(0, 64))
      .Field("remote_addr", req.remote_addr)
      .Field("reason", reason)
      .Message("failed login");
}

void Server::Impl::Dispatch(const httplib::Request& req, httplib::Response& res) {
  const RequestContext& ctx = tl_request;
  if (ctx.route < 0) {  // PreRoute always matches first; a safety net
    res.status = 404;
    return;
  }
  const size_t m = req.method == "POST" ? 1 : 0;
  const RouteEntry& entry = routes_[static_cast<size_t>(ctx.route)];
  Request r;
  r.method = m == 1 ? Method::kPost : Method::kGet;
  r.path = req.path;
  r.route = matcher_.pattern(static_cast<size_t>(ctx.route));
  r.params = ctx.params;
  for (const auto& [key, value] : req.params) r.query[key] = value;  // the last one wins
  for (const auto& [name, value] : req.headers) {
    if (IsSyntheticHeader(name)) continue;
    r.headers.emplace(AsciiLower(name), value);
  }
  r.body = req.body;
  r.remote_addr = req.remote_addr;
  r.user = ctx.user;
  r.trace = ctx.span.context();
  WriteResponse(req, entry.handlers[m](r), res);
}

void Server::Impl::WriteResponse(const httplib::Request& req, Response out,
                                 httplib::Response& res) {
  res.status = out.status;
  for (const auto& [name, value] : out.headers) {
    if (IsFramingHeader(AsciiLower(name))) continue;
    res.set_header(name, value);  // drops values with CR or LF
  }
  if (!out.stream) {
    res.body = std::move(out.body);
    if (!res.body.empty()) res.set_header("Content-Type", out.content_type);
    return;
  }
  MutableRequest(req).headers.erase("Accept-Encoding");
  auto stream = std::make_shared<std::function<bool(std::string*)>>(std::move(out.stream));
  res.set_chunked_content_provider(out.content_type,
                                   [this, stream](size_t, httplib::DataSink& sink) {
                                     // Returning false cancels the reply and closes the connection.
                                     if (stopping_ || !sink.is_writable()) return false;
                                     std::string chunk;
                                     bool more = false;
                                     try {
                                       more = (*stream)(&chunk);
                                     } catch (...) {
                                       return false;
                                     }
                                     // An empty write would end httplib's chunk loop without the
                                     // final chunk: only write data.
                                     if (!chunk.empty() && !sink.write(chunk.data(), chunk.size()))
                                       return false;
                                     if (!more) sink.done();
                                     return true;
                                   });
}

void Server::Impl::OnError(const httplib::Request& req, httplib::Response& res) {
  if (!res.body.empty() || res.content_provider_) return;
  // An empty error reply comes from httplib itself (a garbled request,
  // a URI over 8 KB, a body read that failed) or from a handler that gave
  // no body. After httplib's own errors the position in the byte stream
  // is unknown, so these close too.
  SetClosingBody(req, res, ErrorBody(ErrorCodeForStatus(res.status), DefaultMessage(res.status)));
}

void Server::Impl::OnException(const httplib::Request& req, httplib::Response& res,
                               std::exception_ptr ep) {
  std::string what = "unknown exception";
  try {
    if (ep) std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  try {
    const RequestContext& ctx = tl_request;
    LOG(log_, kError, "http")
        .Field("method", MethodLabel(req.method))
        .Field("route", ctx.route >= 0
                            ? std::string_view(matcher_.pattern(static_cast<size_t>(ctx.route)))
                            : kUnmatched)
        .Error(what)
        .Message("a handler threw; answered 500");
  } catch (...) {
  }
  // Whatever the handler had put in the reply goes; the client learns
  // nothing of the exception (no EXCEPTION_WHAT, §1.3).
  res = httplib::Response();
  res.status = 500;
  res.body = ErrorBody("internal", "internal error");
  res.set_header("Content-Type", "application/json");
}

void Server::Impl::OnPostRouting(httplib::Response& res) {
  res.set_header("X-Content-Type-Options", "nosniff");
  if (!tl_request.close) return;
  res.headers.erase("Keep-Alive");
  res.headers.erase("Connection");
  res.set_header("Connection", "close");
}

void Server::Impl::OnLogged(const httplib::Request& req, const httplib::Response& res) {
  RequestContext& ctx = tl_request;
  const MonotonicTime now = clock_.Monotonic();
  if (!ctx.active) {
    // httplib answered before pre-routing: report it all the same.
    ctx.start = now;
    if (observer_ != nullptr) observer_->OnRequestStarted();
  }
  const std::string_view route =
      ctx.route >= 0 ? std::string_view(matcher_.pattern(static_cast<size_t>(ctx.route)))
                     : kUnmatched;
  const std::chrono::nanoseconds duration = now - ctx.start;
  const std::string_view method = MethodLabel(req.method);
  ctx.active = false;
  if (observer_ != nullptr) observer_->OnRequestFinished(method, route, res.status, duration);
  if (ctx.span.recording()) {
    // Semantic conventions for HTTP server spans: "METHOD /route", and only
    // 5xx is an error on the server side.
    telemetry::Span& span = ctx.span;
    span.SetName(std::string(method) + " " + std::string(route));
    span.SetAttribute("http.request.method", std::string(method));
    if (ctx.route >= 0) span.SetAttribute("http.route", std::string(route));
    span.SetAttribute("url.path", req.path);
    span.SetAttribute("http.response.status_code", int64_t{res.status});
    span.SetAttribute("client.address", req.remote_addr);
    if (!ctx.user.empty()) span.SetAttribute("enduser.id", ctx.user);
    if (res.status >= 500) span.SetError("HTTP " + std::to_string(res.status));
  }
  // Probes and scrapes would drown the access log.
  if (log_.Enabled(log::Level::kDebug) && route != "/metrics" && !route.starts_with("/health") &&
      route != "/ready") {
    LOG(log_, kDebug, "http")
        .Field("method", method)
        .Field("route", route)
        .Field("status", static_cast<int64_t>(res.status))
        .Field("remote_addr", req.remote_addr)
        .Field("user", ctx.user)
        .DurationMs(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count())
        .Message("request");
  }
  log::SetThreadTrace(nullptr);
  ctx = RequestContext{};
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, log::Logger& log,
                                               RequestObserver* observer) {
  auto impl = std::make_unique<Impl>(std::move(options), log, observer);
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Route(Method method, std::string pattern, Handler handler, RouteOptions options) {
  impl_->Route(method, std::move(pattern), std::move(handler), options);
}

Status Server::Start() { return impl_->Start(); }

int Server::port() const { return impl_->port(); }

void Server::Stop() { impl_->Stop(); }
void Server::BeginDrain() { impl_->BeginDrain(); }

}  // namespace provisioner::http
