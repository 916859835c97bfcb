#include "app/daemon.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <ostream>
#include <set>

#include "app/api_relay.h"
#include "app/cli_commands.h"
#include "app/config_file.h"
#include "app/ha_dsn.h"
#include "app/job_log_shipper.h"
#include "app/routes.h"
#include "app/telemetry_adapters.h"
#include "app/tracing.h"
#include "base/log.h"
#include "base/notification.h"
#include "base/strings.h"
#include "build_info.h"
#include "config/config_diff.h"
#include "config/web_config.h"
#include "coordination/lease_keeper.h"
#include "coordination/pg_api_relay.h"
#include "coordination/pg_job_claims.h"
#include "coordination/pg_job_logs.h"
#include "coordination/pg_lease_db.h"
#include "coordination/pg_state_store.h"
#include "http/handlers_api.h"
#include "http/health.h"
#include "http/http_client.h"
#include "http/server.h"
#include "platform/boot_clock.h"
#include "platform/fd_log_sink.h"
#include "platform/file_lock.h"
#include "platform/filename.h"
#include "platform/inotify_watcher.h"
#include "platform/posix_process_runner.h"
#include "platform/process_info.h"
#include "platform/sha256.h"
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
using std::chrono::seconds;

// The loop wakes at least this often: to notice wall-clock jumps, to refresh
// the systemd status and the health snapshot, and to keep the heartbeat.
constexpr milliseconds kMaxSleep{seconds(30)};
// The deep health checks run this often on their own thread, for the
// provisioner_health_check metric (a probe of /health/deep runs them too).
constexpr seconds kHealthRefresh{60};
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
// Shutdown: after the stop ladder's kill_grace has sent SIGKILL, this long
// for the killed processes to be reaped and their output drained (the
// runner drains pipes for up to 1 s after an exit). docs/operations.md
// derives the unit's TimeoutStopSec from it.
constexpr milliseconds kReapMargin{seconds(5)};

// A request to reload the config file, made on another thread and carried
// out by the loop thread.
struct ReloadRequest {
  std::string source;  // "inotify", "SIGHUP", "api"
  // API reloads wait for the outcome; null for inotify and SIGHUP.
  std::shared_ptr<std::promise<Result<scheduler::ReloadReport>>> reply;
};

void Answer(ReloadRequest& r, Result<scheduler::ReloadReport> outcome) {
  if (r.reply) r.reply->set_value(std::move(outcome));
}

// What the loop reacts to, posted from the signal, watcher, runner and HTTP
// threads. The loop takes everything at once in Wait().
class Events {
 public:
  struct Batch {
    bool stop = false;
    std::vector<ReloadRequest> reloads;
  };

  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_ = true;
    }
    cv_.notify_one();
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = wake_ = true;
    }
    cv_.notify_one();
  }
  // A reload nobody waits for (inotify, SIGHUP).
  void Reload(std::string source) { Post(ReloadRequest{std::move(source), nullptr}); }
  // A reload whose outcome the caller waits for (the API).
  std::future<Result<scheduler::ReloadReport>> ReloadAndReply(std::string source) {
    ReloadRequest r{std::move(source),
                    std::make_shared<std::promise<Result<scheduler::ReloadReport>>>()};
    auto future = r.reply->get_future();
    Post(std::move(r));
    return future;
  }

  // Waits until something was posted or `timeout` passed, and takes it.
  Batch Wait(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return wake_; });
    wake_ = false;
    Batch batch;
    batch.stop = stop_;
    batch.reloads.swap(reloads_);
    return batch;
  }

  // For after the loop's last Wait: pending reload requests and every later
  // one are answered at once, so that no HTTP thread waits for a loop that
  // is gone.
  void Close() {
    std::vector<ReloadRequest> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      pending.swap(reloads_);
    }
    for (ReloadRequest& r : pending) Answer(r, ShuttingDown());
  }

  static Status ShuttingDown() {
    return Status::Unavailable(std::string(scheduler::kShuttingDownError));
  }

 private:
  void Post(ReloadRequest r) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!closed_) {
        reloads_.push_back(std::move(r));
        wake_ = true;
        cv_.notify_one();
        return;
      }
    }
    Answer(r, ShuttingDown());
  }

  // std::mutex rather than provisioner::Mutex: the condition variable needs
  // a std::unique_lock. Guards every field below.
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;
  bool stop_ = false;
  bool closed_ = false;
  std::vector<ReloadRequest> reloads_;
};

// The scheduler's reports the daemon itself acts on: each save of the state
// file (for /health's state_saved) and jobs whose log could not be written
// completely (logged here; the reconciler passes the outcome through).
// Called on the loop thread.
class FaultObserver final : public scheduler::Observer {
 public:
  FaultObserver(std::function<void(const Status&, SystemTime)> on_state_saved, log::Logger& log)
      : on_state_saved_(std::move(on_state_saved)), log_(log) {}

  void OnStateSaved(const Status& result, SystemTime at) override { on_state_saved_(result, at); }
  void OnJobFinished(const state::JobRecord& job, const tofu::JobOutcome& outcome) override {
    if (outcome.log_error.empty()) return;
    LOG(log_, kError, "job")
        .Workspace(job.workspace)
        .JobId(job.id)
        .Operation(state::OperationName(job.operation))
        .Field("log_path", job.log_path)
        .Error(outcome.log_error)
        .Message(
            "job log incomplete: writing it failed (its output from there on is lost); the job "
            "itself was not affected");
  }

