// FileLock: an exclusive advisory lock (flock) on a file, held for the
// object's lifetime. The kernel releases it when the process dies, so a
// crash never leaves a stale lock behind.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"

namespace provisioner::platform {

class FileLock {
 public:
  // Creates `path` if needed and locks it without waiting. FailedPrecondition
  // when another process holds it.
  static Result<std::unique_ptr<FileLock>> TryAcquire(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // The locked descriptor. A child that inherits it (ProcessSpec::
  // inherit_fd) shares the lock, which then lasts until both have closed it.
  int fd() const { return fd_; }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace provisioner::platform
