// Resource usage of the running process, for the process_* metrics
// (DESIGN.md §8). Linux only: everything comes from /proc and getrlimit.
//
// The parsing helpers are pure and exported so that tests can feed them
// recorded /proc text; ReadProcessStats() does the I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"

namespace provisioner::platform {

struct ProcessStats {
  std::chrono::duration<double> cpu{0};  // user + system time of every thread
  uint64_t resident_bytes = 0;           // RSS
  uint64_t virtual_bytes = 0;            // size of the address space
  SystemTime start_time;                 // when the process started (wall clock)
  uint64_t open_fds = 0;
  uint64_t threads = 0;  // OS threads (tofu children are processes, not counted)
  // The soft RLIMIT_NOFILE; "unlimited" reads as UINT64_MAX, which is what
  // the Go client reports too.
  uint64_t max_fds = 0;
};

// The fields of /proc/<pid>/stat the metrics need, still in kernel units.
struct ProcStatFields {
  char state = '?';              // field 3: 'R', 'S', 'Z' (zombie), ...
  uint64_t ppid = 0;             // field 4
  uint64_t utime_ticks = 0;      // field 14
  uint64_t stime_ticks = 0;      // field 15
  uint64_t num_threads = 0;      // field 20
  uint64_t starttime_ticks = 0;  // field 22: clock ticks after boot
  uint64_t vsize_bytes = 0;      // field 23
  uint64_t rss_pages = 0;        // field 24
};

// Parses one /proc/<pid>/stat line. The command name (field 2) is in
// parentheses and may itself hold spaces and ')', so fields are counted from
// the last ')'. Corruption when a field is missing or not a number.
Result<ProcStatFields> ParseProcStat(std::string_view text);

// /proc/<pid>/stat of any process, parsed. NotFound when there is no such
// process (it never existed, or it has been reaped).
Result<ProcStatFields> ReadProcStat(int64_t pid);

// A whole /proc file (they report size 0, so it is read to EOF). NotFound
// when the process it belongs to is gone.
Result<std::string> ReadProcFile(const std::string& path);

// The "btime" line of /proc/stat: boot time in seconds since the epoch.
Result<int64_t> ParseBootTime(std::string_view proc_stat);

// Reads /proc/self/stat, /proc/stat, /proc/self/fd and RLIMIT_NOFILE.
// Thread-safe; costs a few system calls and one directory listing, so call
// it per scrape, not per event. IoError/Corruption name the file that failed.
Result<ProcessStats> ReadProcessStats();

}  // namespace provisioner::platform
