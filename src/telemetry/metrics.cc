#include "telemetry/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "base/thread_annotations.h"
#include "telemetry/process_collector.h"

namespace provisioner::telemetry {
namespace {

using prometheus::ClientMetric;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Job runtimes, from a quick no-op apply to the 30-minute deploys that the
// monitoring standard alerts on (binding, DESIGN.md §8).
const Histogram::BucketBoundaries kDeploymentBuckets = {30, 60, 120, 300, 600, 1200, 1800};
// One scheduler Tick: planning plus bookkeeping, normally tens of µs to a few
// ms; the top buckets catch a Tick stalled by a slow state save.
const Histogram::BucketBoundaries kLoopBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
// Due time to job start: sub-second when the scheduler keeps up, minutes when
// jobs queue behind max_concurrent_jobs, up to an hour after a catch-up.
const Histogram::BucketBoundaries kLagBuckets = {0.1, 0.5, 1,   5,   15,  30,   60,
                                                 120, 180, 300, 600, 900, 1800, 3600};
// One tofu step: init and no-op plans take seconds, applies up to an hour.
const Histogram::BucketBoundaries kTofuBuckets = {1,   2.5, 5,   10,   30,   60,
                                                  120, 300, 600, 1200, 1800, 3600};
// API requests: in-memory reads take about a millisecond; 10 s is the
// request timeout.
const Histogram::BucketBoundaries kHttpBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                  0.25,  0.5,    1,     2.5,  5,     10};

// The families with a series per workspace, written by Metrics::Impl itself.
constexpr std::string_view kDeploymentsName = "provisioner_deployments_total";
constexpr std::string_view kDeploymentsHelp = "Jobs finished, per workspace, operation and result.";
constexpr std::string_view kDurationName = "provisioner_deployment_duration_seconds";
constexpr std::string_view kDurationHelp =
    "Duration of finished jobs in seconds, per workspace and operation.";
constexpr std::string_view kFailuresName = "provisioner_deployment_failures_total";
constexpr std::string_view kFailuresHelp =
    "Jobs that failed or timed out, per workspace and operation.";
constexpr std::string_view kFiresName = "provisioner_schedule_fires_total";
constexpr std::string_view kFiresHelp = "Schedule fires, per workspace, action and outcome.";
constexpr std::string_view kMatchesName = "provisioner_schedule_matches_total";
constexpr std::string_view kMatchesHelp =
    "Schedule fires per workspace and action, whatever their outcome.";

constexpr const char* kJobResults[] = {"succeeded", "no_changes", "failed",
                                       "timeout",   "cancelled",  "interrupted"};
constexpr const char* kTofuOperations[] = {"init", "plan", "apply", "destroy"};
constexpr const char* kSuccessFailure[] = {"success", "failure"};
constexpr const char* kSpanResults[] = {"exported", "dropped", "failed"};

// `method` comes from the client; anything outside the usual verbs is folded
// so that the label stays bounded.
std::string_view BoundedMethod(std::string_view method) {
  for (std::string_view known :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}) {
    if (method == known) return known;
  }
  return "other";
}

// The key of an HTTP request's children; HttpKeyView finds it without
// allocating.
struct HttpKey {
  std::string method;
  std::string endpoint;
  int status = 0;
};
struct HttpKeyView {
  std::string_view method;
  std::string_view endpoint;
  int status = 0;
};
struct HttpKeyLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) < View(b);
  }
  // Both sides as string_views: clang 14 cannot order a tuple of strings
  // against a tuple of string_views.
  template <typename K>
  static std::tuple<int, std::string_view, std::string_view> View(const K& k) {
    return {k.status, k.endpoint, k.method};
  }
};

// ---- text format 0.0.4 ----
//
// Our own writer rather than prometheus::TextSerializer: the serializer goes
// through an ostream per number and keeps unordered_map order. Writing into
// one string with to_chars is what makes a 10,000-workspace scrape fit its
// budget (bench/metrics_bench.cc), and sorting gives a stable exposition.

void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  char* end;
  // Integral values (counts, byte sizes, timestamps) read best without an
  // exponent; 2^53 bounds where a double still holds every integer.
  if (std::trunc(v) == v && std::fabs(v) < 9007199254740992.0) {
    end = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v)).ptr;
  } else {
    end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general).ptr;
  }
  out.append(buf, end);
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void AppendLabelValue(std::string& out, std::string_view v) {
  // A plain loop: find_first_of calls memchr once per character.
  bool plain = true;
  for (char c : v) plain &= c != '\\' && c != '"' && c != '\n';
  if (plain) {
    out.append(v);
    return;
  }
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// name="value", escaped.
void AppendLabel(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out += "=\"";
  AppendLabelValue(out, value);
  out += '"';
}

// name[suffix]{a="x",b="y"[,le="..."]}
void AppendSeriesName(std::string& out, std::string_view name, std::string_view suffix,
                      const std::vector<ClientMetric::Label>& labels, const double* le = nullptr) {
  out.append(name);
  out.append(suffix);
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  for (const ClientMetric::Label& label : labels) {
    if (!first) out += ',';
    first = false;
    AppendLabel(out, label.name, label.value);
  }
  if (le != nullptr) {
    if (!first) out += ',';
    out += "le=\"";
    AppendDouble(out, *le);
    out += '"';
  }
  out += '}';
}

// The `le` label values of a bucket layout, +Inf included.
std::vector<std::string> FormatBounds(const Histogram::BucketBoundaries& bounds) {
  std::vector<std::string> out;
  for (double b : bounds) {
    out.emplace_back();
    AppendDouble(out.back(), b);
  }
  out.emplace_back("+Inf");
  return out;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help,
                  std::string_view type) {
  out += "# HELP ";
  out.append(name);
  out += ' ';
  out.append(help);
  out += "\n# TYPE ";
  out.append(name);
  out += ' ';
  out.append(type);
  out += '\n';
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Summary:
      return "summary";
    case MetricType::Untyped:
      break;
  }
  return "untyped";
}

