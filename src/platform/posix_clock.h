// The real Clock: system_clock for wall time, steady_clock for monotonic time.
#pragma once

#include "base/clock.h"

namespace provisioner::platform {

class PosixClock final : public Clock {
 public:
  SystemTime Now() override;
  MonotonicTime Monotonic() override;
};

}  // namespace provisioner::platform
