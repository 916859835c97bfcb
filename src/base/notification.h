// Notification: a one-shot event that any number of threads can wait on with
// a timeout [absl::Notification]. The daemon notifies it once when it begins
// to stop; long waits elsewhere (a followed job log) wait on it instead of
// sleeping, so that they end at once rather than at their next poll.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace provisioner {

class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  // Thread-safe; later calls do nothing.
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      notified_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }

  bool HasBeenNotified() const { return notified_.load(std::memory_order_acquire); }

  // Returns true as soon as the notification is given (or if it already
  // was), false after `timeout`. The wait is measured on the monotonic clock
  // by the standard library, so wall-clock steps do not shorten or stretch it.
  bool WaitFor(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return HasBeenNotified(); });
  }

 private:
  // mu_ only orders Notify against a waiter going to sleep (no lost
  // wake-up); the flag itself is atomic so that HasBeenNotified is lock-free.
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> notified_{false};
};

}  // namespace provisioner
