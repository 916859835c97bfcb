#include "platform/socket_options.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

namespace provisioner::platform {

Status ConfigureListenerSocket(int fd) {
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return Status::FromErrno(errno, "setsockopt(SO_REUSEADDR)");
  }
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
    return Status::FromErrno(errno, "fcntl(FD_CLOEXEC)");
  }
  return Status::Ok();
}

}  // namespace provisioner::platform
