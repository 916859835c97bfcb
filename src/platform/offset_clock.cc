#include "platform/offset_clock.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>

#include "base/strings.h"
#include "platform/process_stats.h"

namespace provisioner::platform {

Result<std::chrono::milliseconds> ParseClockOffset(std::string_view text) {
  const std::string_view trimmed = Trim(text);
  long long ms = 0;
  const char* end = trimmed.data() + trimmed.size();
  auto [ptr, ec] = std::from_chars(trimmed.data(), end, ms);
  if (trimmed.empty() || ec != std::errc() || ptr != end) {
    return Status::InvalidArgument("not a clock offset (signed integer milliseconds)",
                                   text.substr(0, 64));
  }
  return std::chrono::milliseconds(ms);
}

Result<std::unique_ptr<OffsetClock>> OffsetClock::Open(std::string path) {
  std::unique_ptr<OffsetClock> clock(new OffsetClock(std::move(path)));
  MutexLock lock(clock->mu_);
  Status s = clock->Refresh();
  if (!s.ok()) return s;
  return clock;
}

Status OffsetClock::Refresh() {
  struct stat st;
  if (::stat(path_.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path_);
  auto ns = [](const timespec& t) {
    return static_cast<long long>(t.tv_sec) * 1'000'000'000LL + t.tv_nsec;
  };
  const FileId id{st.st_dev, st.st_ino, st.st_size, ns(st.st_mtim), ns(st.st_ctim)};
  if (id == seen_) return Status::Ok();
  // Read after the stat: a rename in between gives the newer text under the
  // older identity, and the next call reads it once more.
  Result<std::string> text = ReadProcFile(path_);
  if (!text.ok()) return text.status();
  Result<std::chrono::milliseconds> offset = ParseClockOffset(*text);
  if (!offset.ok()) return offset.status().WithContext(path_);
  offset_ = *offset;
  seen_ = id;
  return Status::Ok();
}

std::chrono::milliseconds OffsetClock::offset() {
  MutexLock lock(mu_);
  (void)Refresh();  // keeps the last good offset
  return offset_;
}

SystemTime OffsetClock::Now() { return std::chrono::system_clock::now() + offset(); }

MonotonicTime OffsetClock::Monotonic() { return std::chrono::steady_clock::now(); }

}  // namespace provisioner::platform
