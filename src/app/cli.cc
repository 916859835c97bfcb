#include "app/cli.h"

#include <ostream>

#include "app/cli_commands.h"

namespace provisioner::app {

int UsageError(CliEnv& env, const std::string& message) {
  env.err << "provisioner: " << message << "\n";
  return kExitUsage;
}

int Failure(CliEnv& env, const std::string& message) {
  env.err << "provisioner: " << message << "\n";
  return kExitFailure;
}

namespace {

// CLI11's own messages can span lines ("...\nRun with --help ..."); keep the
// first line so that every usage error is one line.
std::string FirstLine(const std::string& text) {
  size_t nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

}  // namespace

int RunCli(int argc, const char* const* argv, CliEnv& env) {
  CLI::App app{"provisioner: keeps OpenTofu workspaces deployed or destroyed on cron schedules",
               "provisioner"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for all subcommands");
  int exit_code = kExitOk;
  bool show_version = false;
  app.add_flag("--version", show_version, "Print the version and exit");
  RegisterVersionCommand(app, env, &exit_code);
  RegisterCronCommands(app, env, &exit_code);
  RegisterConfigCommands(app, env, &exit_code);
  RegisterRunCommand(app, env, &exit_code);
  RegisterServeCommand(app, env, &exit_code);
  RegisterStateCommands(app, env, &exit_code);
  RegisterClientCommands(app, env, &exit_code);

  // `provisioner --version` is answered before CLI11 insists on a subcommand.
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--version") {
      const char* args[] = {argv[0], "version"};
      return RunCli(2, args, env);
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    env.out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    env.out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return UsageError(env, FirstLine(e.what()) + " (see --help)");
  }
  return exit_code;
}

}  // namespace provisioner::app