// One family with its series sorted by label values. Families without series
// are left out, as prometheus-cpp's serializer does.
void AppendFamily(std::string& out, const MetricFamily& family) {
  if (family.metric.empty()) return;
  std::vector<const ClientMetric*> series;
  series.reserve(family.metric.size());
  for (const ClientMetric& m : family.metric) series.push_back(&m);
  std::sort(series.begin(), series.end(),
            [](const ClientMetric* a, const ClientMetric* b) { return a->label < b->label; });
  AppendHeader(out, family.name, family.help, TypeName(family.type));
  for (const ClientMetric* m : series) {
    switch (family.type) {
      case MetricType::Counter:
        AppendSeriesName(out, family.name, "", m->label);
        out += ' ';
        AppendDouble(out, m->counter.value);
        out += '\n';
        break;
      case MetricType::Gauge:
        AppendSeriesName(out, family.name, "", m->label);
        out += ' ';
        AppendDouble(out, m->gauge.value);
        out += '\n';
        break;
      case MetricType::Histogram:
        for (const ClientMetric::Bucket& b : m->histogram.bucket) {
          AppendSeriesName(out, family.name, "_bucket", m->label, &b.upper_bound);
          out += ' ';
          AppendUint(out, b.cumulative_count);
          out += '\n';
        }
        AppendSeriesName(out, family.name, "_sum", m->label);
        out += ' ';
        AppendDouble(out, m->histogram.sample_sum);
        out += '\n';
        AppendSeriesName(out, family.name, "_count", m->label);
        out += ' ';
        AppendUint(out, m->histogram.sample_count);
        out += '\n';
        break;
      case MetricType::Untyped:
        AppendSeriesName(out, family.name, "", m->label);
        out += ' ';
        AppendDouble(out, m->untyped.value);
        out += '\n';
        break;
      case MetricType::Summary:
        break;  // none registered
    }
  }
}

