#include "platform/boot_clock.h"

#include <time.h>

namespace provisioner::platform {

MonotonicTime BootTimeNow() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return MonotonicTime(std::chrono::duration_cast<MonotonicTime::duration>(
      std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace provisioner::platform
