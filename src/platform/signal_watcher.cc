#include "platform/signal_watcher.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace provisioner::platform {

Result<std::unique_ptr<SignalWatcher>> SignalWatcher::Start(std::vector<int> signals,
                                                            std::function<void(int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    return Status::FromErrno(rc, "pthread_sigmask");
  }
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return Status::FromErrno(errno, "signalfd");
  int wfd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wfd < 0) {
    Status s = Status::FromErrno(errno, "eventfd");
    ::close(sfd);
    return s;
  }
  std::unique_ptr<SignalWatcher> w(new SignalWatcher(sfd, wfd, std::move(on_signal)));
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  return w;
}

SignalWatcher::SignalWatcher(int signal_fd, int wake_fd, std::function<void(int)> on_signal)
    : signal_fd_(signal_fd), wake_fd_(wake_fd), on_signal_(std::move(on_signal)) {}

SignalWatcher::~SignalWatcher() {
  uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;
  if (thread_.joinable()) thread_.join();
  ::close(signal_fd_);
  ::close(wake_fd_);
}

void SignalWatcher::Run() {
  while (true) {
    struct pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    struct signalfd_siginfo info;
    while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      on_signal_(static_cast<int>(info.ssi_signo));
    }
  }
}

}  // namespace provisioner::platform
