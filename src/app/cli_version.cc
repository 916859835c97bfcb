#include <ostream>

#include "app/cli_commands.h"
#include "base/strings.h"
#include "build_info.h"

namespace provisioner::app {

void RegisterVersionCommand(CLI::App& app, CliEnv& env, int* exit_code) {
  auto* cmd = app.add_subcommand("version", "Print the version, the git commit and the compiler");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "One JSON object, for scripts");
  cmd->callback([&env, exit_code, json] {
    if (*json) {
      std::string out = "{\"version\":";
      AppendJsonString(&out, PROVISIONER_VERSION);
      out.append(",\"commit\":");
      AppendJsonString(&out, PROVISIONER_GIT_COMMIT);
      out.append(",\"compiler\":");
      AppendJsonString(&out, PROVISIONER_COMPILER);
      out.append("}\n");
      env.out << out;
    } else {
      env.out << "provisioner " << PROVISIONER_VERSION << " (commit " << PROVISIONER_GIT_COMMIT
              << ", " << PROVISIONER_COMPILER << ")\n";
    }
    *exit_code = kExitOk;
  });
}

}  // namespace provisioner::app
