// FileWatcher: tells its owner when a file's content changes, however it was
// saved.
//
// It watches the file's *directory*, because editors and deployment tools
// rarely write in place: vim writes a new file and renames it, `sed -i` and
// Ansible/Salt rename a temp file over the target, and a Kubernetes ConfigMap
// swaps a `..data` symlink. A burst of events is debounced into one callback,
// and the callback only runs when the bytes of the file (or its existence)
// actually differ from what was seen last.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/result.h"

namespace provisioner::platform {

class FileWatcher {
 public:
  virtual ~FileWatcher() = default;

  // Starts watching `path`. `on_change` runs on the watcher's own thread once
  // the file has been quiet for `debounce` after a change; `on_error` runs
  // there when watching fails later (the directory vanished, say). Fails if
  // the directory cannot be watched.
  virtual Status Start(const std::string& path, std::chrono::milliseconds debounce,
                       std::function<void()> on_change,
                       std::function<void(const Status&)> on_error) = 0;

  // Stops the thread; no callback runs after Stop() returns. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace provisioner::platform
