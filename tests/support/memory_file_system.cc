#include "support/memory_file_system.h"

#include <algorithm>

namespace provisioner::testing {

using platform::DirEntry;
using platform::DirName;
using platform::FileInfo;
using platform::FileType;

MemoryFileSystem::MemoryFileSystem() { dirs_.insert("/"); }

std::string MemoryFileSystem::Normalize(const std::string& path) {
  std::string out = path.empty() || path[0] != '/' ? "/" + path : path;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool MemoryFileSystem::DirExists(const std::string& dir) const { return dirs_.count(dir) > 0; }

Result<std::string> MemoryFileSystem::ReadFile(const std::string& p, uint64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string path = Normalize(p);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (DirExists(path)) return Status::InvalidArgument("read " + p, "is a directory");
    return Status::NotFound("open " + p, "No such file or directory");
  }
  if (it->second->data.size() > max_bytes) {
    return Status::ResourceExhausted("read " + p, "over the limit");
  }
  return it->second->data;
}

Result<std::string> MemoryFileSystem::ReadFileFrom(const std::string& p, uint64_t offset,
                                                   uint64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string path = Normalize(p);
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (DirExists(path)) return Status::InvalidArgument("read " + p, "is a directory");
    return Status::NotFound("open " + p, "No such file or directory");
  }
  const std::string& data = it->second->data;
  if (offset >= data.size()) return std::string();
  return data.substr(static_cast<size_t>(offset),
                     static_cast<size_t>(std::min<uint64_t>(max_bytes, data.size() - offset)));
}

Status MemoryFileSystem::WriteFile(const std::string& p, std::string_view data) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string path = Normalize(p);
  if (!DirExists(DirName(path))) return Status::NotFound("open " + p, "No such file or directory");
  auto& inode = files_[path];
  if (inode == nullptr) inode = std::make_shared<Inode>();
  inode->data.assign(data);
  return Status::Ok();
}

Status MemoryFileSystem::AppendFile(const std::string& p, std::string_view data, bool sync) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string path = Normalize(p);
  if (!DirExists(DirName(path))) return Status::NotFound("open " + p, "No such file or directory");
  auto& inode = files_[path];
  if (inode == nullptr) inode = std::make_shared<Inode>();
  inode->data.append(data);
  if (sync) {
    inode->durable_data = inode->data;
    // fdatasync of a new file also makes its directory entry durable on
    // Linux file systems in practice; model the conservative case: it does not.
  }
  return Status::Ok();
}

Status MemoryFileSystem::SyncFile(const std::string& p) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(Normalize(p));
  if (it == files_.end()) return Status::NotFound("open " + p, "No such file or directory");
  it->second->durable_data = it->second->data;
  return Status::Ok();
}

Status MemoryFileSystem::SyncDir(const std::string& p) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string dir = Normalize(p);
  if (!DirExists(dir)) return Status::NotFound("open directory " + p, "No such file or directory");
  // The durable namespace of this directory becomes the current one.
  for (auto it = durable_files_.begin(); it != durable_files_.end();) {
    it = DirName(it->first) == dir ? durable_files_.erase(it) : std::next(it);
  }
  for (const auto& [path, inode] : files_) {
    if (DirName(path) == dir) durable_files_[path] = inode;
  }
  return Status::Ok();
}

Status MemoryFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(Normalize(from));
  if (it == files_.end()) {
    return Status::NotFound("rename " + from + " to " + to, "No such file or directory");
  }
  if (!DirExists(DirName(Normalize(to)))) {
    return Status::NotFound("rename " + from + " to " + to, "No such file or directory");
  }
  auto inode = it->second;
  files_.erase(it);
  files_[Normalize(to)] = inode;
  return Status::Ok();
}

Status MemoryFileSystem::Remove(const std::string& p) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string path = Normalize(p);
  if (files_.erase(path) > 0) return Status::Ok();
  if (DirExists(path)) {
    for (const auto& [f, _] : files_) {
      if (f.starts_with(path + "/")) return Status::IoError("remove " + p, "Directory not empty");
    }
    dirs_.erase(path);
    return Status::Ok();
  }
  return Status::NotFound("remove " + p, "No such file or directory");
}

Status MemoryFileSystem::RemoveAll(const std::string& p) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string path = Normalize(p);
  files_.erase(path);
  for (auto it = files_.begin(); it != files_.end();) {
    it = it->first.starts_with(path + "/") ? files_.erase(it) : std::next(it);
  }
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    it = (*it == path || it->starts_with(path + "/")) && *it != "/" ? dirs_.erase(it)
                                                                    : std::next(it);
  }
  return Status::Ok();
}

Result<FileInfo> MemoryFileSystem::Stat(const std::string& p) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string path = Normalize(p);
  FileInfo info;
  auto it = files_.find(path);
  if (it != files_.end()) {
    info.type = FileType::kRegular;
    info.size = it->second->data.size();
    info.mode = it->second->mode;
    return info;
  }
  if (DirExists(path)) {
    info.type = FileType::kDirectory;
    info.mode = 0755;
    return info;
  }
  return Status::NotFound("stat " + p, "No such file or directory");
}

Status MemoryFileSystem::CreateDirs(const std::string& p) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string path = Normalize(p);
  // Directories are modelled as always durable; the tests are about files.
  while (path != "/" && !path.empty()) {
    if (files_.count(path) > 0) {
      return Status::FailedPrecondition("create directory " + path,
                                        "exists and is not a directory");
    }
    dirs_.insert(path);
    path = DirName(path);
  }
  return Status::Ok();
}

Result<std::vector<DirEntry>> MemoryFileSystem::ListDir(const std::string& p) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string dir = Normalize(p);
  if (!DirExists(dir)) return Status::NotFound("open directory " + p, "No such file or directory");
  std::vector<DirEntry> out;
  for (const auto& [path, _] : files_) {
    if (DirName(path) == dir) out.push_back({platform::BaseName(path), FileType::kRegular});
  }
  for (const std::string& d : dirs_) {
    if (d != dir && DirName(d) == dir) out.push_back({platform::BaseName(d), FileType::kDirectory});
  }
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

Result<std::string> MemoryFileSystem::ReadLink(const std::string& p) {
  return Status::InvalidArgument("readlink " + p, "not a symlink");
}

Status MemoryFileSystem::SetPermissions(const std::string& p, uint32_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(Normalize(p));
  if (it == files_.end()) {
    if (DirExists(Normalize(p))) return Status::Ok();
    return Status::NotFound("chmod " + p, "No such file or directory");
  }
  it->second->mode = mode;
  return Status::Ok();
}

Result<uint64_t> MemoryFileSystem::FreeSpace(const std::string&) { return uint64_t{1} << 40; }

void MemoryFileSystem::SimulateCrash() {
  std::lock_guard<std::mutex> lock(mu_);
  files_ = durable_files_;
  for (auto& [path, inode] : files_) {
    // Each surviving name gets the inode's durable data; copies keep the
    // durable namespace independent of later writes.
    auto fresh = std::make_shared<Inode>();
    fresh->data = inode->durable_data;
    fresh->durable_data = inode->durable_data;
    inode = fresh;
  }
  durable_files_ = files_;
}

std::vector<std::string> MemoryFileSystem::Files() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [path, _] : files_) out.push_back(path);
  return out;
}

}  // namespace provisioner::testing
