// The systemd unit the daemon runs under, as far as `validate` and the
// daemon need it: the stop timeout, which must leave room for kill_grace.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "platform/file_system.h"

namespace provisioner::app {

// The daemon's stop takes at most kill_grace plus this (docs/operations.md,
// "Stop"): reaping the SIGKILLed jobs, the final save and the trace flush.
inline constexpr std::chrono::seconds kStopMargin{20};

struct UnitStopTimeout {
  // 0 when the timeout is off (TimeoutStopSec=infinity or 0).
  std::chrono::seconds value{0};
  // The file that set it, or "the unit as built" when no unit file is
  // installed (a development machine).
  std::string source;
};

// The effective TimeoutStopSec= of provisioner.service: the unit file that
// wins (/etc, /run, /usr/lib, /lib in that order), then every drop-in of
// provisioner.service.d/ in file name order, the last assignment winning
// (systemd.unit(5)). TimeoutSec= sets it too. `built_in` is the value of
// the unit as built, used when no unit file is found. `root` prefixes every
// path (tests).
UnitStopTimeout FindUnitStopTimeout(platform::FileSystem& fs, std::chrono::seconds built_in,
                                    const std::string& root = "");

// A systemd time span ("150s", "2min 30s", "1h", "90", "infinity") in whole
// seconds, rounded up; 0 for infinity; nullopt when it is not one.
std::optional<std::chrono::seconds> ParseSystemdTimespan(std::string_view text);

}  // namespace provisioner::app
