// The command's trace span, exported as OpenTofu 1.10+ does when run with
// OTEL_TRACES_EXPORTER=otlp and a TRACEPARENT (opentofu internal/tracing/
// init.go extracts the parent; cmd/tofu/main.go wraps the whole command in
// one span named "tofu"). One OTLP/HTTP JSON POST per invocation, over a
// tiny HTTP/1.1 client on POSIX sockets so the fake keeps linking
// nlohmann_json only. README.md ("Tracing") lists the rules.
//
// Tracing must never change what a command does: every problem is one line
// on stderr, the exit code stays, and the whole export is bounded by
// kExportBudget.
#include <netdb.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "fake_tofu.h"

namespace fake_tofu {
namespace {

using Clock = std::chrono::steady_clock;

// Connect, send and the answer together: a dead receiver costs at most this.
constexpr std::chrono::milliseconds kExportBudget{2000};
// OpenTofu's root span (cmd/tofu/main.go: tracing.Tracer().Start(ctx, "tofu")).
constexpr std::string_view kSpanName = "tofu";
constexpr std::string_view kDefaultServiceName = "tofu";
constexpr std::string_view kScopeName = "fake-tofu";
constexpr int kSpanKindInternal = 1;  // the Go SDK's default kind
constexpr int kStatusError = 2;
// OTLP Span.flags: the W3C flags, plus "has is_remote" and "is_remote" for
// a parent taken from TRACEPARENT (what the Go exporter writes).
constexpr uint32_t kFlagsRemoteParent = 0x100 | 0x200;

std::string Env(const char* name) {
  const char* value = getenv(name);
  return value == nullptr ? "" : value;
}

void Note(std::string_view message) { Err("fake_tofu: OTLP: " + std::string(message) + "\n"); }

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

struct Traceparent {
  std::string trace_id;   // 32 lowercase hex
  std::string parent_id;  // 16 lowercase hex
  uint8_t flags = 0;
};

// W3C trace-context version 00, strictly: anything else is no parent.
std::optional<Traceparent> ParseTraceparent(std::string_view s) {
  if (s.size() != 55 || s.substr(0, 3) != "00-" || s[35] != '-' || s[52] != '-') {
    return std::nullopt;
  }
  std::string_view trace = s.substr(3, 32), parent = s.substr(36, 16), flags = s.substr(53, 2);
  if (!IsLowerHex(trace) || !IsLowerHex(parent) || !IsLowerHex(flags)) return std::nullopt;
  if (AllZero(trace) || AllZero(parent)) return std::nullopt;
  return Traceparent{std::string(trace), std::string(parent),
                     static_cast<uint8_t>(std::strtoul(std::string(flags).c_str(), nullptr, 16))};
}

struct Url {
  std::string text;  // as configured, for messages
  std::string host;  // without IPv6 brackets
  std::string port = "80";
  std::string path = "/";
};

// http://host[:port][/path]; an error message otherwise.
std::string ParseHttpUrl(const std::string& text, Url* url) {
  url->text = text;
  size_t scheme_end = text.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : text.substr(0, scheme_end);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "https") return "https is not supported by the fake, span not exported";
  if (scheme != "http") return "endpoint \"" + text + "\" is not an http:// URL";
  std::string rest = text.substr(scheme_end + 3);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) url->path = rest.substr(slash);
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return "bad IPv6 host in \"" + text + "\"";
    url->host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "bad host in \"" + text + "\"";
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    url->host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (url->host.empty() || url->host.find('@') != std::string::npos) {
    return "bad host in \"" + text + "\"";
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::atoi(port.c_str()) < 1 || std::atoi(port.c_str()) > 65535) {
      return "bad port in \"" + text + "\"";
    }
    url->port = port;
  }
  return "";
}

// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as-is, else OTEL_EXPORTER_OTLP_ENDPOINT
// + "v1/traces" after a '/'; "" when neither is set.
std::string TracesEndpoint() {
  std::string traces = Env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if (!traces.empty()) return traces;
  std::string base = Env("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (base.empty()) return "";
  if (base.back() != '/') base.push_back('/');
  return base + "v1/traces";
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    std::string hex(s.substr(i + 1, 2));
    if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) return std::nullopt;
    out.push_back(static_cast<char>(std::strtoul(hex.c_str(), nullptr, 16)));
    i += 2;
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

// "k1=v1,k2=v2", keys and values percent-decoded; a later key replaces an
// earlier one (case-insensitively). Entries that would break the request
// (bad names, control characters, the framing headers we write) are dropped.
void AddHeaders(const char* variable, Headers* headers) {
  const std::string text = Env(variable);
  for (size_t start = 0; start < text.size();) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string_view entry = Trim(std::string_view(text).substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    size_t eq = entry.find('=');
    std::optional<std::string> key, value;
    if (eq != std::string_view::npos) {
      key = PercentDecode(Trim(entry.substr(0, eq)));
      value = PercentDecode(Trim(entry.substr(eq + 1)));
    }
    bool ok = key && value && IsToken(*key);
    if (ok) {
      for (char c : *value) {
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) ok = false;
      }
    }
    static constexpr std::string_view kReserved[] = {"host", "content-type", "content-length",
                                                     "connection", "transfer-encoding"};
    std::string lower = ok ? Lower(*key) : "";
    for (std::string_view r : kReserved) ok = ok && lower != r;
    if (!ok) {
      Note(std::string("ignoring a malformed or reserved entry of ") + variable);
      continue;
    }
    std::erase_if(*headers, [&](const auto& h) { return Lower(h.first) == lower; });
    headers->emplace_back(*key, *value);
  }
}

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

// 8 random bytes, never all zero (an all-zero span id is invalid).
std::string RandomSpanId() {
  unsigned char bytes[8] = {};
  for (int attempt = 0; attempt < 16; ++attempt) {
    if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
      std::random_device rd;  // getrandom is there since Linux 3.17; just in case
      for (unsigned char& b : bytes) b = static_cast<unsigned char>(rd());
    }
    std::string hex = Hex(bytes, sizeof(bytes));
    if (!AllZero(hex)) return hex;
  }
  return "0000000000000001";
}

int64_t UnixNanos(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Json StringAttr(std::string_view key, std::string_view value) {
  return Json{{"key", key}, {"value", {{"stringValue", value}}}};
}
Json IntAttr(std::string_view key, int64_t value) {
  return Json{{"key", key}, {"value", {{"intValue", std::to_string(value)}}}};
}

// What BeginCommandSpan found; `active` only when every condition held.
struct PendingSpan {
  bool active = false;
  pid_t pid = -1;  // forked helpers must not export the parent's span
  Traceparent parent;
  std::string trace_state;
  Url url;
  Headers headers;
  std::string service_name;
  std::chrono::system_clock::time_point start;
};

PendingSpan& Pending() {
  static PendingSpan pending;
  return pending;
}

int MillisLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Waits for `events` on fd until the deadline; false on timeout. Signals
// (the fake's handlers do not restart) only shorten one poll round.
bool WaitFd(int fd, short events, Clock::time_point deadline) {
  while (true) {
    int left = MillisLeft(deadline);
    if (left == 0) return false;
    pollfd pfd{fd, events, 0};
    int n = poll(&pfd, 1, left);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

// A connected non-blocking socket, or -1 with *error set.
int Connect(const Url& url, Clock::time_point deadline, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found); rc != 0) {
    *error = std::string("resolve ") + url.host + ": " + gai_strerror(rc);
    return -1;
  }
  int result = -1;
  *error = "no address for " + url.host;
  for (addrinfo* a = found; a != nullptr && result < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      *error = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (WaitFd(fd, POLLOUT, deadline)) {
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        rc = so_error == 0 ? 0 : -1;
        errno = so_error;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) {
      result = fd;
    } else {
      *error = std::string("connect: ") + std::strerror(errno);
      close(fd);
    }
  }
  freeaddrinfo(found);
  return result;
}

// Sends `request` and reads the answer's header; "" for a 2xx status.
std::string Exchange(const Url& url, const std::string& request, Clock::time_point deadline) {
  std::string error;
  FdCloser sock{Connect(url, deadline, &error)};
  if (sock.fd < 0) return error;
  std::string_view left = request;
  while (!left.empty()) {
    // MSG_NOSIGNAL: a receiver that hangs up must not SIGPIPE the fake.
    ssize_t n = send(sock.fd, left.data(), left.size(), MSG_NOSIGNAL);
    if (n > 0) {
      left.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFd(sock.fd, POLLOUT, deadline)) return "timed out sending the request";
    } else {
      return std::string("send: ") + std::strerror(errno);
    }
  }
  std::string answer;
  while (answer.find("\r\n\r\n") == std::string::npos) {
    char buf[4096];
    ssize_t n = recv(sock.fd, buf, sizeof(buf), 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      if (answer.size() > 65536) break;
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFd(sock.fd, POLLIN, deadline)) return "timed out waiting for the answer";
    } else {
      return std::string("recv: ") + std::strerror(errno);
    }
  }
  // "HTTP/1.1 200 OK"
  if (answer.rfind("HTTP/1.", 0) != 0 || answer.size() < 12) {
    return answer.empty() ? "connection closed without an answer" : "not an HTTP answer";
  }
  std::string status = answer.substr(9, 3);
  if (status[0] != '2') return "HTTP " + status;
  return "";
}

