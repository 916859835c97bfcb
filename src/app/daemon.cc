#include "app/daemon.h"

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <ostream>
#include <set>

#include "app/cli_commands.h"
#include "app/config_file.h"
#include "app/routes.h"
#include "app/telemetry_adapters.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/time_format.h"
#include "build_info.h"
#include "config/web_config.h"
#include "http/handlers_api.h"
#include "http/health.h"
#include "http/http_client.h"
#include "http/server.h"
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
#include "telemetry/metrics.h"
#include "tofu/installer.h"
#include "workspace/template_catalog.h"

namespace provisioner::app {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// The loop wakes at least this often: to notice wall-clock jumps, to refresh
// the systemd status and the health snapshot, and to keep the heartbeat.
constexpr milliseconds kMaxSleep{std::chrono::seconds(30)};
// Bursts of inotify events within this quiet time are one reload.
constexpr milliseconds kReloadDebounce{300};
// HTTP workers: cpp-httplib ties a worker to a connection for its lifetime
// (reference/debian-libraries.md §1.4), so idle keep-alive clients hold
// workers. A few suffice for Prometheus, probes and operators; the pool
// grows while every worker is busy, so that open connections cannot starve
// the probes until there are kMaxHttpThreads of them.
constexpr int kMinHttpThreads = 8;
constexpr int kMaxHttpThreads = 512;
// glibc malloc arenas (platform::TuneMallocForDaemon).
constexpr int kMallocArenas = 2;

// Everything the loop reacts to, set from other threads.
struct Events {
  std::mutex mu;
  std::condition_variable cv;
  bool wake = false;
  bool stop = false;
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
  std::string line =
      StringPrintf("%zu workspaces, %zu deployed, %zu jobs running, %zu queued",
                   snap.workspaces.size(), deployed, snap.jobs_running, snap.jobs_queued);
  if (orphaned > 0) line += StringPrintf(", %zu orphaned", orphaned);
  if (reload_failed) line += "; last config reload FAILED, running on the previous config";
  return line;
}

class Daemon {
 public:
  Daemon(CliEnv& env, std::string config_path) : env_(env), config_path_(std::move(config_path)) {}

  int Run();

 private:
  // Reads and validates the config file; on success posts it to the
  // reconciler. Failures keep the running config. With `wait` (API calls,
  // from an HTTP thread) it returns once the new config is in force; without
  // (the loop thread) it leaves the swap to the next tick.
  scheduler::ReloadReport Reload(const std::string& source, bool wait);
  void ApplyLogging(const config::Config& config);
  // The parts of the health snapshot that change with the config.
  void RebuildHealthBase(const config::Config& config);
  void PublishHealth(bool running, bool shutting_down);
  // The last reload was rejected (the previous config is still in force).
  bool ReloadFailed() {
    std::lock_guard<std::mutex> lock(health_mu_);
    return !health_base_.last_reload_ok;
  }
  Status LoadWebConfig(const config::Config& config, config::WebConfig* out);

  CliEnv& env_;
  const std::string config_path_;
  Events events_;
  std::unique_ptr<platform::FdLogSink> sink_;
  std::unique_ptr<log::Logger> log_;
  platform::SystemdNotifier notifier_;
  scheduler::ObserverList observers_;
  std::unique_ptr<telemetry::Metrics> metrics_;
  std::unique_ptr<MetricsObserver> metrics_observer_;
  std::unique_ptr<scheduler::Reconciler> reconciler_;

  std::mutex reload_mu_;  // one reload at a time, whoever asks
  std::optional<std::future<scheduler::CommandResult>> pending_reload_;  // loop thread only

