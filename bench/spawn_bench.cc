// Spawn-to-reap cost of a trivial child (/bin/true) through
// PosixProcessRunner (Start + Wait), next to bare posix_spawn + waitpid.
//
//   build-platform/spawn_bench --benchmark_min_time=2
//
// BM_Bare: posix_spawn with no attributes, waitpid.
// BM_BareLikeRunner: what the runner asks of posix_spawn (two pipes,
//   /dev/null on stdin, its own process group, signal mask and dispositions
//   reset, closefrom(3)) plus reading both pipes to EOF, on one thread.
// BM_Runner: PosixProcessRunner::Start + Wait (pidfd, I/O thread hand-off).
// The CPU column is the whole process's (the runner's I/O thread included).
// After the runs, the ratios of the mean wall times are printed.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "platform/posix_clock.h"
#include "platform/posix_process_runner.h"

namespace {

using provisioner::platform::PosixClock;
using provisioner::platform::PosixProcessRunner;
using provisioner::platform::ProcessSpec;

char kTrue[] = "/bin/true";
char* kArgv[] = {kTrue, nullptr};
char kPath[] = "PATH=/usr/bin:/bin";
char* kEnv[] = {kPath, nullptr};

// Wall time and spawns over every run of each benchmark (the estimation
// runs and each repetition), for the ratios printed at the end.
struct Total {
  double ns = 0;
  double spawns = 0;
  double MeanUs() const { return ns / spawns / 1000; }
};
std::map<std::string, Total>& Totals() {
  static std::map<std::string, Total> totals;
  return totals;
}

// Times the loop itself, so the ratio uses the same clock as the report.
template <typename Body>
void Measure(benchmark::State& state, const char* name, Body&& body) {
  auto start = std::chrono::steady_clock::now();
  for (auto _ : state) body(state);
  auto ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  if (state.iterations() == 0) return;
  Total& total = Totals()[name];
  total.ns += ns;
  total.spawns += static_cast<double>(state.iterations());
}

void BM_Bare(benchmark::State& state) {
  Measure(state, "bare", [](benchmark::State& s) {
    pid_t pid;
    if (posix_spawn(&pid, kTrue, nullptr, nullptr, kArgv, kEnv) != 0) {
      s.SkipWithError("posix_spawn failed");
      return;
    }
    int status;
    waitpid(pid, &status, 0);
  });
}
BENCHMARK(BM_Bare)->UseRealTime()->MeasureProcessCPUTime();

void DrainToEof(int out, int err) {
  pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
  char buf[4096];
  int open = 2;
  while (open > 0 && poll(fds, 2, -1) > 0) {
    for (pollfd& p : fds) {
      if (p.fd >= 0 && p.revents != 0 && read(p.fd, buf, sizeof buf) <= 0) {
        p.fd = -1;
        --open;
      }
    }
  }
}

void BM_BareLikeRunner(benchmark::State& state) {
  Measure(state, "bare_like_runner", [](benchmark::State& s) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
      s.SkipWithError("pipe2 failed");
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    std::memset(&all, 0xff, sizeof all);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    pid_t pid;
    int rc = posix_spawn(&pid, kTrue, &fa, &attr, kArgv, kEnv);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(out[1]);
    close(err[1]);
    if (rc == 0) {
      DrainToEof(out[0], err[0]);
      int status;
      waitpid(pid, &status, 0);
    } else {
      s.SkipWithError("posix_spawn failed");
    }
    close(out[0]);
    close(err[0]);
  });
}
BENCHMARK(BM_BareLikeRunner)->UseRealTime()->MeasureProcessCPUTime();

void BM_Runner(benchmark::State& state) {
  PosixClock clock;
  PosixProcessRunner runner(clock);
  ProcessSpec spec;
  spec.argv = {kTrue};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  Measure(state, "runner", [&](benchmark::State& s) {
    auto handle = runner.Start(spec);
    if (!handle.ok()) {
      s.SkipWithError(handle.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(runner.Wait(*handle).exit_code);
  });
}
BENCHMARK(BM_Runner)->UseRealTime()->MeasureProcessCPUTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const auto& totals = Totals();
  auto runner = totals.find("runner");
  for (const char* base : {"bare", "bare_like_runner"}) {
    auto it = totals.find(base);
    if (it == totals.end() || runner == totals.end()) continue;
    std::printf(
        "runner / %-16s = %.2f (%.1f us vs %.1f us per spawn, mean of all "
        "runs)\n",
        base, runner->second.MeanUs() / it->second.MeanUs(), runner->second.MeanUs(),
        it->second.MeanUs());
  }
  return 0;
}