 private:
  std::function<void(const Status&, SystemTime)> on_state_saved_;
  log::Logger& log_;
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

// A start-up failure: its message for stderr, and the exit code its Status
// code stands for (InvalidArgument: the config, exit 2; anything else: 1).
int ExitFor(CliEnv& env, const Status& s) {
  return s.code() == Status::Code::kInvalidArgument ? UsageError(env, s.message())
                                                    : Failure(env, s.message());
}

class Daemon {
 public:
  Daemon(CliEnv& env, std::string config_path, const DaemonTestHooks& hooks)
      : env_(env), config_path_(std::move(config_path)), hooks_(hooks) {}
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The phases. Whatever phase returns, the members are destroyed in reverse
  // order of construction, which stops whatever is still running.
  int Run() {
    if (Status s = Load(); !s.ok()) return ExitFor(env_, s);
    if (Status s = Start(); !s.ok()) return ExitFor(env_, s);
    Serve();
    // A leader that lost its lease exits non-zero, so that systemd
    // (Restart=on-failure) starts it again as a standby.
    return Drain().ok() && !lost_leadership_ ? kExitOk : kExitFailure;
  }

 private:
  // Config, logging, the state directory and its lock, the state.
  Status Load();
  // HA mode: the DSN file and the node name (the state waits in PostgreSQL
  // until this node leads).
  Status LoadHa();
  // HA mode: the lease's keeper and the state store on PostgreSQL.
  void StartHa(scheduler::ReconcilerDeps& deps);
  // HA mode: the hash of `config`'s workspaces, for the heartbeat.
  void PublishConfigHash(const config::Config& config);
  // HA mode: the thread that answers requests standbys relay to the leader.
  void StartInbox();
  // Metrics, tofu, the reconciler (with crash recovery), probes, API,
  // listener, config watcher.
  Status Start();
  // The loop, until SIGTERM or SIGINT.
  void Serve();
  // The shutdown sequence (docs/operations.md "Stop"); returns the final
  // save's status.
  Status Drain();

  // One scheduler step and what follows it on the loop thread: health,
  // watchdog, systemd status. Returns when the next step is due.
  SystemTime Tick();
  // The loop waits until `next` (rounded up) or an event, at most max_sleep_.
  milliseconds SleepUntil(SystemTime next);

  // Reloads, on the loop thread. BeginReload reads and validates the file
  // once for every request of a batch; an invalid file is answered at once,
  // a valid one is posted to the reconciler and answered by FinishReload
  // after the Tick that applies it.
  struct PendingReload {
    std::vector<ReloadRequest> requests;
    std::optional<std::future<scheduler::CommandResult>> applied;
    scheduler::ReloadReport report;
  };
  PendingReload BeginReload(std::vector<ReloadRequest> requests);
  void FinishReload(PendingReload& pending);
  // From an HTTP thread: asks the loop and waits for its answer.
  Result<scheduler::ReloadReport> RequestReload(const std::string& source);

  Status LoadWebConfig(const config::Config& config, config::WebConfig* out);
  void ApplyLogging(const config::Config& config);
  // The parts of the health record that change with the config.
  void RebuildHealthBase(const config::Config& config);
  // The effective tracing settings, the exporter and the tracer.
  Status StartTracing(const config::Config& config);
  void PublishHealth();
  // The health record's state_saved fields, from each save's result.
  void NoteStateSave(const Status& result, SystemTime at);
  // Logs a deep check whose status changed (HealthChecker::SetOnChange).
  void LogHealthChange(const http::HealthChecker::Check& check, const std::string& before);
  bool ReloadFailed() {
    std::lock_guard<std::mutex> lock(health_mu_);
    return !health_base_.last_reload_ok;
  }
  void SetMetricWorkspaces(const config::Config& config);

  CliEnv& env_;
  const std::string config_path_;
  const DaemonTestHooks hooks_;

  // The components, in dependency order. Each phase fills its share; the
  // destructor takes them down bottom to top: the watcher, the listener
  // (every HTTP thread joined), the API, the reconciler, the runner (which
  // SIGKILLs any process group still alive), the metrics, the state lock,
  // the logger, the signal watcher.
  Events events_;
  std::unique_ptr<platform::SignalWatcher> signals_;
  std::shared_ptr<const config::Config> config_;  // as loaded; the reconciler has the current one
  config::WebConfig web_;
  std::unique_ptr<platform::FdLogSink> sink_;
  std::unique_ptr<log::Logger> log_;
  platform::SystemdNotifier notifier_;
  std::unique_ptr<platform::FileLock> daemon_lock_;
  std::optional<state::LoadReport> loaded_;  // from Load until Start hands it on

  std::unique_ptr<telemetry::Metrics> metrics_;
  std::unique_ptr<MetricsObserver> metrics_observer_;
  std::unique_ptr<FaultObserver> fault_observer_;
  // Traces: the exporter's HTTP client, the exporter (its thread), the
  // tracer every span starts from, the observer that makes job spans.
  TracingSettings tracing_;
  std::unique_ptr<http::HttplibClient> trace_client_;
  std::unique_ptr<ExportMetrics> export_metrics_;
  std::unique_ptr<telemetry::OtlpExporter> exporter_;
  std::unique_ptr<telemetry::Tracer> tracer_;
  std::unique_ptr<TracingObserver> tracing_observer_;
  scheduler::ObserverList observers_;
  std::unique_ptr<platform::PosixProcessRunner> runner_;
  // HA mode only (ha.enabled): declared before the reconciler, which uses
  // them, so that they outlive it.
  std::string ha_node_;
  coordination::PgOptions ha_pg_;
  std::unique_ptr<coordination::PgLeaseDb> lease_db_;
  std::unique_ptr<coordination::LeaseKeeper> keeper_;
  std::unique_ptr<coordination::PgStateStore> pg_store_;
  // The job claims: the scheduler's connection, and the keeper's.
  std::unique_ptr<coordination::PgJobClaims> claims_;
  std::unique_ptr<coordination::PgJobClaims> claim_renewer_;
  std::unique_ptr<coordination::ClaimKeeper> claim_keeper_;
  // The API relay: the connection that relays this node's requests as a
  // standby, and the inbox's, which answers others' as the leader.
  std::unique_ptr<coordination::PgApiRelay> relay_out_;
  std::unique_ptr<coordination::PgApiRelay> relay_in_;
  RelayOptions relay_options_;
  // Job logs in the database: the shipper's connection and thread, and the
  // readers' connection (the HTTP threads').
  std::unique_ptr<coordination::PgJobLogs> logs_out_;
  std::unique_ptr<coordination::PgJobLogs> logs_in_;
  std::unique_ptr<JobLogShipper> shipper_;
  std::unique_ptr<SharedJobsOnPg> shared_jobs_;
  std::atomic<int> history_limit_{0};  // for the shipper's pruning
  bool lost_leadership_ = false;
  // The keeper thread's own: the last failed lease attempt logged, and when.
  std::string lease_error_;
  MonotonicTime lease_error_logged_{};
  std::unique_ptr<scheduler::Reconciler> reconciler_;