MetricFamily SmallFamily(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddSample(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  switch (f.type) {
    case MetricType::Counter:
      m.counter.value = value;
      break;
    case MetricType::Untyped:
      m.untyped.value = value;
      break;
    default:
      m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

// A few children keyed by their label values, in key order. A sorted
// vector rather than a std::map: a workspace has one to four children per
// family, and a scrape walks them all, so contiguity beats node chasing.
template <typename Key, typename T>
class ChildIndex {
 public:
  T* Find(const Key& key) const {
    auto it = LowerBound(key);
    return it != entries_.end() && it->first == key ? it->second : nullptr;
  }
  void Insert(const Key& key, T* child) { entries_.insert(LowerBound(key), {key, child}); }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }

 private:
  typename std::vector<std::pair<Key, T*>>::const_iterator LowerBound(const Key& key) const {
    return std::lower_bound(entries_.begin(), entries_.end(), key,
                            [](const std::pair<Key, T*>& e, const Key& k) { return e.first < k; });
  }
  std::vector<std::pair<Key, T*>> entries_;
};

// Whole seconds and the fraction apart: a double of all the nanoseconds
// since 1970 would round the fraction.
double EpochSeconds(SystemTime t) {
  const auto since_epoch = t.time_since_epoch();
  const auto whole = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  return static_cast<double>(whole.count()) +
         std::chrono::duration<double>(since_epoch - whole).count();
}

}  // namespace

class Metrics::Impl {
 public:
  Impl(BuildInfo build, Clock& clock)
      : clock_(clock), start_(clock.Monotonic()), build_(std::move(build)) {
    // prometheus-cpp validates names and buckets by throwing; ours are
    // constants, so a throw here is a bug, reported by init_status() and
    // tested. Nothing escapes the constructor.
    try {
      Register();
      ready_ = true;
    } catch (const std::exception& e) {
      init_status_ = Status::Internal("registering metrics", e.what());
    }
  }

  Status init_status() const { return init_status_; }

  void SetGaugeSource(std::function<GaugeSnapshot()> source) {
    // Taking source_mu_ waits for a scrape still calling the old source: once
    // this returns the old one is never called again, so app/ may destroy
    // what it captured.
    MutexLock lock(source_mu_);
    source_ = std::move(source);
  }

  void SetWorkspaces(const std::vector<std::string>& names) {
    std::set<std::string_view> keep(names.begin(), names.end());
    MutexLock lock(mu_);
    for (auto it = children_.begin(); it != children_.end();) {
      if (keep.count(it->first) != 0) {
        ++it;
        continue;
      }
      const WorkspaceChildren& c = it->second;
      for (const auto& [key, x] : c.deployments) deployments_->Remove(x);
      for (const auto& [key, x] : c.failures) deployment_failures_->Remove(x);
      for (const auto& [key, x] : c.durations) deployment_duration_->Remove(x);
      for (const auto& [key, x] : c.fires) schedule_fires_->Remove(x);
      for (const auto& [key, x] : c.matches) schedule_matches_->Remove(x);
      it = children_.erase(it);
    }
  }

  void ScheduleFired(std::string_view workspace, std::string_view action,
                     std::string_view outcome) {
    if (!ready_) return;
    MutexLock lock(mu_);
    WorkspaceChildren& c = Workspace(workspace);
    const std::string ws(workspace);
    const std::string act(action);
    const std::string out(outcome);
    if (Counter* x = Child(c.fires, {act, out}, *schedule_fires_,
                           {{"workspace", ws}, {"action", act}, {"outcome", out}})) {
      x->Increment();
    }
    if (Counter* x =
            Child(c.matches, act, *schedule_matches_, {{"workspace", ws}, {"action", act}})) {
      x->Increment();
    }
  }

  void JobStarted(std::chrono::duration<double> lag) {
    if (!ready_) return;
    schedule_lag_->Observe(std::max(0.0, lag.count()));
  }

  void JobFinished(std::string_view workspace, std::string_view operation, std::string_view result,
                   std::chrono::duration<double> duration) {
    if (!ready_) return;
    const std::string ws(workspace);
    const std::string op(operation);
    const std::string res(result);
    if (Counter* x = Child(*jobs_completed_, {{"result", res}})) x->Increment();
    MutexLock lock(mu_);
    WorkspaceChildren& c = Workspace(workspace);
    if (Counter* x = Child(c.deployments, {op, res}, *deployments_,
                           {{"workspace", ws}, {"operation", op}, {"result", res}})) {
      x->Increment();
    }
    if (Histogram* x = Child(c.durations, op, *deployment_duration_,
                             {{"workspace", ws}, {"operation", op}}, kDeploymentBuckets)) {
      x->Observe(std::max(0.0, duration.count()));
    }
    // Created at 0 with the first job, so that failure ratios exist per
    // workspace before the first failure.
    if (Counter* x =
            Child(c.failures, op, *deployment_failures_, {{"workspace", ws}, {"operation", op}})) {
      if (result == "failed" || result == "timeout") x->Increment();
    }
  }

  void TofuStep(std::string_view operation, std::string_view result,
                std::chrono::duration<double> duration) {
    if (!ready_) return;
    const std::string op(operation);
    if (Counter* x =
            Child(*tofu_operations_, {{"operation", op}, {"result", std::string(result)}})) {
      x->Increment();
    }
    if (Histogram* x = Child(*tofu_duration_, {{"operation", op}}, kTofuBuckets)) {
      x->Observe(std::max(0.0, duration.count()));
    }
  }

  void BinaryDownload(std::string_view result) {
    if (!ready_) return;
    if (Counter* x = Child(*binary_downloads_, {{"result", std::string(result)}})) x->Increment();
  }

  void TraceSpans(std::string_view result, uint64_t count) {
    if (!ready_) return;
    if (Counter* x = Child(*trace_spans_, {{"result", std::string(result)}})) {
      x->Increment(static_cast<double>(count));
    }
  }

  void TraceExport(std::chrono::duration<double> duration) {
    if (ready_) trace_export_duration_->Observe(std::max(0.0, duration.count()));
  }

  void ConfigReload(bool ok) {
    if (!ready_) return;
    (ok ? reload_success_ : reload_failure_)->Increment();
    if (!ok) reload_failures_->Increment();
  }

  void ManualAction(std::string_view action, std::string_view user) {
    if (!ready_) return;
    if (Counter* x = Child(*manual_actions_,
                           {{"action", std::string(action)}, {"user", std::string(user)}})) {
      x->Increment();
    }
  }

  void StateSave(bool ok, SystemTime at) {
    if (!ready_) return;
    if (ok) {
      last_save_->Set(EpochSeconds(at));
    } else {
      save_failures_->Increment();
    }
  }

  void JobLogWriteFailed() {
    if (ready_) log_write_failures_->Increment();
  }

  void SchedulerTick(std::chrono::duration<double> duration, uint64_t cron_evaluations) {
    if (!ready_) return;
    loop_duration_->Observe(std::max(0.0, duration.count()));
    cron_evaluations_->Increment(static_cast<double>(cron_evaluations));
  }

  void HttpRequestStarted() {
    if (ready_) http_in_flight_->Increment();
  }

  void HttpRequestFinished(std::string_view method, std::string_view endpoint, int status,
                           std::chrono::duration<double> duration) {
    if (!ready_) return;
    http_in_flight_->Decrement();
    const std::string_view m = BoundedMethod(method);
    HttpChildren children;
    {
      // The children of a (method, endpoint, status) are looked up once:
      // Family::Add builds a throw-away Counter and Histogram (with its
      // buckets) on every call, which tripled the cost of a request.
      MutexLock lock(http_mu_);
      auto it = http_children_.find(HttpKeyView{m, endpoint, status});
      if (it != http_children_.end()) {
        children = it->second;
      } else {
        const std::string ms(m);
        const std::string ep(endpoint);
        children.requests =
            Child(*http_requests_,
                  {{"method", ms}, {"endpoint", ep}, {"status", std::to_string(status)}});
        children.duration =
            Child(*http_duration_, {{"method", ms}, {"endpoint", ep}}, kHttpBuckets);
        if (children.requests != nullptr && children.duration != nullptr) {
          http_children_.emplace(HttpKey{ms, ep, status}, children);
        }
      }
    }
    if (children.requests != nullptr) children.requests->Increment();
    if (children.duration != nullptr) children.duration->Observe(std::max(0.0, duration.count()));
  }

  std::string Serialize() {
    std::optional<GaugeSnapshot> snapshot;
    {
      MutexLock lock(source_mu_);
      if (source_) snapshot = source_();
    }

    // Families with few series are collected into MetricFamily objects; the
    // ones with a series per workspace are written straight from their
    // source. All of them in name order.
    std::vector<MetricFamily> small;
    for (const prometheus::Collectable* f : small_families_) {
      for (MetricFamily& m : f->Collect()) small.push_back(std::move(m));
    }
    for (MetricFamily& m : process_.Collect()) small.push_back(std::move(m));
    AddOwnFamilies(snapshot ? &*snapshot : nullptr, small);

    std::vector<const WorkspaceGauges*> workspaces;
    if (snapshot) {
      workspaces.reserve(snapshot->workspaces.size());
      for (const WorkspaceGauges& w : snapshot->workspaces) workspaces.push_back(&w);
      std::sort(
          workspaces.begin(), workspaces.end(),
          [](const WorkspaceGauges* a, const WorkspaceGauges* b) { return a->name < b->name; });
    }

    struct Entry {
      std::string_view name;
      std::function<void(std::string&)> write;
    };
    std::vector<Entry> entries;
    for (const MetricFamily& f : small) {
      entries.push_back({f.name, [&f](std::string& out) { AppendFamily(out, f); }});
    }
    for (const SnapshotFamily& d : kSnapshotFamilies) {
      entries.push_back(
          {d.name, [&d, &workspaces](std::string& out) { d.write(out, workspaces); }});
    }
    for (const EventFamily& d : kEventFamilies) {
      entries.push_back({d.name, [this, &d](std::string& out) { (this->*d.write)(out); }});
    }
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });

    std::string out;
    out.reserve(last_size_.load(std::memory_order_relaxed) * 9 / 8 + 4096);
    for (const Entry& e : entries) e.write(out);
    last_size_.store(out.size(), std::memory_order_relaxed);
    return out;
  }

 private:
  // The children of one workspace, by their other label values, so that
  // events find them without prometheus-cpp's label hashing, scrapes read
  // them in order, and SetWorkspaces can Remove them.
  struct WorkspaceChildren {
    ChildIndex<std::pair<std::string, std::string>, Counter> deployments;  // operation, result
    ChildIndex<std::string, Counter> failures;                             // operation
    ChildIndex<std::string, Histogram> durations;                          // operation
    ChildIndex<std::pair<std::string, std::string>, Counter> fires;        // action, outcome
    ChildIndex<std::string, Counter> matches;                              // action
  };

  struct SnapshotFamily {
    std::string_view name;
    void (*write)(std::string&, const std::vector<const WorkspaceGauges*>&);
  };
  static const SnapshotFamily kSnapshotFamilies[5];

  struct EventFamily {
    std::string_view name;
    void (Impl::*write)(std::string&);
  };
  static const EventFamily kEventFamilies[5];

  void Register() {
    auto counter = [this](std::string_view name, std::string_view help) -> Family<Counter>& {
      return prometheus::BuildCounter()
          .Name(std::string(name))
          .Help(std::string(help))
          .Register(registry_);
    };
    auto gauge = [this](std::string_view name, std::string_view help) -> Family<Gauge>& {
      return prometheus::BuildGauge()
          .Name(std::string(name))
          .Help(std::string(help))
          .Register(registry_);
    };
    auto histogram = [this](std::string_view name, std::string_view help) -> Family<Histogram>& {
      return prometheus::BuildHistogram()
          .Name(std::string(name))
          .Help(std::string(help))
          .Register(registry_);
    };

    // Per workspace: written by the Write* members below, not collected.
    deployments_ = &counter(kDeploymentsName, kDeploymentsHelp);
    deployment_duration_ = &histogram(kDurationName, kDurationHelp);
    deployment_failures_ = &counter(kFailuresName, kFailuresHelp);
    schedule_fires_ = &counter(kFiresName, kFiresHelp);
    schedule_matches_ = &counter(kMatchesName, kMatchesHelp);

    // Everything else has a handful of series and is collected per scrape.
    jobs_completed_ = &counter("provisioner_jobs_completed_total", "Jobs finished, per result.");
    for (const char* r : kJobResults) jobs_completed_->Add({{"result", r}});
    auto& loop = histogram("provisioner_scheduler_loop_duration_seconds",
                           "Duration of one scheduler tick in seconds.");
    loop_duration_ = &loop.Add({}, kLoopBuckets);
    auto& reloads = counter("provisioner_config_reload_total",
                            "Configuration reloads, per result (success or failure).");
    reload_success_ = &reloads.Add({{"result", "success"}});
    reload_failure_ = &reloads.Add({{"result", "failure"}});
    auto& reload_failures =
        counter("provisioner_config_reload_failures_total",
                "Configuration reloads that failed; the previous config stays active.");
    reload_failures_ = &reload_failures.Add({});
    manual_actions_ = &counter("provisioner_manual_actions_total",
                               "Manual actions accepted through the API, per action and user.");
    auto& save_failures =
        counter("provisioner_state_save_failures_total",
                "Saves of state.json that failed; the change stays in memory and is retried.");
    save_failures_ = &save_failures.Add({});
    auto& last_save = gauge("provisioner_state_last_save_timestamp_seconds",
                            "Unix time of the last successful save of state.json (0: none yet).");
    last_save_ = &last_save.Add({});
    auto& log_write_failures =
        counter("provisioner_job_log_write_failures_total",
                "Jobs whose log could not be written completely (a full disk); the job's result "
                "is not affected.");
    log_write_failures_ = &log_write_failures.Add({});
    auto& evaluations = counter("provisioner_cron_evaluations_total",
                                "Cron expressions evaluated by the scheduler.");
    cron_evaluations_ = &evaluations.Add({});
    auto& lag = histogram("provisioner_schedule_lag_seconds",
                          "Delay from a schedule due time to the start of its job in seconds.");
    schedule_lag_ = &lag.Add({}, kLagBuckets);
    tofu_operations_ = &counter("provisioner_tofu_operations_total",
                                "OpenTofu steps run, per operation and result.");
    tofu_duration_ = &histogram("provisioner_tofu_operation_duration_seconds",
                                "Duration of OpenTofu steps in seconds, per operation.");
    for (const char* op : kTofuOperations) {
      for (const char* r : kSuccessFailure)
        tofu_operations_->Add({{"operation", op}, {"result", r}});
      tofu_duration_->Add({{"operation", op}}, kTofuBuckets);
    }
    binary_downloads_ = &counter("provisioner_tofu_binary_downloads_total",
                                 "Downloads of the OpenTofu binary, per result.");
    for (const char* r : kSuccessFailure) binary_downloads_->Add({{"result", r}});
    trace_spans_ = &counter("provisioner_trace_spans_total",
                            "Sampled spans, per result: exported, dropped (queue full or left at "
                            "shutdown) or failed (the collector refused or stayed unreachable).");
    for (const char* r : kSpanResults) trace_spans_->Add({{"result", r}});
    auto& trace_export = histogram("provisioner_trace_export_duration_seconds",
                                   "Duration of one OTLP export request in seconds.");
    trace_export_duration_ = &trace_export.Add({}, kHttpBuckets);
    http_requests_ =
        &counter("http_requests_total",
                 "HTTP requests answered, per method, route template and status code.");
    http_duration_ = &histogram("http_request_duration_seconds",
                                "HTTP request duration in seconds, per method and route template.");
    auto& in_flight = gauge("http_requests_in_flight", "HTTP requests being served right now.");
    http_in_flight_ = &in_flight.Add({});

    small_families_ = {jobs_completed_,  &loop,           &reloads,
                       &reload_failures, &evaluations,    &lag,
                       tofu_operations_, tofu_duration_,  binary_downloads_,
                       http_requests_,   http_duration_,  &in_flight,
                       trace_spans_,     &trace_export,   &save_failures,
                       &last_save,       manual_actions_, &log_write_failures};
  }

  WorkspaceChildren& Workspace(std::string_view name) REQUIRES(mu_) {
    auto it = children_.find(name);
    if (it == children_.end()) it = children_.emplace(std::string(name), WorkspaceChildren{}).first;
    return it->second;
  }

  // Adds (or finds) a child. prometheus-cpp throws only for invalid label
  // names, which are constants here: nullptr means a bug, and the event is
  // dropped rather than the caller's thread unwound.
  template <typename T, typename... Args>
  static T* Child(Family<T>& family, const prometheus::Labels& labels, const Args&... args) {
    try {
      return &family.Add(labels, args...);
    } catch (const std::exception&) {
      return nullptr;
    }
  }
  // The same for a per-workspace child, remembered in `index` under `key`.
  template <typename Key, typename T, typename... Args>
  static T* Child(ChildIndex<Key, T>& index, const Key& key, Family<T>& family,
                  const prometheus::Labels& labels, const Args&... args) {
    if (T* child = index.Find(key)) return child;
    T* child = Child(family, labels, args...);
    if (child != nullptr) index.Insert(key, child);
    return child;
  }

  // Build info, uptime and the snapshot's totals, computed at scrape time.
  void AddOwnFamilies(const GaugeSnapshot* snapshot, std::vector<MetricFamily>& out) {
    MetricFamily build =
        SmallFamily("provisioner_build_info", "Build of the running daemon; the value is always 1.",
                    MetricType::Gauge);
    AddSample(
        build,
        {{"commit", build_.commit}, {"compiler", build_.compiler}, {"version", build_.version}}, 1);
    out.push_back(std::move(build));

    MetricFamily uptime =
        SmallFamily("provisioner_uptime_seconds_total",
                    "Seconds since the daemon started (monotonic clock).", MetricType::Counter);
    AddSample(uptime, {},
              std::max(0.0, std::chrono::duration<double>(clock_.Monotonic() - start_).count()));
    out.push_back(std::move(uptime));

    if (snapshot == nullptr) return;
    // Three levels whose binding names (DESIGN.md §8) end in _total, typed
    // gauge as DESIGN.md says. promtool check metrics flags each
    // ("non-counter metrics should not have _total suffix", exit 3); these
    // are its only findings (docs/metrics.md).
    MetricFamily by_status = SmallFamily("provisioner_workspaces_total",
                                         "Workspaces per status (a level).", MetricType::Gauge);
    for (const auto& [status, n] : snapshot->workspaces_by_status) {
      AddSample(by_status, {{"status", status}}, static_cast<double>(n));
    }
    out.push_back(std::move(by_status));
    MetricFamily scheduled =
        SmallFamily("provisioner_scheduled_workspaces",
                    "Workspaces per scheduling state: active, paused, override or disabled.",
                    MetricType::Gauge);
    for (const auto& [state, n] : snapshot->scheduled_by_state) {
      AddSample(scheduled, {{"status", state}}, static_cast<double>(n));
    }
    out.push_back(std::move(scheduled));
    MetricFamily templates =
        SmallFamily("provisioner_templates_total",
                    "Templates found in the templates directory (a level).", MetricType::Gauge);
    AddSample(templates, {}, static_cast<double>(snapshot->templates));
    out.push_back(std::move(templates));
    MetricFamily running = SmallFamily("provisioner_jobs_running_total",
                                       "Jobs running right now (a level).", MetricType::Gauge);
    AddSample(running, {}, static_cast<double>(snapshot->jobs_running));
    out.push_back(std::move(running));
    MetricFamily queued = SmallFamily("provisioner_jobs_queued",
                                      "Jobs waiting for a free slot right now.", MetricType::Gauge);
    AddSample(queued, {}, static_cast<double>(snapshot->jobs_queued));
    out.push_back(std::move(queued));
    if (!snapshot->workspaces_by_template.empty()) {
      MetricFamily usage =
          SmallFamily("provisioner_template_workspaces",
                      "Workspaces of the config that use each template.", MetricType::Gauge);
      for (const auto& [name, n] : snapshot->workspaces_by_template) {
        AddSample(usage, {{"template", name}}, static_cast<double>(n));
      }
      out.push_back(std::move(usage));
    }
    if (!snapshot->health_checks.empty()) {
      // One series per status, 1 for the current one (an enum as gauges,
      // as kube-state-metrics writes pod phases).
      MetricFamily checks =
          SmallFamily("provisioner_health_check",
                      "Last result of each /health/deep check, refreshed every minute: 1 for "
                      "its status (healthy, degraded or unhealthy), 0 for the others.",
                      MetricType::Gauge);
      for (const auto& [check, status] : snapshot->health_checks) {
        for (const char* s : {"degraded", "healthy", "unhealthy"}) {
          AddSample(checks, {{"check", check}, {"status", s}}, status == s ? 1 : 0);
        }
      }
      out.push_back(std::move(checks));
    }
    if (const auto& ha = snapshot->coordination) {
      const std::pair<const char*, const char*> gauges[] = {
          {"provisioner_leader", "1 while this node holds the HA leader lease, else 0."},
          {"provisioner_leader_term",
           "The lease term this node last saw; it moves up by one at every takeover."},
      };
      const double gauge_values[] = {ha->leader ? 1.0 : 0.0, static_cast<double>(ha->term)};
      const std::pair<const char*, const char*> counters[] = {
          {"provisioner_leader_transitions_total",
           "Changes of this node's role (standby to leader and back) or of the term it leads."},
          {"provisioner_lease_renew_failures_total",
           "Acquire-or-renew statements on the lease that got no answer or an error."},
          {"provisioner_fenced_writes_rejected_total",
           "State writes refused because this node no longer held the lease term it wrote "
           "under."},
          {"provisioner_job_claims_lost_total",
           "Jobs on this node whose claim was lost (not renewed in time, or ended by the "
           "leader); their tofu was stopped."},
      };
      const double counter_values[] = {static_cast<double>(ha->transitions),
                                       static_cast<double>(ha->renew_failures),
                                       static_cast<double>(ha->fenced_writes_rejected),
                                       static_cast<double>(ha->job_claims_lost)};
      for (size_t i = 0; i < std::size(gauges); ++i) {
        MetricFamily f = SmallFamily(gauges[i].first, gauges[i].second, MetricType::Gauge);
        AddSample(f, {}, gauge_values[i]);
        out.push_back(std::move(f));
      }
      for (size_t i = 0; i < std::size(counters); ++i) {
        MetricFamily f = SmallFamily(counters[i].first, counters[i].second, MetricType::Counter);
        AddSample(f, {}, counter_values[i]);
        out.push_back(std::move(f));
      }
    }
  }

  // ---- per-workspace event families, straight from children_ ----
  //
  // mu_ is held while one family is written (tens of ms for 10,000
  // workspaces): an event arriving meanwhile waits, which is harmless at the
  // rate jobs and fires happen, and a removal cannot free a child being read.

  template <typename Key, typename AppendKey>
  void WriteWorkspaceCounters(std::string& out, std::string_view name, std::string_view help,
                              ChildIndex<Key, Counter> WorkspaceChildren::*index,
                              AppendKey append_key) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    bool header = false;
    for (const auto& [ws, children] : children_) {
      for (const auto& [key, counter] : children.*index) {
        if (!header) {
          AppendHeader(out, name, help, "counter");
          header = true;
        }
        out.append(name);
        out += '{';
        AppendLabel(out, "workspace", ws);
        append_key(out, key);
        out += "} ";
        AppendDouble(out, counter->Value());
        out += '\n';
      }
    }
  }

  static void AppendPair(std::string& out, std::string_view a, std::string_view b,
                         const std::pair<std::string, std::string>& key) {
    out += ',';
    AppendLabel(out, a, key.first);
    out += ',';
    AppendLabel(out, b, key.second);
  }

  void WriteDeployments(std::string& out) {
    WriteWorkspaceCounters(
        out, kDeploymentsName, kDeploymentsHelp, &WorkspaceChildren::deployments,
        [](std::string& o, const auto& key) { AppendPair(o, "operation", "result", key); });
  }
  void WriteFailures(std::string& out) {
    WriteWorkspaceCounters(out, kFailuresName, kFailuresHelp, &WorkspaceChildren::failures,
                           [](std::string& o, const std::string& op) {
                             o += ',';
                             AppendLabel(o, "operation", op);
                           });
  }
  void WriteFires(std::string& out) {
    WriteWorkspaceCounters(
        out, kFiresName, kFiresHelp, &WorkspaceChildren::fires,
        [](std::string& o, const auto& key) { AppendPair(o, "action", "outcome", key); });
  }
  void WriteMatches(std::string& out) {
    WriteWorkspaceCounters(out, kMatchesName, kMatchesHelp, &WorkspaceChildren::matches,
                           [](std::string& o, const std::string& action) {
                             o += ',';
                             AppendLabel(o, "action", action);
                           });
  }

  void WriteDurations(std::string& out) EXCLUDES(mu_) {
    // 200,000 lines for 10,000 workspaces: each is assembled from pieces
    // formatted once, `name_bucket{labels,le="` per child and `30"} ` per
    // bucket, so that a line costs four appends.
    static const std::vector<std::string> kLe = [] {
      std::vector<std::string> le = FormatBounds(kDeploymentBuckets);
      for (std::string& s : le) s += "\"} ";
      return le;
    }();
    const std::string_view name = kDurationName;
    std::string labels;
    std::string bucket_prefix;
    MutexLock lock(mu_);
    bool header = false;
    for (const auto& [ws, children] : children_) {
      for (const auto& [op, histogram] : children.durations) {
        if (!header) {
          AppendHeader(out, name, kDurationHelp, "histogram");
          header = true;
        }
        labels.clear();
        AppendLabel(labels, "workspace", ws);
        labels += ',';
        AppendLabel(labels, "operation", op);
        bucket_prefix.assign(name);
        bucket_prefix += "_bucket{";
        bucket_prefix += labels;
        bucket_prefix += ",le=\"";
        const ClientMetric m = histogram->Collect();
        for (size_t i = 0; i < m.histogram.bucket.size() && i < kLe.size(); ++i) {
          out += bucket_prefix;
          out += kLe[i];
          AppendUint(out, m.histogram.bucket[i].cumulative_count);
          out += '\n';
        }
        for (auto [suffix, value] :
             {std::pair{"_sum{", m.histogram.sample_sum},
              std::pair{"_count{", static_cast<double>(m.histogram.sample_count)}}) {
          out += name;
          out += suffix;
          out += labels;
          out += "} ";
          AppendDouble(out, value);
          out += '\n';
        }
      }
    }
  }

  // ---- per-workspace snapshot families ----

  static void WriteFlag(std::string& out, std::string_view name, std::string_view help,
                        const std::vector<const WorkspaceGauges*>& ws,
                        bool WorkspaceGauges::*flag) {
    if (ws.empty()) return;
    AppendHeader(out, name, help, "gauge");
    for (const WorkspaceGauges* w : ws) {
      out.append(name);
      out += '{';
      AppendLabel(out, "workspace", w->name);
      out += w->*flag ? "} 1\n" : "} 0\n";
    }
  }

  static void WriteDeployed(std::string& out, const std::vector<const WorkspaceGauges*>& ws) {
    WriteFlag(out, "provisioner_workspace_deployed", "1 when the workspace is deployed, else 0.",
              ws, &WorkspaceGauges::deployed);
  }

  static void WriteDrift(std::string& out, const std::vector<const WorkspaceGauges*>& ws) {
    WriteFlag(out, "provisioner_workspace_drift",
              "1 when the last plan of the workspace found drift, else 0.", ws,
              &WorkspaceGauges::drift);
  }

  static void WriteSavings(std::string& out, const std::vector<const WorkspaceGauges*>& ws) {
    constexpr std::string_view kName = "provisioner_estimated_savings_seconds_total";
    if (ws.empty()) return;
    AppendHeader(out, kName,
                 "Seconds the scheduled workspace has spent destroyed (estimated savings).",
                 "counter");
    for (const WorkspaceGauges* w : ws) {
      out.append(kName);
      out += '{';
      AppendLabel(out, "workspace", w->name);
      out += "} ";
      AppendDouble(out, w->saved_seconds);
      out += '\n';
    }
  }

  static void WriteCost(std::string& out, const std::vector<const WorkspaceGauges*>& ws) {
    constexpr std::string_view kName = "provisioner_workspace_cost_per_hour";
    bool header = false;
    for (const WorkspaceGauges* w : ws) {
      if (!w->cost_per_hour) continue;
      if (!header) {
        AppendHeader(out, kName, "Configured cost per hour of the workspace while deployed.",
                     "gauge");
        header = true;
      }
      out.append(kName);
      out += '{';
      AppendLabel(out, "workspace", w->name);
      out += "} ";
      AppendDouble(out, *w->cost_per_hour);
      out += '\n';
    }
  }

  static void WriteNextAction(std::string& out, const std::vector<const WorkspaceGauges*>& ws) {
    constexpr std::string_view kName = "provisioner_workspace_next_action_timestamp_seconds";
    bool header = false;
    for (const WorkspaceGauges* w : ws) {
      for (auto [action, at] :
           {std::pair{"deploy", &w->next_deploy}, std::pair{"destroy", &w->next_destroy}}) {
        if (!*at) continue;
        if (!header) {
          AppendHeader(out, kName, "Unix time of the next scheduled action of the workspace.",
                       "gauge");
          header = true;
        }
        out.append(kName);
        out += '{';
        AppendLabel(out, "workspace", w->name);
        out += ',';
        AppendLabel(out, "action", action);
        out += "} ";
        AppendDouble(out, EpochSeconds(**at));
        out += '\n';
      }
    }
  }

  Clock& clock_;
  const MonotonicTime start_;
  const BuildInfo build_;
  Status init_status_;
  bool ready_ = false;  // written once, in the constructor

  prometheus::Registry registry_;
  ProcessCollector process_;
  std::atomic<size_t> last_size_{0};

  // Owned by registry_; a child stays valid until it is removed.
  Family<Counter>* deployments_ = nullptr;
  Family<Histogram>* deployment_duration_ = nullptr;
  Family<Counter>* deployment_failures_ = nullptr;
  Family<Counter>* schedule_fires_ = nullptr;
  Family<Counter>* schedule_matches_ = nullptr;
  Family<Counter>* jobs_completed_ = nullptr;
  Histogram* loop_duration_ = nullptr;
  Counter* reload_success_ = nullptr;
  Counter* reload_failure_ = nullptr;
  Counter* reload_failures_ = nullptr;
  Counter* save_failures_ = nullptr;
  Counter* log_write_failures_ = nullptr;
  Family<Counter>* manual_actions_ = nullptr;
  Gauge* last_save_ = nullptr;
  Counter* cron_evaluations_ = nullptr;
  Histogram* schedule_lag_ = nullptr;
  Family<Counter>* tofu_operations_ = nullptr;
  Family<Histogram>* tofu_duration_ = nullptr;
  Family<Counter>* binary_downloads_ = nullptr;
  Family<Counter>* trace_spans_ = nullptr;
  Histogram* trace_export_duration_ = nullptr;
  Family<Counter>* http_requests_ = nullptr;
  Family<Histogram>* http_duration_ = nullptr;
  Gauge* http_in_flight_ = nullptr;
  std::vector<const prometheus::Collectable*> small_families_;

  struct HttpChildren {
    Counter* requests = nullptr;
    Histogram* duration = nullptr;
  };
  Mutex http_mu_;  // the children are never removed
  std::map<HttpKey, HttpChildren, HttpKeyLess> http_children_ GUARDED_BY(http_mu_);

  Mutex source_mu_;  // held while the source runs (see SetGaugeSource)
  std::function<GaugeSnapshot()> source_ GUARDED_BY(source_mu_);

  // Guards children_ and every use of a per-workspace child: Remove deletes
  // the child, so no Increment or read may overlap it.
  Mutex mu_;
  std::map<std::string, WorkspaceChildren, std::less<>> children_ GUARDED_BY(mu_);
};

