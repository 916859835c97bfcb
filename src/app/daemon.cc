#include "app/daemon.h"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <ostream>

#include "app/cli_commands.h"
#include "app/config_file.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/time_format.h"
#include "build_info.h"
#include "http/http_client.h"
#include "platform/fd_log_sink.h"
#include "platform/file_lock.h"
#include "platform/inotify_watcher.h"
#include "platform/posix_process_runner.h"
#include "platform/process_info.h"
#include "platform/signal_watcher.h"
#include "platform/systemd_notifier.h"
#include "scheduler/job_spec.h"
#include "scheduler/reconciler.h"
#include "state/state_store.h"
#include "tofu/installer.h"

namespace provisioner::app {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// The loop wakes at least this often: to notice wall-clock jumps, to refresh
// the systemd status, and to keep the heartbeat going.
constexpr milliseconds kMaxSleep{std::chrono::seconds(30)};
// Bursts of inotify events within this quiet time are one reload.
constexpr milliseconds kReloadDebounce{300};

// Everything the loop reacts to, set from other threads.
struct Events {
  std::mutex mu;
  std::condition_variable cv;
  bool wake = false;
  bool stop = false;
  int stop_signals = 0;
  std::vector<std::string> reloads;  // sources of pending reload requests

  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu);
      wake = true;
    }
    cv.notify_one();
  }
};

std::string StatusLine(const scheduler::StatusSnapshot& snap, bool reload_failed) {
  size_t deployed = 0;
  size_t orphaned = 0;
  for (const auto& ws : snap.workspaces) {
    if (ws->status == scheduler::WorkspaceStatus::kDeployed) ++deployed;
    if (ws->status == scheduler::WorkspaceStatus::kOrphaned) ++orphaned;
  }
  std::string line = StringPrintf("%zu workspaces, %zu deployed, %zu jobs running, %zu queued",
                                  snap.workspaces.size(), deployed, snap.jobs_running,
                                  snap.jobs_queued);
  if (orphaned > 0) line += StringPrintf(", %zu orphaned", orphaned);
  if (reload_failed) line += "; last config reload FAILED, running on the previous config";
  return line;
}

class Daemon {
 public:
  Daemon(CliEnv& env, std::string config_path)
      : env_(env), config_path_(std::move(config_path)) {}

  int Run();

 private:
  // Reads and validates the config file; on success posts it to the
  // reconciler. Failures keep the running config.
  void Reload(const std::string& source);
  void ApplyLogging(const config::Config& config);

  CliEnv& env_;
  const std::string config_path_;
  Events events_;
  std::unique_ptr<platform::FdLogSink> sink_;
  std::unique_ptr<log::Logger> log_;
  platform::SystemdNotifier notifier_;
  scheduler::ObserverList observers_;
  std::unique_ptr<scheduler::Reconciler> reconciler_;
  bool reload_failed_ = false;
  std::optional<std::future<scheduler::CommandResult>> pending_reload_;
};

void Daemon::ApplyLogging(const config::Config& config) {
  log_->SetLevel(config.logging.level);
  sink_->SetFormat(config.logging.format);
}

void Daemon::Reload(const std::string& source) {
  notifier_.Reloading();
  ConfigLoad load = LoadConfigFile(env_.fs, config_path_, env_.cwd);
  if (!load.read_status.ok() || !load.parse.ok()) {
    scheduler::ReloadReport report;
    report.source = source;
    if (!load.read_status.ok()) {
      report.errors.push_back(load.read_status.message());
    } else {
      for (const auto& d : load.parse.errors) report.errors.push_back(d.ToString());
    }
    for (const std::string& e : report.errors) {
      LOG(*log_, kError, "config").Field("source", source).Error(e).Message("config reload rejected");
    }
    LOG(*log_, kError, "config")
        .Field("source", source)
        .Printf("config reload rejected with %zu error(s); still running the previous config",
                report.errors.size());
    reload_failed_ = true;
    observers_.OnConfigReloaded(report);
    notifier_.Ready(StatusLine(*reconciler_->snapshot(), reload_failed_));
    return;
  }
  for (const auto& w : load.parse.warnings) {
    LOG(*log_, kWarn, "config").Message(w.ToString());
  }
  ApplyLogging(*load.parse.config);
  reload_failed_ = false;
  pending_reload_ = reconciler_->Post(scheduler::ReloadCommand{load.parse.config, source});
}

