#include "platform/posix_process_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "base/strings.h"
#include "platform/process_info.h"
#include "platform/process_stats.h"

namespace provisioner::platform {
namespace {

// Lines longer than this reach on_line in pieces (process_runner.h).
constexpr size_t kMaxLinePiece = 1 << 20;
// One read(2); the same buffer is reused by the I/O thread.
constexpr size_t kReadChunk = 64 << 10;
// A busy pipe gets at most this many reads per poll round, so that one
// chatty child cannot starve the others or delay exit handling.
constexpr int kReadsPerRound = 16;

// glibc 2.36 declares pidfd_open in <sys/pidfd.h> without extern "C", so
// C++ cannot link against it; the raw system calls are stable (Linux 5.3).
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

void CloseFd(int* fd) {
  if (*fd >= 0) ::close(*fd);
  *fd = -1;
}

// Owns a descriptor until released.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { CloseFd(&fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int* out() { return &fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// The environment variable that ties a process to the step it descends from.
constexpr std::string_view kStepVariable = "PROVISIONER_STEP";

// The children of this process: /proc/self/task/<tid>/children of every
// thread (a child belongs to the thread that forked it; an orphan to the
// one the kernel picked), or a scan of /proc where that file is missing
// (CONFIG_PROC_CHILDREN off).
std::vector<pid_t> OwnChildren() {
  std::vector<pid_t> out;
  DIR* tasks = ::opendir("/proc/self/task");
  bool listed = tasks != nullptr;
  while (tasks != nullptr) {
    dirent* e = ::readdir(tasks);
    if (e == nullptr) break;
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/children";
    if (::access(path.c_str(), R_OK) != 0) {
      listed = false;
      break;
    }
    // Split's views point into it.
    const std::string pids = ReadProcFile(path).value_or("");
    for (std::string_view pid : Split(pids, ' ')) {
      if (auto n = ParseUint(Trim(pid))) out.push_back(static_cast<pid_t>(*n));
    }
  }
  if (tasks != nullptr) ::closedir(tasks);
  if (listed) return out;
  out.clear();
  const auto self = static_cast<uint64_t>(::getpid());
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    const std::optional<uint64_t> pid = ParseUint(e->d_name);
    if (!pid) continue;
    auto stat = ReadProcStat(static_cast<int64_t>(*pid));
    if (stat.ok() && stat->ppid == self) out.push_back(static_cast<pid_t>(*pid));
  }
  ::closedir(proc);
  return out;
}

// The PROVISIONER_STEP value a process was started with ("" if none).
std::string StepOf(pid_t pid) {
  const std::string environ =
      ReadProcFile("/proc/" + std::to_string(pid) + "/environ").value_or("");
  for (std::string_view entry : Split(environ, '\0')) {
    if (entry.size() > kStepVariable.size() && entry.starts_with(kStepVariable) &&
        entry[kStepVariable.size()] == '=') {
      return std::string(entry.substr(kStepVariable.size() + 1));
    }
  }
  return "";
}

// A pipe whose ends are both close-on-exec and numbered 3 or above, so that
// the child's dup2 onto 1 and 2 can never clobber one of them. The read end
// is non-blocking; the write end (the child's stdout or stderr) stays
// blocking.
Status MakePipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  *read_end->out() = fds[0];
  *write_end->out() = fds[1];
  for (Fd* end : {read_end, write_end}) {
    if (end->get() >= 3) continue;
    int moved = ::fcntl(end->get(), F_DUPFD_CLOEXEC, 3);
    if (moved < 0) return Status::FromErrno(errno, "fcntl(F_DUPFD_CLOEXEC)");
    CloseFd(end->out());
    *end->out() = moved;
  }
  int flags = ::fcntl(read_end->get(), F_GETFL);
  if (flags < 0 || ::fcntl(read_end->get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Status::FromErrno(errno, "fcntl(O_NONBLOCK)");
  }
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

bool IsExecutableFile(const std::string& path, bool* exists) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *exists = true;
  return ::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) == 0;
}

