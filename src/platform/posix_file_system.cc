#include "platform/posix_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>

namespace provisioner::platform {
namespace {

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error, which matters after writes (NFS, quota).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status Errno(std::string_view op, const std::string& path) {
  int err = errno;
  std::string context(op);
  context.append(" ");
  context.append(path);
  return Status::FromErrno(err, context);
}

int OpenRetry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

FileType TypeOf(mode_t mode) {
  if (S_ISREG(mode)) return FileType::kRegular;
  if (S_ISDIR(mode)) return FileType::kDirectory;
  if (S_ISLNK(mode)) return FileType::kSymlink;
  return FileType::kOther;
}

}  // namespace

Result<std::string> PosixFileSystem::ReadFile(const std::string& path, uint64_t max_bytes) {
  Fd fd(OpenRetry(path.c_str(), O_RDONLY));
  if (fd.get() < 0) return Errno("open", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat", path);
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument("read " + path, "is a directory");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Status::ResourceExhausted("read " + path, "file is " + std::to_string(st.st_size) +
                                                         " bytes, over the limit of " +
                                                         std::to_string(max_bytes));
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    // The size can grow while we read (a file being written); keep the cap.
    if (out.size() > max_bytes) {
      return Status::ResourceExhausted("read " + path,
                                       "over the limit of " + std::to_string(max_bytes));
    }
  }
  return out;
}

Result<std::string> PosixFileSystem::ReadFileFrom(const std::string& path, uint64_t offset,
                                                  uint64_t max_bytes) {
  Fd fd(OpenRetry(path.c_str(), O_RDONLY));
  if (fd.get() < 0) return Errno("open", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno("stat", path);
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument("read " + path, "is a directory");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string out;
  if (offset < size) out.reserve(static_cast<size_t>(std::min(max_bytes, size - offset)));
  // pread in pieces until max_bytes or the end of the file, which may lie
  // beyond the size just seen when the file is being appended to. Pieces
  // keep the buffer at what was read, not at max_bytes.
  constexpr uint64_t kPiece = 1 << 16;
  while (out.size() < max_bytes) {
    const size_t got = out.size();
    const size_t want = static_cast<size_t>(std::min(kPiece, max_bytes - got));
    const uint64_t at = offset + got;
    // off_t is signed: an offset beyond its range is past the end of any file.
    if (at > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) break;
    out.resize(got + want);
    ssize_t n = ::pread(fd.get(), out.data() + got, want, static_cast<off_t>(at));
    if (n < 0) {
      out.resize(got);
      if (errno == EINTR) continue;
      return Errno("read", path);
    }
    out.resize(got + static_cast<size_t>(n));
    if (n == 0) break;
  }
  return out;
}

Status PosixFileSystem::WriteFile(const std::string& path, std::string_view data) {
  Fd fd(OpenRetry(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (fd.get() < 0) return Errno("open", path);
  RETURN_IF_ERROR(WriteAll(fd.get(), data, path));
  if (fd.Close() != 0) return Errno("close", path);
  return Status::Ok();
}

Status PosixFileSystem::AppendFile(const std::string& path, std::string_view data, bool sync) {
  Fd fd(OpenRetry(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644));
  if (fd.get() < 0) return Errno("open", path);
  RETURN_IF_ERROR(WriteAll(fd.get(), data, path));
  if (sync && ::fdatasync(fd.get()) != 0) return Errno("fsync", path);
  if (fd.Close() != 0) return Errno("close", path);
  return Status::Ok();
}

Status PosixFileSystem::SyncFile(const std::string& path) {
  Fd fd(OpenRetry(path.c_str(), O_RDONLY));
  if (fd.get() < 0) return Errno("open", path);
  if (::fsync(fd.get()) != 0) return Errno("fsync", path);
  return Status::Ok();
}

Status PosixFileSystem::SyncDir(const std::string& path) {
  Fd fd(OpenRetry(path.c_str(), O_RDONLY | O_DIRECTORY));
  if (fd.get() < 0) return Errno("open directory", path);
  if (::fsync(fd.get()) != 0) return Errno("fsync directory", path);
  return Status::Ok();
}

Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Errno("rename " + from + " to", to);
  return Status::Ok();
}

Status PosixFileSystem::Remove(const std::string& path) {
  if (::remove(path.c_str()) != 0) return Errno("remove", path);
  return Status::Ok();
}

Status PosixFileSystem::RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Errno("stat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    ASSIGN_OR_RETURN(auto entries, ListDir(path));
    for (const DirEntry& e : entries) RETURN_IF_ERROR(RemoveAll(JoinPath(path, e.name)));
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return Errno("remove directory", path);
    return Status::Ok();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("remove", path);
  return Status::Ok();
}

Result<FileInfo> PosixFileSystem::Stat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return Errno("stat", path);
  FileInfo info;
  info.type = TypeOf(st.st_mode);
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime = SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  info.mode = st.st_mode & 07777;
  return info;
}

Status PosixFileSystem::CreateDirs(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("create directory", "empty path");
  std::string partial;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    partial = path.substr(0, slash);
    pos = slash + 1;
    if (partial.empty()) continue;  // leading "/"
    if (::mkdir(partial.c_str(), 0755) != 0) {
      if (errno != EEXIST) return Errno("create directory", partial);
      struct stat st;
      if (::stat(partial.c_str(), &st) != 0) return Errno("stat", partial);
      if (!S_ISDIR(st.st_mode)) {
        return Status::FailedPrecondition("create directory " + partial,
                                          "exists and is not a directory");
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<DirEntry>> PosixFileSystem::ListDir(const std::string& path) {
  int fd = OpenRetry(path.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno("open directory", path);
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    Status s = Errno("open directory", path);
    ::close(fd);
    return s;
  }
  std::vector<DirEntry> out;
  while (true) {
    errno = 0;
    struct dirent* ent = ::readdir(dir);
    if (ent == nullptr) {
      if (errno != 0) {
        Status s = Errno("read directory", path);
        ::closedir(dir);
        return s;
      }
      break;
    }
    std::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    DirEntry e;
    e.name.assign(name);
    if (ent->d_type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(fd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        e.type = TypeOf(st.st_mode);
      } else {
        e.type = FileType::kOther;
      }
    } else {
      e.type = ent->d_type == DT_REG   ? FileType::kRegular
               : ent->d_type == DT_DIR ? FileType::kDirectory
               : ent->d_type == DT_LNK ? FileType::kSymlink
                                       : FileType::kOther;
    }
    out.push_back(std::move(e));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

Result<std::string> PosixFileSystem::ReadLink(const std::string& path) {
  std::string buf(256, '\0');
  while (true) {
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) return Errno("readlink", path);
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

Status PosixFileSystem::SetPermissions(const std::string& path, uint32_t mode) {
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) return Errno("chmod", path);
  return Status::Ok();
}

Result<uint64_t> PosixFileSystem::FreeSpace(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return Errno("statvfs", path);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace provisioner::platform
