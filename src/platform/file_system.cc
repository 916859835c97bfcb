#include "platform/file_system.h"

namespace provisioner::platform {

Status WriteFileAtomic(FileSystem& fs, const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  Status s = fs.WriteFile(tmp, data);
  if (s.ok()) s = fs.SyncFile(tmp);
  if (s.ok()) s = fs.Rename(tmp, path);
  if (!s.ok()) {
    // Best effort: a stale temp file is harmless, the next save overwrites it.
    (void)fs.Remove(tmp);
    return s;
  }
  return fs.SyncDir(DirName(path));
}

std::string DirName(std::string_view path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string BaseName(std::string_view path) {
  size_t slash = path.find_last_of('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  std::string out(a);
  if (out.back() != '/') out.push_back('/');
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  out.append(b);
  return out;
}

}  // namespace provisioner::platform