// execvp's search, but on the child's PATH rather than the daemon's.
Result<std::string> ResolveBinary(const std::string& name,
                                  const std::map<std::string, std::string>& env) {
  if (name.empty()) {
    return Status::InvalidArgument("start process", "argv[0] is empty");
  }
  if (name.find('/') != std::string::npos) return name;
  auto path = env.find("PATH");
  if (path == env.end()) {
    return Status::NotFound("executable " + name,
                            "not found: PATH is not set in the child's environment");
  }
  std::string_view rest = path->second;
  std::string not_executable;
  while (true) {
    size_t colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    if (!dir.empty() && dir.front() == '/') {
      std::string candidate(dir);
      if (candidate.back() != '/') candidate.push_back('/');
      candidate.append(name);
      bool exists = false;
      if (IsExecutableFile(candidate, &exists)) return candidate;
      if (exists && not_executable.empty()) not_executable = candidate;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  if (!not_executable.empty()) {
    return Status::PermissionDenied("executable " + not_executable, "not executable");
  }
  return Status::NotFound("executable " + name, "not found on PATH=" + path->second);
}

Status CheckWorkingDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return Status::InvalidArgument(Status::FromErrno(errno, "working directory " + dir).message());
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("working directory " + dir, "not a directory");
  }
  return Status::Ok();
}

// posix_spawn returns the exec error of the child (glibc uses CLONE_VFORK and
// a pipe for it), so these are the child's exec errors.
Status SpawnError(int err, const std::string& path, const std::string& working_dir) {
  if (!working_dir.empty() && (err == ENOENT || err == ENOTDIR || err == EACCES)) {
    // The directory may have vanished since CheckWorkingDir.
    RETURN_IF_ERROR(CheckWorkingDir(working_dir));
  }
  const std::string context = "start " + path;
  switch (err) {
    case ENOENT:
      return Status::NotFound(context, "no such file or directory (or no such #! interpreter)");
    case EACCES:
      return Status::PermissionDenied(context, "permission denied (not executable?)");
    case ENOEXEC:
      return Status::InvalidArgument(context, "exec format error");
    case EAGAIN:
      return Status::ResourceExhausted(context, "process limit reached (EAGAIN)");
    default:
      return Status::FromErrno(err, context);
  }
}

// The pieces posix_spawn needs, freed on every path out of Start().
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  Status Prepare(int stdout_fd, int stderr_fd, int inherit_fd, const std::string& working_dir) {
    int rc = posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, stdout_fd, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, stderr_fd, 2);
    // After 1 and 2, which may come from descriptor 3. dup2 clears
    // FD_CLOEXEC (glibc does so too when inherit_fd is already 3).
    if (rc == 0 && inherit_fd >= 0) rc = posix_spawn_file_actions_adddup2(&actions_, inherit_fd, 3);
    if (rc == 0 && !working_dir.empty()) {
      rc = posix_spawn_file_actions_addchdir_np(&actions_, working_dir.c_str());
    }
    // Last, so that it also closes the pipe ends dup2'ed above.
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions_, inherit_fd >= 0 ? 4 : 3);
    if (rc != 0) return Status::FromErrno(rc, "posix_spawn file actions");

    sigset_t none;
    sigemptyset(&none);
    // Every signal, including glibc's internal ones (32 and 33), which
    // sigfillset leaves out: glibc's spawn code sets them to SIG_IGN in the
    // child unless they are in this set, and an ignored signal survives exec.
    sigset_t all;
    std::memset(&all, 0xff, sizeof all);
    rc = posix_spawnattr_setflags(
        &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attr_, 0);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr_, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr_, &all);
    if (rc != 0) return Status::FromErrno(rc, "posix_spawn attributes");
    return Status::Ok();
  }

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

// Keeps the last `max` bytes written to it. Dropped bytes are only compacted
// away once they make up half of the buffer, so appending stays amortised
// O(1) at the price of up to twice `max` in memory.
class TailBuffer {
 public:
  explicit TailBuffer(size_t max) : max_(max) {}

  void Append(std::string_view data) {
    buf_.append(data);
    size_t live = buf_.size() - start_;
    if (live > max_) {
      start_ += live - max_;
      truncated_ = true;
    }
    if (start_ > 0 && start_ >= buf_.size() / 2) {
      buf_.erase(0, start_);
      start_ = 0;
    }
  }
  std::string Take() {
    buf_.erase(0, start_);
    start_ = 0;
    return std::move(buf_);
  }
  bool truncated() const { return truncated_; }

 private:
  const size_t max_;
  std::string buf_;
  size_t start_ = 0;
  bool truncated_ = false;
};

