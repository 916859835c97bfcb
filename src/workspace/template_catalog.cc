#include "workspace/template_catalog.h"

#include <algorithm>

#include "base/strings.h"
#include "platform/sha256.h"

namespace provisioner::workspace {
namespace {

using platform::DirEntry;
using platform::FileSystem;
using platform::FileType;
using platform::JoinPath;

bool IsTofuConfigFile(std::string_view name) {
  return name.ends_with(".tf") || name.ends_with(".tf.json");
}

// Names that tofu creates at run time; a template never carries them.
bool IsRuntimeName(std::string_view name) {
  return name == ".terraform" || name.starts_with("terraform.tfstate") ||
         name == ".terraform.tfstate.lock.info";
}

// Lexically resolves `link_dir`/`target` inside the template; false when the
// result would leave it (absolute targets, or too many "..").
bool ResolveInside(std::string_view link_dir, std::string_view target, std::string* out) {
  if (target.empty() || target.front() == '/') return false;
  std::vector<std::string_view> parts;
  if (!link_dir.empty()) {
    for (std::string_view p : Split(link_dir, '/')) parts.push_back(p);
  }
  for (std::string_view p : Split(target, '/')) {
    if (p.empty() || p == ".") continue;
    if (p == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
    } else {
      parts.push_back(p);
    }
  }
  if (parts.empty()) return false;
  out->clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out->push_back('/');
    out->append(parts[i]);
  }
  return true;
}

class Loader {
 public:
  Loader(FileSystem& fs, const std::string& root, const std::string& name,
         const TemplateLimits& limits)
      : fs_(fs), root_(root), name_(name), limits_(limits) {}

  Status Walk(const std::string& rel, int depth) {
    if (depth > limits_.max_depth) {
      return Fail("nested deeper than " + std::to_string(limits_.max_depth) + " directories at " +
                  rel);
    }
    const std::string dir = rel.empty() ? root_ : JoinPath(root_, rel);
    ASSIGN_OR_RETURN(std::vector<DirEntry> entries, fs_.ListDir(dir));
    for (const DirEntry& e : entries) {
      if (IsRuntimeName(e.name)) continue;
      const std::string child = rel.empty() ? e.name : rel + "/" + e.name;
      switch (e.type) {
        case FileType::kDirectory:
          if (e.name.starts_with(".")) continue;  // .git, .github, editor folders
          RETURN_IF_ERROR(Walk(child, depth + 1));
          break;
        case FileType::kRegular:
          RETURN_IF_ERROR(AddFile(child, JoinPath(root_, child)));
          break;
        case FileType::kSymlink:
          RETURN_IF_ERROR(AddLink(rel, child));
          break;
        case FileType::kOther:
          return Fail(child + " is not a regular file");
      }
    }
    return Status::Ok();
  }

  Result<Template> Finish() {
    bool has_config = std::any_of(files_.begin(), files_.end(), [](const TemplateFile& f) {
      return f.path.find('/') == std::string::npos && IsTofuConfigFile(f.path);
    });
    if (!has_config) {
      // FailedPrecondition marks "not a template at all", which ScanTemplates skips.
      return Status::FailedPrecondition("template \"" + name_ + "\"",
                                        "has no *.tf or *.tf.json files");
    }
    std::sort(files_.begin(), files_.end(),
              [](const TemplateFile& a, const TemplateFile& b) { return a.path < b.path; });
    platform::Sha256 sha;
    for (const TemplateFile& f : files_) {
      // Length-prefixed, so that ("ab","c") and ("a","bc") hash differently.
      sha.Update(std::to_string(f.path.size()) + ":" + f.path + ":" +
                 std::to_string(f.content.size()) + ":");
      sha.Update(f.content);
    }
    Template t;
    t.name = name_;
    t.dir = root_;
    t.hash = sha.HexDigest();
    t.files = std::move(files_);
    return t;
  }

 private:
  Status Fail(const std::string& why) {
    return Status::InvalidArgument("template \"" + name_ + "\"", why);
  }

