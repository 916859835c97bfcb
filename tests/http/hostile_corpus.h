// Malformed and hostile HTTP requests, byte for byte, with the status each
// must get. Shared by the in-process server test (hostile_request_test.cc)
// and the test against the real daemon (integration/security_test.cc).
//
// Every request is refused before any handler runs, so what a handler would
// do with it does not matter; what differs between the two servers is the
// body limit, hence the parameter.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "http/guard.h"
#include "http/http_test_support.h"

namespace provisioner::http::testing {

// A complete request that must never be answered when it hides in a body.
// Both servers answer it when it arrives on its own (the harness counts it,
// the daemon says 404 "no workspace"), so a smuggled copy would be seen.
inline const std::string kSmuggledRequest =
    "GET /api/v1/workspaces/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

// A POST to a mutating JSON route (a workspace named "web") with `headers`
// (each ending in CRLF) and `body`.
inline std::string HostilePost(const std::string& headers, const std::string& body) {
  return "POST /api/v1/workspaces/web/deploy HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body;
}

struct HostileCase {
  std::string name;
  std::string request;
  int status;
};

// The corpus for a server whose body limit is `max_body_bytes`
// (ServerOptions::max_body_bytes).
inline std::vector<HostileCase> HostileCorpus(size_t max_body_bytes) {
  const std::string& inner = kSmuggledRequest;
  const std::string inner_length = std::to_string(inner.size());
  const std::string chunked_inner = std::to_string(inner.size()) + "\r\n" + inner + "\r\n0\r\n\r\n";
  std::string flood = "GET /health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 1000; ++i) flood += "X-Flood-" + std::to_string(i) + ": y\r\n";
  flood += "\r\n";

  return {
      {"CL.TE smuggling",
       HostilePost("Content-Type: application/json\r\nContent-Length: 5\r\n"
                   "Transfer-Encoding: chunked\r\n",
                   "0\r\n\r\n" + inner),
       501},
      {"TE.CL smuggling",
       HostilePost("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                   "Content-Length: " +
                       std::to_string(chunked_inner.size()) + "\r\n",
                   chunked_inner),
       501},
      {"duplicate Content-Length",
       HostilePost("Content-Type: application/json\r\nContent-Length: 0\r\nContent-Length: " +
                       inner_length + "\r\n",
                   inner),
       400},
      {"chunked with a request inside",
       HostilePost("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                   chunked_inner),
       501},
      {"obfuscated Transfer-Encoding",
       HostilePost(
           "Content-Type: application/json\r\nTransfer-Encoding : chunked\r\nContent-Length: 0\r\n",
           chunked_inner),
       400},
      {"plain chunked body",
       HostilePost("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                   "2\r\n{}\r\n0\r\n\r\n"),
       501},
      {"Range", "GET /api/v1/workspaces/web HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n", 416},
      {"many ranges",
       "GET /health HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0,1-1,2-2,3-3,4-4,5-5\r\n\r\n", 416},
      {"unparsable Range (httplib's own 416)",
       "GET /health HTTP/1.1\r\nHost: x\r\nRange: lines=a-b\r\n\r\n", 416},
      {"1000 headers", flood, 431},
      {"300-byte path", "GET /" + std::string(299, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"10 KB path (httplib's own 414)",
       "GET /" + std::string(10 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"CRLF injection through %0d%0a",
       "GET /health HTTP/1.1\r\nHost: x\r\nX-Test: a%0d%0aInjected: yes\r\n\r\n", 400},
      {"NUL through %00 in the path", "GET /api/v1/workspaces/a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
       400},
      {"spoofed REMOTE_ADDR", "GET /health HTTP/1.1\r\nHost: x\r\nREMOTE_ADDR: 6.6.6.6\r\n\r\n",
       400},
      {"Content-Encoding gzip",
       HostilePost(
           "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n",
           "\x1f\x8b\x08\x00"),
       415},
      {"wrong Content-Type", HostilePost("Content-Type: text/plain\r\nContent-Length: 2\r\n", "{}"),
       415},
      {"multipart body",
       HostilePost("Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 2\r\n", "{}"),
       415},
      // Announced one byte over the limit; only a little of it is sent, so a
      // server that waited for the rest would time out instead of refusing.
      {"oversized body",
       HostilePost("Content-Type: application/json\r\nContent-Length: " +
                       std::to_string(max_body_bytes + 1) + "\r\n",
                   std::string(1000, 'x')),
       413},
      {"POST without Content-Length", HostilePost("Content-Type: application/json\r\n", "{}"), 411},
      {"unknown method", "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"request line garbage", std::string("\x16\x03\x01\x02\x00garbage\r\n\r\n", 16), 400},
      {"request line without a version", "GET /health\r\n\r\n", 400},
      {"absolute-form target", "GET http://x/health HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"TRACE on a known path", "TRACE /health HTTP/1.1\r\nHost: x\r\n\r\n", 405},
      {"rejected POST whose body is a request",
       HostilePost("Content-Type: text/plain\r\nContent-Length: " + inner_length + "\r\n", inner),
       415},
      {"POST to an unknown path with a request as body",
       "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           inner_length + "\r\n\r\n" + inner,
       404},
      {"GET with a request as body",
       "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: " + inner_length + "\r\n\r\n" + inner,
       400},
      {"HEAD with a request as body",
       "HEAD /health HTTP/1.1\r\nHost: x\r\nContent-Length: " + inner_length + "\r\n\r\n" + inner,
       400},
      {"wrong method with a request as body",
       "POST /health HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           inner_length + "\r\n\r\n" + inner,
       405},
  };
}

// The assertions for one case's reply: exactly the expected status and no
// second (smuggled) response, the connection closed, no injected header,
// and a JSON error body with the status's code.
inline void CheckHostileReply(const HostileCase& c, const RawReply& reply) {
  CAPTURE(reply.bytes);
  CHECK(Statuses(reply.bytes) == std::vector<int>{c.status});
  CHECK(reply.closed);  // refused requests leave the connection closed
  CHECK(reply.bytes.find("Injected") == std::string::npos);
  std::string body = BodyOf(reply.bytes);
  if (!c.request.starts_with("HEAD")) {
    CHECK(body.starts_with("{\"error\":{\"code\":\"" + std::string(ErrorCodeForStatus(c.status)) +
                           "\""));
  }
  CHECK(HeadOf(reply.bytes).find("Content-Type: application/json") != std::string::npos);
}

}  // namespace provisioner::http::testing