Json SpanBody(const PendingSpan& p, const std::string& span_id, int exit_code) {
  const Invocation& inv = CurrentInvocation();
  auto end = std::max(p.start, std::chrono::system_clock::now());
  Json attributes = Json::array();
  if (!inv.command.empty()) attributes.push_back(StringAttr("tofu.command", inv.command));
  attributes.push_back(IntAttr("process.exit.code", exit_code));
  attributes.push_back(IntAttr("process.pid", getpid()));
  // plan -detailed-exitcode: 2 means "changes present", not a failure.
  bool failed = exit_code != 0 && !(inv.command == "plan" && exit_code == 2);
  Json status = Json::object();
  if (failed) {
    std::string message = "exit status " + std::to_string(exit_code);
    std::vector<std::string> signals = SignalNames();
    for (size_t i = 0; i < signals.size(); ++i) {
      message += (i == 0 ? " after " : ", ") + signals[i];
    }
    status = Json{{"code", kStatusError}, {"message", message}};
  }
  Json span = {
      {"traceId", p.parent.trace_id},
      {"spanId", span_id},
  };
  if (!p.trace_state.empty()) span["traceState"] = p.trace_state;
  span["parentSpanId"] = p.parent.parent_id;
  span["flags"] = p.parent.flags | kFlagsRemoteParent;
  span["name"] = kSpanName;
  span["kind"] = kSpanKindInternal;
  span["startTimeUnixNano"] = std::to_string(UnixNanos(p.start));
  span["endTimeUnixNano"] = std::to_string(UnixNanos(end));
  span["attributes"] = attributes;
  span["status"] = status;
  Json resource_attributes = Json::array({StringAttr("service.name", p.service_name)});
  if (!inv.version.empty()) {
    resource_attributes.push_back(StringAttr("service.version", inv.version));
  }
  return Json{
      {"resourceSpans", Json::array({Json{
                            {"resource", {{"attributes", resource_attributes}}},
                            {"scopeSpans", Json::array({Json{{"scope", {{"name", kScopeName}}},
                                                             {"spans", Json::array({span})}}})},
                        }})},
  };
}

}  // namespace

void BeginCommandSpan() {
  PendingSpan& p = Pending();
  p = PendingSpan{};
  p.start = std::chrono::system_clock::now();
  if (Env("OTEL_TRACES_EXPORTER") != "otlp" || Env("FAKE_TOFU_OTLP") == "off") return;
  std::optional<Traceparent> parent = ParseTraceparent(Env("TRACEPARENT"));
  if (!parent || (parent->flags & 0x01) == 0) return;  // invalid, or not sampled
  std::string endpoint = TracesEndpoint();
  if (endpoint.empty()) return;
  if (std::string error = ParseHttpUrl(endpoint, &p.url); !error.empty()) {
    Note(error);
    return;
  }
  AddHeaders("OTEL_EXPORTER_OTLP_HEADERS", &p.headers);
  AddHeaders("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &p.headers);
  p.parent = *parent;
  p.trace_state = Env("TRACESTATE");
  p.service_name = Env("OTEL_SERVICE_NAME");
  if (p.service_name.empty()) p.service_name = kDefaultServiceName;
  p.pid = getpid();
  p.active = true;
}

void ExportCommandSpan(int exit_code) {
  PendingSpan& p = Pending();
  if (!p.active || p.pid != getpid()) return;
  p.active = false;  // once, even if something below exits again
  auto deadline = Clock::now() + kExportBudget;
  std::string body =
      SpanBody(p, RandomSpanId(), exit_code).dump(-1, ' ', false, Json::error_handler_t::replace);
  bool ipv6 = p.url.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + p.url.host + "]" : p.url.host;
  std::string request = "POST " + p.url.path + " HTTP/1.1\r\nHost: " + host + ":" + p.url.port +
                        "\r\nUser-Agent: fake-tofu\r\nContent-Type: application/json\r\n"
                        "Content-Length: " +
                        std::to_string(body.size()) + "\r\nConnection: close\r\n";
  for (const auto& [k, v] : p.headers) request += k + ": " + v + "\r\n";
  request += "\r\n" + body;
  if (std::string error = Exchange(p.url, request, deadline); !error.empty()) {
    Note("export to " + p.url.text + " failed: " + error);
  }
}

}  // namespace fake_tofu