  std::mutex health_mu_;  // guards health_base_ and health_
  http::DaemonHealth health_base_;
  std::shared_ptr<const http::DaemonHealth> health_;
  std::atomic<int64_t> templates_{0};
  std::unique_ptr<http::HealthChecker> health_checker_;

  Notification stopping_;  // followed logs end when it is given
  http::ApiContext api_;
  // Answers relayed requests through api_ and the reconciler: declared
  // after them, so that it is gone first.
  std::unique_ptr<ApiInbox> inbox_;
  std::unique_ptr<HttpMetricsObserver> http_observer_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<platform::InotifyWatcher> watcher_;

  // Loop-thread state.
  milliseconds max_sleep_ = kMaxSleep;
  bool watchdog_ = false;
  bool ticked_ = false;  // /health's scheduler_running: the first Tick is done
  bool shutting_down_ = false;
  std::string last_status_;
};

Status Daemon::Load() {
  // Few arenas: idle HTTP workers must not each keep a scrape's worth of
  // freed heap (docs/performance.md, serve idle).
  platform::TuneMallocForDaemon(kMallocArenas);
  // Signals first: every thread created after this inherits the blocked mask.
  auto signals = platform::SignalWatcher::Start({SIGTERM, SIGINT, SIGHUP}, [this](int sig) {
    if (sig == SIGHUP) {
      events_.Reload("SIGHUP");
    } else {
      events_.Stop();
    }
  });
  if (!signals.ok()) return Status::Internal(signals.status().message());
  signals_ = std::move(signals).value();

  ConfigLoad load = LoadConfigFile(env_.fs, config_path_, env_.cwd);
  if (!load.read_status.ok()) {
    return Status::InvalidArgument("cannot read config: " + load.read_status.message());
  }
  if (!load.parse.ok()) {
    for (const auto& d : load.parse.errors) env_.err << d.ToString() << "\n";
    return Status::InvalidArgument(config_path_ + ": invalid config (" +
                                   std::to_string(load.parse.errors.size()) + " errors)");
  }
  config_ = load.parse.config;
  if (Status s = LoadWebConfig(*config_, &web_); !s.ok()) {
    return Status::InvalidArgument(s.message());
  }

  auto env_it = env_.environ.find("PROVISIONER_ENVIRONMENT");
  log::Tags tags{PROVISIONER_VERSION,
                 env_it != env_.environ.end() ? env_it->second : std::string("production")};
  sink_ = std::make_unique<platform::FdLogSink>(2, config_->logging.format, tags);
  log_ = std::make_unique<log::Logger>(env_.clock, *sink_, config_->logging.level);
  for (const auto& w : load.parse.warnings) LOG(*log_, kWarn, "config").Message(w.ToString());

  // The state directory must be usable before anything runs.
  const std::string& dir = config_->state.dir;
  if (Status s = env_.fs.CreateDirs(dir); !s.ok()) {
    LOG(*log_, kError, "state").Error(s).Message("state.dir is not usable");
    return Status::FailedPrecondition("state.dir " + dir + " is not usable: " + s.message());
  }
  const std::string probe = platform::WriteTestFileName(dir);
  if (Status s = env_.fs.WriteFile(probe, "ok"); !s.ok()) {
    LOG(*log_, kError, "state").Error(s).Message("state.dir is not writable");
    return Status::FailedPrecondition("state.dir " + dir + " is not writable: " + s.message());
  }
  (void)env_.fs.Remove(probe);
  auto lock = platform::FileLock::TryAcquire(platform::DaemonLockFileName(dir));
  if (!lock.ok()) {
    return Status::FailedPrecondition("another provisioner daemon is using " + dir + " (" +
                                      lock.status().message() + ")");
  }
  daemon_lock_ = std::move(lock).value();

  if (config_->ha.enabled) {
    if (Status s = LoadHa(); !s.ok()) return s;
    loaded_ = state::LoadReport{};
    return Status::Ok();
  }
  state::JsonStateStore store(env_.fs, env_.clock, dir);
  auto loaded = store.Load();
  if (!loaded.ok()) {
    LOG(*log_, kError, "state")
        .Error(loaded.status())
        .Message("cannot load state; refusing to start");
    return Status::FailedPrecondition("cannot load state: " + loaded.status().message());
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
  loaded_ = std::move(loaded).value();
  return Status::Ok();
}

Status Daemon::LoadHa() {
  const config::HaConfig& ha = config_->ha;
  auto dsn = ReadDsnFile(env_.fs, ha.dsn_file);
  if (!dsn.ok()) return dsn.status();
  ha_pg_.dsn = std::move(*dsn);
  ha_node_ = ha.node_name.empty() ? platform::HostName() : ha.node_name;
  if (ha_node_.empty()) {
    return Status::FailedPrecondition("ha.node_name is not set and the host name is unknown");
  }
  ha_pg_.application_name = "provisioner " + ha_node_;
  LOG(*log_, kInfo, "ha")
      .Field("node", ha_node_)
      .Printf("HA mode: node %s; the state is in PostgreSQL (connection from %s)", ha_node_.c_str(),
              ha.dsn_file.c_str());
  return Status::Ok();
}

void Daemon::StartHa(scheduler::ReconcilerDeps& deps) {
  const config::HaConfig& ha = config_->ha;
  lease_db_ = std::make_unique<coordination::PgLeaseDb>(ha_pg_, PROVISIONER_VERSION);
  coordination::LeaseKeeper::Options options;
  options.node = ha_node_;
  options.timings.ttl = ha.lease_ttl;
  options.timings.renew_interval = ha.renew_interval;
  options.timings.renew_deadline = ha.renew_deadline;
  // A standby tries as often as a leader renews, at most every 2 s (the
  // reference's §6.3), so that short test timings fail over quickly too.
  options.timings.retry_interval = std::min<milliseconds>(ha.renew_interval, seconds(2));
  options.now = platform::BootTimeNow;
  options.one_term = true;  // the daemon exits after losing its lease
  options.on_change = [this](const coordination::LeaseChange& change) {
    if (change.changed) {
      const bool leader = change.role == coordination::Role::kLeader;
      LOG_AT(*log_, leader ? log::Level::kInfo : log::Level::kWarn, "ha")
          .Field("term", change.term)
          .Field("role", leader ? "leader" : "standby")
          .Message("lease: " + change.why);
    } else {
      // Attempts come every few seconds: a failure that goes on is logged
      // when its reason changes, and once a minute.
      const MonotonicTime now = env_.clock.Monotonic();
      if (change.why != lease_error_ || now - lease_error_logged_ >= std::chrono::minutes(1)) {
        LOG(*log_, kWarn, "ha").Error(change.why).Message("lease attempt failed");
        lease_error_ = change.why;
        lease_error_logged_ = now;
      }
    }
    events_.Wake();
  };
  PublishConfigHash(*config_);
  lease_db_->SetOnDifferingChange([this] { events_.Wake(); });
  keeper_ = std::make_unique<coordination::LeaseKeeper>(*lease_db_, std::move(options));
  pg_store_ = std::make_unique<coordination::PgStateStore>(ha_pg_, ha_node_, *keeper_);
  deps.store = pg_store_.get();
  deps.coordinator = keeper_.get();
  claims_ = std::make_unique<coordination::PgJobClaims>(ha_pg_, ha_node_, ha.claim_ttl);
  claim_renewer_ = std::make_unique<coordination::PgJobClaims>(ha_pg_, ha_node_, ha.claim_ttl);
  coordination::ClaimKeeper::Options claim_options;
  claim_options.ttl = ha.claim_ttl;
  claim_options.now = platform::BootTimeNow;
  claim_options.on_lost = [this](const std::string& job_id, const std::string& why) {
    LOG(*log_, kError, "ha").JobId(job_id).Error(why).Message("job claim lost; stopping its tofu");
    events_.Wake();
  };
  claim_keeper_ = std::make_unique<coordination::ClaimKeeper>(*claim_renewer_, *runner_,
                                                              std::move(claim_options));
  deps.claims = claims_.get();
  deps.claim_keeper = claim_keeper_.get();
  relay_out_ = std::make_unique<coordination::PgApiRelay>(ha_pg_, ha_node_);
  relay_in_ = std::make_unique<coordination::PgApiRelay>(ha_pg_, ha_node_);
  logs_out_ = std::make_unique<coordination::PgJobLogs>(ha_pg_, ha_node_);
  logs_in_ = std::make_unique<coordination::PgJobLogs>(ha_pg_, ha_node_);
  shared_jobs_ = std::make_unique<SharedJobsOnPg>(*logs_in_);
  history_limit_ = config_->state.history_limit;
  JobLogShipper::Options log_options;
  log_options.node = ha_node_;
  log_options.keep = [this] { return history_limit_.load(); };
  log_options.on_error = [this](const Status& s) {
    LOG(*log_, kWarn, "ha").Error(s).Message("cannot copy job logs to PostgreSQL; retrying");
  };
  shipper_ = std::make_unique<JobLogShipper>(*logs_out_, env_.fs, std::move(log_options));
  observers_.Add(shipper_.get());
  shipper_->Start();
}

void Daemon::StartInbox() {
  ApiInbox::Options options;
  options.leading_term = [this]() -> std::optional<int64_t> {
    if (!keeper_->IsLeader()) return std::nullopt;
    return keeper_->term();
  };
  options.dispatch = [this](const http::Request& req) { return DispatchRelayed(api_, req); };
  options.on_answered = [this](const coordination::RelayedRequest& r, const http::Response& resp) {
    // Reads are as quiet here as on the node that took them.
    if (!r.mutating) return;
    LOG(*log_, kInfo, "ha")
        .Field("node", r.node)
        .Field("user", r.user)
        .Field("status", resp.status)
        .Printf("answered %s %s, relayed by node %s", r.method.c_str(), r.path.c_str(),
                r.node.c_str());
  };
  options.on_error = [this](const Status& s) {
    LOG(*log_, kWarn, "ha").Error(s).Message("API relay: cannot answer relayed requests");
  };
  inbox_ = std::make_unique<ApiInbox>(*relay_in_, std::move(options));
  inbox_->Start();
}

void Daemon::PublishConfigHash(const config::Config& config) {
  // What the templates hold counts too (the config parse has just read
  // them all).
  std::map<std::string, std::string> templates;
  for (const config::WorkspaceConfig& ws : config.workspaces) {
    if (templates.count(ws.template_name) > 0) continue;
    auto t = workspace::LoadTemplate(env_.fs, config.templates_dir, ws.template_name);
    templates[ws.template_name] =
        "template " + ws.template_name + " " + (t.ok() ? t->hash : "unloadable") + "\n";
  }
  coordination::ConfigHashes hashes;
  platform::Sha256 whole;
  whole.Update(config::WorkspacesFingerprint(config));
  for (const auto& [name, line] : templates) whole.Update(line);
  hashes.config = whole.HexDigest();
  for (const config::WorkspaceConfig& ws : config.workspaces) {
    platform::Sha256 one;
    one.Update(config::WorkspaceFingerprint(config, ws));
    one.Update(templates[ws.template_name]);
    hashes.workspaces[ws.name] = one.HexDigest();
  }
  lease_db_->SetConfigHashes(std::move(hashes));
}

Status Daemon::Start() {
  const config::Config& config = *config_;
  metrics_ = std::make_unique<telemetry::Metrics>(
      telemetry::BuildInfo{PROVISIONER_VERSION, PROVISIONER_GIT_COMMIT, PROVISIONER_COMPILER},
      env_.clock);
  metrics_observer_ = std::make_unique<MetricsObserver>(*metrics_);
  observers_.Add(metrics_observer_.get());
  fault_observer_ = std::make_unique<FaultObserver>(
      [this](const Status& result, SystemTime at) { NoteStateSave(result, at); }, *log_);
  observers_.Add(fault_observer_.get());
  if (Status s = StartTracing(config); !s.ok()) return s;
  observers_.Add(tracing_observer_.get());
  if (hooks_.observer != nullptr) observers_.Add(hooks_.observer);

  runner_ = std::make_unique<platform::PosixProcessRunner>(
      env_.clock, platform::PosixProcessRunner::Options{.reap_orphans = true});
  runner_->SetOnFinished([this] { events_.Wake(); });
  std::string binary;
  std::string binary_problem;
  {
    http::HttplibClient http_client;
    tofu::Installer installer(http_client, env_.fs, *runner_);
    auto resolved =
        scheduler::ResolveTofuBinary(config, env_.environ, &installer, platform::GoArch());
    if (resolved.ok()) {
      binary = resolved->path;
      if (resolved->installed_now) {
        metrics_->BinaryDownload("success");
        LOG(*log_, kInfo, "opentofu")
            .Printf("installed OpenTofu %s at %s", config.opentofu.version.c_str(), binary.c_str());
      }
    } else {
      binary_problem = resolved.status().message();
      if (!config.opentofu.version.empty()) metrics_->BinaryDownload("failure");
      LOG(*log_, kError, "opentofu")
          .Error(resolved.status())
          .Message("no usable tofu binary; jobs will fail until one is installed");
    }
  }

  scheduler::ReconcilerDeps deps{env_.clock, env_.fs, *runner_, observers_, *log_, env_.environ};
  if (config.ha.enabled) StartHa(deps);

  reconciler_ =
      std::make_unique<scheduler::Reconciler>(deps, config_, std::move(loaded_->state), binary);
  loaded_.reset();
  reconciler_->SetTofuBinary(binary, binary_problem);
  reconciler_->SetTracing(
      [tracer = tracer_.get()](const TraceContext* parent) { return tracer->NewContext(parent); },
      [this, env = TofuTraceEnv(tracing_)] {
        // tofu exports its own spans only while ours get through: a down or
        // blackholed collector would otherwise hold each tofu exit for the
        // 2 s export timeout we give it.
        return exporter_ != nullptr && ExporterHealthy(exporter_->health(), env_.clock.Monotonic())
                   ? env
                   : std::map<std::string, std::string>();
      });
  reconciler_->SetWake([this] { events_.Wake(); });
  if (keeper_ != nullptr) {
    // The Tick that first finds this node leader loads and recovers.
    keeper_->Start();
    claim_keeper_->Start();
  } else if (Status s = reconciler_->Recover(); !s.ok()) {
    return Status::FailedPrecondition("cannot save state: " + s.message());
  }
  SetMetricWorkspaces(config);
  // health_checker_ exists before the listener starts, so before any scrape.
  metrics_->SetGaugeSource([this] {
    telemetry::GaugeSnapshot gauges =
        GaugesFrom(*reconciler_->snapshot(), templates_.load(), health_checker_->LastDeep());
    if (keeper_ != nullptr) {
      const coordination::CoordinationStatus st = keeper_->status();
      // IsLeader(), not the role: it applies the local deadline too.
      gauges.coordination = telemetry::GaugeSnapshot::Coordination{keeper_->IsLeader(),
                                                                   st.term,
                                                                   st.transitions,
                                                                   st.attempt_failures,
                                                                   pg_store_->fenced_rejections(),
                                                                   claim_keeper_->claims_lost()};
    }
    return gauges;
  });

  // Probes and API, then the listener.
  health_base_.started_at = env_.clock.Now();
  health_base_.tofu_binary = binary;
  health_base_.tofu_problem = binary_problem;
  if (pg_store_ != nullptr) health_base_.state_store = pg_store_->Describe();
  RebuildHealthBase(config);
  PublishHealth();
  health_checker_ = std::make_unique<http::HealthChecker>(
      http::HealthOptions{.version = PROVISIONER_VERSION},
      [this] {
        std::lock_guard<std::mutex> lock(health_mu_);
        return health_;
      },
      env_.clock, env_.fs, *runner_);
  health_checker_->SetOnChange(
      [this](const http::HealthChecker::Check& check, const std::string& before) {
        LogHealthChange(check, before);
      });
  if (exporter_ != nullptr) {
    health_checker_->SetTracing([this] { return exporter_->health(); }, tracing_.endpoint);
  }
  if (keeper_ != nullptr) {
    health_checker_->SetCoordination([this] {
      const coordination::CoordinationStatus st = keeper_->status();
      const bool leader = keeper_->IsLeader();
      const std::string leader_hash = lease_db_->leader_config_hash();
      return http::DaemonHealth::Coordination{
          leader,
          st.term,
          st.holder,
          st.database_reachable,
          st.last_error,
          !leader && !leader_hash.empty() && leader_hash != lease_db_->config_hash(),
          keeper_->differing_workspaces()};
    });
  }
  api_.snapshot = [this] { return reconciler_->snapshot(); };
  api_.post = [this](scheduler::Command c) { return reconciler_->Post(std::move(c)); };
  api_.reload = [this](const std::string& source) { return RequestReload(source); };
  api_.fs = &env_.fs;
  api_.state_dir = config.state.dir;
  api_.stopping = &stopping_;
  api_.shared_jobs = shared_jobs_.get();
  if (keeper_ != nullptr) {
    api_.not_leader = [this]() -> std::string {
      if (keeper_->IsLeader()) return "";
      const coordination::CoordinationStatus st = keeper_->status();
      return std::string(scheduler::kNotLeaderError) + (st.holder.empty() || st.holder == ha_node_
                                                            ? " (no leader seen yet)"
                                                            : " (the leader is " + st.holder + ")");
    };
    relay_options_.command_wait = api_.command_timeout + seconds(5);
    relay_options_.stopping = &stopping_;
    api_.relay = [this](const http::Request& req, bool mutating, const std::string& why) {
      const std::string holder = keeper_->status().holder;
      return RelayToLeader(*relay_out_, req, mutating, why, !holder.empty() && holder != ha_node_,
                           relay_options_);
    };
    StartInbox();
  }

  http_observer_ = std::make_unique<HttpMetricsObserver>(*metrics_);
  http::ServerOptions server_options;
  server_options.listen = config.server.listen;
  server_options.web = web_;
  server_options.read_only = config.server.read_only;
  server_options.allow_unauthenticated_writes = config.server.allow_unauthenticated_writes;
  server_options.min_threads = kMinHttpThreads;
  server_options.max_threads = kMaxHttpThreads;
  server_options.tracer = tracer_.get();
  auto server = http::Server::Create(server_options, *log_, http_observer_.get());
  if (!server.ok()) return Status::FailedPrecondition("HTTP server: " + server.status().message());
  server_ = std::move(server).value();
  RegisterRoutes(*server_, api_, *health_checker_, *metrics_);
  if (Status s = server_->Start(); !s.ok()) {
    LOG(*log_, kError, "http").Error(s).Message("cannot listen");
    return Status::FailedPrecondition("cannot listen on " + config.server.listen + ": " +
                                      s.message());
  }

  watcher_ = std::make_unique<platform::InotifyWatcher>();
  Status watching = watcher_->Start(
      config_path_, kReloadDebounce, [this] { events_.Reload("inotify"); },
      [this](const Status& s) {
        LOG(*log_, kWarn, "config").Error(s).Message("config file watch problem");
      });
  if (!watching.ok()) {
    LOG(*log_, kWarn, "config")
        .Error(watching)
        .Message("cannot watch the config file; reload with SIGHUP");
  }

  if (auto interval = notifier_.WatchdogInterval()) {
    watchdog_ = true;
    max_sleep_ = std::min(max_sleep_, duration_cast<milliseconds>(*interval / 2));
  }
  return Status::Ok();
}

void Daemon::Serve() {
  SystemTime next = Tick();
  // After the first Tick, so that scheduler_running is not reported down.
  health_checker_->StartRefresh(kHealthRefresh);
  platform::ReleaseFreeMemory();  // the config parse and the start-up plan
  notifier_.Ready(StatusLine(*reconciler_->snapshot(), ReloadFailed()));
  LOG(*log_, kInfo, "daemon")
      .Field("listen", config_->server.listen)
      .Field("port", server_->port())
      .Printf("provisioner %s started: %zu workspaces, state in %s, listening on port %d",
              PROVISIONER_VERSION, config_->workspaces.size(),
              pg_store_ != nullptr ? "PostgreSQL" : config_->state.dir.c_str(), server_->port());
  if (hooks_.on_listening) hooks_.on_listening(server_->port());

  while (true) {
    Events::Batch batch = events_.Wait(SleepUntil(next));
    if (batch.stop) {
      for (ReloadRequest& r : batch.reloads) Answer(r, Events::ShuttingDown());
      return;
    }
    PendingReload reload = BeginReload(std::move(batch.reloads));
    next = Tick();
    FinishReload(reload);
    if (reconciler_->lost_leadership()) {
      lost_leadership_ = true;
      // No new term while the jobs stop: this node passes for leader no more.
      keeper_->Resign();
      return;
    }
    if (keeper_ != nullptr && keeper_->lost_term()) {
      // The keeper lost its term before the scheduler noticed (between two
      // Ticks, or before its takeover, whose load failed or came too late).
      // It stands no more, so the process must go for a new one to stand.
      LOG(*log_, kError, "ha")
          .Message(
              "lost the leader lease: stopping every job and exiting, so that systemd starts "
              "this node again as a standby");
      lost_leadership_ = true;
      return;
    }
  }
}

Status Daemon::Drain() {
  LOG(*log_, kInfo, "daemon").Message("stopping");
  // 1. No new commands: writes get 503 before their handler runs; commands
  //    already posted are answered Unavailable by the next Tick.
  shutting_down_ = true;
  server_->BeginDrain();
  if (inbox_ != nullptr) inbox_->BeginStop();
  health_checker_->StopRefresh();  // no `tofu version` while jobs stop
  notifier_.Stopping("stopping: waiting for running jobs");
  // 2. Running jobs get the stop ladder (SIGINT now, SIGKILL after
  //    kill_grace); 3. queued ones are recorded `cancelled`.
  reconciler_->BeginShutdown();
  const MonotonicTime deadline =
      env_.clock.Monotonic() + reconciler_->config().scheduler.kill_grace + kReapMargin;
  while (true) {
    // Reaps, saves, publishes (followers see their job end); polls leftover
    // tofus of an earlier daemon, which no exit event announces.
    const SystemTime next = Tick();
    if (reconciler_->idle() || env_.clock.Monotonic() >= deadline) break;
    const auto left = duration_cast<milliseconds>(deadline - env_.clock.Monotonic());
    Events::Batch batch =
        events_.Wait(std::clamp(std::min(left, SleepUntil(next)), milliseconds(1), max_sleep_));
    for (ReloadRequest& r : batch.reloads) Answer(r, Events::ShuttingDown());
  }
  if (!reconciler_->idle()) {
    // Killed at kill_grace but not reaped yet: the state keeps them as
    // running, so the next start records them `interrupted`; the runner's
    // destructor kills and reaps whatever is left.
    LOG(*log_, kError, "daemon")
        .Message("jobs still running after the stop deadline; they are killed on exit");
  }
  // 4. The state, on disk. Nothing asks the loop anything after this.
  reconciler_->Close();
  events_.Close();
  Status flushed = reconciler_->Flush();
  // HA: the logs of the jobs that ended, to the database, so that
  // followers on other nodes see them end.
  if (shipper_ != nullptr) shipper_->Stop();
  // 5. Followers get a last line and their streams end.
  stopping_.Notify();
  // 6. The listener: Stop() returns once every request in flight is done.
  watcher_->Stop();
  server_->Stop();
  if (inbox_ != nullptr) inbox_->Stop();
  // 7. Spans still queued: at most the exporter's 2 s budget, then dropped.
  if (exporter_ != nullptr) exporter_->Shutdown();
  // 8. HA: the lease, released only now, after the last fenced save, so
  //    that a standby takes over at its next attempt.
  //    The claims were released as their jobs ended; the keeper renewed
  //    them until then.
  if (claim_keeper_ != nullptr) claim_keeper_->Stop();
  if (keeper_ != nullptr) keeper_->Stop();
  if (lost_leadership_) {
    LOG(*log_, kWarn, "daemon")
        .Message("stopped after losing the leader lease; the new leader owns the state");
    return flushed;
  }
  LOG(*log_, kInfo, "daemon")
      .Message(flushed.ok() ? "stopped; state saved" : "stopped; STATE NOT SAVED");
  return flushed;
}

SystemTime Daemon::Tick() {
  const SystemTime next = reconciler_->Tick();
  ticked_ = true;
  PublishHealth();
  if (watchdog_) notifier_.Watchdog();
  if (!shutting_down_) {
    std::string status = reconciler_->standby()
                             ? "HA standby (node " + ha_node_ + "): waiting for the leader lease"
                             : StatusLine(*reconciler_->snapshot(), ReloadFailed());
    if (status != last_status_) {
      notifier_.Status(status);
      last_status_ = std::move(status);
    }
  }
  return next;
}

milliseconds Daemon::SleepUntil(SystemTime next) {
  const SystemTime now = env_.clock.Now();
  if (next <= now) return milliseconds(0);
  // Round up so that the next Tick lands at or after the due time.
  if (next - now < max_sleep_) return duration_cast<milliseconds>(next - now) + milliseconds(1);
  return max_sleep_;
}

Daemon::PendingReload Daemon::BeginReload(std::vector<ReloadRequest> requests) {
  PendingReload pending;
  if (requests.empty()) return pending;
  std::vector<std::string> sources;
  for (const ReloadRequest& r : requests) {
    if (std::find(sources.begin(), sources.end(), r.source) == sources.end()) {
      sources.push_back(r.source);
    }
  }
  pending.requests = std::move(requests);
  scheduler::ReloadReport& report = pending.report;
  report.source = Join(sources, "+");
  notifier_.Reloading();
  ConfigLoad load = LoadConfigFile(env_.fs, config_path_, env_.cwd);
  if (!load.read_status.ok() || !load.parse.ok()) {
    if (!load.read_status.ok()) {
      report.errors.push_back(load.read_status.message());
    } else {
      for (const auto& d : load.parse.errors) report.errors.push_back(d.ToString());
    }
    for (const std::string& e : report.errors) {
      LOG(*log_, kError, "config")
          .Field("source", report.source)
          .Error(e)
          .Message("config reload rejected");
    }
    LOG(*log_, kError, "config")
        .Field("source", report.source)
        .Printf("config reload rejected with %zu error(s); still running the previous config",
                report.errors.size());
    {
      std::lock_guard<std::mutex> lock(health_mu_);
      health_base_.last_reload_ok = false;
      health_base_.last_reload_error = report.errors.empty() ? "" : report.errors.front();
    }
    observers_.OnConfigReloaded(report);
    return pending;  // answered by FinishReload, after the Tick
  }
  for (const auto& w : load.parse.warnings) LOG(*log_, kWarn, "config").Message(w.ToString());
  ApplyLogging(*load.parse.config);
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    health_base_.last_reload_ok = true;
    health_base_.last_reload_error.clear();
  }
  RebuildHealthBase(*load.parse.config);
  report.ok = true;
  // The reconciler logs the diff and tells the observers once it applied it.
  pending.applied = reconciler_->Post(scheduler::ReloadCommand{load.parse.config, report.source});
  return pending;
}

void Daemon::FinishReload(PendingReload& pending) {
  if (pending.requests.empty()) return;
  if (pending.applied) {
    // Posted before the Tick that just ran, which applied it: ready.
    scheduler::CommandResult applied = pending.applied->get();
    pending.report.diff = applied.diff;
    SetMetricWorkspaces(reconciler_->config());
    if (lease_db_ != nullptr) PublishConfigHash(reconciler_->config());
    history_limit_ = reconciler_->config().state.history_limit;
    platform::ReleaseFreeMemory();  // the old config and the re-plan
  }
  notifier_.Ready(StatusLine(*reconciler_->snapshot(), ReloadFailed()));
  for (ReloadRequest& r : pending.requests) Answer(r, pending.report);
}

Result<scheduler::ReloadReport> Daemon::RequestReload(const std::string& source) {
  auto future = events_.ReloadAndReply(source);
  if (future.wait_for(api_.command_timeout) != std::future_status::ready) {
    return Status::Unavailable("the daemon did not answer the reload within " +
                               std::to_string(api_.command_timeout.count() / 1000) + " s");
  }
  return future.get();
}

void Daemon::SetMetricWorkspaces(const config::Config& config) {
  // Workspaces that left the config keep their series while orphaned: the
  // metrics drop only names that are in neither.
  std::vector<std::string> names;
  for (const auto& ws : config.workspaces) names.push_back(ws.name);
  for (const auto& ws : reconciler_->snapshot()->workspaces) names.push_back(ws->name);
  metrics_->SetWorkspaces(names);
}

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
}

