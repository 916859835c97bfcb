// A test hook: a wall clock that a test can step while the daemon runs.
//
// The crash campaign's `--mode clockstep` (docs/reliability.md) steps the
// daemon's wall clock forward and back, as NTP or an operator steps a real
// one, without touching the machine's clock. It names a file through
// PROVISIONER_TEST_CLOCK_OFFSET_FILE; wall time is then the system clock plus
// the offset the file holds. Monotonic time is the real steady clock, as it
// is when a real wall clock steps.
//
// The file holds one signed integer, milliseconds, and optional surrounding
// whitespace. It is read again whenever it changes (another inode, size,
// mtime or ctime), so a writer replaces it with a rename and the next Now() on any
// thread sees the new offset. A file that later stops parsing keeps the last
// good offset: Now() has no way to report an error.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "base/thread_annotations.h"

namespace provisioner::platform {

// The environment variable that turns the hook on.
inline constexpr const char* kTestClockOffsetFileEnv = "PROVISIONER_TEST_CLOCK_OFFSET_FILE";

// "3600000", " -25\n" -> milliseconds; anything else is an error naming it.
Result<std::chrono::milliseconds> ParseClockOffset(std::string_view text);

class OffsetClock final : public Clock {
 public:
  // Reads `path` once: an error names the file when it is missing or does not
  // hold an offset, so that a mistyped hook fails at start-up.
  static Result<std::unique_ptr<OffsetClock>> Open(std::string path);

  SystemTime Now() override;
  MonotonicTime Monotonic() override;

  // The offset in force (after reading the file again if it changed).
  std::chrono::milliseconds offset();

 private:
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    long long mtime_ns = -1;
    long long ctime_ns = -1;  // a rename sets it, even when an inode number comes back
    bool operator==(const FileId&) const = default;
  };

  explicit OffsetClock(std::string path) : path_(std::move(path)) {}
  // Re-reads the file when its identity changed; keeps the offset otherwise.
  Status Refresh() REQUIRES(mu_);

  const std::string path_;
  Mutex mu_;
  FileId seen_ GUARDED_BY(mu_);
  std::chrono::milliseconds offset_ GUARDED_BY(mu_){0};
};

}  // namespace provisioner::platform
