// From the config to what the tofu client needs, shared by the daemon and
// `provisioner run` so that both run tofu exactly alike.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "base/result.h"
#include "base/trace_context.h"
#include "config/config.h"
#include "tofu/installer.h"
#include "tofu/tofu_client.h"

namespace provisioner::scheduler {

// The environment and argv inputs of one job (DESIGN.md §5). When `trace`
// is sampled, the job's steps get spans below it and tofu gets `trace_env`
// (OTEL_TRACES_EXPORTER and the endpoint); otherwise neither.
tofu::TofuJobSpec MakeTofuJobSpec(const config::Config& config, const config::WorkspaceConfig& ws,
                                  tofu::Operation operation, const std::string& binary,
                                  const std::string& workspace_dir, const std::string& log_path,
                                  const std::map<std::string, std::string>& daemon_env,
                                  const TraceContext& trace,
                                  const std::map<std::string, std::string>& trace_env);

struct ResolvedBinary {
  std::string path;
  bool installed_now = false;  // the installer downloaded it for this call
};

// The tofu to run, always as an absolute path, found once so that every job
// starts exactly that file: `opentofu.binary` (looked up on the absolute
// entries of the daemon's PATH when it is a bare name); when it is missing
// and `opentofu.version` is pinned, state.dir/tofu/<v>/tofu through
// `installer` (may be null: then a missing binary is an error).
Result<ResolvedBinary> ResolveTofuBinary(const config::Config& config,
                                         const std::map<std::string, std::string>& daemon_env,
                                         tofu::Installer* installer, const std::string& arch);

}  // namespace provisioner::scheduler
