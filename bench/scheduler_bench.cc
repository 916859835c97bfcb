// Issue 5 targets: a reconcile pass over 10,000 workspaces in < 5 ms; saving
// and loading the state of 10,000 workspaces in < 100 ms and < 200 ms.
//
//   build/scheduler_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// "Idle tick" is the steady state: nothing is due, the scheduler checks every
// workspace and sleeps again. "Full pass" re-plans every workspace (what a
// start-up costs): fires since the last handled one, the desired state, the
// next fires in five time zones, and a new view of each for the API.
// "Reload" adds diffing the configs and rebuilding the runtime table.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>

#include "base/log.h"
#include "config/config_parse.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "scheduler/reconciler.h"
#include "state/state_store.h"

namespace provisioner {
namespace {

constexpr int kWorkspaces = 10'000;
const char* kZones[] = {"Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata",
                        "Australia/Lord_Howe"};

class NullSink final : public log::Sink {
 public:
  void Write(const log::Record&) override {}
};

// A runner that is never asked to start anything: the benchmark state says
// every workspace already is what its schedule wants.
class IdleRunner final : public platform::ProcessRunner {
 public:
  Result<platform::RunHandle> Start(const platform::ProcessSpec&) override {
    return Status::Internal("the benchmark starts no jobs");
  }
  std::vector<platform::FinishedProcess> Reap() override { return {}; }
  platform::FinishedProcess Wait(platform::RunHandle) override { return {}; }
  void Stop(platform::RunHandle, platform::StopReason) override {}
  void StopAll(platform::StopReason) override {}
  size_t running() const override { return 0; }
  void SetOnFinished(std::function<void()>) override {}
  std::optional<platform::ProcessIdentity> Identify(platform::RunHandle) const override {
    return std::nullopt;
  }
  bool LeftoverRunning(const platform::ProcessIdentity&) override { return false; }
  void SignalLeftover(const platform::ProcessIdentity&, platform::LeftoverSignal) override {}
};

struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = "/tmp/provisioner-bench-XXXXXX";
    path = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::shared_ptr<const config::Config> MakeConfig(const std::string& state_dir) {
  std::string yaml = "state: {dir: " + state_dir + "}\nworkspaces:\n";
  for (int i = 0; i < kWorkspaces; ++i) {
    yaml += "  - {name: ws-" + std::to_string(i) +
            ", template: t, schedule: {deploy: \"0 8 * * MON-FRI\", destroy: \"0 19 * * MON-FRI\", "
            "timezone: " +
            kZones[i % 5] + "}}\n";
  }
  auto r = config::ParseConfig(yaml, "bench.yaml");
  return r.config;
}

// A state in which every workspace is already as its schedule wants it, so
// that the benchmark measures planning, not jobs.
state::State ConvergedState(const config::Config& c, SystemTime now) {
  scheduler::Planner planner(c);
  state::State s;
  s.last_seen = now;
  for (const auto& ws : c.workspaces) {
    state::WorkspaceState& st = s.workspaces[ws.name];
    scheduler::Plan plan = planner.DesiredAt(ws, {}, now);
    st.actual = plan.desired == scheduler::Action::kDeploy ? state::Actual::kDeployed
                                                           : state::Actual::kDestroyed;
    st.last_fire = now;
    st.actual_since = plan.since;
  }
  return s;
}

struct Fixture {
  TempDir dir;
  platform::PosixClock clock;
  platform::PosixFileSystem fs;
  IdleRunner runner;
  NullSink sink;
  log::Logger logger{clock, sink, log::Level::kWarn};
  scheduler::ObserverList observers;
  std::shared_ptr<const config::Config> config = MakeConfig(dir.path);
  std::unique_ptr<scheduler::Reconciler> reconciler;

  Fixture() {
    reconciler = std::make_unique<scheduler::Reconciler>(
        scheduler::ReconcilerDeps{clock, fs, runner, observers, logger, {}}, config,
        ConvergedState(*config, clock.Now()), "tofu");
    (void)reconciler->Recover();
    reconciler->Tick();  // first evaluation of everything
  }
};

void BM_ReconcileIdleTick(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) benchmark::DoNotOptimize(f.reconciler->Tick());
  state.counters["workspaces"] = kWorkspaces;
}
BENCHMARK(BM_ReconcileIdleTick)->Unit(benchmark::kMicrosecond);

void BM_ReconcileFullPass(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    f.reconciler->ReplanAllForTesting();
    benchmark::DoNotOptimize(f.reconciler->Tick());
  }
  state.counters["workspaces"] = kWorkspaces;
}
BENCHMARK(BM_ReconcileFullPass)->Unit(benchmark::kMillisecond);

void BM_ReloadUnchangedConfig(benchmark::State& state) {
  Fixture f;
  for (auto _ : state) {
    // A reload diffs the configs, rebuilds the runtime table and re-plans all.
    f.reconciler->Post(scheduler::ReloadCommand{f.config, "bench"});
    benchmark::DoNotOptimize(f.reconciler->Tick());
  }
  state.counters["workspaces"] = kWorkspaces;
}
BENCHMARK(BM_ReloadUnchangedConfig)->Unit(benchmark::kMillisecond);

state::State RichState() {
  platform::PosixClock clock;
  auto c = MakeConfig("/nonexistent");
  state::State s = ConvergedState(*c, clock.Now());
  int i = 0;
  for (auto& [name, ws] : s.workspaces) {
    // A realistic last job record on every workspace, a manual action on some.
    state::JobRecord j;
    j.id = "20261124T180000Z-3fa91c-" + name;
    j.workspace = name;
    j.operation = state::Operation::kDestroy;
    j.scheduled_for = clock.Now();
    j.started_at = clock.Now();
    j.finished_at = clock.Now();
    j.result = state::JobResult::kSucceeded;
    j.exit_code = 0;
    j.changes = {0, 0, 5};
    j.log_path = "/var/lib/provisioner/jobs/" + name + "/" + j.id + ".log";
    ws.last_job = j;
    if (++i % 10 == 0)
      ws.manual.push_back({state::Operation::kDeploy, clock.Now(), std::nullopt, "alice"});
  }
  return s;
}

void BM_StateSave(benchmark::State& state) {
  TempDir dir;
  platform::PosixClock clock;
  platform::PosixFileSystem fs;
  state::JsonStateStore store(fs, clock, dir.path);
  state::State s = RichState();
  for (auto _ : state) {
    Status st = store.Save(s);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
  state.counters["bytes"] = static_cast<double>(fs.Stat(dir.path + "/state.json")->size);
}
BENCHMARK(BM_StateSave)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_StateLoad(benchmark::State& state) {
  TempDir dir;
  platform::PosixClock clock;
  platform::PosixFileSystem fs;
  state::JsonStateStore store(fs, clock, dir.path);
  (void)store.Save(RichState());
  for (auto _ : state) {
    auto r = store.Load();
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_StateLoad)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace provisioner

BENCHMARK_MAIN();
