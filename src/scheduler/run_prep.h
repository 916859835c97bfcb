// Getting a workspace ready for one tofu job. The daemon's Reconciler and
// `provisioner run` both call PrepareRun, so that a job started by either
// one sees the same directory, lock, template, variables and environment.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "config/config.h"
#include "platform/file_lock.h"
#include "platform/file_system.h"
#include "tofu/tofu_client.h"

namespace provisioner::scheduler {

struct RunRequest {
  const config::Config* config = nullptr;
  std::string workspace;  // a valid workspace name
  // The workspace's config; null for an orphan (removed from the config),
  // which is destroyed in the directory it was last deployed from, without
  // touching its files.
  const config::WorkspaceConfig* workspace_config = nullptr;
  tofu::Operation operation = tofu::Operation::kDeploy;
  std::string binary;  // absolute path (ResolveTofuBinary)
  std::string log_path;
  const std::map<std::string, std::string>* daemon_env = nullptr;
  // The job span and the OTEL_* env of a sampled job's tofu (job_spec.h).
  TraceContext trace;
  const std::map<std::string, std::string>* trace_env = nullptr;
};

struct PreparedRun {
  std::string workspace_dir;
  // The workspace's .provisioner.lock, held until the job ends: no daemon
  // job and `provisioner run` ever work in one directory at once.
  std::unique_ptr<platform::FileLock> lock;
  tofu::TofuJobSpec spec;
};

struct RunNotPrepared {
  std::string error;
  // Worth another attempt later (a busy directory, a full disk), as opposed
  // to a problem of the config (a missing template) that only an edit fixes.
  bool retryable = false;
};

// Creates state.dir/workspaces/<name> and takes its lock, materializes the
// template and the variables, creates the job's log directory and the
// plugin cache, and builds the job spec (DESIGN.md §5). Touches nothing
// outside state.dir and the plugin cache.
std::variant<PreparedRun, RunNotPrepared> PrepareRun(platform::FileSystem& fs,
                                                     const RunRequest& request);

}  // namespace provisioner::scheduler
