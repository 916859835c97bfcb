// MemoryFileSystem: an in-memory FileSystem that also models durability.
//
// It keeps, besides the current contents, what a power cut would leave:
// file data becomes durable on SyncFile (or an AppendFile with sync), and a
// directory's entries (creations, renames, removals) become durable on
// SyncDir of that directory. SimulateCrash() throws away everything that
// was not made durable, the way POSIX allows, so tests can check that a
// protocol survives a crash at any step [leveldb helpers/memenv,
// fault_injection_test.cc].
//
// Thread-safe (one mutex), like the real one.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "platform/file_system.h"

namespace provisioner::testing {

class MemoryFileSystem final : public platform::FileSystem {
 public:
  MemoryFileSystem();

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
  Result<platform::FileInfo> Stat(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  Result<std::vector<platform::DirEntry>> ListDir(const std::string& path) override;
  Result<std::string> ReadLink(const std::string& path) override;
  Status SetPermissions(const std::string& path, uint32_t mode) override;
  Result<uint64_t> FreeSpace(const std::string& path) override;

  // Drops every change that was not made durable.
  void SimulateCrash();

  // Every path that exists now, files only, sorted.
  std::vector<std::string> Files();

 private:
  struct Inode {
    std::string data;
    std::string durable_data;
    uint32_t mode = 0644;
  };
  using Entries = std::map<std::string, std::shared_ptr<Inode>>;  // full path -> inode

  static std::string Normalize(const std::string& path);
  bool DirExists(const std::string& dir) const;

  std::mutex mu_;
  Entries files_;          // the namespace now
  Entries durable_files_;  // the namespace a crash would leave
  std::set<std::string> dirs_;
};

}  // namespace provisioner::testing
