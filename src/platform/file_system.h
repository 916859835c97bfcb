// FileSystem: the seam through which config, state and workspaces touch disk.
//
// Small on purpose: it holds the operations those callers need, split into
// the individual steps of a durable write (write, fsync, rename, fsync of the
// directory) so that tests can fail each step in turn (tests/support has a
// MemoryFileSystem and a FaultyFileSystem wrapper). Grow it when a caller
// needs more; do not reach around it with std::filesystem or open(2).
//
// Paths are plain strings; relative paths resolve against the process's
// working directory. All methods are thread-safe in the real implementation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"

namespace provisioner::platform {

enum class FileType { kRegular, kDirectory, kSymlink, kOther };

struct FileInfo {
  FileType type = FileType::kRegular;
  uint64_t size = 0;
  SystemTime mtime;
  uint32_t mode = 0;  // permission bits
};

struct DirEntry {
  std::string name;  // no directory part
  FileType type = FileType::kRegular;
};

inline constexpr uint64_t kNoSizeLimit = UINT64_MAX;

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The whole file. NotFound if it does not exist; ResourceExhausted if it is
  // larger than `max_bytes` (callers always state their cap; kNoSizeLimit
  // when the file is trusted).
  virtual Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) = 0;

  // Up to `max_bytes` of the file starting at byte `offset`: fewer when the
  // end comes first, "" when `offset` is at or past the end. The part before
  // `offset` is never read, so a caller that pages through a large or
  // growing file (a job log) pays only for the bytes it asks for. NotFound if
  // the file does not exist.
  virtual Result<std::string> ReadFileFrom(const std::string& path, uint64_t offset,
                                           uint64_t max_bytes) = 0;

  // Creates or truncates `path` and writes `data`. Not durable until SyncFile.
  virtual Status WriteFile(const std::string& path, std::string_view data) = 0;

  // Appends `data`, creating the file if needed; fsyncs when `sync` is true.
  virtual Status AppendFile(const std::string& path, std::string_view data, bool sync) = 0;

  // fsync(2) of a file's contents.
  virtual Status SyncFile(const std::string& path) = 0;

  // fsync(2) of a directory, which makes renames and creations in it durable.
  virtual Status SyncDir(const std::string& path) = 0;

  // rename(2): atomically replaces `to`.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;

  // Removes a file or an empty directory. NotFound if absent.
  virtual Status Remove(const std::string& path) = 0;

  // Removes a file or a whole directory tree; OK if absent. Symlinks are
  // removed, never followed.
  virtual Status RemoveAll(const std::string& path) = 0;

  // lstat(2): a symlink is reported as kSymlink, not followed.
  virtual Result<FileInfo> Stat(const std::string& path) = 0;

  // mkdir -p, with mode 0755 for new directories.
  virtual Status CreateDirs(const std::string& path) = 0;

  // The entries of a directory, "." and ".." excluded, sorted by name.
  virtual Result<std::vector<DirEntry>> ListDir(const std::string& path) = 0;

  // The target of a symlink, as stored.
  virtual Result<std::string> ReadLink(const std::string& path) = 0;

  // chmod(2): the permission bits of a file or directory.
  virtual Status SetPermissions(const std::string& path, uint32_t mode) = 0;

  // Free bytes for an unprivileged user on the file system holding `path`.
  virtual Result<uint64_t> FreeSpace(const std::string& path) = 0;
};

// The durable replace protocol: writes `path`.tmp, fsyncs it, renames it over
// `path` and fsyncs the directory. A crash at any step leaves either the old
// or the new content at `path`, never a mix. On failure the temp file is
// removed when possible.
Status WriteFileAtomic(FileSystem& fs, const std::string& path, std::string_view data);

// "a/b/c.json" -> "a/b"; "c.json" -> "."; "/c" -> "/".
std::string DirName(std::string_view path);
// "a/b/c.json" -> "c.json".
std::string BaseName(std::string_view path);
// "a" + "b" -> "a/b" (no doubled slash).
std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace provisioner::platform
