// HttplibClient against servers on 127.0.0.1: how each transport failure is
// reported (which code, which method), so that a caller can tell a timeout,
// a body over its cap and a transfer it stopped itself apart.
#include "http/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "support/test_util.h"

namespace provisioner::http {
namespace {

using namespace std::chrono_literals;

// A socket listening on 127.0.0.1 that nothing accepts from until the test
// does: for servers that misbehave below HTTP.
int LoopbackListener() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  return fd;
}

int PortOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

// Answers GET and POST on /big with 1 MiB, sent in several pieces.
class BodyServer {
 public:
  BodyServer() {
    auto big = [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(1 << 20, 'x'), "application/octet-stream");
    };
    server_.Get("/big", big);
    server_.Post("/big", big);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~BodyServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A listening socket that never accepts, whose accept queue is full: the
// kernel drops further SYNs, so a connect to it neither succeeds nor is
// refused and runs into the client's connect timeout, without the test
// sleeping or needing a network.
class FullBacklog {
 public:
  FullBacklog() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    REQUIRE(::listen(listener_, 0) == 0);
    // Backlog 0 still queues one connection; a few more make sure the queue
    // is full whatever the kernel rounds it to. Non-blocking: the ones past
    // the limit stay in SYN_SENT.
    for (int i = 0; i < 4; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      REQUIRE(fd >= 0);
      (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(fd);
    }
  }
  ~FullBacklog() {
    for (int fd : fillers_) ::close(fd);
    ::close(listener_);
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

TEST_SUITE("http") {
  TEST_CASE("http: HttplibClient names the method of a request that timed out") {
    // Given a server that never completes a connection, When a GET and a
    // POST are sent to it, Then both fail with DeadlineExceeded, each
    // naming its own method.
    FullBacklog server;
    HttplibClient client;
    platform::HttpRequest req;
    req.url = server.Url("/v1/traces");
    req.connect_timeout = 200ms;
    req.body = "{}";
    req.content_type = "application/json";

    auto post = client.Post(req);
    REQUIRE_FALSE(post.ok());
    CHECK(post.status().code() == Status::Code::kDeadlineExceeded);
    CHECK(post.status().message() == "POST " + req.url + ": connection timed out");

    auto get = client.Get(req);
    REQUIRE_FALSE(get.ok());
    CHECK(get.status().code() == Status::Code::kDeadlineExceeded);
    CHECK(get.status().message() == "GET " + req.url + ": connection timed out");
  }

  TEST_CASE("http: HttplibClient reports a transfer the caller stopped as Cancelled") {
    // Given a 1 MiB body, When on_body returns false on the first piece,
    // Then the call fails with Cancelled, not as a body over the limit.
    BodyServer server;
    HttplibClient client;
    platform::HttpRequest req;
    req.url = server.Url("/big");
    int pieces = 0;
    req.on_body = [&pieces](std::string_view) {
      ++pieces;
      return false;
    };
    auto res = client.Get(req);
    REQUIRE_FALSE(res.ok());
    CHECK(res.status().code() == Status::Code::kCancelled);
    CHECK(res.status().message() == "GET " + req.url + ": transfer stopped by the caller");
    CHECK(pieces == 1);
  }

  TEST_CASE("http: HttplibClient aborts a call to a silent server when cancelled") {
    // Given a server that reads the request and never answers (a blackholed
    // collector), When another thread cancels the call in flight, Then it
    // returns at once with Cancelled, long before its 30 s read timeout.
    const int listener = LoopbackListener();
    std::promise<int> request_read;
    std::thread silent([&] {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      std::string got;
      char buf[4096];
      while (fd >= 0 && got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      request_read.set_value(fd);  // keeps the connection open, silent
    });

    HttplibClient client;
    platform::HttpCancel cancel;
    platform::HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(PortOf(listener)) + "/v1/traces";
    req.body = "{}";
    req.content_type = "application/json";
    req.timeout = 30s;
    req.cancel = &cancel;
    auto call = std::async(std::launch::async, [&] { return client.Post(req); });
    const int conn = request_read.get_future().get();
    const auto t0 = std::chrono::steady_clock::now();
    cancel.Cancel();
    REQUIRE(call.wait_for(10s) == std::future_status::ready);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    auto res = call.get();
    REQUIRE_FALSE(res.ok());
    CHECK(res.status().code() == Status::Code::kCancelled);
    CHECK(res.status().message() == "POST " + req.url + ": cancelled by the caller");
    // A cancelled token refuses later calls without connecting.
    auto again = client.Post(req);
    CHECK(again.status().code() == Status::Code::kCancelled);
    silent.join();
    if (conn >= 0) ::close(conn);
    ::close(listener);
  }

  TEST_CASE("http: HttplibClient aborts a call whose body a deaf server never reads") {
    // Given a server that takes the request's headers but never reads the
    // body, When the call is cancelled while the client is still writing a
    // body that cannot fit in the socket buffers, Then it returns Cancelled
    // at once, not after its 30 s write timeout. SIGPIPE is at its default
    // action, as in a process with no httplib::Server: httplib checks the
    // socket before each send, but a Cancel() landing between that check
    // and the send makes the send raise SIGPIPE, which once ended the test
    // above in CI; the client blocks it for the call.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    struct sigaction old_action {};
    REQUIRE(::sigaction(SIGPIPE, &default_action, &old_action) == 0);

    const int listener = LoopbackListener();
    std::promise<int> headers_arrived;
    std::thread deaf([&] {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      char buf[1];
      // Peeks, so the bytes stay unread and the buffers stay full.
      if (fd >= 0 && ::recv(fd, buf, sizeof buf, MSG_PEEK) <= 0) {
        ::close(fd);
        fd = -1;
      }
      headers_arrived.set_value(fd);
    });

    HttplibClient client;
    platform::HttpCancel cancel;
    platform::HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(PortOf(listener)) + "/v1/traces";
    req.body.assign(size_t{64} << 20, 'x');
    req.content_type = "application/octet-stream";
    req.timeout = 30s;
    req.cancel = &cancel;
    auto call = std::async(std::launch::async, [&] { return client.Post(req); });
    const int conn = headers_arrived.get_future().get();
    REQUIRE(conn >= 0);
    cancel.Cancel();
    REQUIRE(call.wait_for(10s) == std::future_status::ready);
    auto res = call.get();
    CHECK(res.status().code() == Status::Code::kCancelled);
    deaf.join();
    ::close(conn);
    ::close(listener);
    ::sigaction(SIGPIPE, &old_action, nullptr);
  }

  TEST_CASE("http: HttplibClient refuses a body over max_body_bytes as ResourceExhausted") {
    BodyServer server;
    HttplibClient client;
    platform::HttpRequest req;
    req.url = server.Url("/big");
    req.max_body_bytes = 1000;

    auto get = client.Get(req);
    REQUIRE_FALSE(get.ok());
    CHECK(get.status().code() == Status::Code::kResourceExhausted);
    CHECK(get.status().message() == "GET " + req.url + ": response body over 1000 bytes");

    auto post = client.Post(req);
    REQUIRE_FALSE(post.ok());
    CHECK(post.status().code() == Status::Code::kResourceExhausted);
    CHECK(post.status().message() == "POST " + req.url + ": response body over 1000 bytes");

    // At the cap, or streamed to a caller who keeps taking it, it is a body.
    req.max_body_bytes = 1 << 20;
    auto exact = client.Get(req);
    REQUIRE_OK(exact);
    CHECK(exact->status == 200);
    CHECK(exact->body.size() == size_t{1} << 20);

    req.max_body_bytes = 1000;
    size_t streamed = 0;
    req.on_body = [&streamed](std::string_view chunk) {
      streamed += chunk.size();
      return true;
    };
    auto stream = client.Get(req);
    REQUIRE_OK(stream);
    CHECK(streamed == size_t{1} << 20);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::http
