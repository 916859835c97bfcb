// Materializing a workspace directory: `state.dir/workspaces/<name>/` gets its
// template's files and a terraform.tfvars.json from its variables, ready for
// `tofu init`.
//
// The directory is shared with tofu, which keeps its own files there:
// `.terraform/`, `terraform.tfstate*`, `.terraform.tfstate.lock.info` and
// `.terraform.lock.hcl`. Those are never written or removed here (a lock
// file shipped in a template is copied only while the workspace has none).
//
// Template files are rewritten only when the template's hash differs from
// the one recorded in `.provisioner-manifest`. Each file is written to a temp
// name and renamed into place, files the template no longer has are removed,
// and the manifest is written last: a crash half-way leaves the old manifest,
// so the next call redoes the copy. Not thread-safe per workspace; the
// scheduler never runs two jobs of one workspace at once.
#pragma once

#include <string>

#include "base/result.h"
#include "config/config.h"
#include "platform/file_system.h"
#include "workspace/template_catalog.h"

namespace provisioner::workspace {

struct MaterializeResult {
  std::string dir;
  std::string template_hash;
  bool template_changed = false;   // template files were (re)written
  bool variables_changed = false;  // terraform.tfvars.json was (re)written
  size_t files_written = 0;
  size_t files_removed = 0;
};

class Materializer {
 public:
  // `state_dir` is config.state.dir. Never owns `fs`.
  Materializer(platform::FileSystem& fs, std::string state_dir);
  Materializer(const Materializer&) = delete;
  Materializer& operator=(const Materializer&) = delete;

  // state_dir/workspaces/<name>. `name` must be a valid workspace name (the
  // config enforces ^[a-z0-9][a-z0-9_-]{0,62}$), so it cannot escape.
  Result<std::string> WorkspaceDir(const std::string& name) const;

  // Brings the workspace directory up to date with `tpl` and `ws.variables_json`.
  Result<MaterializeResult> Materialize(const config::WorkspaceConfig& ws, const Template& tpl);

 private:
  platform::FileSystem& fs_;
  const std::string state_dir_;
};

// True for names of files that tofu owns in a workspace directory.
bool IsTofuOwned(std::string_view relative_path);

}  // namespace provisioner::workspace
