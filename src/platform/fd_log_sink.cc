#include "platform/fd_log_sink.h"

#include <unistd.h>

#include <cerrno>

namespace provisioner::platform {

FdLogSink::FdLogSink(int fd, log::Format format, log::Tags tags)
    : fd_(fd), format_(format), tags_(std::move(tags)) {}

void FdLogSink::Write(const log::Record& record) {
  std::string line = format_.load(std::memory_order_relaxed) == log::Format::kJson
                         ? log::FormatJson(record, tags_)
                         : log::FormatText(record);
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace provisioner::platform
