// ProcessIdentity: a process named so that it can be found again by a later
// daemon. A pid alone is not enough: the kernel recycles pids, so the
// identity also holds the process's start time (clock ticks after boot,
// field 22 of /proc/<pid>/stat) and the boot it ran in
// (/proc/sys/kernel/random/boot_id). Two processes never share all three.
#pragma once

#include <cstdint>
#include <string>

namespace provisioner::platform {

struct ProcessIdentity {
  int64_t pid = 0;
  uint64_t start_ticks = 0;
  std::string boot_id;

  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};

}  // namespace provisioner::platform
