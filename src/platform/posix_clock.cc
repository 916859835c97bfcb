#include "platform/posix_clock.h"

namespace provisioner::platform {

SystemTime PosixClock::Now() { return std::chrono::system_clock::now(); }

MonotonicTime PosixClock::Monotonic() { return std::chrono::steady_clock::now(); }

}  // namespace provisioner::platform
