// FakeClock: a Clock that only moves when a test tells it to.
#pragma once

#include <mutex>

#include "base/clock.h"

namespace provisioner::testing {

// Thread-safe, so a test thread can advance it while a component reads it.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(SystemTime start = SystemTime(std::chrono::seconds(1'767'225'600)))
      : wall_(start) {}  // default start: 2026-01-01T00:00:00Z

  SystemTime Now() override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_;
  }
  MonotonicTime Monotonic() override {
    std::lock_guard<std::mutex> lock(mu_);
    return mono_;
  }

  // Moves wall and monotonic time forward together.
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    wall_ += std::chrono::duration_cast<SystemTime::duration>(d);
    mono_ += std::chrono::duration_cast<MonotonicTime::duration>(d);
  }

  // Sets wall time only, forwards or backwards (an NTP step, a DST test).
  void SetWallTime(SystemTime t) {
    std::lock_guard<std::mutex> lock(mu_);
    wall_ = t;
  }

 private:
  std::mutex mu_;
  SystemTime wall_;
  MonotonicTime mono_{};
};

}  // namespace provisioner::testing
