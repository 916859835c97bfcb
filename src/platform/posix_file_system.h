// The real FileSystem, on POSIX calls. Every failure is a Status that names the
// path and the errno text; nothing throws.
#pragma once

#include "platform/file_system.h"

namespace provisioner::platform {

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override;
  Result<std::string> ReadFileFrom(const std::string& path, uint64_t offset,
                                   uint64_t max_bytes) override;
  Status WriteFile(const std::string& path, std::string_view data) override;
  Status AppendFile(const std::string& path, std::string_view data, bool sync) override;
  Status SyncFile(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status RemoveAll(const std::string& path) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  Result<std::vector<DirEntry>> ListDir(const std::string& path) override;
  Result<std::string> ReadLink(const std::string& path) override;
  Status SetPermissions(const std::string& path, uint32_t mode) override;
  Result<uint64_t> FreeSpace(const std::string& path) override;
};

}  // namespace provisioner::platform