Status Daemon::StartTracing(const config::Config& config) {
  auto settings = ResolveTracing(config.tracing, env_.environ, env_.fs);
  if (!settings.ok()) return Status::FailedPrecondition("tracing: " + settings.status().ToString());
  tracing_ = std::move(settings).value();
  for (const std::string& w : tracing_.warnings) LOG(*log_, kWarn, "config").Message(w);
  if (tracing_.enabled) {
    trace_client_ = std::make_unique<http::HttplibClient>();
    export_metrics_ = std::make_unique<ExportMetrics>(*metrics_);
    telemetry::ExporterOptions options;
    options.endpoint = tracing_.endpoint;
    options.headers = tracing_.headers;
    options.timeout = tracing_.timeout;
    exporter_ = std::make_unique<telemetry::OtlpExporter>(
        std::move(options), MakeResource(tracing_, PROVISIONER_VERSION),
        telemetry::Scope{"provisioner", PROVISIONER_VERSION}, *trace_client_, env_.clock, *log_,
        export_metrics_.get());
    exporter_->Start();
    // The endpoint, never the headers (credentials).
    LOG(*log_, kInfo, "daemon")
        .Field("endpoint", tracing_.endpoint)
        .Field("service_name", tracing_.service_name)
        .Field("sampling_ratio", StringPrintf("%g", tracing_.sampling_ratio))
        .Field("headers", static_cast<int64_t>(tracing_.headers.size()))
        .Printf("tracing on: OTLP/HTTP JSON to %s%s%s", tracing_.endpoint.c_str(),
                tracing_.notes.empty() ? "" : "; ", Join(tracing_.notes, ", ").c_str());
  } else if (!tracing_.notes.empty()) {
    LOG(*log_, kInfo, "daemon").Printf("tracing %s", Join(tracing_.notes, ", ").c_str());
  }
  tracer_ =
      std::make_unique<telemetry::Tracer>(env_.clock, exporter_.get(), tracing_.sampling_ratio);
  tracing_observer_ = std::make_unique<TracingObserver>(*tracer_);
  return Status::Ok();
}