// Cuts a byte stream into lines without their '\n' (a '\r' before it is
// kept), and lines longer than kMaxLinePiece into pieces of that size.
class LineSplitter {
 public:
  template <typename Emit>
  void Feed(std::string_view data, Emit&& emit) {
    while (!data.empty()) {
      size_t nl = data.find('\n');
      std::string_view piece = data.substr(0, nl);
      if (partial_.empty() && nl != std::string_view::npos && piece.size() <= kMaxLinePiece) {
        emit(piece);  // the common case: a whole line inside one read
      } else {
        partial_.append(piece);
        while (partial_.size() > kMaxLinePiece) {
          emit(std::string_view(partial_).substr(0, kMaxLinePiece));
          partial_.erase(0, kMaxLinePiece);
        }
        if (nl != std::string_view::npos) {
          emit(std::string_view(partial_));
          partial_.clear();
        }
      }
      if (nl == std::string_view::npos) break;
      data.remove_prefix(nl + 1);
    }
  }
  template <typename Emit>
  void Flush(Emit&& emit) {
    if (!partial_.empty()) emit(std::string_view(partial_));
    partial_.clear();
  }

 private:
  std::string partial_;
};

}  // namespace

struct PosixProcessRunner::Output {
  Output(OutputStream s, int f, size_t max) : stream(s), fd(f), tail(max) {}
  ~Output() { CloseFd(&fd); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  const OutputStream stream;
  int fd;  // -1 after EOF
  TailBuffer tail;
  LineSplitter lines;
};

struct PosixProcessRunner::Child {
  Child(RunHandle h, pid_t p, int pfd, int out_fd, int err_fd, int log, const ProcessSpec& spec,
        MonotonicTime start)
      : handle(h),
        pid(p),
        pidfd(pfd),
        out(OutputStream::kStdout, out_fd, spec.max_output_bytes),
        err(OutputStream::kStderr, err_fd, spec.max_output_bytes),
        log_fd(log),
        max_log_bytes(spec.max_log_bytes),
        on_line(spec.on_line),
        kill_grace(spec.kill_grace),
        started(start) {
    if (spec.timeout.count() > 0) timeout_at = start + spec.timeout;
  }
  ~Child() {
    CloseFd(&pidfd);
    CloseFd(&log_fd);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Immutable while the Child is in children_.
  const RunHandle handle;
  const pid_t pid;
  int pidfd;

  // The I/O thread's alone.
  Output out;
  Output err;
  int log_fd;
  Status log_status;
  const uint64_t max_log_bytes;
  uint64_t log_bytes = 0;  // output written to log_fd
  bool log_truncated = false;
  const std::function<void(OutputStream, std::string_view)> on_line;
  const std::chrono::milliseconds kill_grace;
  const MonotonicTime started;
  std::optional<MonotonicTime> timeout_at;
  bool reaped = false;  // `exited` without the lock
  int exit_code = -1;
  int term_signal = 0;
  MonotonicTime exited_at;
  MonotonicTime drain_until;

  // Guarded by mu_.
  bool exited = false;       // reaped: its pid may belong to someone else now
  uint64_t start_ticks = 0;  // from /proc at Start(); 0 if it could not be read
  std::string step;          // its PROVISIONER_STEP ("" without reap_orphans)
  StopReason stop_reason = StopReason::kNone;
  std::optional<MonotonicTime> kill_at;
  bool killed = false;
  bool shutdown_killed = false;
};

PosixProcessRunner::PosixProcessRunner(Clock& clock, Options options) : clock_(clock) {
  reap_orphans_ = options.reap_orphans && ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    init_status_ = Status::FromErrno(errno, "process runner: eventfd");
    return;
  }
  // std::thread reports failure by exception; this is the one place it can
  // throw, and it becomes a Status for Start().
  try {
    io_thread_ = std::thread([this] { IoLoop(); });
  } catch (const std::system_error& e) {
    init_status_ = Status::ResourceExhausted("process runner: cannot start its thread", e.what());
  }
}

PosixProcessRunner::~PosixProcessRunner() {
  shutting_down_.store(true);
  if (io_thread_.joinable()) {
    Wake();
    io_thread_.join();
  }
  CloseFd(&wake_fd_);
}

void PosixProcessRunner::Wake() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: a wake-up is pending anyway.
  while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

Result<RunHandle> PosixProcessRunner::Start(const ProcessSpec& spec) {
  if (!init_status_.ok()) return init_status_;
  if (spec.argv.empty()) {
    return Status::InvalidArgument("start process", "empty argv");
  }
  for (const std::string& arg : spec.argv) {
    if (HasNul(arg)) {
      return Status::InvalidArgument("start " + spec.argv[0], "NUL byte in argv");
    }
  }
  for (const auto& [key, value] : spec.env) {
    if (key.empty() || key.find('=') != std::string::npos || HasNul(key) || HasNul(value)) {
      return Status::InvalidArgument("start " + spec.argv[0],
                                     "invalid environment entry '" + key + "'");
    }
  }
  ASSIGN_OR_RETURN(const std::string path, ResolveBinary(spec.argv[0], spec.env));
  if (!spec.working_dir.empty()) {
    RETURN_IF_ERROR(CheckWorkingDir(spec.working_dir));
  }

  // 0640: tofu output can hold secrets a provider printed.
  Fd log;
  if (!spec.log_path.empty()) {
    do {
      *log.out() = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    } while (log.get() < 0 && errno == EINTR);
    if (log.get() < 0) {
      return Status::FromErrno(errno, "open job log " + spec.log_path);
    }
  }

  Fd out_read, out_write, err_read, err_write;
  RETURN_IF_ERROR(MakePipe(&out_read, &out_write));
  RETURN_IF_ERROR(MakePipe(&err_read, &err_write));

  SpawnSetup setup;
  if (spec.inherit_fd >= 0 && spec.inherit_fd <= 2) {
    return Status::InvalidArgument("inherit_fd " + std::to_string(spec.inherit_fd),
                                   "must not be a standard descriptor");
  }
  RETURN_IF_ERROR(
      setup.Prepare(out_write.get(), err_write.get(), spec.inherit_fd, spec.working_dir));

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& arg : spec.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  // From here until the child is in children_, a sweep would not know it.
  MutexLock spawn_lock(spawn_mu_);
  std::string step;
  if (reap_orphans_) step = std::to_string(::getpid()) + "." + std::to_string(next_step_++);
  std::vector<std::string> env_strings;
  env_strings.reserve(spec.env.size() + 1);
  for (const auto& [key, value] : spec.env) {
    if (!step.empty() && key == kStepVariable) continue;
    env_strings.push_back(key + "=" + value);
  }
  if (!step.empty()) env_strings.push_back(std::string(kStepVariable) + "=" + step);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const MonotonicTime started = clock_.Monotonic();
  pid_t pid = 0;
  int rc =
      ::posix_spawn(&pid, path.c_str(), setup.actions(), setup.attr(), argv.data(), envp.data());
  if (rc != 0) return SpawnError(rc, path, spec.working_dir);
  CloseFd(out_write.out());
  CloseFd(err_write.out());

  // The child cannot be reaped by anyone else, so its pid is still ours here
  // even if it has already exited.
  Fd pidfd(PidfdOpen(pid));
  if (pidfd.get() < 0) {
    int err = errno;
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Status::FromErrno(err, "pidfd_open (Linux 5.3 or later is required)");
  }

  // Its start time, for Identify: read now, while nothing can have reaped it
  // (later the I/O thread may have, and the pid may name someone else).
  auto stat = ReadProcStat(pid);
  RunHandle handle;
  {
    MutexLock lock(mu_);
    handle = next_handle_++;
    if (spec.collect_with_wait) waited_.insert(handle);
    auto child = std::make_unique<Child>(handle, pid, pidfd.release(), out_read.release(),
                                         err_read.release(), log.release(), spec, started);
    child->start_ticks = stat.ok() ? stat->starttime_ticks : 0;
    child->step = std::move(step);
    children_[handle] = std::move(child);
  }
  Wake();
  return handle;
}

std::vector<FinishedProcess> PosixProcessRunner::Reap() {
  MutexLock lock(mu_);
  std::vector<FinishedProcess> out;
  for (auto it = finished_.begin(); it != finished_.end();) {
    if (waited_.count(it->handle) != 0) {
      ++it;
      continue;
    }
    out.push_back(std::move(*it));
    it = finished_.erase(it);
  }
  return out;
}

FinishedProcess PosixProcessRunner::Wait(RunHandle handle) {
  MutexLock lock(mu_);
  auto pending = [&]() REQUIRES(mu_) {
    return std::find_if(finished_.begin(), finished_.end(),
                        [&](const FinishedProcess& f) { return f.handle == handle; });
  };
  if (children_.count(handle) == 0 && pending() == finished_.end()) {
    FinishedProcess unknown;
    unknown.handle = handle;
    return unknown;
  }
  waited_.insert(handle);
  auto it = pending();
  while (it == finished_.end()) {
    finished_cv_.wait(mu_);
    it = pending();
  }
  FinishedProcess result = std::move(*it);
  finished_.erase(it);
  waited_.erase(handle);
  return result;
}

void PosixProcessRunner::Stop(RunHandle handle, StopReason reason) {
  {
    MutexLock lock(mu_);
    auto it = children_.find(handle);
    if (it == children_.end()) return;
    BeginStopLocked(*it->second, reason, clock_.Monotonic());
  }
  Wake();  // the I/O thread must now wait for kill_at
}

void PosixProcessRunner::StopAll(StopReason reason) {
  {
    MutexLock lock(mu_);
    const MonotonicTime now = clock_.Monotonic();
    for (auto& [handle, child] : children_) {
      BeginStopLocked(*child, reason, now);
    }
  }
  Wake();
}

size_t PosixProcessRunner::running() const {
  MutexLock lock(mu_);
  return children_.size();
}

void PosixProcessRunner::SetOnFinished(std::function<void()> callback) {
  MutexLock lock(mu_);
  on_finished_ = std::move(callback);
}

std::optional<ProcessIdentity> PosixProcessRunner::Identify(RunHandle handle) const {
  MutexLock lock(mu_);
  auto it = children_.find(handle);
  if (it == children_.end() || it->second->exited || it->second->start_ticks == 0) {
    return std::nullopt;
  }
  return ProcessIdentity{it->second->pid, it->second->start_ticks, BootId()};
}

bool PosixProcessRunner::LeftoverRunning(const ProcessIdentity& id) {
  if (id.pid <= 0 || id.boot_id != BootId()) return false;
  auto stat = ReadProcStat(id.pid);
  return stat.ok() && stat->starttime_ticks == id.start_ticks && stat->state != 'Z' &&
         stat->state != 'X';
}

void PosixProcessRunner::SignalLeftover(const ProcessIdentity& id, LeftoverSignal signal) {
  if (id.pid <= 0 || id.pid > std::numeric_limits<pid_t>::max()) return;
  // A pidfd pins the process: checked after it is opened, the identity
  // cannot change under the signal any more.
  Fd pidfd(PidfdOpen(static_cast<pid_t>(id.pid)));
  if (pidfd.get() < 0 || !LeftoverRunning(id)) return;
  if (signal == LeftoverSignal::kInterrupt) {
    PidfdSendSignal(pidfd.get(), SIGINT);
    return;
  }
  // tofu leads its own process group (every child here does): while the
  // leader runs, its group id cannot belong to anyone else.
  if (::getpgid(static_cast<pid_t>(id.pid)) == id.pid) ::kill(-static_cast<pid_t>(id.pid), SIGKILL);
  PidfdSendSignal(pidfd.get(), SIGKILL);
}

std::optional<int> PosixProcessRunner::PidForTesting(RunHandle handle) const {
  MutexLock lock(mu_);
  auto it = children_.find(handle);
  if (it == children_.end() || it->second->exited) return std::nullopt;
  return it->second->pid;
}

void PosixProcessRunner::BeginStopLocked(Child& child, StopReason reason, MonotonicTime now) {
  if (child.exited || child.stop_reason != StopReason::kNone) return;
  child.stop_reason = reason;
  child.kill_at = now + child.kill_grace;
  // The pid only: tofu's provider plugins ignore SIGINT, and tofu shuts them
  // down itself. The pidfd makes this safe against pid reuse.
  PidfdSendSignal(child.pidfd, SIGINT);
}

std::optional<MonotonicTime> PosixProcessRunner::ApplyDeadlinesLocked(Child& child,
                                                                      MonotonicTime now) {
  if (child.exited) return child.drain_until;
  // kill(-pid) below is safe: the group leader is not reaped yet, so neither
  // its pid nor its group id can have been reused.
  if (shutting_down_.load() && !child.shutdown_killed) {
    ::kill(-child.pid, SIGKILL);
    child.shutdown_killed = true;
    if (child.stop_reason == StopReason::kNone) {
      child.stop_reason = StopReason::kShutdown;
    }
    return std::nullopt;
  }
  std::optional<MonotonicTime> next;
  if (child.stop_reason == StopReason::kNone && child.timeout_at) {
    if (now >= *child.timeout_at) {
      BeginStopLocked(child, StopReason::kTimeout, now);
    } else {
      next = child.timeout_at;
    }
  }
  if (child.kill_at && !child.killed && !child.shutdown_killed) {
    if (now >= *child.kill_at) {
      ::kill(-child.pid, SIGKILL);
      child.killed = true;
    } else if (!next || *child.kill_at < *next) {
      next = child.kill_at;
    }
  }
  return next;
}

void PosixProcessRunner::IoLoop() {
  read_buffer_.resize(kReadChunk);
  enum class Slot : uint8_t { kStdout, kStderr, kPidfd };
  std::vector<pollfd> fds;
  std::vector<std::pair<Child*, Slot>> slots;
  std::vector<Child*> active;
  // Orphan sweeps (reap_orphans_): one at each exit, then every
  // kOrphanFollowUp for kOrphanBurst after it (an orphan is reparented only
  // once its own parent, killed with the group, is gone), then every
  // kSweepInterval while orphans are left.
  constexpr std::chrono::milliseconds kOrphanFollowUp{250};
  constexpr std::chrono::milliseconds kOrphanBurst{1500};
  std::optional<MonotonicTime> sweep_at;
  MonotonicTime burst_until{};
  while (true) {
    MonotonicTime now = clock_.Monotonic();
    std::optional<MonotonicTime> next = sweep_at;
    active.clear();
    {
      MutexLock lock(mu_);
      if (shutting_down_.load() && children_.empty()) break;
      for (auto& [handle, child] : children_) {
        active.push_back(child.get());
        std::optional<MonotonicTime> due = ApplyDeadlinesLocked(*child, now);
        if (due && (!next || *due < *next)) next = due;
      }
    }

    fds.clear();
    slots.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    for (Child* child : active) {
      if (child->out.fd >= 0) {
        fds.push_back({child->out.fd, POLLIN, 0});
        slots.emplace_back(child, Slot::kStdout);
      }
      if (child->err.fd >= 0) {
        fds.push_back({child->err.fd, POLLIN, 0});
        slots.emplace_back(child, Slot::kStderr);
      }
      if (!child->reaped) {
        fds.push_back({child->pidfd, POLLIN, 0});
        slots.emplace_back(child, Slot::kPidfd);
      }
    }
    int timeout_ms = -1;
    if (next) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
      timeout_ms = static_cast<int>(std::clamp<decltype(wait)>(wait, 0, INT_MAX));
    }
    int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0) continue;  // EINTR; ENOMEM is transient

