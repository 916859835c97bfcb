#include "platform/process_info.h"

#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <limits>

extern char** environ;

namespace provisioner::platform {

Result<std::string> CurrentDirectory() {
  std::string buf(PATH_MAX, '\0');
  if (::getcwd(buf.data(), buf.size()) == nullptr) {
    return Status::FromErrno(errno, "getcwd");
  }
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  return buf;
}

std::map<std::string, std::string> EnvironmentVariables() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

int64_t ProcessId() { return ::getpid(); }

const std::string& BootId() {
  static const std::string id = [] {
    std::string v;
    int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return v;
    char buf[128];
    ssize_t n;
    do {
      n = ::read(fd, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    if (n > 0) v.assign(buf, static_cast<size_t>(n));
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return v;
  }();
  return id;
}

Result<std::string> AbsolutePath(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("empty path");
  if (path[0] == '/') return path;
  ASSIGN_OR_RETURN(std::string out, CurrentDirectory());
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string_view part(path.data() + start, slash - start);
    if (!part.empty() && part != ".") {
      if (out.back() != '/') out.push_back('/');
      out.append(part);
    }
    start = slash + 1;
  }
  return out;
}

Result<std::string> FindExecutable(const std::string& name, const std::string& path_var) {
  if (name.empty()) return Status::InvalidArgument("empty executable name");
  if (name.find('/') != std::string::npos) {
    // A relative path is made absolute now rather than refused: access()
    // checks it against the working directory, so that is the file the
    // caller named, and the child that runs it starts in a workspace where
    // the same relative path means another file. Paths from a config file
    // arrive absolute already (resolved against the file's directory), so
    // this only serves callers without one, such as tests.
    ASSIGN_OR_RETURN(std::string path, AbsolutePath(name));
    if (::access(path.c_str(), X_OK) == 0) return path;
    return Status::FromErrno(errno, path);
  }
  bool skipped = false;
  size_t start = 0;
  while (start <= path_var.size()) {
    size_t colon = path_var.find(':', start);
    if (colon == std::string::npos) colon = path_var.size();
    std::string dir = path_var.substr(start, colon - start);
    start = colon + 1;
    // An empty entry means the current directory and a relative one is
    // relative to it: both would resolve against whatever directory the
    // process is in when the name is looked up, and the child that runs tofu
    // is in its workspace, so what was found here would not be what runs
    // (the process runner skips them for the same reason).
    if (dir.empty() || dir[0] != '/') {
      skipped = true;
      continue;
    }
    if (dir.back() != '/') dir.push_back('/');
    std::string candidate = dir + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return Status::NotFound(name + ": not found on PATH (" + path_var + ")",
                          skipped ? "its empty and relative entries are not searched" : "");
}

std::string GoArch() {
  struct utsname u;
  if (::uname(&u) != 0) return "amd64";
  std::string_view m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m == "i386" || m == "i686") return "386";
  if (m.starts_with("arm")) return "arm";
  return std::string(m);
}

void TuneMallocForDaemon(int arenas) {
  ::mallopt(M_ARENA_MAX, arenas);
  ::mallopt(M_MMAP_THRESHOLD, 256 << 10);
  ::mallopt(M_TRIM_THRESHOLD, 1 << 20);
}

void IgnoreSigpipe() { (void)::signal(SIGPIPE, SIG_IGN); }

ScopedSigpipeBlock::ScopedSigpipeBlock() {
  sigemptyset(&pipe_);
  sigaddset(&pipe_, SIGPIPE);
  blocked_ = ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
}

ScopedSigpipeBlock::~ScopedSigpipeBlock() {
  if (!blocked_) return;
  // When the caller had SIGPIPE blocked already, a pending one is the
  // caller's to collect.
  if (!sigismember(&old_, SIGPIPE)) {
    const timespec now{};
    while (::sigtimedwait(&pipe_, nullptr, &now) == SIGPIPE) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

void ReleaseFreeMemory(std::chrono::milliseconds min_interval) {
  static std::atomic<int64_t> last_ns{std::numeric_limits<int64_t>::min() / 2};
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_ns.load(std::memory_order_relaxed);
  if (now - last < std::chrono::nanoseconds(min_interval).count()) return;
  // One trim at a time: a caller that loses the race skips this one.
  if (!last_ns.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  ::malloc_trim(0);
}

}  // namespace provisioner::platform
