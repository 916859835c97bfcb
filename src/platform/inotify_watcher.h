// The real FileWatcher, on inotify (see file_watcher.h for the contract).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "base/thread_annotations.h"
#include "platform/file_watcher.h"
#include "platform/posix_file_system.h"

namespace provisioner::platform {

// Watches the directory of the file, not the file: an inotify watch on the
// file itself would follow the old inode away after a rename. An event is
// relevant when it names the file, or `..data` (the symlink a Kubernetes
// ConfigMap volume swaps, with the file a symlink through it), or when the
// kernel's event queue overflowed. After the last relevant event and
// `debounce` of quiet, the file is read (through symlinks, at most
// kMaxFileBytes) and compared with what was seen last: at Start, or at the
// previous change. Only a difference in bytes or in existence calls
// on_change; a touch, or a delete followed by the same bytes, does not.
//
// Errors reported through on_error: the file cannot be read (then the last
// seen content is kept, and a later readable difference still calls
// on_change), or the directory is deleted or moved (then watching ends; a
// new Start is needed).
//
// Debounce uses the steady clock: inotify events are real-time, so there is
// nothing to fake here.
//
// Thread-safety: Start and Stop from one owner thread. Stop may also be
// called from inside a callback (it then returns at once, and the thread
// ends after the callback); the destructor must not be.
class InotifyWatcher final : public FileWatcher {
 public:
  static constexpr uint64_t kMaxFileBytes = 64 << 20;

  InotifyWatcher() = default;
  ~InotifyWatcher() override;
  InotifyWatcher(const InotifyWatcher&) = delete;
  InotifyWatcher& operator=(const InotifyWatcher&) = delete;

  // FailedPrecondition if already started; the errno of inotify_add_watch
  // (NotFound, PermissionDenied...) if the directory cannot be watched; the
  // read error if the file exists but cannot be read.
  Status Start(const std::string& path, std::chrono::milliseconds debounce,
               std::function<void()> on_change,
               std::function<void(const Status&)> on_error) override;
  void Stop() override;

  // What the watcher thread has done since Start, so that a test can wait
  // for "the touch was looked at" instead of sleeping.
  struct Stats {
    uint64_t events = 0;           // inotify events read
    uint64_t relevant_events = 0;  // of which relevant
    uint64_t checks = 0;           // debounced reads, counted after their callback
  };
  Stats GetStatsForTesting() const;
  // Waits until `done(stats)` holds; false after `limit`.
  bool WaitForStatsForTesting(const std::function<bool(const Stats&)>& done,
                              std::chrono::milliseconds limit) const;

 private:
  void Loop();
  // Reads the file, and calls on_change if it differs from last_.
  void Check();
  Result<std::optional<std::string>> ReadState();
  void Wake();
  void CloseFds();

  PosixFileSystem fs_;
  // Set by Start before the thread starts, read by the thread only.
  std::string path_;
  std::string dir_;
  std::string base_;
  std::chrono::milliseconds debounce_{0};
  std::function<void()> on_change_;
  std::function<void(const Status&)> on_error_;
  std::optional<std::string> last_;  // nullopt: the file did not exist
  int inotify_fd_ = -1;
  int wake_fd_ = -1;

  std::atomic<bool> stop_requested_{false};
  // The watcher thread's id while it runs, so that Stop() can tell it is
  // called from a callback.
  std::atomic<std::thread::id> loop_thread_;
  std::thread thread_;

  mutable Mutex stats_mu_;
  // _any: it waits on stats_mu_ itself, which the analysis then sees held.
  mutable std::condition_variable_any stats_cv_;
  Stats stats_ GUARDED_BY(stats_mu_);
};

}  // namespace provisioner::platform