const Metrics::Impl::SnapshotFamily Metrics::Impl::kSnapshotFamilies[5] = {
    {"provisioner_estimated_savings_seconds_total", &Metrics::Impl::WriteSavings},
    {"provisioner_workspace_cost_per_hour", &Metrics::Impl::WriteCost},
    {"provisioner_workspace_deployed", &Metrics::Impl::WriteDeployed},
    {"provisioner_workspace_drift", &Metrics::Impl::WriteDrift},
    {"provisioner_workspace_next_action_timestamp_seconds", &Metrics::Impl::WriteNextAction},
};

const Metrics::Impl::EventFamily Metrics::Impl::kEventFamilies[5] = {
    {kDeploymentsName, &Metrics::Impl::WriteDeployments},
    {kDurationName, &Metrics::Impl::WriteDurations},
    {kFailuresName, &Metrics::Impl::WriteFailures},
    {kFiresName, &Metrics::Impl::WriteFires},
    {kMatchesName, &Metrics::Impl::WriteMatches},
};

Metrics::Metrics(BuildInfo build, Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(build), clock)) {}

Metrics::~Metrics() = default;

Status Metrics::init_status() const { return impl_->init_status(); }

void Metrics::SetGaugeSource(std::function<GaugeSnapshot()> source) {
  impl_->SetGaugeSource(std::move(source));
}

