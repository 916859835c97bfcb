// Registration of the subcommands; one cli_<name>.cc per group.
#pragma once

#include <CLI/CLI.hpp>

#include "app/cli.h"

namespace provisioner::app {

// Each Register* adds its subcommand(s) to `app`. When a subcommand is chosen,
// its callback runs the command and stores the exit code in `*exit_code`.
void RegisterVersionCommand(CLI::App& app, CliEnv& env, int* exit_code);
void RegisterCronCommands(CLI::App& app, CliEnv& env, int* exit_code);
void RegisterConfigCommands(CLI::App& app, CliEnv& env, int* exit_code);  // validate, next
void RegisterRunCommand(CLI::App& app, CliEnv& env, int* exit_code);
void RegisterServeCommand(CLI::App& app, CliEnv& env, int* exit_code);
void RegisterStateCommands(CLI::App& app, CliEnv& env, int* exit_code);  // state export, import
// status, deploy, destroy, pause, resume, cancel, jobs, logs, report
void RegisterClientCommands(CLI::App& app, CliEnv& env, int* exit_code);

// Prints "provisioner: <message>" on stderr and returns kExitUsage.
int UsageError(CliEnv& env, const std::string& message);
// Prints "provisioner: <message>" on stderr and returns kExitFailure.
int Failure(CliEnv& env, const std::string& message);

}  // namespace provisioner::app
