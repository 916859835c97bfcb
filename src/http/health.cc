#include "http/health.h"

#include "base/strings.h"
#include "base/time_format.h"
#include "tofu/installer.h"

namespace provisioner::http {
namespace {

using std::chrono::duration_cast;

constexpr std::string_view kHealthy = "healthy";
constexpr std::string_view kDegraded = "degraded";
constexpr std::string_view kUnhealthy = "unhealthy";

int Rank(const std::string& status) {
  if (status == kUnhealthy) return 2;
  if (status == kDegraded) return 1;
  return 0;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return StringPrintf("%.1f %s", v, units[u]);
}

}  // namespace

HealthChecker::HealthChecker(HealthOptions options,
                             std::function<std::shared_ptr<const DaemonHealth>()> health,
                             Clock& clock, platform::FileSystem& fs,
                             platform::ProcessRunner& runner)
    : options_(std::move(options)),
      health_(std::move(health)),
      clock_(clock),
      fs_(fs),
      runner_(runner) {}

HealthChecker::~HealthChecker() { StopRefresh(); }

void HealthChecker::StartRefresh(std::chrono::seconds interval) {
  if (refresher_.joinable()) return;
  refresher_ = std::thread([this, interval] {
    while (true) {
      {
        MutexLock lock(refresh_mu_);
        if (refresh_stop_) return;
      }
      (void)Deep();
      MutexLock lock(refresh_mu_);
      // A period, not a time of clock_: a spurious wake-up only restarts it.
      while (!refresh_stop_ &&
             refresh_cv_.wait_for(refresh_mu_, interval) == std::cv_status::no_timeout) {
      }
    }
  });
}

void HealthChecker::StopRefresh() {
  {
    MutexLock lock(refresh_mu_);
    refresh_stop_ = true;
  }
  refresh_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

std::map<std::string, std::string> HealthChecker::LastDeep() {
  MutexLock lock(mu_);
  return last_deep_;
}

int HealthChecker::TEST_Waiting() {
  MutexLock lock(mu_);
  return waiting_;
}

HealthChecker::Check HealthChecker::Cached(const std::string& name,
                                           const std::function<Check()>& check) {
  const MonotonicTime now = clock_.Monotonic();
  {
    MutexLock lock(mu_);
    while (true) {
      auto it = cache_.find(name);
      if (it != cache_.end() && now - it->second.at < options_.deep_cache) {
        return it->second.check;
      }
      if (running_.count(name) == 0) break;
      // Another probe (or the refresh) is running this check: its result
      // will do. Two runs at once would also trip over each other's probe
      // file in the state directory.
      ++waiting_;
      running_cv_.wait(mu_);
      --waiting_;
    }
    running_.insert(name);
  }
  // Run without the lock: a slow check (tofu version, up to its timeout)
  // must not hold up /ready.
  MonotonicTime start = clock_.Monotonic();
  Check c = check();
  c.name = name;
  c.last_check = clock_.Now();
  c.duration_ms = std::chrono::duration<double, std::milli>(clock_.Monotonic() - start).count();
  MutexLock lock(mu_);
  cache_[name] = CacheEntry{c, now};
  running_.erase(name);
  running_cv_.notify_all();
  return c;
}

std::vector<HealthChecker::Check> HealthChecker::Basic(const DaemonHealth& h) {
  const SystemTime now = clock_.Now();
  std::vector<Check> out;
  Check sched{"scheduler_running", std::string(kHealthy), "scheduler is running", now, 0};
  const auto age = clock_.Monotonic() - h.last_tick;
  if (!h.scheduler_running) {
    sched.status = kUnhealthy;
    sched.message = "scheduler has not started";
  } else if (h.shutting_down) {
    sched.status = kUnhealthy;
    sched.message = "shutting down";
  } else if (age > options_.max_tick_age) {
    sched.status = kUnhealthy;
    sched.message =
        StringPrintf("no scheduler tick for %lld s (stuck?)",
                     static_cast<long long>(duration_cast<std::chrono::seconds>(age).count()));
  }
  out.push_back(sched);

  Check config{"config_loaded", std::string(kHealthy), "config loaded from " + h.config_path, now,
               0};
  if (!h.last_reload_ok) {
    config.status = kDegraded;
    config.message = "last reload of " + h.config_path + " was rejected (" + h.last_reload_error +
                     "); running on the previous config";
  }
  out.push_back(config);

  Check state{"state_loaded", std::string(kHealthy),
              "state loaded from " + (h.state_store.empty() ? h.state_dir : h.state_store), now, 0};
  if (!h.state_warning.empty()) {
    state.status = kDegraded;
    state.message = h.state_warning;
  }
  out.push_back(state);

  // Degraded, never unhealthy: the daemon keeps working from memory and
  // retries at every tick, and a restart (what an orchestrator does with an
  // unhealthy probe) would lose the changes that are not on disk yet.
  Check saved{"state_saved", std::string(kHealthy), "", now, 0};
  const std::string file = h.state_store.empty() ? platform::JoinPath(h.state_dir, "state.json")
                                                 : "the state in " + h.state_store;
  if (!h.state_save_error.empty()) {
    saved.status = kDegraded;
    saved.message = StringPrintf(
        "%lld save(s) of %s failed in a row since %s: %s; the changes are kept in memory and "
        "saved again at every scheduler tick",
        static_cast<long long>(h.state_save_failures), file.c_str(),
        FormatUtc(h.state_save_failing_since).c_str(), h.state_save_error.c_str());
  } else if (h.last_state_save) {
    saved.message = file + " saved at " + FormatUtc(*h.last_state_save);
  } else {
    saved.message = "no save of " + file + " yet";
  }
  out.push_back(saved);
  if (coordination_) out.push_back(Coordination(coordination_()));
  return out;
}

// Degraded at worst: a standby that cannot reach the database is no less
// able to take over once it can, and a leader whose renewals fail demotes
// itself at renew_deadline; restarting either would not help.
HealthChecker::Check HealthChecker::Coordination(const DaemonHealth::Coordination& c) {
  Check out{"coordination", std::string(kHealthy), "", clock_.Now(), 0};
  const std::string leader = c.holder.empty()
                                 ? std::string("no leader seen yet")
                                 : StringPrintf("the leader is %s (term %lld)", c.holder.c_str(),
                                                static_cast<long long>(c.term));
  if (c.leader) {
    out.message = StringPrintf("leader, term %lld", static_cast<long long>(c.term));
  } else {
    out.message = "standby; " + leader;
  }
  if (c.config_differs) {
    out.status = kDegraded;
    out.message +=
        "; this node's workspace config differs from the leader's: if it took over, it would "
        "act on another config (give every node the same workspaces and templates)";
  }
  if (!c.held_workspaces.empty()) {
    const auto& [name, node] = *c.held_workspaces.begin();
    out.status = kDegraded;
    out.message += StringPrintf(
        "; %zu workspace(s) defined otherwise on other nodes get no job (%s on node %s%s): give "
        "every node the same workspaces and templates",
        c.held_workspaces.size(), name.c_str(), node.c_str(),
        c.held_workspaces.size() > 1 ? ", ..." : "");
  }
  if (!c.reachable) {
    out.status = kDegraded;
    out.message += "; the last lease attempt failed: " + c.error +
                   (c.leader ? " (this node demotes itself at ha.renew_deadline unless one "
                               "succeeds)"
                             : "");
  }
  return out;
}

HealthChecker::Check HealthChecker::Dependencies(const DaemonHealth& h) {
  return Cached("dependencies_available", [&]() {
    Check c;
    c.status = kHealthy;
    if (h.tofu_binary.empty()) {
      c.status = kUnhealthy;
      c.message = "no tofu binary: " + h.tofu_problem;
      return c;
    }
    auto info = fs_.Stat(h.tofu_binary);
    if (!info.ok() || (info->mode & 0111) == 0) {
      c.status = kUnhealthy;
      c.message = h.tofu_binary + " is missing or not executable";
      return c;
    }
    const std::string probe = platform::JoinPath(h.state_dir, ".ready-probe");
    Status w = fs_.WriteFile(probe, "ok");
    if (!w.ok()) {
      c.status = kUnhealthy;
      c.message = "state dir not writable: " + w.message();
      return c;
    }
    (void)fs_.Remove(probe);
    c.message = "tofu at " + h.tofu_binary + "; state dir writable";
    return c;
  });
}

HealthChecker::Check HealthChecker::Opentofu(const DaemonHealth& h) {
  return Cached("opentofu_available", [&]() {
    Check c;
    if (h.tofu_binary.empty()) {
      c.status = kUnhealthy;
      c.message = "no tofu binary: " + h.tofu_problem;
      return c;
    }
    platform::ProcessSpec spec;
    spec.argv = {h.tofu_binary, "version", "-json"};
    spec.env = h.tofu_env;
    spec.timeout = options_.tofu_timeout;
    spec.kill_grace = std::chrono::seconds(2);
    spec.collect_with_wait = true;  // the daemon loop Reaps the same runner
    auto handle = runner_.Start(spec);
    if (!handle.ok()) {
      c.status = kUnhealthy;
      c.message = handle.status().message();
      return c;
    }
    platform::FinishedProcess f = runner_.Wait(*handle);
    if (f.stop_reason == platform::StopReason::kTimeout) {
      c.status = kUnhealthy;
      c.message = "tofu version -json timed out";
      return c;
    }
    auto version = tofu::ParseVersionJson(f.stdout_data);
    if (f.exit_code != 0 || !version.ok()) {
      c.status = kUnhealthy;
      c.message = "tofu version -json failed (exit " + std::to_string(f.exit_code) + ")";
      // Its first line on stderr usually says why (a broken build, a missing
      // library), bounded and made valid UTF-8 for the JSON reply.
      for (std::string_view line : Split(f.stderr_data, '\n')) {
        line = Trim(line);
        if (line.empty()) continue;
        c.message += ": ";
        AppendValidUtf8(&c.message, line.substr(0, 200));
        break;
      }
      return c;
    }
    c.status = kHealthy;
    c.message = "OpenTofu " + *version;
    return c;
  });
}

HealthChecker::Check HealthChecker::StateAccessible(const DaemonHealth& h) {
  return Cached("state_accessible", [&]() {
    Check c;
    const std::string probe = platform::JoinPath(h.state_dir, ".health-probe");
    Status s = platform::WriteFileAtomic(fs_, probe, "ok");
    auto back = s.ok() ? fs_.ReadFile(probe, 16) : Result<std::string>(s);
    (void)fs_.Remove(probe);
    if (!back.ok() || *back != "ok") {
      c.status = kUnhealthy;
      c.message = "cannot write and read back in " + h.state_dir + ": " +
                  (back.ok() ? std::string("content differs") : back.status().message());
    } else {
      c.status = kHealthy;
      c.message = h.state_dir + " is writable (atomic write, fsync, rename)";
    }
    return c;
  });
}

HealthChecker::Check HealthChecker::Templates(const DaemonHealth& h) {
  return Cached("templates_available", [&]() {
    Check c;
    std::vector<std::string> missing;
    for (const std::string& t : h.templates) {
      auto info = fs_.Stat(platform::JoinPath(h.templates_dir, t));
      if (!info.ok()) missing.push_back(t);
    }
    if (!missing.empty()) {
      c.status = kUnhealthy;
      c.message = "missing in " + h.templates_dir + ": " + Join(missing, ", ");
    } else {
      c.status = kHealthy;
      c.message = std::to_string(h.templates.size()) + " template(s) present in " + h.templates_dir;
    }
    return c;
  });
}

HealthChecker::Check HealthChecker::Disk(const DaemonHealth& h) {
  return Cached("disk_space", [&]() {
    Check c;
    auto free = fs_.FreeSpace(h.state_dir);
    if (!free.ok()) {
      c.status = kUnhealthy;
      c.message = free.status().message();
    } else if (*free < options_.disk_fail_bytes) {
      c.status = kUnhealthy;
      c.message = HumanBytes(*free) + " free in " + h.state_dir;
    } else if (*free < options_.disk_warn_bytes) {
      c.status = kDegraded;
      c.message = HumanBytes(*free) + " free in " + h.state_dir;
    } else {
      c.status = kHealthy;
      c.message = HumanBytes(*free) + " free in " + h.state_dir;
    }
    return c;
  });
}

HealthChecker::Check HealthChecker::ReconcileAge(const DaemonHealth& h) {
  Check c;
  c.name = "reconcile_age";
  c.last_check = clock_.Now();
  const double age = std::chrono::duration<double>(clock_.Monotonic() - h.last_tick).count();
  c.message = StringPrintf("last reconcile %.1f s ago", age);
  c.status =
      age > std::chrono::duration<double>(options_.max_tick_age).count() ? kUnhealthy : kHealthy;
  return c;
}

HealthChecker::Check HealthChecker::Tracing() {
  Check c;
  c.name = "tracing_exporter";
  c.last_check = clock_.Now();
  c.status = kHealthy;
  if (!tracing_) {
    c.message = "tracing disabled";
    return c;
  }
  const telemetry::OtlpExporter::Health t = tracing_();
  if (!t.ok) {
    // Traces are lost, jobs are not: degraded, never unhealthy.
    c.status = kDegraded;
    c.message = "exports to " + tracing_endpoint_ + " fail: " + t.last_error;
  } else if (t.last_success) {
    c.message =
        "last export to " + tracing_endpoint_ + " succeeded at " + FormatUtc(*t.last_success);
  } else {
    c.message = "exporting to " + tracing_endpoint_ + "; no export yet";
  }
  c.message += StringPrintf("; %zu spans queued", t.queued);
  return c;
}

Response HealthChecker::Reply(const std::vector<Check>& checks) {
  int worst = 0;
  for (const Check& c : checks) worst = std::max(worst, Rank(c.status));
  const std::string_view overall = worst == 2 ? kUnhealthy : worst == 1 ? kDegraded : kHealthy;
  std::string out = "{\"status\":\"";
  out.append(overall);
  out += "\",\"checks\":[";
  for (size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    if (i > 0) out += ",";
    out += "{\"name\":";
    AppendJsonString(&out, c.name);
    out += ",\"status\":";
    AppendJsonString(&out, c.status);
    out += ",\"message\":";
    AppendJsonString(&out, c.message);
    out += ",\"last_check\":";
    AppendJsonString(&out, FormatUtc(c.last_check, 3));
    out += StringPrintf(",\"duration_ms\":%.3f}", c.duration_ms);
  }
  out += "],\"timestamp\":";
  AppendJsonString(&out, FormatUtc(clock_.Now(), 3));
  out += ",\"version\":";
  AppendJsonString(&out, options_.version);
  out += "}";
  Response r = Response::Json(worst == 2 ? 503 : 200, std::move(out));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response HealthChecker::Health() {
  auto h = health_();
  return Reply(Basic(*h));
}

Response HealthChecker::Ready() {
  auto h = health_();
  std::vector<Check> checks = Basic(*h);
  checks.push_back(Dependencies(*h));
  if (coordination_) {
    const DaemonHealth::Coordination c = coordination_();
    Check role{"serving_role", std::string(kHealthy), "leader: serves the API", clock_.Now(), 0};
    if (!c.leader) {
      // A standby serves the API by relaying it to the leader through the
      // database (app/api_relay.h): it needs both.
      if (!c.reachable) {
        role.status = kUnhealthy;
        role.message =
            "HA standby: cannot relay the API to the leader: the database is "
            "unreachable (" +
            c.error + ")";
      } else if (c.holder.empty()) {
        role.status = kUnhealthy;
        role.message = "HA standby: no leader seen yet to relay the API to";
      } else {
        role.message = "HA standby: relays the API to the leader " + c.holder;
      }
    }
    checks.push_back(role);
  }
  return Reply(checks);
}

Response HealthChecker::Deep() {
  auto h = health_();
  std::vector<Check> checks = Basic(*h);
  checks.push_back(Dependencies(*h));
  checks.push_back(Opentofu(*h));
  checks.push_back(StateAccessible(*h));
  checks.push_back(Templates(*h));
  checks.push_back(Disk(*h));
  checks.push_back(ReconcileAge(*h));
  checks.push_back(Tracing());
  std::vector<std::pair<const Check*, std::string>> changed;
  {
    MutexLock lock(mu_);
    std::map<std::string, std::string> before;
    before.swap(last_deep_);
    for (const Check& c : checks) {
      last_deep_[c.name] = c.status;
      auto it = before.find(c.name);
      const std::string was = it != before.end() ? it->second : "";
      if (c.status != was && !(was.empty() && c.status == kHealthy)) {
        changed.emplace_back(&c, was);
      }
    }
  }
  if (on_change_) {
    for (const auto& [check, was] : changed) on_change_(*check, was);
  }
  return Reply(checks);
}

}  // namespace provisioner::http