void Daemon::PublishHealth() {
  std::lock_guard<std::mutex> lock(health_mu_);
  health_base_.scheduler_running = ticked_;
  health_base_.shutting_down = shutting_down_;
  health_base_.last_tick = env_.clock.Monotonic();
  health_ = std::make_shared<const http::DaemonHealth>(health_base_);
}

void Daemon::NoteStateSave(const Status& result, SystemTime at) {
  int64_t recovered_after = 0;  // failed saves before this good one
  {
    std::lock_guard<std::mutex> lock(health_mu_);
    if (result.ok()) {
      recovered_after = health_base_.state_save_failures;
      health_base_.last_state_save = at;
      health_base_.state_save_error.clear();
      health_base_.state_save_failures = 0;
    } else {
      if (health_base_.state_save_failures == 0) health_base_.state_save_failing_since = at;
      ++health_base_.state_save_failures;
      health_base_.state_save_error = result.ToString();
    }
  }
  // Each failure is logged by the reconciler; the end of them is logged here.
  if (recovered_after > 0) {
    LOG(*log_, kInfo, "state")
        .Printf("state saved again after %lld failed save(s)",
                static_cast<long long>(recovered_after));
  }
}

void Daemon::LogHealthChange(const http::HealthChecker::Check& check, const std::string& before) {
  const log::Level level = check.status == "unhealthy"  ? log::Level::kError
                           : check.status == "degraded" ? log::Level::kWarn
                                                        : log::Level::kInfo;
  LOG_AT(*log_, level, "health")
      .Field("check", check.name)
      .Field("status", check.status)
      .Field("previous", before.empty() ? "-" : before)
      .Printf("health check %s is %s%s: %s", check.name.c_str(), check.status.c_str(),
              before.empty() ? "" : (" (was " + before + ")").c_str(), check.message.c_str());
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

}  // namespace

int RunDaemon(CliEnv& env, const std::string& config_path, const DaemonTestHooks& hooks) {
  Daemon daemon(env, config_path, hooks);
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
