// Waiting for a descriptor that another library owns (libpq's socket, for
// HA mode's client-side answer timeout). Here because only platform/ may
// include <poll.h> (STYLE.md B1).
#pragma once

#include <chrono>

namespace provisioner::platform {

// Waits until `fd` is readable, has an error or hang-up pending, or
// `timeout` passed. True for the first three (the caller reads, and finds
// out which), false for the timeout. A signal does not end the wait early.
bool WaitReadable(int fd, std::chrono::milliseconds timeout);

}  // namespace provisioner::platform
