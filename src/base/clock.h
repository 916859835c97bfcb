// Time types and the Clock seam.
//
// Wall time (SystemTime) matches cron expressions and is shown to users; it can
// jump (NTP steps, an operator setting the clock). Monotonic time measures
// timeouts and durations and never goes backwards. Never subtract two
// SystemTimes to get a duration you rely on for a timeout.
#pragma once

#include <chrono>

namespace provisioner {

using SystemTime = std::chrono::system_clock::time_point;
using MonotonicTime = std::chrono::steady_clock::time_point;
using SysSeconds = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time. Thread-safe.
  virtual SystemTime Now() = 0;

  // Monotonic time. Thread-safe.
  virtual MonotonicTime Monotonic() = 0;
};

}  // namespace provisioner
