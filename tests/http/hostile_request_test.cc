// Malformed and hostile requests (hostile_corpus.h) written byte for byte
// to a real Server. For each: the exact status, exactly one response (no
// smuggled second one), the connection closed where a body was left unread,
// and a normal GET still answered afterwards.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "http/auth.h"
#include "http/hostile_corpus.h"
#include "http/server_harness.h"

namespace provisioner::http {
namespace {

using namespace std::chrono_literals;
using testing::Exchange;
using testing::Harness;
using testing::RawReply;
using testing::Statuses;

void ExpectStillServing(Harness& h) {
  RawReply ok = Exchange(h.port(), "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(Statuses(ok.bytes) == std::vector<int>{200});
}

TEST_CASE("http: hostile request corpus") {
  ServerOptions options = testing::TestOptions();
  const std::vector<testing::HostileCase> cases = testing::HostileCorpus(options.max_body_bytes);
  Harness h(options);

  size_t expected_reports = 0;
  for (const testing::HostileCase& c : cases) {
    const std::string& name = c.name;
    CAPTURE(name);
    testing::CheckHostileReply(c, Exchange(h.port(), c.request));
    ExpectStillServing(h);
    expected_reports += 2;
  }
  CHECK(h.smuggled == 0);
  auto finished = h.observer.WaitFor(expected_reports);
  CHECK(finished.size() == expected_reports);
  CHECK(h.observer.started() == static_cast<int>(expected_reports));
}

TEST_CASE("http: a Range reply is not sliced") {
  Harness h;
  RawReply reply =
      Exchange(h.port(), "GET /health HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n");
  CHECK(Statuses(reply.bytes) == std::vector<int>{416});
  CHECK(
      testing::BodyOf(reply.bytes) ==
      R"({"error":{"code":"range_not_satisfiable","message":"range requests are not supported"}})");
  CHECK(testing::HeadOf(reply.bytes).find("Content-Range") == std::string::npos);
  CHECK(testing::HeadOf(reply.bytes).find("Connection: close") != std::string::npos);
}

TEST_CASE("http: keep-alive requests on one connection are all answered") {
  // The control for the corpus: without a refusal, the connection stays
  // open and the helpers count each response. (cpp-httplib 0.11.4 does not
  // support pipelining: bytes read past the first request are dropped, so
  // the client waits for each reply before it sends the next request.)
  Harness h;
  int fd = testing::ConnectLoopback(h.port());
  REQUIRE(fd >= 0);
  REQUIRE(testing::SendAll(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string first = testing::ReadOneResponse(fd, std::chrono::seconds(10));
  REQUIRE(testing::SendAll(fd,
                           "GET /api/v1/workspaces/smuggled HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n"));
  RawReply second = testing::ReadUntilClosed(fd, std::chrono::seconds(10));
  ::close(fd);
  CHECK(Statuses(first) == std::vector<int>{200});
  CHECK(Statuses(second.bytes) == std::vector<int>{200});
  CHECK(second.closed);
  CHECK(h.smuggled == 1);
}

TEST_CASE("http: a refused request with a body cannot smuggle a second one") {
  // Given basic auth, When an unauthenticated POST carries a complete
  // request as its body on a keep-alive connection, Then only the 401 is
  // answered and the connection is closed.
  ServerOptions options = testing::TestOptions();
  options.web.basic_auth_users = {{"alice", *HashBcrypt("pw", 4)}};
  Harness h(options);
  std::string request =
      testing::HostilePost("Content-Type: application/json\r\nContent-Length: " +
                               std::to_string(testing::kSmuggledRequest.size()) + "\r\n",
                           testing::kSmuggledRequest);
  RawReply reply = Exchange(h.port(), request);
  CHECK(Statuses(reply.bytes) == std::vector<int>{401});
  CHECK(reply.closed);
  CHECK(h.smuggled == 0);
  CHECK(testing::HeadOf(reply.bytes).find("Connection: close") != std::string::npos);
  CHECK(testing::HeadOf(reply.bytes).find("Keep-Alive") == std::string::npos);
}

TEST_CASE("http: a silent partial request times out") {
  // Given a 1 s read timeout, When a client sends half a request and goes
  // quiet, Then the server gives up on it and closes the connection, and
  // serves others meanwhile.
  ServerOptions options = testing::TestOptions();
  options.read_timeout = std::chrono::seconds(1);
  options.keep_alive_timeout = std::chrono::seconds(1);
  Harness h(options);

  int headers = testing::ConnectLoopback(h.port());
  int line = testing::ConnectLoopback(h.port());
  REQUIRE(headers >= 0);
  REQUIRE(line >= 0);
  REQUIRE(testing::SendAll(headers, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  REQUIRE(testing::SendAll(line, "GET /hea"));
  ExpectStillServing(h);
  RawReply after_headers = testing::ReadUntilClosed(headers, 10s);
  RawReply after_line = testing::ReadUntilClosed(line, 10s);
  ::close(headers);
  ::close(line);
  CHECK(after_headers.closed);
  CHECK(!after_headers.timed_out);
  // An incomplete header block is a bad request; nothing was routed.
  CHECK(Statuses(after_headers.bytes) == std::vector<int>{400});
  CHECK(after_line.closed);
  CHECK(after_line.bytes.empty());
  CHECK(h.handled == 1);  // the probe only
}

}  // namespace
}  // namespace provisioner::http
