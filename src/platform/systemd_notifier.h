// sd_notify(3) messages for Type=notify units: READY, RELOADING, STOPPING,
// STATUS and the watchdog. Every call is a no-op when NOTIFY_SOCKET is unset,
// so the daemon behaves the same outside systemd.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "base/clock.h"

namespace provisioner::platform {

class SystemdNotifier {
 public:
  SystemdNotifier() = default;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // "READY=1\nSTATUS=<status>"
  void Ready(const std::string& status);
  // "RELOADING=1\nMONOTONIC_USEC=<now>\nSTATUS=reloading". MONOTONIC_USEC is
  // what systemd 253+ (Type=notify-reload) requires; 252 ignores it.
  void Reloading();
  // "STOPPING=1\nSTATUS=<status>"
  void Stopping(const std::string& status);
  void Status(const std::string& status);
  // "WATCHDOG=1"
  void Watchdog();
  // The watchdog interval systemd expects pings within (WATCHDOG_USEC), when
  // the watchdog is on for this process. Ping at half of it.
  std::optional<std::chrono::microseconds> WatchdogInterval() const;

 private:
  void Send(const std::string& message);
};

}  // namespace provisioner::platform