  std::mutex health_mu_;  // guards health_base_ and health_
  http::DaemonHealth health_base_;
  std::shared_ptr<const http::DaemonHealth> health_;
  std::atomic<int64_t> templates_{0};
};

void Daemon::ApplyLogging(const config::Config& config) {
  log_->SetLevel(config.logging.level);
  sink_->SetFormat(config.logging.format);
}

void Daemon::RebuildHealthBase(const config::Config& config) {
  std::set<std::string> templates;
  for (const auto& ws : config.workspaces) templates.insert(ws.template_name);
  auto scanned = workspace::ScanTemplates(env_.fs, config.templates_dir);
  templates_.store(scanned.ok() ? static_cast<int64_t>(scanned->size()) : 0);
  tofu::EnvInputs env;
  env.daemon_env = env_.environ;
  env.home_fallback = config.state.dir;
  std::lock_guard<std::mutex> lock(health_mu_);
  health_base_.config_path = config_path_;
  health_base_.state_dir = config.state.dir;
  health_base_.templates_dir = config.templates_dir;
  health_base_.templates.assign(templates.begin(), templates.end());
  health_base_.tofu_env = tofu::BuildEnv(env);
  health_base_.tracing_enabled = config.tracing.enabled;
  health_base_.tracing_status =
      config.tracing.enabled ? "tracing is configured but the exporter is not built yet" : "";
}

void Daemon::PublishHealth(bool running, bool shutting_down) {
  std::lock_guard<std::mutex> lock(health_mu_);
  health_base_.scheduler_running = running;
  health_base_.shutting_down = shutting_down;
  health_base_.last_tick = env_.clock.Monotonic();
  health_ = std::make_shared<const http::DaemonHealth>(health_base_);
}

scheduler::ReloadReport Daemon::Reload(const std::string& source, bool wait) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  notifier_.Reloading();
  scheduler::ReloadReport report;
  report.source = source;
  ConfigLoad load = LoadConfigFile(env_.fs, config_path_, env_.cwd);
  if (!load.read_status.ok() || !load.parse.ok()) {
    if (!load.read_status.ok()) {
      report.errors.push_back(load.read_status.message());
    } else {
      for (const auto& d : load.parse.errors) report.errors.push_back(d.ToString());
    }
    for (const std::string& e : report.errors) {
      LOG(*log_, kError, "config")
          .Field("source", source)
          .Error(e)
          .Message("config reload rejected");
    }
    LOG(*log_, kError, "config")
        .Field("source", source)
        .Printf("config reload rejected with %zu error(s); still running the previous config",
                report.errors.size());
    {
      std::lock_guard<std::mutex> hlock(health_mu_);
      health_base_.last_reload_ok = false;
      health_base_.last_reload_error = report.errors.empty() ? "" : report.errors.front();
    }
    observers_.OnConfigReloaded(report);
    notifier_.Ready(StatusLine(*reconciler_->snapshot(), true));
    return report;
  }
  for (const auto& w : load.parse.warnings) LOG(*log_, kWarn, "config").Message(w.ToString());
  ApplyLogging(*load.parse.config);
  {
    std::lock_guard<std::mutex> hlock(health_mu_);
    health_base_.last_reload_ok = true;
    health_base_.last_reload_error.clear();
  }
  RebuildHealthBase(*load.parse.config);
  std::vector<std::string> names;
  for (const auto& ws : load.parse.config->workspaces) names.push_back(ws.name);
  auto future = reconciler_->Post(scheduler::ReloadCommand{load.parse.config, source});
  report.ok = true;
  if (wait) {
    if (future.wait_for(std::chrono::seconds(30)) == std::future_status::ready) {
      scheduler::CommandResult r = future.get();
      report.diff = r.diff;
    }
  } else {
    pending_reload_ = std::move(future);
  }
  // Workspaces that left the config keep their series while orphaned: the
  // metrics drop only names that are in neither.
  for (const auto& ws : reconciler_->snapshot()->workspaces) names.push_back(ws->name);
  metrics_->SetWorkspaces(names);
  return report;
}

Status Daemon::LoadWebConfig(const config::Config& config, config::WebConfig* out) {
  const std::string& path = config.server.web_config_file;
  if (path.empty()) return Status::Ok();
  auto text = env_.fs.ReadFile(path, 1 << 20);
  if (!text.ok()) return text.status().WithContext("web config");
  config::WebConfigResult parsed = config::ParseWebConfig(*text, path, platform::DirName(path));
  if (!parsed.ok()) {
    std::vector<std::string> errors;
    for (const auto& d : parsed.errors) errors.push_back(d.ToString());
    return Status::InvalidArgument("web config", Join(errors, "; "));
  }
  *out = parsed.config;
  return Status::Ok();
}

