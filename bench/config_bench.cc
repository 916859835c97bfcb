// Load+validate and Diff of large configs (issue 3 targets: 10,000 workspaces
// load and validate in < 500 ms; a Diff of two such configs in < 50 ms).
//
//   build/config_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// yaml-cpp 0.7.0's scanner is the floor: about 6 MB/s here (BM_YamlTreeOnly).
#include <benchmark/benchmark.h>

#include <string>

#include "config/config_diff.h"
#include "config/config_parse.h"
#include "config/yaml_tree.h"

namespace provisioner::config {
namespace {

const char* kZones[] = {"Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata",
                        "Australia/Lord_Howe"};

// Two shapes of workspace entry. "Typical" is what config/provisioner.yaml
// shows: a template, one variable, two schedules, ~170 bytes. "Rich" adds
// variables with a list, a backend, env, a timeout, a cost and labels, ~420
// bytes. One in ten workspaces is changed in the `variant` copy.
std::string MakeConfig(int workspaces, int variant, bool rich = true) {
  std::string out =
      "scheduler: {timezone: Europe/Berlin, max_concurrent_jobs: 8, jitter: 2m}\n"
      "templates_dir: /srv/templates\nworkspaces:\n";
  out.reserve(static_cast<size_t>(workspaces) * 420);
  for (int i = 0; i < workspaces; ++i) {
    std::string n = std::to_string(i);
    bool changed = variant > 0 && i % 10 == 0;
    std::string schedule =
        "    schedule: {deploy: \"" + std::string(changed ? "30 7" : "0 8") +
        " * * MON-FRI\", destroy: \"0 19 * * MON-FRI\", timezone: " + kZones[i % 5] + "}\n";
    out += "  - name: ws-" + n + "\n";
    out += "    template: " + std::string(i % 3 == 0 ? "web-stack" : "null-example") + "\n";
    if (!rich) {
      out += "    variables: {instance_type: t3.small}\n" + schedule;
      continue;
    }
    out += "    variables: {instance_type: t3.small, replicas: " + std::to_string(i % 5 + 1) +
           ", tags: [a, b], owner: team-" + std::to_string(i % 40) + "}\n";
    out += "    backend_config: {bucket: state, key: ws-" + n + "/terraform.tfstate}\n";
    out += "    env: {TF_VAR_x: \"" + n + "\"}\n";
    out += schedule;
    out += "    timeout: 30m\n    cost_per_hour: 0.25\n    labels: {team: t" +
           std::to_string(i % 40) + "}\n";
  }
  return out;
}

void BM_LoadAndValidate(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string text = MakeConfig(n, 0, /*rich=*/state.range(1) != 0);
  ParseOptions options;
  options.check_template = [](const std::string&, const std::string&) { return std::string(); };
  for (auto _ : state) {
    ParseResult r = ParseConfig(text, "bench.yaml", options);
    if (!r.ok()) state.SkipWithError(r.errors[0].ToString().c_str());
    benchmark::DoNotOptimize(r.config);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.counters["workspaces"] = n;
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}
BENCHMARK(BM_LoadAndValidate)
    ->ArgNames({"workspaces", "rich"})
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Unit(benchmark::kMillisecond);

// The floor under BM_LoadAndValidate: yaml-cpp's parser building our node
// tree, without any decoding or validation.
void BM_YamlTreeOnly(benchmark::State& state) {
  const std::string text =
      MakeConfig(static_cast<int>(state.range(0)), 0, /*rich=*/state.range(1) != 0);
  for (auto _ : state) {
    YamlError error;
    auto root = ParseYaml(text, YamlLimits{}, &error);
    benchmark::DoNotOptimize(root);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_YamlTreeOnly)
    ->ArgNames({"workspaces", "rich"})
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Unit(benchmark::kMillisecond);

void BM_Diff(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto a = ParseConfig(MakeConfig(n, 0), "a.yaml").config;
  auto b = ParseConfig(MakeConfig(n, 1), "b.yaml").config;
  if (a == nullptr || b == nullptr) {
    state.SkipWithError("config did not parse");
    return;
  }
  for (auto _ : state) {
    ConfigDiff d = Diff(*a, *b);
    benchmark::DoNotOptimize(d);
    if (d.changed.size() != static_cast<size_t>(n / 10)) state.SkipWithError("wrong diff");
  }
  state.counters["workspaces"] = n;
}
BENCHMARK(BM_Diff)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace provisioner::config

BENCHMARK_MAIN();
