// The template catalog: OpenTofu configurations that workspaces instantiate.
//
// Every directory directly under `templates_dir` whose top level holds
// `*.tf` or `*.tf.json` files is a template. A template is read whole (its
// files and subdirectories, e.g. local modules) and identified by a SHA-256
// over its relative paths and contents, so a workspace directory is only
// rewritten when the template really changed.
//
// Files that belong to tofu's own runtime are never part of a template:
// `.terraform/`, `terraform.tfstate*`, `.terraform.tfstate.lock.info`,
// `terraform.tfstate.d/`, and hidden directories such as `.git/`. A symlink
// is followed only when its target is a file inside the template; a link
// that leaves the template, or points at a directory, makes the template
// unusable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "platform/file_system.h"

namespace provisioner::workspace {

struct TemplateFile {
  std::string path;  // relative, '/'-separated, no "." or ".." components
  std::string content;
};

struct Template {
  std::string name;
  std::string dir;                  // templates_dir/name
  std::string hash;                 // lowercase hex SHA-256 of paths and contents
  std::vector<TemplateFile> files;  // sorted by path
};

// Upper bounds that keep a mistaken templates_dir (pointing at / say) from
// eating the daemon's memory.
struct TemplateLimits {
  size_t max_files = 10'000;
  uint64_t max_total_bytes = 64ull << 20;
  int max_depth = 16;
};

// Reads one template. Errors: NotFound `template "x" not found in DIR`;
// FailedPrecondition for a directory without *.tf files (not a template);
// InvalidArgument for a symlink leaving the template or limits exceeded.
Result<Template> LoadTemplate(platform::FileSystem& fs, const std::string& templates_dir,
                              const std::string& name, const TemplateLimits& limits = {});

struct CatalogEntry {
  std::string name;
  std::string hash;  // "" when the template could not be loaded
  size_t files = 0;
  std::string error;  // why it is unusable, or ""
};

// Every template under `templates_dir`, sorted by name. Directories without
// *.tf files are not templates and are left out; templates that fail to load
// are listed with their error. Fails only when templates_dir cannot be read.
Result<std::vector<CatalogEntry>> ScanTemplates(platform::FileSystem& fs,
                                                const std::string& templates_dir,
                                                const TemplateLimits& limits = {});

// "" when `templates_dir`/`name` is a loadable template, else the reason.
// Suits config::ParseOptions::check_template.
std::string CheckTemplate(platform::FileSystem& fs, const std::string& templates_dir,
                          const std::string& name);

}  // namespace provisioner::workspace
