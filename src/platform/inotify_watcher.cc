#include "platform/inotify_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>
#include <system_error>

namespace provisioner::platform {
namespace {

// Everything that can replace, rewrite or remove a name in the directory,
// and the end of the directory itself (IN_IGNORED is always reported).
constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR;
constexpr uint32_t kDirectoryGone = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED;

// The symlink that a Kubernetes ConfigMap volume renames over to publish a
// new version: `config.yaml -> ..data/config.yaml`,
// `..data -> ..2026_11_23_10_00_00.123`.
constexpr std::string_view kConfigMapLink = "..data";

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

}  // namespace

InotifyWatcher::~InotifyWatcher() { Stop(); }

Status InotifyWatcher::Start(const std::string& path, std::chrono::milliseconds debounce,
                             std::function<void()> on_change,
                             std::function<void(const Status&)> on_error) {
  if (thread_.joinable()) {
    return Status::FailedPrecondition("file watcher", "already watching " + path_);
  }
  path_ = path;
  dir_ = DirName(path);
  base_ = BaseName(path);
  debounce_ = debounce;
  on_change_ = std::move(on_change);
  on_error_ = std::move(on_error);
  stop_requested_.store(false);
  {
    MutexLock lock(stats_mu_);
    stats_ = Stats();
  }

  inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) return Status::FromErrno(errno, "inotify_init1");
  if (::inotify_add_watch(inotify_fd_, dir_.c_str(), kWatchMask) < 0) {
    Status s = Status::FromErrno(errno, "watch directory " + dir_);
    CloseFds();
    return s;
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    Status s = Status::FromErrno(errno, "file watcher: eventfd");
    CloseFds();
    return s;
  }
  // After the watch is in place, so that a change made right now is either
  // in `last_` or an event.
  auto initial = ReadState();
  if (!initial.ok()) {
    CloseFds();
    return initial.status();
  }
  last_ = std::move(*initial);

  // std::thread reports failure by exception; turn it into a Status here.
  try {
    thread_ = std::thread([this] { Loop(); });
  } catch (const std::system_error& e) {
    CloseFds();
    return Status::ResourceExhausted("file watcher: cannot start its thread", e.what());
  }
  return Status::Ok();
}

void InotifyWatcher::Stop() {
  // From a callback: the thread leaves its loop when the callback returns,
  // and the owner's next Stop (or the destructor) joins it. thread_ itself
  // is the owner's, so it is not touched here.
  if (std::this_thread::get_id() == loop_thread_.load()) {
    stop_requested_.store(true);
    Wake();
    return;
  }
  if (!thread_.joinable()) return;
  stop_requested_.store(true);
  Wake();
  thread_.join();
  loop_thread_.store(std::thread::id());
  CloseFds();
}

void InotifyWatcher::Wake() {
  uint64_t one = 1;
  while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void InotifyWatcher::CloseFds() {
  CloseFd(&inotify_fd_);
  CloseFd(&wake_fd_);
}

InotifyWatcher::Stats InotifyWatcher::GetStatsForTesting() const {
  MutexLock lock(stats_mu_);
  return stats_;
}

bool InotifyWatcher::WaitForStatsForTesting(const std::function<bool(const Stats&)>& done,
                                            std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  MutexLock lock(stats_mu_);
  while (!done(stats_)) {
    if (stats_cv_.wait_until(stats_mu_, deadline) == std::cv_status::timeout) return done(stats_);
  }
  return true;
}

Result<std::optional<std::string>> InotifyWatcher::ReadState() {
  Result<std::string> content = fs_.ReadFile(path_, kMaxFileBytes);
  if (content.ok()) return std::optional<std::string>(std::move(*content));
  // Absent, including a symlink left dangling halfway through an update.
  if (content.status().IsNotFound()) return std::optional<std::string>();
  return content.status();
}

void InotifyWatcher::Check() {
  auto state = ReadState();
  if (!state.ok()) {
    if (on_error_ && !stop_requested_.load()) on_error_(state.status());
  } else if (*state != last_) {
    last_ = std::move(*state);
    if (on_change_ && !stop_requested_.load()) on_change_();
  }
  {
    MutexLock lock(stats_mu_);
    ++stats_.checks;
  }
  stats_cv_.notify_all();
}

void InotifyWatcher::Loop() {
  loop_thread_.store(std::this_thread::get_id());
  using Steady = std::chrono::steady_clock;
  // A debounced read is due at `deadline` when `pending`. (Not an
  // std::optional: GCC 12 warns maybe-uninitialized on it.)
  bool pending = false;
  Steady::time_point deadline;
  bool watching = true;
  alignas(inotify_event) char buffer[16 * 1024];
  while (!stop_requested_.load()) {
    int timeout_ms = -1;
    if (pending) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - Steady::now());
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count(), 0, INT_MAX));
    }
    // poll() skips a negative descriptor: once the directory is gone, only
    // Stop() can wake the thread.
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {watching ? inotify_fd_ : -1, POLLIN, 0}};
    if (::poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
      if (on_error_ && !stop_requested_.load()) {
        on_error_(Status::FromErrno(errno, "file watcher: poll"));
      }
      return;
    }
    if (stop_requested_.load()) return;

    uint64_t events = 0;
    uint64_t relevant = 0;
    bool directory_gone = false;
    while ((fds[1].revents & POLLIN) != 0) {
      ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EAGAIN: all read
      for (char* p = buffer; p < buffer + n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(p);
        p += sizeof(inotify_event) + event->len;
        ++events;
        if ((event->mask & IN_Q_OVERFLOW) != 0) {
          ++relevant;  // events were lost; any of them may have mattered
        } else if ((event->mask & kDirectoryGone) != 0) {
          directory_gone = true;
        } else if (event->len > 0) {
          std::string_view name(event->name, ::strnlen(event->name, event->len));
          if (name == base_ || name == kConfigMapLink) ++relevant;
        }
      }
    }
    if (events > 0) {
      MutexLock lock(stats_mu_);
      stats_.events += events;
      stats_.relevant_events += relevant;
    }
    if (relevant > 0) {
      pending = true;
      deadline = Steady::now() + debounce_;
    }

    if (directory_gone && watching) {
      // The watch is gone with the directory (or points at it under another
      // name); nothing more will arrive. Report what became of the file,
      // then the error.
      watching = false;
      pending = false;
      Check();
      if (on_error_ && !stop_requested_.load()) {
        on_error_(Status::NotFound("watched directory " + dir_, "deleted or moved; changes to " +
                                                                    base_ + " are no longer seen"));
      }
    }
    if (pending && Steady::now() >= deadline) {
      pending = false;
      Check();
    }
    stats_cv_.notify_all();
  }
}

}  // namespace provisioner::platform
