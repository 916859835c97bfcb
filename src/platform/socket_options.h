// Options for listening sockets that cpp-httplib creates. Here because only
// platform/ may include <sys/socket.h> (STYLE.md B1); http/ calls it from
// httplib's set_socket_options hook.
#pragma once

#include "base/status.h"

namespace provisioner::platform {

// Sets SO_REUSEADDR and FD_CLOEXEC on a listener that has not been bound yet.
//
// SO_REUSEADDR lets a restarted daemon bind while connections of the previous
// one sit in TIME_WAIT. SO_REUSEPORT is deliberately NOT set (httplib's default
// sets it, reference/debian-libraries.md §1.8): with it a second instance
// binds the same port without error and the kernel splits traffic between the
// two. FD_CLOEXEC keeps the listener out of spawned tofu processes.
Status ConfigureListenerSocket(int fd);

}  // namespace provisioner::platform
