// Helpers for the HTTP server tests: a raw TCP client that writes exact bytes
// and reads the reply with a deadline, an observer that records what the
// server reports, and a logger over a capturing sink.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/strings.h"
#include "http/server.h"
#include "platform/posix_clock.h"
#include "support/capture_sink.h"

namespace provisioner::http::testing {

struct RawReply {
  std::string bytes;
  bool closed = false;     // the server closed the connection (EOF or reset)
  bool timed_out = false;  // the deadline passed with the connection open
};

// Connects to 127.0.0.1:port, or returns -1.
inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Writes all of `data`; false when the peer is gone.
inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until the server closes or `deadline` passes.
inline RawReply ReadUntilClosed(int fd, std::chrono::milliseconds deadline) {
  RawReply reply;
  const auto end = std::chrono::steady_clock::now() + deadline;
  char buf[16384];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      reply.timed_out = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r == 0) {
      reply.timed_out = true;
      break;
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      reply.closed = true;
      break;
    }
    reply.bytes.append(buf, static_cast<size_t>(n));
  }
  return reply;
}

// Reads one response whose length is given by Content-Length, leaving the
// connection open. Returns what was read by `deadline` (maybe partial).
inline std::string ReadOneResponse(int fd, std::chrono::milliseconds deadline) {
  std::string bytes;
  const auto end = std::chrono::steady_clock::now() + deadline;
  char buf[4096];
  while (true) {
    size_t head_end = bytes.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const std::string head = AsciiLower(bytes.substr(0, head_end + 2));
      const std::string_view name = "\r\ncontent-length: ";
      const size_t at = head.find(name);
      size_t length = 0;
      if (at != std::string::npos) {
        const size_t from = at + name.size();
        length = ParseUint(head.substr(from, head.find("\r\n", from) - from)).value_or(0);
      }
      if (bytes.size() >= head_end + 4 + length) return bytes;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return bytes;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return bytes;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return bytes;
    bytes.append(buf, static_cast<size_t>(n));
  }
}

// Sends `request` on a new connection and reads until the server closes
// it or `deadline` passes.
inline RawReply Exchange(int port, std::string_view request,
                         std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return RawReply{};
  SendAll(fd, request);  // the server may close before taking it all
  RawReply reply = ReadUntilClosed(fd, deadline);
  ::close(fd);
  return reply;
}

// The status codes of every response in `bytes`, in order. Matches status
// lines only at the start of the stream or after a line end, so a status
// line inside a JSON body would not count.
inline std::vector<int> Statuses(const std::string& bytes) {
  // No std::regex in the test binary: docs/reliability.md, "ThreadSanitizer".
  std::vector<int> out;
  for (size_t line = 0; line < bytes.size();) {
    const std::string_view rest = std::string_view(bytes).substr(line);
    // "HTTP/1.x NNN "
    if (rest.size() >= 13 && rest.starts_with("HTTP/1.") && (rest[7] == '0' || rest[7] == '1') &&
        rest[8] == ' ' && rest[12] == ' ') {
      if (const auto code = ParseUint(rest.substr(9, 3))) out.push_back(static_cast<int>(*code));
    }
    const size_t next = bytes.find("\r\n", line);
    if (next == std::string::npos) break;
    line = next + 2;
  }
  return out;
}

// The body after the first header block.
inline std::string BodyOf(const std::string& bytes) {
  size_t end = bytes.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : bytes.substr(end + 4);
}

// The header block of the first response, lowercased names left as sent.
inline std::string HeadOf(const std::string& bytes) {
  return bytes.substr(0, bytes.find("\r\n\r\n"));
}

class RecordingObserver final : public RequestObserver {
 public:
  struct Finished {
    std::string method;
    std::string route;
    int status = 0;
    std::chrono::nanoseconds duration{};
  };

  void OnRequestStarted() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++started_;
  }
  void OnRequestFinished(std::string_view method, std::string_view route, int status,
                         std::chrono::nanoseconds duration) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finished_.push_back(Finished{std::string(method), std::string(route), status, duration});
    }
    cv_.notify_all();
  }

  // Waits until `n` requests have finished in all, or the deadline passes;
  // returns what has finished.
  std::vector<Finished> WaitFor(size_t n,
                                std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, deadline, [&] { return finished_.size() >= n; });
    return finished_;
  }
  int started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  size_t finished_count() {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0;
  std::vector<Finished> finished_;
};

// A logger at debug level whose records the test can inspect.
struct TestLog {
  platform::PosixClock clock;
  provisioner::testing::CaptureSink sink;
  log::Logger logger{clock, sink, log::Level::kDebug};
};

}  // namespace provisioner::http::testing