void Metrics::SetWorkspaces(const std::vector<std::string>& names) { impl_->SetWorkspaces(names); }

void Metrics::ScheduleFired(std::string_view workspace, std::string_view action,
                            std::string_view outcome) {
  impl_->ScheduleFired(workspace, action, outcome);
}

void Metrics::JobStarted(std::chrono::duration<double> lag) { impl_->JobStarted(lag); }

void Metrics::JobFinished(std::string_view workspace, std::string_view operation,
                          std::string_view result, std::chrono::duration<double> duration) {
  impl_->JobFinished(workspace, operation, result, duration);
}

void Metrics::TofuStep(std::string_view operation, std::string_view result,
                       std::chrono::duration<double> duration) {
  impl_->TofuStep(operation, result, duration);
}

void Metrics::BinaryDownload(std::string_view result) { impl_->BinaryDownload(result); }

void Metrics::ConfigReload(bool ok) { impl_->ConfigReload(ok); }
void Metrics::TraceSpans(std::string_view result, uint64_t count) {
  impl_->TraceSpans(result, count);
}
void Metrics::TraceExport(std::chrono::duration<double> duration) { impl_->TraceExport(duration); }

void Metrics::StateSave(bool ok, SystemTime at) { impl_->StateSave(ok, at); }
void Metrics::JobLogWriteFailed() { impl_->JobLogWriteFailed(); }
void Metrics::ManualAction(std::string_view action, std::string_view user) {
  impl_->ManualAction(action, user);
}

void Metrics::SchedulerTick(std::chrono::duration<double> duration, uint64_t cron_evaluations) {
  impl_->SchedulerTick(duration, cron_evaluations);
}

void Metrics::HttpRequestStarted() { impl_->HttpRequestStarted(); }

void Metrics::HttpRequestFinished(std::string_view method, std::string_view endpoint, int status,
                                  std::chrono::duration<double> duration) {
  impl_->HttpRequestFinished(method, endpoint, status, duration);
}

std::string Metrics::Serialize() { return impl_->Serialize(); }

}  // namespace provisioner::telemetry
