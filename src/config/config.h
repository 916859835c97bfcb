// The typed configuration (DESIGN.md §3).
//
// Every key of the file has a field here with its default in the struct. The
// loader (config_parse.cc) is the only code that reads keys by name; everyone
// else reads these fields. A Config is immutable once loaded and is shared as
// std::shared_ptr<const Config>; a reload builds a new one and swaps it in.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "cron/cron_expr.h"
#include "cron/time_zone.h"

namespace provisioner::config {

using Millis = std::chrono::milliseconds;
using std::chrono::hours;
using std::chrono::minutes;

// ^[a-z0-9][a-z0-9_-]{0,62}$: a workspace name is a directory name and a
// metric label, so it is kept this tame.
bool IsValidWorkspaceName(std::string_view name);

struct ServerConfig {
  // host:port of the one listener for /metrics, /health*, /ready and /api.
  // Loopback by default: nothing is exposed until an operator says so.
  std::string listen = "127.0.0.1:9090";
  // Prometheus exporter-toolkit web config (TLS, mTLS, basic auth); "" = none.
  std::string web_config_file;
  // true: every mutating API call gets 403.
  bool read_only = false;
  // On a non-loopback listener without authentication, mutating API calls are
  // refused unless this is true. Set it only behind an authenticating proxy.
  bool allow_unauthenticated_writes = false;
};

struct OpenTofuConfig {
  // A path, or a name looked up on PATH.
  std::string binary = "tofu";
  // Optional pin ("1.12.6"): when the binary is missing, this release is
  // downloaded, verified against its SHA256SUMS and installed under state.dir.
  std::string version;
  std::string download_base_url = "https://github.com/opentofu/opentofu/releases/download";
  // TF_PLUGIN_CACHE_DIR: providers are downloaded once for all workspaces.
  std::string plugin_cache_dir = "/var/cache/provisioner/plugin-cache";
  // -lock-timeout for plan/apply/destroy: how long tofu waits for a state lock.
  Millis lock_timeout = minutes(5);
  // Glob patterns of the daemon's own environment variables handed to tofu.
  // Everything else of the daemon's environment stays out.
  std::vector<std::string> pass_env = {"AWS_*", "GOOGLE_*", "ARM_*"};
  // Extra environment for every run (workspace env wins over it).
  std::map<std::string, std::string> env;
};

struct RetryConfig {
  // Attempts in all, the first included; 1 disables retries.
  int max_attempts = 3;
  // Delay before the first retry; doubles after each failure up to max_backoff.
  Millis backoff = minutes(1);
  Millis max_backoff = minutes(30);
};

struct SchedulerConfig {
  // Default IANA zone of every schedule.
  std::string timezone = "UTC";
  // Jobs running at once; more are queued, destroys first.
  int max_concurrent_jobs = 4;
  // Per job, unless the workspace sets its own timeout; then the stop ladder.
  Millis job_timeout = hours(1);
  // Between SIGINT and SIGKILL. Long enough for tofu to release its lock.
  Millis kill_grace = minutes(2);
  RetryConfig retry;
  // After downtime, converge to the state the schedules ask for now. When
  // false, events missed while the daemon was down are skipped.
  bool catch_up = true;
  // Each workspace's scheduled actions are delayed by a stable amount in
  // [0, jitter), from a hash of its name, to spread load at 08:00.
  Millis jitter{0};
};

struct StateConfig {
  // state.json, workspaces/<name>/, jobs/<name>/<job>.log live here.
  std::string dir = "/var/lib/provisioner";
  // Finished jobs kept per workspace in jobs/<name>/history.jsonl.
  int history_limit = 50;
};

struct LoggingConfig {
  log::Level level = log::Level::kInfo;
  log::Format format = log::Format::kJson;
};

struct TracingConfig {
  bool enabled = false;
  // OTLP/HTTP JSON endpoint, used as written; Jaeger accepts it natively.
  std::string endpoint = "http://localhost:4318/v1/traces";
  // Parent-based trace-id-ratio sampling of traces that start here.
  double sampling_ratio = 0.1;
  std::string service_name = "provisioner";
  // `Name: value` lines sent with every export (collector auth); "" none.
  std::string headers_file;
  // Which keys the file set: the OTEL_* environment fills in the others
  // (DESIGN.md §9; app/tracing.h).
  bool enabled_set = false;
  bool endpoint_set = false;
  bool sampling_ratio_set = false;
  bool service_name_set = false;
  bool headers_file_set = false;
};

// High availability on PostgreSQL (DESIGN.md §11, docs/ha.md). Read once, at
// start-up. In this version the leader runs every job: `runs_jobs: false`
// is refused, and claim_ttl is read but not used yet.
struct HaConfig {
  bool enabled = false;
  // A file holding the libpq connection string (it may carry a password:
  // never logged).
  std::string dsn_file = "/etc/provisioner/ha.dsn";
  // This node's name in the lease and job rows; "" = the host name.
  std::string node_name;
  bool runs_jobs = true;
  // The leader lease, on the database's clock, and how a leader keeps it:
  // renew_interval < renew_deadline < lease_ttl.
  Millis lease_ttl{15'000};
  Millis renew_interval{3'000};
  Millis renew_deadline{10'000};
  // A running job's claim, renewed by the node that runs it.
  Millis claim_ttl{60'000};
};

struct Schedule {
  // Cron expressions as written ("" = none) and their parsed form.
  std::string deploy;
  std::string destroy;
  std::optional<cron::CronExpr> deploy_expr;
  std::optional<cron::CronExpr> destroy_expr;
  // The zone name as written, or the scheduler default when not set.
  std::string timezone;
  std::shared_ptr<const cron::TimeZone> zone;
};

struct WorkspaceConfig {
  // ^[a-z0-9][a-z0-9_-]{0,62}$ : it becomes a directory name.
  std::string name;
  // A directory under templates_dir.
  std::string template_name;
  // The `variables` mapping as a JSON object, written verbatim as
  // terraform.tfvars.json. YAML scalars keep their YAML types (3 is a number,
  // "3" a string).
  std::string variables_json = "{}";
  // -backend-config=key=value for init.
  std::map<std::string, std::string> backend_config;
  std::map<std::string, std::string> env;
  Schedule schedule;
  // false: a permanent pause; scheduled events are ignored, manual ones work.
  bool enabled = true;
  // true: scheduled destroys are refused and reported; manual ones work.
  bool is_protected = false;
  // Per-job timeout; scheduler.job_timeout when unset.
  std::optional<Millis> timeout;
  // Estimated cost while deployed; feeds provisioner_estimated_savings_seconds_total.
  std::optional<double> cost_per_hour;
  std::map<std::string, std::string> labels;
};

struct Config {
  ServerConfig server;
  OpenTofuConfig opentofu;
  SchedulerConfig scheduler;
  StateConfig state;
  LoggingConfig logging;
  TracingConfig tracing;
  HaConfig ha;
  std::string templates_dir = "/etc/provisioner/templates";
  std::vector<WorkspaceConfig> workspaces;

  // The file it was loaded from (for messages), as given.
  std::string source_path;

  // nullptr when there is no workspace of that name. Linear; callers that
  // look up often build their own index.
  const WorkspaceConfig* FindWorkspace(std::string_view name) const;
  // The workspace's own timeout, or scheduler.job_timeout.
  Millis JobTimeout(const WorkspaceConfig& ws) const {
    return ws.timeout.value_or(scheduler.job_timeout);
  }
};

}  // namespace provisioner::config
