#include "platform/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

namespace provisioner::platform {
namespace {

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Entries of /proc/self/fd, not counting the descriptor that lists them.
Result<uint64_t> CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return Status::FromErrno(errno, "opendir /proc/self/fd");
  const int own_fd = ::dirfd(dir);
  uint64_t count = 0;
  errno = 0;
  while (const dirent* e = ::readdir(dir)) {
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    uint64_t fd = 0;
    if (ParseU64(name, &fd) && fd == static_cast<uint64_t>(own_fd)) continue;
    ++count;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return Status::FromErrno(err, "readdir /proc/self/fd");
  return count;
}

}  // namespace

// /proc files report size 0, so read until EOF instead of trusting fstat.
Result<std::string> ReadProcFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "read " + path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

Result<ProcStatFields> ParseProcStat(std::string_view text) {
  size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) {
    return Status::Corruption("/proc/self/stat: no command name in parentheses");
  }
  // Fields after the command name, split on spaces; index 0 is field 3 (state).
  std::string_view rest = text.substr(paren + 1);
  std::string_view fields[22];  // up to field 24
  size_t n = 0;
  size_t pos = 0;
  while (n < std::size(fields)) {
    while (pos < rest.size() && (rest[pos] == ' ' || rest[pos] == '\n')) ++pos;
    if (pos >= rest.size()) break;
    size_t end = rest.find_first_of(" \n", pos);
    if (end == std::string_view::npos) end = rest.size();
    fields[n++] = rest.substr(pos, end - pos);
    pos = end;
  }
  if (n < std::size(fields)) {
    return Status::Corruption("/proc/self/stat: " + std::to_string(n + 2) +
                              " fields, expected at least 24");
  }
  auto field = [&](int number) { return fields[number - 3]; };
  ProcStatFields out;
  out.state = field(3).front();
  struct {
    int number;
    uint64_t* value;
  } wanted[] = {{4, &out.ppid},         {14, &out.utime_ticks},     {15, &out.stime_ticks},
                {20, &out.num_threads}, {22, &out.starttime_ticks}, {23, &out.vsize_bytes},
                {24, &out.rss_pages}};
  for (const auto& w : wanted) {
    if (!ParseU64(field(w.number), w.value)) {
      return Status::Corruption("/proc/self/stat: field " + std::to_string(w.number) +
                                " is not a number: " + std::string(field(w.number)));
    }
  }
  return out;
}

Result<ProcStatFields> ReadProcStat(int64_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  if (pid <= 0) return Status::NotFound(path, "no such process");
  // NotFound also when the process exits between open and read (ESRCH).
  ASSIGN_OR_RETURN(const std::string text, ReadProcFile(path));
  return ParseProcStat(text);
}

Result<int64_t> ParseBootTime(std::string_view proc_stat) {
  size_t pos = 0;
  while (pos < proc_stat.size()) {
    size_t nl = proc_stat.find('\n', pos);
    if (nl == std::string_view::npos) nl = proc_stat.size();
    std::string_view line = proc_stat.substr(pos, nl - pos);
    pos = nl + 1;
    constexpr std::string_view kKey = "btime ";
    if (line.substr(0, kKey.size()) != kKey) continue;
    uint64_t btime = 0;
    if (!ParseU64(line.substr(kKey.size()), &btime)) {
      return Status::Corruption("/proc/stat: btime is not a number", line);
    }
    return static_cast<int64_t>(btime);
  }
  return Status::Corruption("/proc/stat: no btime line");
}

Result<ProcessStats> ReadProcessStats() {
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (ticks_per_second <= 0 || page_size <= 0) {
    return Status::Internal("sysconf(_SC_CLK_TCK or _SC_PAGESIZE) failed");
  }
  ASSIGN_OR_RETURN(std::string self_stat, ReadProcFile("/proc/self/stat"));
  ASSIGN_OR_RETURN(ProcStatFields fields, ParseProcStat(self_stat));
  ASSIGN_OR_RETURN(std::string proc_stat, ReadProcFile("/proc/stat"));
  ASSIGN_OR_RETURN(int64_t boot_time, ParseBootTime(proc_stat));
  ASSIGN_OR_RETURN(uint64_t open_fds, CountOpenFds());
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return Status::FromErrno(errno, "getrlimit(RLIMIT_NOFILE)");
  }

  const double tick = 1.0 / static_cast<double>(ticks_per_second);
  ProcessStats stats;
  stats.cpu = std::chrono::duration<double>(
      static_cast<double>(fields.utime_ticks + fields.stime_ticks) * tick);
  stats.resident_bytes = fields.rss_pages * static_cast<uint64_t>(page_size);
  stats.virtual_bytes = fields.vsize_bytes;
  stats.start_time = SystemTime(std::chrono::seconds(boot_time)) +
                     std::chrono::duration_cast<SystemTime::duration>(std::chrono::duration<double>(
                         static_cast<double>(fields.starttime_ticks) * tick));
  stats.open_fds = open_fds;
  stats.threads = fields.num_threads;
  stats.max_fds =
      limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(limit.rlim_cur);
  return stats;
}

}  // namespace provisioner::platform