int Daemon::Run() {
  // Signals first: every thread created after this inherits the blocked mask.
  auto signals = platform::SignalWatcher::Start({SIGTERM, SIGINT, SIGHUP}, [this](int sig) {
    {
      std::lock_guard<std::mutex> lock(events_.mu);
      if (sig == SIGHUP) {
        events_.reloads.push_back("SIGHUP");
      } else {
        events_.stop = true;
        ++events_.stop_signals;
      }
      events_.wake = true;
    }
    events_.cv.notify_one();
  });
  if (!signals.ok()) return Failure(env_, signals.status().message());

  ConfigLoad load = LoadConfigFile(env_.fs, config_path_, env_.cwd);
  if (!load.read_status.ok()) return UsageError(env_, "cannot read config: " + load.read_status.message());
  if (!load.parse.ok()) {
    for (const auto& d : load.parse.errors) env_.err << d.ToString() << "\n";
    return UsageError(env_, config_path_ + ": invalid config (" +
                                std::to_string(load.parse.errors.size()) + " errors)");
  }
  std::shared_ptr<const config::Config> config = load.parse.config;

  auto env_it = env_.environ.find("PROVISIONER_ENVIRONMENT");
  log::Tags tags{PROVISIONER_VERSION,
                 env_it != env_.environ.end() ? env_it->second : std::string("production")};
  sink_ = std::make_unique<platform::FdLogSink>(2, config->logging.format, tags);
  log_ = std::make_unique<log::Logger>(env_.clock, *sink_, config->logging.level);
  for (const auto& w : load.parse.warnings) LOG(*log_, kWarn, "config").Message(w.ToString());

  // The state directory must be usable before anything runs.
  const std::string& dir = config->state.dir;
  if (Status s = env_.fs.CreateDirs(dir); !s.ok()) {
    LOG(*log_, kError, "state").Error(s).Message("state.dir is not usable");
    return Failure(env_, "state.dir " + dir + " is not usable: " + s.message());
  }
  const std::string probe = platform::JoinPath(dir, ".write-test");
  if (Status s = env_.fs.WriteFile(probe, "ok"); !s.ok()) {
    LOG(*log_, kError, "state").Error(s).Message("state.dir is not writable");
    return Failure(env_, "state.dir " + dir + " is not writable: " + s.message());
  }
  (void)env_.fs.Remove(probe);
  auto daemon_lock = platform::FileLock::TryAcquire(platform::JoinPath(dir, "daemon.lock"));
  if (!daemon_lock.ok()) {
    return Failure(env_, "another provisioner daemon is using " + dir + " (" +
                             daemon_lock.status().message() + ")");
  }

  state::StateStore store(env_.fs, env_.clock, dir);
  auto loaded = store.Load();
  if (!loaded.ok()) {
    LOG(*log_, kError, "state").Error(loaded.status()).Message("cannot load state; refusing to start");
    return Failure(env_, "cannot load state: " + loaded.status().message());
  }
  if (loaded->from_backup) {
    LOG(*log_, kError, "state")
        .Field("moved_aside", loaded->moved_aside)
        .Error(loaded->problem)
        .Message("STATE FILE WAS CORRUPT OR MISSING: recovered from state.json.bak; changes since "
                 "the last good save are lost; the broken file was kept for inspection");
  } else if (loaded->from_temp) {
    LOG(*log_, kWarn, "state").Message("a save was cut short; recovered the state it was writing");
  } else if (loaded->fresh) {
    LOG(*log_, kInfo, "state").Printf("no state in %s: first start", dir.c_str());
  }

  platform::PosixProcessRunner runner(env_.clock);
  runner.SetOnFinished([this] { events_.Notify(); });
  http::HttplibClient http;
  tofu::Installer installer(http, env_.fs, runner);
  std::string binary;
  std::string binary_problem;
  auto resolved = scheduler::ResolveTofuBinary(*config, env_.environ, &installer, platform::GoArch());
  if (resolved.ok()) {
    binary = resolved->path;
    if (resolved->installed_now) {
      LOG(*log_, kInfo, "opentofu").Printf("installed OpenTofu %s at %s",
                                           config->opentofu.version.c_str(), binary.c_str());
    }
  } else {
    binary_problem = resolved.status().message();
    LOG(*log_, kError, "opentofu").Error(resolved.status()).Message("no usable tofu binary; jobs will fail until one is installed");
  }

  scheduler::ReconcilerDeps deps{env_.clock, env_.fs, runner, observers_, *log_, env_.environ};
  reconciler_ = std::make_unique<scheduler::Reconciler>(deps, config, std::move(loaded->state), binary);
  reconciler_->SetTofuBinary(binary, binary_problem);
  reconciler_->SetWake([this] { events_.Notify(); });
  if (Status s = reconciler_->Recover(); !s.ok()) {
    return Failure(env_, "cannot save state: " + s.message());
  }

  platform::InotifyWatcher watcher;
  Status watching = watcher.Start(
      config_path_, kReloadDebounce,
      [this] {
        {
          std::lock_guard<std::mutex> lock(events_.mu);
          events_.reloads.push_back("inotify");
          events_.wake = true;
        }
        events_.cv.notify_one();
      },
      [this](const Status& s) {
        LOG(*log_, kWarn, "config").Error(s).Message("config file watch problem");
      });
  if (!watching.ok()) {
    LOG(*log_, kWarn, "config").Error(watching).Message("cannot watch the config file; reload with SIGHUP");
  }

  const auto watchdog = notifier_.WatchdogInterval();
  milliseconds max_sleep = kMaxSleep;
  if (watchdog) max_sleep = std::min(max_sleep, duration_cast<milliseconds>(*watchdog / 2));

  reconciler_->Tick();
  notifier_.Ready(StatusLine(*reconciler_->snapshot(), reload_failed_));
  LOG(*log_, kInfo, "daemon")
      .Printf("provisioner %s started: %zu workspaces, state in %s", PROVISIONER_VERSION,
              config->workspaces.size(), dir.c_str());

  bool shutting_down = false;
  MonotonicTime shutdown_deadline{};
  std::string last_status;
  while (true) {
    std::vector<std::string> reloads;
    bool stop = false;
    {
      std::lock_guard<std::mutex> lock(events_.mu);
      reloads.swap(events_.reloads);
      stop = events_.stop;
      events_.wake = false;
    }
    if (stop && !shutting_down) {
      shutting_down = true;
      notifier_.Stopping("stopping: waiting for running jobs");
      reconciler_->BeginShutdown();
      // Jobs get SIGINT now and SIGKILL after kill_grace from the runner;
      // this is only the bound on waiting for their exit to be reported.
      shutdown_deadline = env_.clock.Monotonic() + reconciler_->config().scheduler.kill_grace +
                          std::chrono::seconds(10);
    }
    if (!shutting_down) {
      for (const std::string& source : reloads) Reload(source);
    }

    const SystemTime next = reconciler_->Tick();
    if (watchdog) notifier_.Watchdog();
    if (pending_reload_ && pending_reload_->wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      pending_reload_.reset();
      notifier_.Ready(StatusLine(*reconciler_->snapshot(), reload_failed_));
    }
    std::string status = StatusLine(*reconciler_->snapshot(), reload_failed_);
    if (status != last_status && !shutting_down) {
      notifier_.Status(status);
      last_status = status;
    }
    if (shutting_down && (reconciler_->idle() || env_.clock.Monotonic() >= shutdown_deadline)) break;

    milliseconds sleep = max_sleep;
    const SystemTime now = env_.clock.Now();
    if (next <= now) {
      sleep = milliseconds(0);
    } else if (next - now < sleep) {
      // Round up so that the next Tick lands at or after the due time.
      sleep = duration_cast<milliseconds>(next - now) + milliseconds(1);
    }
    std::unique_lock<std::mutex> lock(events_.mu);
    events_.cv.wait_for(lock, sleep, [this] { return events_.wake; });
  }

  if (!reconciler_->idle()) {
    LOG(*log_, kError, "daemon").Message("jobs still running after the stop timeout; killing them");
    runner.StopAll(platform::StopReason::kShutdown);
  }
  watcher.Stop();
  Status flushed = reconciler_->Flush();
  LOG(*log_, kInfo, "daemon").Message(flushed.ok() ? "stopped; state saved" : "stopped; STATE NOT SAVED");
  return flushed.ok() ? kExitOk : kExitFailure;
}

}  // namespace

int RunDaemon(CliEnv& env, const std::string& config_path) {
  Daemon daemon(env, config_path);
  return daemon.Run();
}

void RegisterServeCommand(CLI::App& app, CliEnv& env, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "serve", "Run the daemon in the foreground (systemd Type=notify; SIGHUP reloads)");
  auto path = std::make_shared<std::string>();
  cmd->add_option("--config", *path, "Config file (YAML or JSON)")->required();
  cmd->callback([&env, exit_code, path] { *exit_code = RunDaemon(env, *path); });
}

}  // namespace provisioner::app
