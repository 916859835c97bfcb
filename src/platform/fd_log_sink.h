// A log sink that writes one line per record to a file descriptor (stderr in
// the daemon, where journald picks it up).
#pragma once

#include <atomic>

#include "base/log.h"

namespace provisioner::platform {

// Each record goes out with a single write(2), so lines from different
// threads never interleave. Write errors are ignored: there is nowhere left
// to report them.
class FdLogSink final : public log::Sink {
 public:
  FdLogSink(int fd, log::Format format, log::Tags tags);
  FdLogSink(const FdLogSink&) = delete;
  FdLogSink& operator=(const FdLogSink&) = delete;

  void Write(const log::Record& record) override;

  // Switches between JSON and text; takes effect on the next record.
  void SetFormat(log::Format format) { format_.store(format, std::memory_order_relaxed); }

 private:
  const int fd_;
  std::atomic<log::Format> format_;
  const log::Tags tags_;
};

}  // namespace provisioner::platform
