#include "workspace/materializer.h"

#include <set>

#include "base/strings.h"
#include "platform/filename.h"

namespace provisioner::workspace {
namespace {

using platform::DirName;
using platform::JoinPath;

constexpr std::string_view kManifestName = ".provisioner-manifest";
constexpr std::string_view kManifestHeader = "provisioner-manifest 1";
constexpr std::string_view kLockFile = ".terraform.lock.hcl";
constexpr std::string_view kVarsFile = "terraform.tfvars.json";

struct Manifest {
  std::string template_name;
  std::string hash;
  std::vector<std::string> files;
};

// A manifest path is trusted only when it is relative and stays inside the
// workspace directory; anything else (a hand-edited file) is ignored.
bool IsSafeRelative(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  for (std::string_view part : Split(path, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

Manifest ParseManifest(std::string_view text) {
  Manifest m;
  auto lines = Split(text, '\n');
  if (lines.empty() || lines[0] != kManifestHeader) return m;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.starts_with("template ")) {
      auto parts = Split(line.substr(9), ' ');
      if (parts.size() == 2) {
        m.template_name = std::string(parts[0]);
        m.hash = std::string(parts[1]);
      }
    } else if (line.starts_with("file ")) {
      std::string_view path = line.substr(5);
      if (IsSafeRelative(path)) m.files.emplace_back(path);
    }
  }
  return m;
}

std::string FormatManifest(const Template& tpl, const std::vector<std::string>& files) {
  std::string out(kManifestHeader);
  out += "\ntemplate " + tpl.name + " " + tpl.hash + "\n";
  for (const std::string& f : files) out += "file " + f + "\n";
  return out;
}

}  // namespace

bool IsTofuOwned(std::string_view path) {
  std::string_view first = path.substr(0, path.find('/'));
  return first == ".terraform" || first.starts_with("terraform.tfstate") ||
         first == ".terraform.tfstate.lock.info" || first == kLockFile;
}

Materializer::Materializer(platform::FileSystem& fs, std::string state_dir)
    : fs_(fs), state_dir_(std::move(state_dir)) {}

Result<std::string> Materializer::WorkspaceDir(const std::string& name) const {
  if (!config::IsValidWorkspaceName(name)) {
    return Status::InvalidArgument("workspace name \"" + name + "\"", "not a valid directory name");
  }
  return platform::WorkspaceDirName(state_dir_, name);
}

Result<MaterializeResult> Materializer::Materialize(const config::WorkspaceConfig& ws,
                                                    const Template& tpl) {
  MaterializeResult result;
  ASSIGN_OR_RETURN(result.dir, WorkspaceDir(ws.name));
  result.template_hash = tpl.hash;
  RETURN_IF_ERROR(fs_.CreateDirs(result.dir));

  // Writes `content` to dir/rel through a temp file and a rename, unless it
  // is already there.
  auto put = [this, &result](const std::string& rel, std::string_view content) -> Result<bool> {
    const std::string path = JoinPath(result.dir, rel);
    auto current = fs_.ReadFile(path, content.size() + 1);
    if (current.ok() && *current == content) return false;
    RETURN_IF_ERROR(fs_.CreateDirs(DirName(path)));
    const std::string tmp = path + ".provisioner-tmp";
    RETURN_IF_ERROR(fs_.WriteFile(tmp, content));
    RETURN_IF_ERROR(fs_.Rename(tmp, path));
    return true;
  };

  const std::string manifest_path = JoinPath(result.dir, kManifestName);
  Manifest old;
  auto old_text = fs_.ReadFile(manifest_path, 16 << 20);
  if (old_text.ok()) {
    old = ParseManifest(*old_text);
  } else if (!old_text.status().IsNotFound()) {
    return old_text.status();
  }

  if (old.hash != tpl.hash || old.template_name != tpl.name) {
    result.template_changed = true;
    std::vector<std::string> written;
    for (const TemplateFile& file : tpl.files) {
      if (file.path == kVarsFile) continue;  // ours, from `variables`, wins
      if (IsTofuOwned(file.path)) {
        // A lock file in the template seeds the workspace once; from then on
        // `tofu init` maintains it.
        if (file.path == kLockFile &&
            fs_.Stat(JoinPath(result.dir, kLockFile)).status().IsNotFound()) {
          RETURN_IF_ERROR(put(std::string(kLockFile), file.content).status());
          ++result.files_written;
        }
        continue;
      }
      ASSIGN_OR_RETURN(bool changed, put(file.path, file.content));
      if (changed) ++result.files_written;
      written.push_back(file.path);
    }
    std::set<std::string> keep(written.begin(), written.end());
    for (const std::string& stale : old.files) {
      if (keep.count(stale) > 0 || IsTofuOwned(stale) || stale == kVarsFile) continue;
      Status s = fs_.Remove(JoinPath(result.dir, stale));
      if (s.ok()) {
        ++result.files_removed;
      } else if (!s.IsNotFound()) {
        return s;
      }
    }
    RETURN_IF_ERROR(platform::WriteFileAtomic(fs_, manifest_path, FormatManifest(tpl, written)));
  }

  ASSIGN_OR_RETURN(result.variables_changed, put(std::string(kVarsFile), ws.variables_json + "\n"));
  return result;
}

}  // namespace provisioner::workspace
