// A loopback TCP proxy for tests that need a network to go silent.
//
// It forwards every connection to 127.0.0.1:<target> until Blackhole().
// From then on it reads nothing and forwards nothing, and connections made
// later are accepted and left hanging, but nothing is closed: the peers see
// no error, only silence, as behind a dead router or a hung middlebox.
// Header-only; tests only.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "support/test_util.h"

namespace provisioner::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr = Loopback(0);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 64) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    REQUIRE(::pipe2(wake_, O_CLOEXEC) == 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~TcpProxy() {
    stop_ = true;
    Wake();
    thread_.join();
    for (const Pair& p : pairs_) {
      ::close(p.client);
      ::close(p.upstream);
    }
    for (int fd : held_) ::close(fd);
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }

  // Thread-safe; for good.
  void Blackhole() {
    blackholed_ = true;
    Wake();
  }

 private:
  struct Pair {
    int client;
    int upstream;
  };

  static sockaddr_in Loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
  }

  void Wake() {
    const char c = 1;
    (void)!::write(wake_[1], &c, 1);
  }

  // Copies what `from` has to `to`; false when `from` ended or failed.
  static bool Forward(int from, int to) {
    char buf[65536];
    const ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }

  void Accept() {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    if (blackholed_) {
      held_.push_back(client);
      return;
    }
    const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(target_port_);
    if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (upstream >= 0) ::close(upstream);
      ::close(client);
      return;
    }
    pairs_.push_back({client, upstream});
  }

  void Run() {
    while (!stop_) {
      const bool forwarding = !blackholed_;
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      if (forwarding) {
        for (const Pair& p : pairs_) {
          fds.push_back({p.client, POLLIN, 0});
          fds.push_back({p.upstream, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) {
        char buf[64];
        (void)!::read(wake_[0], buf, sizeof buf);
        continue;  // the set of descriptors to watch may have changed
      }
      if (fds[1].revents != 0) Accept();
      if (!forwarding) continue;
      std::vector<Pair> alive;
      for (size_t i = 0; i < fds.size() - 2; i += 2) {
        const Pair& p = pairs_[i / 2];
        bool ok = true;
        if (fds[2 + i].revents != 0) ok = Forward(p.client, p.upstream);
        if (ok && fds[3 + i].revents != 0) ok = Forward(p.upstream, p.client);
        if (ok) {
          alive.push_back(p);
        } else {
          ::close(p.client);
          ::close(p.upstream);
        }
      }
      // Accept() may have added pairs that were not polled this round.
      for (size_t i = (fds.size() - 2) / 2; i < pairs_.size(); ++i) alive.push_back(pairs_[i]);
      pairs_ = std::move(alive);
    }
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> blackholed_{false};
  std::atomic<bool> stop_{false};
  // The proxy thread's own.
  std::vector<Pair> pairs_;
  std::vector<int> held_;
  std::thread thread_;
};

}  // namespace provisioner::testing