  Status AddFile(const std::string& rel, const std::string& path) {
    if (files_.size() >= limits_.max_files) {
      return Fail("has more than " + std::to_string(limits_.max_files) + " files");
    }
    ASSIGN_OR_RETURN(std::string content, fs_.ReadFile(path, limits_.max_total_bytes - total_));
    total_ += content.size();
    files_.push_back(TemplateFile{rel, std::move(content)});
    return Status::Ok();
  }

  Status AddLink(const std::string& dir_rel, const std::string& rel) {
    const std::string path = JoinPath(root_, rel);
    ASSIGN_OR_RETURN(std::string target, fs_.ReadLink(path));
    std::string resolved;
    if (!ResolveInside(dir_rel, target, &resolved)) {
      return Fail("symlink " + rel + " -> " + target + " points outside the template");
    }
    // One level only: the target must be a regular file, not another link or
    // a directory (which could loop).
    auto info = fs_.Stat(JoinPath(root_, resolved));
    if (!info.ok() || info->type != FileType::kRegular) {
      return Fail("symlink " + rel + " -> " + target + " does not point at a regular file");
    }
    return AddFile(rel, JoinPath(root_, resolved));
  }

  FileSystem& fs_;
  const std::string root_;
  const std::string name_;
  const TemplateLimits limits_;
  std::vector<TemplateFile> files_;
  uint64_t total_ = 0;
};

bool IsPlainName(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

}  // namespace

Result<Template> LoadTemplate(FileSystem& fs, const std::string& templates_dir,
                              const std::string& name, const TemplateLimits& limits) {
  if (!IsPlainName(name)) {
    return Status::InvalidArgument("template \"" + name + "\"",
                                   "must be a directory name directly under " + templates_dir);
  }
  const std::string root = JoinPath(templates_dir, name);
  auto info = fs.Stat(root);
  if (!info.ok()) {
    if (info.status().IsNotFound()) {
      return Status::NotFound("template \"" + name + "\" not found in " + templates_dir);
    }
    return info.status();
  }
  if (info->type == FileType::kSymlink) {
    // templates_dir/name may be a link (say, to a checkout); follow it once.
    auto link = fs.ReadLink(root);
    if (!link.ok()) return link.status();
    const std::string& target = *link;
    std::string real =
        !target.empty() && target[0] == '/' ? target : JoinPath(templates_dir, target);
    auto real_info = fs.Stat(real);
    if (!real_info.ok() || real_info->type != FileType::kDirectory) {
      return Status::InvalidArgument("template \"" + name + "\"",
                                     root + " -> " + target + " is not a directory");
    }
    Loader loader(fs, real, name, limits);
    RETURN_IF_ERROR(loader.Walk("", 0));
    return loader.Finish();
  }
  if (info->type != FileType::kDirectory) {
    return Status::InvalidArgument("template \"" + name + "\"", root + " is not a directory");
  }
  Loader loader(fs, root, name, limits);
  RETURN_IF_ERROR(loader.Walk("", 0));
  return loader.Finish();
}

Result<std::vector<CatalogEntry>> ScanTemplates(FileSystem& fs, const std::string& templates_dir,
                                                const TemplateLimits& limits) {
  ASSIGN_OR_RETURN(std::vector<DirEntry> entries, fs.ListDir(templates_dir));
  std::vector<CatalogEntry> out;
  for (const DirEntry& e : entries) {
    if (e.name.starts_with(".")) continue;
    if (e.type != FileType::kDirectory && e.type != FileType::kSymlink) continue;
    auto t = LoadTemplate(fs, templates_dir, e.name, limits);
    CatalogEntry entry;
    entry.name = e.name;
    if (t.ok()) {
      entry.hash = t->hash;
      entry.files = t->files.size();
    } else if (t.status().code() == Status::Code::kFailedPrecondition) {
      continue;  // a plain directory (docs, shared modules): not a template
    } else {
      entry.error = t.status().message();
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::string CheckTemplate(FileSystem& fs, const std::string& templates_dir,
                          const std::string& name) {
  auto t = LoadTemplate(fs, templates_dir, name);
  return t.ok() ? std::string() : t.status().message();
}

}  // namespace provisioner::workspace
