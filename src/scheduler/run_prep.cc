#include "scheduler/run_prep.h"

#include "platform/filename.h"
#include "scheduler/job_spec.h"
#include "workspace/materializer.h"
#include "workspace/template_catalog.h"

namespace provisioner::scheduler {
namespace {
const std::map<std::string, std::string> kNoEnv;
}  // namespace

std::variant<PreparedRun, RunNotPrepared> PrepareRun(platform::FileSystem& fs,
                                                     const RunRequest& request) {
  const config::Config& config = *request.config;
  auto failed = [](std::string error, bool retryable) {
    return RunNotPrepared{std::move(error), retryable};
  };
  workspace::Materializer materializer(fs, config.state.dir);
  auto dir = materializer.WorkspaceDir(request.workspace);
  if (!dir.ok()) return failed(dir.status().message(), false);
  if (Status s = fs.CreateDirs(*dir); !s.ok()) return failed(s.message(), true);
  auto lock = platform::FileLock::TryAcquire(platform::WorkspaceLockFileName(*dir));
  if (!lock.ok()) {
    return failed("workspace directory " + *dir + " is in use by another provisioner job (the " +
                      "daemon's or a `provisioner run`): " + lock.status().message(),
                  true);
  }

  config::WorkspaceConfig orphan;
  const config::WorkspaceConfig* ws = request.workspace_config;
  if (ws != nullptr) {
    auto tpl = workspace::LoadTemplate(fs, config.templates_dir, ws->template_name);
    if (!tpl.ok()) return failed(tpl.status().message(), false);
    auto materialized = materializer.Materialize(*ws, *tpl);
    if (!materialized.ok()) return failed(materialized.status().message(), true);
  } else {
    orphan.name = request.workspace;
    ws = &orphan;
  }
  if (Status s = fs.CreateDirs(platform::DirName(request.log_path)); !s.ok()) {
    return failed("job log directory: " + s.message(), true);
  }
  if (Status s = fs.CreateDirs(config.opentofu.plugin_cache_dir); !s.ok()) {
    return failed("plugin cache: " + s.message(), true);
  }

  PreparedRun run;
  run.workspace_dir = *dir;
  run.lock = std::move(lock).value();
  run.spec = MakeTofuJobSpec(config, *ws, request.operation, request.binary, *dir, request.log_path,
                             *request.daemon_env, request.trace,
                             request.trace_env != nullptr ? *request.trace_env : kNoEnv);
  run.spec.inherit_fd = run.lock->fd();
  return run;
}

}  // namespace provisioner::scheduler
