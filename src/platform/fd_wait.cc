#include "platform/fd_wait.h"

#include <poll.h>

#include <cerrno>

#include "platform/boot_clock.h"

namespace provisioner::platform {

bool WaitReadable(int fd, std::chrono::milliseconds timeout) {
  const MonotonicTime deadline = BootTimeNow() + timeout;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - BootTimeNow());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return true;  // a bad descriptor: the read says so
  }
}

}  // namespace provisioner::platform
