#include "scheduler/job_spec.h"

#include "platform/file_system.h"
#include "platform/filename.h"
#include "platform/process_info.h"

namespace provisioner::scheduler {

tofu::TofuJobSpec MakeTofuJobSpec(const config::Config& config, const config::WorkspaceConfig& ws,
                                  tofu::Operation operation, const std::string& binary,
                                  const std::string& workspace_dir, const std::string& log_path,
                                  const std::map<std::string, std::string>& daemon_env,
                                  const TraceContext& trace,
                                  const std::map<std::string, std::string>& trace_env) {
  tofu::EnvInputs in;
  in.daemon_env = daemon_env;
  in.pass_env = config.opentofu.pass_env;
  in.global_env = config.opentofu.env;
  in.workspace_env = ws.env;
  in.plugin_cache_dir = config.opentofu.plugin_cache_dir;
  in.home_fallback = config.state.dir;
  if (trace.sampled()) in.trace_env = trace_env;

  tofu::TofuJobSpec spec;
  spec.operation = operation;
  spec.binary = binary;
  spec.workspace_dir = workspace_dir;
  spec.env = tofu::BuildEnv(in);
  if (trace.sampled()) spec.trace = trace;
  for (const auto& [key, value] : ws.backend_config) spec.backend_config.emplace_back(key, value);
  spec.lock_timeout = config.opentofu.lock_timeout;
  spec.timeout = config.JobTimeout(ws);
  spec.kill_grace = config.scheduler.kill_grace;
  spec.require_locking_backend = config.ha.enabled;
  spec.log_path = log_path;
  return spec;
}

Result<ResolvedBinary> ResolveTofuBinary(const config::Config& config,
                                         const std::map<std::string, std::string>& daemon_env,
                                         tofu::Installer* installer, const std::string& arch) {
  auto path_it = daemon_env.find("PATH");
  const std::string path_var = path_it != daemon_env.end()
                                   ? path_it->second
                                   : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  // Both ways return an absolute path: the runner starts tofu in the
  // workspace directory, where a relative path names another file.
  auto found = platform::FindExecutable(config.opentofu.binary, path_var);
  if (found.ok()) return ResolvedBinary{*found, false};
  if (config.opentofu.version.empty() || installer == nullptr) return found.status();

  tofu::InstallRequest req;
  req.version = config.opentofu.version;
  req.base_url = config.opentofu.download_base_url;
  // state.dir is absolute when the config came from a file, not when it was
  // parsed without a base directory.
  ASSIGN_OR_RETURN(req.install_root,
                   platform::AbsolutePath(platform::TofuInstallRootName(config.state.dir)));
  req.arch = arch;
  tofu::EnvInputs env;
  env.daemon_env = daemon_env;
  env.home_fallback = config.state.dir;
  req.env = tofu::BuildEnv(env);
  ASSIGN_OR_RETURN(tofu::InstallResult installed, installer->EnsureInstalled(req));
  return ResolvedBinary{installed.binary, installed.downloaded};
}

}  // namespace provisioner::scheduler
