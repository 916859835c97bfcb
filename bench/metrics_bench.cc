// Cost of one /metrics scrape (Metrics::Serialize) with N workspaces after a
// day of jobs: each workspace fired and ran a deploy and a destroy, every
// tenth also had a failed deploy and a coalesced fire, plus the HTTP and tofu
// series of those jobs; the scrape-time snapshot holds N workspaces with
// next actions, savings and (for half of them) a cost per hour.
//
// Target (docs/metrics.md): under 100 ms for 10,000 workspaces. Run with
//   build-telemetry/metrics_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "support/fake_clock.h"
#include "telemetry/metrics.h"

namespace provisioner::telemetry {
namespace {

using std::chrono::seconds;

std::string WorkspaceName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "team-%03d-env-%05d", i % 100, i);
  return buf;
}

GaugeSnapshot Snapshot(int n) {
  GaugeSnapshot g;
  const SystemTime day(seconds(1'767'225'600));
  for (int i = 0; i < n; ++i) {
    WorkspaceGauges w;
    w.name = WorkspaceName(i);
    w.deployed = i % 2 == 0;
    w.drift = i % 17 == 0;
    w.next_deploy = day + seconds(86400 + 8 * 3600 + i % 60);
    if (i % 3 != 0) w.next_destroy = day + seconds(18 * 3600 + i % 60);
    w.saved_seconds = (14.0 * (i % 30) + 0.25) * 3600;
    if (i % 2 == 0) w.cost_per_hour = 0.125 * (i % 40 + 1);
    g.workspaces.push_back(std::move(w));
  }
  for (const char* s : {"deployed", "destroyed", "deploying", "destroying", "pending", "failed",
                        "orphaned", "unknown"}) {
    g.workspaces_by_status[s] = n / 8;
  }
  for (const char* s : {"active", "paused", "override", "disabled"}) {
    g.scheduled_by_state[s] = n / 4;
  }
  g.templates = 40;
  g.jobs_running = 5;
  return g;
}

void DayOfJobs(Metrics& m, int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    const std::string w = WorkspaceName(i);
    names.push_back(w);
    m.ScheduleFired(w, "deploy", "ran");
    m.ScheduleFired(w, "destroy", "ran");
    m.JobStarted(seconds(i % 90));
    m.JobFinished(w, "deploy", "succeeded", seconds(120 + i % 500));
    m.JobFinished(w, "destroy", "succeeded", seconds(60 + i % 300));
    if (i % 10 == 0) {
      m.ScheduleFired(w, "deploy", "coalesced");
      m.JobFinished(w, "deploy", "failed", seconds(30));
    }
    for (const char* step : {"init", "plan", "apply", "destroy"}) {
      m.TofuStep(step, "success", seconds(5 + i % 100));
    }
    m.HttpRequestStarted();
    m.HttpRequestFinished("GET", "/api/v1/workspaces/:name", 200, std::chrono::milliseconds(2));
  }
  m.SetWorkspaces(names);
}

void BM_Serialize(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  testing::FakeClock clock;
  Metrics metrics(BuildInfo{"0.1.0", "abcdef0", "GNU-12.2.0"}, clock);
  DayOfJobs(metrics, n);
  const GaugeSnapshot snapshot = Snapshot(n);
  metrics.SetGaugeSource([&snapshot] { return snapshot; });
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = metrics.Serialize();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["exposition_bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_Serialize)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace provisioner::telemetry

BENCHMARK_MAIN();