    if (fds[0].revents != 0) {
      uint64_t count;
      while (::read(wake_fd_, &count, sizeof count) < 0 && errno == EINTR) {
      }
    }
    // Output first, so that everything already in the pipes at exit is read
    // in the same round as the exit.
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      auto [child, slot] = slots[i - 1];
      if (slot == Slot::kStdout) ReadOutput(*child, child->out);
      if (slot == Slot::kStderr) ReadOutput(*child, child->err);
    }
    bool exited = false;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0 && slots[i - 1].second == Slot::kPidfd) {
        OnExit(*slots[i - 1].first);
        exited = true;
      }
    }
    now = clock_.Monotonic();
    for (Child* child : active) {
      if (!child->reaped) continue;
      const bool drained = child->out.fd < 0 && child->err.fd < 0;
      if (drained || now >= child->drain_until) Finalize(*child);
    }
    if (reap_orphans_) {
      if (exited) {
        sweep_at = now;
        burst_until = now + kOrphanBurst;
      }
      if (sweep_at && now >= *sweep_at) {
        const bool left = SweepOrphans();
        sweep_at.reset();
        if (now < burst_until) {
          sweep_at = now + kOrphanFollowUp;
        } else if (left) {
          sweep_at = now + kSweepInterval;
        }
      }
    }
  }
  // Every step has exited: what they left behind goes too.
  if (reap_orphans_) SweepOrphans();
}