int Daemon::Run() {
  // Few arenas: idle HTTP workers must not each keep a scrape's worth of
  // freed heap (docs/performance.md, serve idle).
  platform::TuneMallocForDaemon(kMallocArenas);
  // Signals first: every thread created after this inherits the blocked mask.
  auto signals = platform::SignalWatcher::Start({SIGTERM, SIGINT, SIGHUP}, [this](int sig) {
    {
      std::lock_guard<std::mutex> lock(events_.mu);
      if (sig == SIGHUP) {
        events_.reloads.push_back("SIGHUP");
      } else {
        events_.stop = true;
      }
      events_.wake = true;
    }
    events_.cv.notify_one();
  });
  if (!signals.ok()) return Failure(env_, signals.status().message());

  ConfigLoad load = LoadConfigFile(env_.fs, config_path_, env_.cwd);
  if (!load.read_status.ok()) {
    return UsageError(env_, "cannot read config: " + load.read_status.message());
  }
  if (!load.parse.ok()) {
    for (const auto& d : load.parse.errors) env_.err << d.ToString() << "\n";
    return UsageError(env_, config_path_ + ": invalid config (" +
                                std::to_string(load.parse.errors.size()) + " errors)");
  }
  std::shared_ptr<const config::Config> config = load.parse.config;
  config::WebConfig web;
  if (Status s = LoadWebConfig(*config, &web); !s.ok()) return UsageError(env_, s.message());

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
    LOG(*log_, kError, "state")
        .Error(loaded.status())
        .Message("cannot load state; refusing to start");
    return Failure(env_, "cannot load state: " + loaded.status().message());
  }
  if (loaded->from_backup) {
    LOG(*log_, kError, "state")
        .Field("moved_aside", loaded->moved_aside)
        .Error(loaded->problem)
        .Message(
            "STATE FILE WAS CORRUPT OR MISSING: recovered from state.json.bak; changes since "
            "the last good save are lost; the broken file was kept for inspection");
    health_base_.state_warning =
        "recovered from state.json.bak at start-up (" + loaded->problem + ")" +
        (loaded->moved_aside.empty() ? "" : "; the broken file is " + loaded->moved_aside);
  } else if (loaded->from_temp) {
    LOG(*log_, kWarn, "state").Message("a save was cut short; recovered the state it was writing");
  } else if (loaded->fresh) {
    LOG(*log_, kInfo, "state").Printf("no state in %s: first start", dir.c_str());
  }

  metrics_ = std::make_unique<telemetry::Metrics>(
      telemetry::BuildInfo{PROVISIONER_VERSION, PROVISIONER_GIT_COMMIT, PROVISIONER_COMPILER},
      env_.clock);
  metrics_observer_ = std::make_unique<MetricsObserver>(*metrics_);
  observers_.Add(metrics_observer_.get());

  platform::PosixProcessRunner runner(env_.clock);
  runner.SetOnFinished([this] { events_.Notify(); });
  http::HttplibClient http_client;
  tofu::Installer installer(http_client, env_.fs, runner);
  std::string binary;
  std::string binary_problem;
  auto resolved =
      scheduler::ResolveTofuBinary(*config, env_.environ, &installer, platform::GoArch());
  if (resolved.ok()) {
    binary = resolved->path;
    if (resolved->installed_now) {
      metrics_->BinaryDownload("success");
      LOG(*log_, kInfo, "opentofu")
          .Printf("installed OpenTofu %s at %s", config->opentofu.version.c_str(), binary.c_str());
    }
  } else {
    binary_problem = resolved.status().message();
    if (!config->opentofu.version.empty()) metrics_->BinaryDownload("failure");
    LOG(*log_, kError, "opentofu")
        .Error(resolved.status())
        .Message("no usable tofu binary; jobs will fail until one is installed");
  }

  scheduler::ReconcilerDeps deps{env_.clock, env_.fs, runner, observers_, *log_, env_.environ};
  reconciler_ =
      std::make_unique<scheduler::Reconciler>(deps, config, std::move(loaded->state), binary);
  reconciler_->SetTofuBinary(binary, binary_problem);
  reconciler_->SetWake([this] { events_.Notify(); });
  if (Status s = reconciler_->Recover(); !s.ok()) {
    return Failure(env_, "cannot save state: " + s.message());
  }
  {
    std::vector<std::string> names;
    for (const auto& ws : reconciler_->snapshot()->workspaces) names.push_back(ws->name);
    metrics_->SetWorkspaces(names);
  }
  metrics_->SetGaugeSource(
      [this] { return GaugesFrom(*reconciler_->snapshot(), templates_.load()); });

  // Health and API, then the listener.
  health_base_.started_at = env_.clock.Now();
  health_base_.tofu_binary = binary;
  health_base_.tofu_problem = binary_problem;
  RebuildHealthBase(*config);
  PublishHealth(false, false);
  http::HealthChecker health(
      http::HealthOptions{.version = PROVISIONER_VERSION},
      [this] {
        std::lock_guard<std::mutex> lock(health_mu_);
        return health_;
      },
      env_.clock, env_.fs, runner);
  http::ApiContext api;
  api.snapshot = [this] { return reconciler_->snapshot(); };
  api.post = [this](scheduler::Command c) { return reconciler_->Post(std::move(c)); };
  api.reload = [this](const std::string& source) { return Reload(source, /*wait=*/true); };
  api.fs = &env_.fs;
  api.jobs_dir = platform::JoinPath(dir, "jobs");

  HttpMetricsObserver http_observer(*metrics_);
  http::ServerOptions server_options;
  server_options.listen = config->server.listen;
  server_options.web = web;
  server_options.read_only = config->server.read_only;
  server_options.allow_unauthenticated_writes = config->server.allow_unauthenticated_writes;
  server_options.min_threads = kMinHttpThreads;
  server_options.max_threads = kMaxHttpThreads;
  auto server = http::Server::Create(server_options, *log_, &http_observer);
  if (!server.ok()) return Failure(env_, "HTTP server: " + server.status().message());
  RegisterRoutes(**server, api, health, *metrics_);
  if (Status s = (*server)->Start(); !s.ok()) {
    LOG(*log_, kError, "http").Error(s).Message("cannot listen");
    return Failure(env_, "cannot listen on " + config->server.listen + ": " + s.message());
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
    LOG(*log_, kWarn, "config")
        .Error(watching)
        .Message("cannot watch the config file; reload with SIGHUP");
  }

  const auto watchdog = notifier_.WatchdogInterval();
  milliseconds max_sleep = kMaxSleep;
  if (watchdog) max_sleep = std::min(max_sleep, duration_cast<milliseconds>(*watchdog / 2));

  reconciler_->Tick();
  platform::ReleaseFreeMemory();  // the config parse and the start-up plan
  PublishHealth(true, false);
  notifier_.Ready(StatusLine(*reconciler_->snapshot(), ReloadFailed()));
  LOG(*log_, kInfo, "daemon")
      .Field("listen", config->server.listen)
      .Field("port", (*server)->port())
      .Printf("provisioner %s started: %zu workspaces, state in %s, listening on port %d",
              PROVISIONER_VERSION, config->workspaces.size(), dir.c_str(), (*server)->port());

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
      // this only bounds the wait for their exit to be reported.
      shutdown_deadline = env_.clock.Monotonic() + reconciler_->config().scheduler.kill_grace +
                          std::chrono::seconds(10);
    }
    if (!shutting_down) {
      for (const std::string& source : reloads) Reload(source, /*wait=*/false);
    }

    const SystemTime next = reconciler_->Tick();
    PublishHealth(true, shutting_down);
    if (watchdog) notifier_.Watchdog();
    if (pending_reload_ &&
        pending_reload_->wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      pending_reload_.reset();
      platform::ReleaseFreeMemory();  // the old config and the re-plan
      notifier_.Ready(StatusLine(*reconciler_->snapshot(), ReloadFailed()));
    }
    std::string status = StatusLine(*reconciler_->snapshot(), ReloadFailed());
    if (status != last_status && !shutting_down) {
      notifier_.Status(status);
      last_status = status;
    }
    if (shutting_down && (reconciler_->idle() || env_.clock.Monotonic() >= shutdown_deadline)) {
      break;
    }

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
  (*server)->Stop();
  Status flushed = reconciler_->Flush();
  LOG(*log_, kInfo, "daemon")
      .Message(flushed.ok() ? "stopped; state saved" : "stopped; STATE NOT SAVED");
  // The reconciler refers to the runner, which ends with this scope.
  metrics_->SetGaugeSource(nullptr);
  reconciler_.reset();
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
