// provisioner run deploy|destroy --config FILE --workspace NAME
//
// One job in the foreground, through the code the daemon uses: materialize
// the workspace, run the tofu steps, show progress resource by resource.
// Ctrl-C (SIGINT) or SIGTERM stops tofu through the stop ladder.
#include <csignal>
#include <memory>
#include <mutex>
#include <ostream>

#include "app/cli_commands.h"
#include "app/config_file.h"
#include "app/progress_printer.h"
#include "base/duration.h"
#include "base/strings.h"
#include "base/time_format.h"
#include "http/http_client.h"
#include "platform/filename.h"
#include "platform/posix_process_runner.h"
#include "platform/process_info.h"
#include "platform/signal_watcher.h"
#include "scheduler/job_spec.h"
#include "scheduler/run_prep.h"

namespace provisioner::app {
namespace {

using tofu::UiEvent;

struct RunOptions {
  std::string operation;
  std::string config;
  std::string workspace;
};

int RunJob(CliEnv& env, const RunOptions& opts) {
  const tofu::Operation op =
      opts.operation == "deploy" ? tofu::Operation::kDeploy : tofu::Operation::kDestroy;
  ConfigLoad load = LoadConfigFile(env.fs, opts.config, env.cwd);
  if (!load.read_status.ok()) return UsageError(env, load.read_status.message());
  if (!load.parse.ok()) {
    for (const auto& d : load.parse.errors) env.err << d.ToString() << "\n";
    return UsageError(env, opts.config + ": invalid config");
  }
  const config::Config& config = *load.parse.config;
  const config::WorkspaceConfig* ws = config.FindWorkspace(opts.workspace);
  if (ws == nullptr) {
    return UsageError(env,
                      "--workspace: no workspace \"" + opts.workspace + "\" in " + opts.config);
  }

  // Signals first: the runner's thread must inherit the blocked mask.
  platform::PosixProcessRunner* runner_ptr = nullptr;
  std::mutex runner_mu;
  auto watcher = platform::SignalWatcher::Start({SIGINT, SIGTERM}, [&](int sig) {
    std::lock_guard<std::mutex> lock(runner_mu);
    env.err << "\nprovisioner: " << (sig == SIGINT ? "interrupt" : "SIGTERM")
            << " received, stopping tofu gracefully (SIGINT, then SIGKILL after "
            << FormatDuration(config.scheduler.kill_grace) << ")\n";
    if (runner_ptr != nullptr) runner_ptr->StopAll(platform::StopReason::kCancelled);
  });
  if (!watcher.ok()) return Failure(env, watcher.status().message());
  platform::PosixProcessRunner runner(env.clock,
                                      platform::PosixProcessRunner::Options{.reap_orphans = true});
  {
    std::lock_guard<std::mutex> lock(runner_mu);
    runner_ptr = &runner;
  }

  http::HttplibClient http;
  tofu::Installer installer(http, env.fs, runner);
  auto binary = scheduler::ResolveTofuBinary(config, env.environ, &installer, platform::GoArch());
  if (!binary.ok()) return Failure(env, "cannot find tofu: " + binary.status().message());
  if (binary->installed_now) {
    env.out << "installed OpenTofu " << config.opentofu.version << " at " << binary->path << "\n";
  }

  std::string stamp = FormatUtc(env.clock.Now());
  std::erase_if(stamp, [](char c) { return c == '-' || c == ':'; });
  const std::string job_id = "run-" + stamp;
  scheduler::RunRequest request;
  request.config = &config;
  request.workspace = ws->name;
  request.workspace_config = ws;
  request.operation = op;
  request.binary = binary->path;
  request.log_path = platform::JobLogFileName(config.state.dir, ws->name, job_id);
  request.daemon_env = &env.environ;
  auto prepared = scheduler::PrepareRun(env.fs, request);
  if (auto* no = std::get_if<scheduler::RunNotPrepared>(&prepared)) return Failure(env, no->error);
  scheduler::PreparedRun& run = std::get<scheduler::PreparedRun>(prepared);

  const MonotonicTime start = env.clock.Monotonic();
  ProgressPrinter printer(env.out, env.clock);
  tofu::TofuJob job(runner, env.fs, env.clock, std::move(run.spec),
                    [&printer](tofu::Step step, const UiEvent& e) { printer.OnEvent(step, e); });
  env.out << opts.operation << " " << ws->name << " (template " << ws->template_name << ", tofu "
          << binary->path << ")\n";
  env.out.flush();
  const tofu::JobOutcome& outcome = tofu::RunToCompletion(runner, job);
  {
    std::lock_guard<std::mutex> lock_runner(runner_mu);
    runner_ptr = nullptr;
  }

  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(env.clock.Monotonic() - start);
  std::string summary =
      opts.operation + " " + ws->name + ": " + std::string(tofu::OutcomeName(outcome.outcome));
  if (outcome.changes) {
    summary += StringPrintf(" (%lld added, %lld changed, %lld destroyed)",
                            static_cast<long long>(outcome.changes->add),
                            static_cast<long long>(outcome.changes->change),
                            static_cast<long long>(outcome.changes->remove));
  }
  summary += " in " + FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(took));
  if (!outcome.error.empty()) summary += ": " + outcome.error;
  const bool ok =
      outcome.outcome == tofu::Outcome::kSucceeded || outcome.outcome == tofu::Outcome::kNoChanges;
  (ok ? env.out : env.err) << summary << "\nlog: " << request.log_path << "\n";
  return ok ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterRunCommand(CLI::App& app, CliEnv& env, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "run", "Run one deploy or destroy job in the foreground, as the daemon would");
  auto opts = std::make_shared<RunOptions>();
  cmd->add_option("OPERATION", opts->operation, "deploy or destroy")
      ->required()
      ->check(CLI::IsMember({"deploy", "destroy"}));
  cmd->add_option("--config", opts->config, "Config file (YAML or JSON)")->required();
  cmd->add_option("--workspace", opts->workspace, "The workspace to run")->required();
  cmd->callback([&env, exit_code, opts] { *exit_code = RunJob(env, *opts); });
}

}  // namespace provisioner::app
