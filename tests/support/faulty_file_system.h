// FaultyFileSystem: wraps another FileSystem and fails chosen operations
// [leveldb EnvWrapper + SpecialEnv]. A test arms one fault, e.g.
//   faulty.FailOn(FaultyFileSystem::Op::kRename, 2);  // the 2nd rename from now
// and checks what the code under test does with the error. Every call is
// recorded, so a test can also find out how many steps an operation takes.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "platform/file_system.h"

namespace provisioner::testing {

class FaultyFileSystem final : public platform::FileSystem {
 public:
  enum class Op { kRead, kWrite, kAppend, kSyncFile, kSyncDir, kRename, kRemove, kCreateDirs };

  explicit FaultyFileSystem(platform::FileSystem& base) : base_(base) {}

  // Fails the `nth` call of `op` (1 = the next one) with `error`; one fault
  // at a time, disarmed after it fires.
  void FailOn(Op op, int nth = 1,
              Status error = Status::IoError("injected fault", "Input/output error")) {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    sticky_ = false;
    op_ = op;
    countdown_ = nth;
    error_ = std::move(error);
  }
  // Fails every call of `op` from now on with `error`, until Disarm(): a
  // disk that stays full, a file system that stays read-only.
  void FailAlways(Op op, Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    sticky_ = true;
    op_ = op;
    countdown_ = 1;
    error_ = std::move(error);
  }
  void Disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
    sticky_ = false;
  }
  bool fired() {
    std::lock_guard<std::mutex> lock(mu_);
    return fired_;
  }
  // "write state.json.tmp", "rename state.json.tmp", ... in call order.
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }

  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override {
    if (Status s = Check(Op::kRead, "read", path); !s.ok()) return s;
    return base_.ReadFile(path, max_bytes);
  }
  Result<std::string> ReadFileFrom(const std::string& path, uint64_t offset,
                                   uint64_t max_bytes) override {
    if (Status s = Check(Op::kRead, "read-from", path); !s.ok()) return s;
    return base_.ReadFileFrom(path, offset, max_bytes);
  }
  Status WriteFile(const std::string& path, std::string_view data) override {
    if (Status s = Check(Op::kWrite, "write", path); !s.ok()) {
      // A failed write may still have left part of the data behind.
      (void)base_.WriteFile(path, data.substr(0, data.size() / 2));
      return s;
    }
    return base_.WriteFile(path, data);
  }
  Status AppendFile(const std::string& path, std::string_view data, bool sync) override {
    if (Status s = Check(Op::kAppend, "append", path); !s.ok()) {
      (void)base_.AppendFile(path, data.substr(0, data.size() / 2), false);
      return s;
    }
    return base_.AppendFile(path, data, sync);
  }
  Status SyncFile(const std::string& path) override {
    if (Status s = Check(Op::kSyncFile, "fsync", path); !s.ok()) return s;
    return base_.SyncFile(path);
  }
  Status SyncDir(const std::string& path) override {
    if (Status s = Check(Op::kSyncDir, "fsync-dir", path); !s.ok()) return s;
    return base_.SyncDir(path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (Status s = Check(Op::kRename, "rename", from); !s.ok()) return s;
    return base_.Rename(from, to);
  }
  Status Remove(const std::string& path) override {
    if (Status s = Check(Op::kRemove, "remove", path); !s.ok()) return s;
    return base_.Remove(path);
  }
  Status RemoveAll(const std::string& path) override {
    if (Status s = Check(Op::kRemove, "remove-all", path); !s.ok()) return s;
    return base_.RemoveAll(path);
  }
  Result<platform::FileInfo> Stat(const std::string& path) override { return base_.Stat(path); }
  Status CreateDirs(const std::string& path) override {
    if (Status s = Check(Op::kCreateDirs, "mkdir", path); !s.ok()) return s;
    return base_.CreateDirs(path);
  }
  Result<std::vector<platform::DirEntry>> ListDir(const std::string& path) override {
    return base_.ListDir(path);
  }
  Result<std::string> ReadLink(const std::string& path) override { return base_.ReadLink(path); }
  Status SetPermissions(const std::string& path, uint32_t mode) override {
    return base_.SetPermissions(path, mode);
  }
  Result<uint64_t> FreeSpace(const std::string& path) override { return base_.FreeSpace(path); }

 private:
  Status Check(Op op, const char* name, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(std::string(name) + " " + platform::BaseName(path));
    if (!armed_ || op != op_) return Status::Ok();
    if (sticky_) {
      fired_ = true;
      return error_;
    }
    if (--countdown_ > 0) return Status::Ok();
    armed_ = false;
    fired_ = true;
    return error_;
  }

  platform::FileSystem& base_;
  std::mutex mu_;
  bool armed_ = false;
  bool fired_ = false;
  bool sticky_ = false;
  Op op_ = Op::kWrite;
  int countdown_ = 0;
  Status error_;
  std::vector<std::string> calls_;
};

}  // namespace provisioner::testing
