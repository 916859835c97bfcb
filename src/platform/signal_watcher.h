// SignalWatcher: delivers SIGTERM, SIGINT, SIGHUP... to a callback on a
// thread of its own, through signalfd, so that signal handling is ordinary
// code (no async-signal-safety rules) and never interrupts the scheduler.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "base/result.h"

namespace provisioner::platform {

class SignalWatcher {
 public:
  // Blocks `signals` in the calling thread and starts watching them. Call it
  // from main() before any other thread exists: threads inherit the mask, so
  // the signals then reach only this watcher. Children started by the
  // ProcessRunner get a clean mask. `on_signal` runs on the watcher thread.
  static Result<std::unique_ptr<SignalWatcher>> Start(std::vector<int> signals,
                                                      std::function<void(int)> on_signal);
  // Stops the thread. The signals stay blocked.
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  SignalWatcher(int signal_fd, int wake_fd, std::function<void(int)> on_signal);
  void Run();

  const int signal_fd_;
  const int wake_fd_;
  std::function<void(int)> on_signal_;
  std::thread thread_;
};

}  // namespace provisioner::platform