bool PosixProcessRunner::SweepOrphans() {
  MutexLock spawn_lock(spawn_mu_);
  const std::vector<pid_t> pids = OwnChildren();
  std::set<pid_t> tracked;
  std::set<std::string> running_steps;
  {
    MutexLock lock(mu_);
    for (const auto& [handle, child] : children_) {
      if (child->exited) continue;
      tracked.insert(child->pid);
      running_steps.insert(child->step);
    }
  }
  bool left = false;
  for (pid_t pid : pids) {
    if (tracked.count(pid) != 0) continue;
    // An orphan is our child, so its pid cannot be reused until we reap it.
    auto stat = ReadProcStat(pid);
    if (!stat.ok()) continue;
    if (stat->state == 'Z' || stat->state == 'X') {
      siginfo_t info{};
      while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) < 0 &&
             errno == EINTR) {
      }
      continue;
    }
    left = true;
    const std::string step = StepOf(pid);
    if (!step.empty() && running_steps.count(step) == 0) ::kill(pid, SIGKILL);
  }
  return left;
}

void PosixProcessRunner::ReadOutput(Child& child, Output& out) {
  std::string& buffer = read_buffer_;
  for (int i = 0; i < kReadsPerRound && out.fd >= 0; ++i) {
    ssize_t n = ::read(out.fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {  // EOF, or an error that only closing can answer
      CloseFd(&out.fd);
      return;
    }
    Consume(child, out, std::string_view(buffer.data(), static_cast<size_t>(n)));
    if (static_cast<size_t>(n) < buffer.size()) return;  // likely empty now
  }
}

void PosixProcessRunner::Consume(Child& child, Output& out, std::string_view data) {
  if (child.log_fd >= 0) {
    const uint64_t room = child.max_log_bytes - std::min(child.max_log_bytes, child.log_bytes);
    const std::string_view part = data.substr(0, std::min<uint64_t>(data.size(), room));
    Status s = WriteAll(child.log_fd, part);
    if (s.ok()) child.log_bytes += part.size();
    if (s.ok() && part.size() < data.size()) {
      s = WriteAll(child.log_fd, "\n[provisioner: job log truncated after " +
                                     std::to_string(child.log_bytes) +
                                     " bytes of this step's output; the rest is not kept]\n");
      child.log_truncated = true;
      CloseFd(&child.log_fd);
    }
    if (!s.ok()) {
      child.log_status = s.WithContext("job log");
      CloseFd(&child.log_fd);
    }
  }
  out.tail.Append(data);
  if (child.on_line && !shutting_down_.load(std::memory_order_relaxed)) {
    out.lines.Feed(data, [&](std::string_view line) { child.on_line(out.stream, line); });
  }
}

void PosixProcessRunner::OnExit(Child& child) {
  // Orphans of the child die with it, before the reap frees the group id.
  ::kill(-child.pid, SIGKILL);
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(child.pid), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0 && info.si_code == CLD_EXITED) {
    child.exit_code = info.si_status;
  } else if (rc == 0) {
    child.term_signal = info.si_status;  // CLD_KILLED or CLD_DUMPED
  }
  child.reaped = true;
  child.exited_at = clock_.Monotonic();
  child.drain_until = child.exited_at + kDrainBound;
  MutexLock lock(mu_);
  child.exited = true;
}

