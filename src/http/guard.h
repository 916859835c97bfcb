// The pre-routing guard: cheap checks on the request line and headers that
// run before any body byte is read, and refuse the request shapes that
// cpp-httplib 0.11.4 mishandles (reference/debian-libraries.md §1.9, §1.10).
//
// Pure functions over plain views, so that every rule is unit-tested without
// a socket (tests/http/guard_test.cc). The server turns a Rejection into a
// JSON error reply and closes the connection after it (server.cc explains
// why that is needed and how it is done).
//
// What is refused, and why:
//   400  a target that is not an absolute path; a path with control bytes;
//        a header name that is not an RFC 9110 token; CR, LF or NUL in a
//        header value (0.11.4 percent-decodes every header value,
//        CVE-2026-45372); a client-sent REMOTE_ADDR/REMOTE_PORT/LOCAL_ADDR/
//        LOCAL_PORT header (they shadow httplib's own, CVE-2025-66570); two
//        Content-Length headers or one that is not a plain number
//        (smuggling); a GET or HEAD with a body (0.11.4 never reads it, so
//        it would be parsed as the next request)
//   411  POST, PUT or PATCH without Content-Length (0.11.4 would read to EOF,
//        unbounded, CVE-2025-46728)
//   413  Content-Length over the body limit
//   414  a decoded path longer than the limit (std::regex recursion)
//   415  any Content-Encoding (gzip/brotli bombs: the size limit applies to
//        the compressed bytes); on a JSON route a Content-Type other than
//        application/json; on any route multipart/form-data or
//        x-www-form-urlencoded (parsed by 0.11.4 itself, with std::regex,
//        CVE-2026-29076)
//   416  any Range header (every routed reply would be sliced, multi-range
//        replies are built in memory)
//   431  more headers than the limit (0.11.4 has no limit, CVE-2025-52887)
//   501  any Transfer-Encoding: 0.11.4's chunked decoder has several bugs
//        (CVE-2025-46728 unbounded, CVE-2026-45352 negative sizes) and lets
//        chunked win over Content-Length (CL.TE smuggling). 501 ("not
//        implemented") rather than 411, because the client did nothing
//        wrong by RFC: we just do not support the coding. Clients must send
//        Content-Length.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace provisioner::http {

struct GuardLimits {
  size_t max_path_bytes = 256;
  size_t max_body_bytes = 1 << 20;
  size_t max_headers = 64;  // not counting the four httplib adds itself
};

struct GuardRequest {
  std::string_view method;  // as sent: "GET", "POST", "PUT", ...
  std::string_view path;    // percent-decoded, without the query
  // Headers as cpp-httplib stores them: names as sent, values decoded, and
  // the four it adds itself (REMOTE_ADDR, REMOTE_PORT, LOCAL_ADDR,
  // LOCAL_PORT) included once each.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
};

struct Rejection {
  int status = 400;
  std::string_view code;  // "bad_request", ... (see ErrorCodeForStatus)
  std::string message;    // for the client; never echoes request bytes
};

// The checks that need no route, in the order listed above by status
// group: target, header count and syntax, Range, Transfer-Encoding,
// Content-Encoding, Content-Length. nullopt when the request may go on.
std::optional<Rejection> CheckRequest(const GuardRequest& request, const GuardLimits& limits);

// The body's media type on a route that has been matched: on `json_body`
// routes a Content-Type, when present, must be application/json (parameters
// such as charset allowed), and a non-empty body must have one; on every
// route, form and multipart bodies are refused.
std::optional<Rejection> CheckBodyType(const GuardRequest& request, bool json_body);

// The value of the Content-Length header when there is exactly one and it
// is a plain decimal number; nullopt otherwise.
std::optional<uint64_t> ContentLength(const GuardRequest& request);

// The JSON error code for an HTTP status: 400 "bad_request", 401
// "unauthorized", 403 "forbidden", 404 "not_found", 405
// "method_not_allowed", 411 "length_required", 413 "payload_too_large",
// 414 "uri_too_long", 415 "unsupported_media_type", 416
// "range_not_satisfiable", 431 "request_header_fields_too_large", 500
// "internal", 501 "not_implemented", 503 "unavailable"; "error" otherwise.
std::string_view ErrorCodeForStatus(int status);

}  // namespace provisioner::http
