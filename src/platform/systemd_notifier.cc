#include "platform/systemd_notifier.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cinttypes>
#include <cstdio>

namespace provisioner::platform {

void SystemdNotifier::Send(const std::string& message) {
  // 0: NOTIFY_SOCKET unset; < 0: the socket is gone. Neither is worth more
  // than ignoring: the daemon must run the same without systemd.
  (void)sd_notify(0, message.c_str());
}

void SystemdNotifier::Ready(const std::string& status) { Send("READY=1\nSTATUS=" + status); }

void SystemdNotifier::Reloading() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec =
      static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
  char buf[96];
  std::snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading", usec);
  Send(buf);
}

void SystemdNotifier::Stopping(const std::string& status) { Send("STOPPING=1\nSTATUS=" + status); }

void SystemdNotifier::Status(const std::string& status) { Send("STATUS=" + status); }

void SystemdNotifier::Watchdog() { Send("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> SystemdNotifier::WatchdogInterval() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

}  // namespace provisioner::platform