void PosixProcessRunner::Finalize(Child& child) {
  CloseFd(&child.out.fd);
  CloseFd(&child.err.fd);
  if (child.on_line && !shutting_down_.load()) {
    for (Output* out : {&child.out, &child.err}) {
      out->lines.Flush([&](std::string_view line) { child.on_line(out->stream, line); });
    }
  }
  if (child.log_fd >= 0 && ::close(std::exchange(child.log_fd, -1)) != 0 && child.log_status.ok()) {
    child.log_status = Status::FromErrno(errno, "job log: close");
  }

  FinishedProcess done;
  done.handle = child.handle;
  done.exit_code = child.exit_code;
  done.term_signal = child.term_signal;
  done.output_truncated = child.out.tail.truncated() || child.err.tail.truncated();
  done.stdout_data = child.out.tail.Take();
  done.stderr_data = child.err.tail.Take();
  done.log_status = child.log_status;
  done.log_bytes = child.log_bytes;
  done.log_truncated = child.log_truncated;
  done.started = child.started;
  done.finished = child.exited_at;

  std::unique_ptr<Child> owned;  // destroyed (pidfd closed) outside the lock
  std::function<void()> callback;
  {
    MutexLock lock(mu_);
    done.stop_reason = child.stop_reason;
    done.killed = child.killed;
    auto it = children_.find(child.handle);
    owned = std::move(it->second);
    children_.erase(it);
    finished_.push_back(std::move(done));
    callback = on_finished_;
  }
  finished_cv_.notify_all();
  if (callback && !shutting_down_.load()) callback();
}

}  // namespace provisioner::platform
