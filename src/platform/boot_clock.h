// CLOCK_BOOTTIME: monotonic, and it keeps counting while the machine is
// suspended, unlike steady_clock (CLOCK_MONOTONIC). The HA lease's local
// deadline is measured on it (coordination/lease.h): a leader whose machine
// slept past its deadline must find it passed when it wakes.
#pragma once

#include "base/clock.h"

namespace provisioner::platform {

// CLOCK_BOOTTIME as a MonotonicTime. Compare it only with other values of
// this function, never with Clock::Monotonic().
MonotonicTime BootTimeNow();

}  // namespace provisioner::platform
