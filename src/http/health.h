// Health probes (DESIGN.md §7) in the monitoring standard's format:
//   {"status":"healthy|degraded|unhealthy",
//    "checks":[{"name","status","message","last_check","duration_ms"}],
//    "timestamp","version"}
// HTTP 200 for healthy or degraded, 503 for unhealthy.
//
//   /health       scheduler_running, config_loaded, state_loaded, state_saved,
//                 and coordination in HA mode
//   /ready        the same, plus dependencies_available, and serving_role in
//                 HA mode (unhealthy on a standby: only the leader serves)
//   /health/deep  the same, plus opentofu_available, state_accessible,
//                 templates_available, disk_space, reconcile_age, tracing_exporter
//
// A probe never waits on a job or on the scheduler: it reads a DaemonHealth
// the daemon publishes after each tick. The deep checks do real work (a
// `tofu version -json` with a timeout, a write in the state dir, a template
// scan) and cache their results for a short while, so that a probe storm
// costs nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/thread_annotations.h"
#include "http/server.h"
#include "platform/file_system.h"
#include "platform/process_runner.h"
#include "telemetry/otlp_exporter.h"

namespace provisioner::http {

// What the daemon publishes for the probes (immutable once published).
struct DaemonHealth {
  SystemTime started_at;
  MonotonicTime last_tick{};  // when the scheduler last completed a tick
  bool scheduler_running = false;
  bool shutting_down = false;
  // config_loaded: the file the daemon runs on, and the last reload.
  std::string config_path;
  bool last_reload_ok = true;
  std::string last_reload_error;  // first error of a rejected reload
  // state_loaded: "" or what went wrong at start-up (recovered from the backup).
  std::string state_warning;
  // state_saved: the saves of state.json as the scheduler reports them.
  // `state_save_error` is "" once a save succeeded again.
  std::optional<SystemTime> last_state_save;  // the last successful one
  std::string state_save_error;               // the last failed one's error
  SystemTime state_save_failing_since{};      // the first failure in a row
  int64_t state_save_failures = 0;            // failures in a row
  std::string state_dir;
  // Where the state lives when not in state_dir's state.json (HA mode:
  // "PostgreSQL"), for the messages.
  std::string state_store;
  std::string templates_dir;
  std::vector<std::string> templates;  // templates the config uses
  std::string tofu_binary;             // "" when none was found
  std::string tofu_problem;
  std::map<std::string, std::string> tofu_env;  // for running `tofu version -json`
  // HA mode only (docs/ha.md): the lease as this node last saw it. Read
  // live at each probe from the source SetCoordination gives, not from the
  // published DaemonHealth: a standby's loop ticks seldom.
  struct Coordination {
    bool leader = false;
    int64_t term = 0;
    std::string holder;  // the leader as last seen, "" when unknown
    bool reachable = true;
    std::string error;  // of the last failed lease attempt
    // A standby whose workspace config differs from the leader's.
    bool config_differs = false;
    // A leader: the workspaces it does not act on, because another node
    // defines them otherwise (name -> that node).
    std::map<std::string, std::string> held_workspaces;
  };
};

struct HealthOptions {
  std::string version;
  // A tick older than this makes scheduler_running unhealthy (the loop
  // ticks at least every 30 s).
  std::chrono::seconds max_tick_age{90};

  std::chrono::seconds tofu_timeout{10};
  std::chrono::seconds deep_cache{30};
  uint64_t disk_warn_bytes = 1ull << 30;    // degraded below 1 GiB free
  uint64_t disk_fail_bytes = 100ull << 20;  // unhealthy below 100 MiB
};

class HealthChecker {
 public:
  // Never owns its dependencies; `health` must be thread-safe.
  HealthChecker(HealthOptions options, std::function<std::shared_ptr<const DaemonHealth>()> health,
                Clock& clock, platform::FileSystem& fs, platform::ProcessRunner& runner);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  struct Check {
    std::string name;
    std::string status;  // healthy, degraded, unhealthy
    std::string message;
    SystemTime last_check;
    double duration_ms = 0;
  };

  // tracing_exporter reports `exporter` (to `endpoint`); without it, tracing
  // is off. Before the first request.
  void SetTracing(std::function<telemetry::OtlpExporter::Health()> exporter, std::string endpoint) {
    tracing_ = std::move(exporter);
    tracing_endpoint_ = std::move(endpoint);
  }

  // HA mode: the `coordination` check (and /ready's serving_role) read
  // `coordination`, which must be thread-safe. Before the first request.
  void SetCoordination(std::function<DaemonHealth::Coordination()> coordination) {
    coordination_ = std::move(coordination);
  }

  Response Health();
  Response Ready();
  Response Deep();

  // Called after a deep run (a probe's or the refresh's) for every check
  // whose status differs from the previous run's, with that status ("" on
  // the first run, when only checks that are not healthy are reported), so
  // that the daemon can log a problem nobody probes for, and its end. Runs
  // on the probing thread, outside the checker's locks. Before the first
  // request.
  void SetOnChange(std::function<void(const Check& now, const std::string& before)> on_change) {
    on_change_ = std::move(on_change);
  }

  // Runs the deep checks now and then every `interval` on a thread of its
  // own, so that LastDeep() (the provisioner_health_check metric) stays
  // fresh when nobody probes /health/deep. StopRefresh() ends it, at the
  // latest in the destructor.
  void StartRefresh(std::chrono::seconds interval);
  void StopRefresh();
  // Check name -> status of the last deep run, a probe's or the refresh's;
  // empty before the first.
  std::map<std::string, std::string> LastDeep();

  // For tests: how many callers are waiting for another's run of a check.
  int TEST_Waiting();

 private:
  std::vector<Check> Basic(const DaemonHealth& h);
  Check Dependencies(const DaemonHealth& h);
  Check Coordination(const DaemonHealth::Coordination& c);
  Check Opentofu(const DaemonHealth& h);
  Check StateAccessible(const DaemonHealth& h);
  Check Templates(const DaemonHealth& h);
  Check Disk(const DaemonHealth& h);
  Check ReconcileAge(const DaemonHealth& h);
  Check Tracing();
  Response Reply(const std::vector<Check>& checks);
  // Runs `check` unless a result younger than deep_cache exists.
  Check Cached(const std::string& name, const std::function<Check()>& check);

  const HealthOptions options_;
  std::function<std::shared_ptr<const DaemonHealth>()> health_;
  Clock& clock_;
  std::function<telemetry::OtlpExporter::Health()> tracing_;
  std::function<DaemonHealth::Coordination()> coordination_;
  std::string tracing_endpoint_;
  platform::FileSystem& fs_;
  platform::ProcessRunner& runner_;
  std::function<void(const Check&, const std::string&)> on_change_;

  Mutex mu_;  // guards cache_ and running_; checks run outside it
  struct CacheEntry {
    Check check;
    MonotonicTime at;
  };
  std::map<std::string, CacheEntry> cache_ GUARDED_BY(mu_);
  // Checks being run now; a second caller waits on running_cv_ for the
  // first one's result.
  std::set<std::string> running_ GUARDED_BY(mu_);
  int waiting_ GUARDED_BY(mu_) = 0;
  std::condition_variable_any running_cv_;
  std::map<std::string, std::string> last_deep_ GUARDED_BY(mu_);

  Mutex refresh_mu_;
  std::condition_variable_any refresh_cv_;
  bool refresh_stop_ GUARDED_BY(refresh_mu_) = false;
  std::thread refresher_;
};

}  // namespace provisioner::http
