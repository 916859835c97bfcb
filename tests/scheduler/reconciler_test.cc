#include "scheduler/reconciler.h"

#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "base/strings.h"
#include "base/time_format.h"
#include "config/config_parse.h"
#include "platform/posix_file_system.h"
#include "state/history.h"
#include "state/state_store.h"
#include "support/capture_sink.h"
#include "support/fake_clock.h"
#include "support/fake_process_runner.h"
#include "support/memory_job_claims.h"
#include "support/test_util.h"

namespace provisioner::scheduler {
namespace {

using platform::OutputStream;
using state::JobRecord;
using state::JobResult;
using testing::FakeClock;
using testing::FakeProcessRunner;
using testing::MemoryJobClaims;
using testing::ScriptedProcess;
using testing::TempDir;

SystemTime T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

std::string SummaryLine(const char* op, int add, int change, int remove) {
  return StringPrintf(
      R"({"@level":"info","@message":"summary","@module":"tofu.ui","type":"change_summary","changes":{"add":%d,"change":%d,"import":0,"remove":%d,"forget":0,"operation":"%s"}})",
      add, change, remove, op);
}

std::string ErrorLine(const char* summary, const char* detail) {
  return StringPrintf(
      R"({"@level":"error","@message":"Error: %s","@module":"tofu.ui","type":"diagnostic","diagnostic":{"severity":"error","summary":"%s","detail":"%s"}})",
      summary, summary, detail);
}

// Records what the scheduler reports.
class RecordingObserver final : public Observer {
 public:
  void OnScheduleFired(const FireReport& r) override { fires.push_back(r); }
  void OnJobStarted(const JobRecord& j, std::chrono::milliseconds) override {
    started.push_back(j);
  }
  void OnJobFinished(const JobRecord& j, const tofu::JobOutcome&) override {
    finished.push_back(j);
  }
  void OnConfigReloaded(const ReloadReport& r) override { reloads.push_back(r); }

  std::vector<std::string> FireOutcomes() const {
    std::vector<std::string> out;
    for (const FireReport& f : fires) {
      out.push_back(std::string(ActionName(f.action)) + " " + FormatUtc(f.due) + " " +
                    std::string(FireOutcomeName(f.outcome)));
    }
    return out;
  }
  std::vector<std::string> Finished() const {
    std::vector<std::string> out;
    for (const JobRecord& j : finished) {
      out.push_back(j.workspace + " " + std::string(state::OperationName(j.operation)) + " " +
                    std::string(state::TriggerName(j.trigger)) + " " +
                    std::string(state::JobResultName(*j.result)));
    }
    return out;
  }

  std::vector<FireReport> fires;
  std::vector<JobRecord> started;
  std::vector<JobRecord> finished;
  std::vector<ReloadReport> reloads;
};

// A temp dir with a template, a config built from YAML workspaces, a fake
// clock at `start`, and a fake runner scripted like a well-behaved tofu.
class Harness {
 public:
  explicit Harness(const std::string& workspaces, const char* start = "2026-11-24T07:00:00Z",
                   const std::string& scheduler = "{max_concurrent_jobs: 4}")
      : clock_(T(start)), runner_(clock_), logger_(clock_, sink_, log::Level::kDebug) {
    ::mkdir(tmp_.Join("state").c_str(), 0755);  // the daemon makes it before the reconciler runs
    ::mkdir(tmp_.Join("templates").c_str(), 0755);
    ::mkdir(tmp_.Join("templates/t").c_str(), 0755);
    testing::WriteFileOrDie(tmp_.Join("templates/t/main.tf"), "# template\n");
    yaml_head_ = "scheduler: " + scheduler + "\nstate: {dir: " + tmp_.Join("state") +
                 "}\nopentofu: {plugin_cache_dir: " + tmp_.Join("cache") +
                 "}\ntemplates_dir: " + tmp_.Join("templates") + "\nworkspaces:\n";
    config_ = Parse(workspaces);
    runner_.OnPrefix({"tofu", "init"}, {ScriptedProcess::Exits(0)});
    runner_.OnPrefix({"tofu", "plan"}, {ScriptedProcess::Exits(2).Print(
                                           OutputStream::kStdout, SummaryLine("plan", 2, 0, 0))});
    runner_.OnPrefix({"tofu", "apply"}, {ScriptedProcess::Exits(0).Print(
                                            OutputStream::kStdout, SummaryLine("apply", 2, 0, 0))});
    runner_.OnPrefix(
        {"tofu", "destroy"},
        {ScriptedProcess::Exits(0).Print(OutputStream::kStdout, SummaryLine("destroy", 0, 0, 2))});
  }

  std::shared_ptr<const config::Config> Parse(const std::string& workspaces) {
    auto r = config::ParseConfig(yaml_head_ + workspaces, "test.yaml");
    REQUIRE_MESSAGE(r.ok(), (r.errors.empty() ? "" : r.errors[0].ToString()));
    return r.config;
  }

  Reconciler& Start(state::State initial = {}) {
    reconciler_ = std::make_unique<Reconciler>(
        ReconcilerDeps{clock_, fs_, runner_, observer_, logger_, {{"PATH", "/usr/bin"}}}, config_,
        std::move(initial), "tofu");
    REQUIRE_OK(reconciler_->Recover());
    return *reconciler_;
  }

  // HA mode: the state comes from `store` once `coordinator` says this
  // node leads (no Recover here: the promotion runs it).
  Reconciler& StartHa(state::StateStore& store, const coordination::Coordinator& coordinator,
                      coordination::JobClaims* claims = nullptr,
                      coordination::ClaimKeeper* claim_keeper = nullptr) {
    ReconcilerDeps deps{clock_, fs_, runner_, observer_, logger_, {{"PATH", "/usr/bin"}}};
    deps.store = &store;
    deps.coordinator = &coordinator;
    deps.claims = claims;
    deps.claim_keeper = claim_keeper;
    reconciler_ = std::make_unique<Reconciler>(deps, config_, state::State{}, "tofu");
    return *reconciler_;
  }

  // Finishes running steps and ticks until no process is left running.
  void RunJobsToEnd() {
    for (int i = 0; i < 50 && !runner_.running_handles().empty(); ++i) {
      runner_.FinishAll();
      reconciler_->Tick();
    }
    REQUIRE(runner_.running_handles().empty());
  }

  // The subcommands started so far, e.g. {"init", "plan", "apply"}.
  std::vector<std::string> Steps() const {
    std::vector<std::string> out;
    for (const auto& argv : runner_.started_argv()) out.push_back(argv.size() > 1 ? argv[1] : "");
    return out;
  }

  state::State LoadState() {
    state::JsonStateStore store(fs_, clock_, tmp_.Join("state"));
    auto r = store.Load();
    REQUIRE_OK(r);
    return r->state;
  }

  TempDir tmp_;
  platform::PosixFileSystem fs_;
  FakeClock clock_;
  FakeProcessRunner runner_;
  testing::CaptureSink sink_;
  log::Logger logger_;
  RecordingObserver observer_;
  std::string yaml_head_;
  std::shared_ptr<const config::Config> config_;
  std::unique_ptr<Reconciler> reconciler_;
};

// HA mode's seams: a coordinator whose role and term the test sets, and a
// state store in memory that counts its loads and saves.
class TestCoordinator final : public coordination::Coordinator {
 public:
  TestCoordinator() = default;
  TestCoordinator(bool leads, int64_t term) : leader(leads), current_term(term) {}
  bool IsLeader() const override { return leader.load(); }
  int64_t term() const override { return current_term.load(); }
  coordination::CoordinationStatus status() const override { return {}; }
  std::map<std::string, std::string> differing_workspaces() const override {
    std::lock_guard<std::mutex> lock(mu);
    return differing;
  }
  std::atomic<bool> leader{false};
  std::atomic<int64_t> current_term{0};
  mutable std::mutex mu;
  std::map<std::string, std::string> differing;  // guarded by mu
};

class MemoryStateStore final : public state::StateStore {
 public:
  Result<state::LoadReport> Load() override {
    ++loads;
    state::LoadReport report;
    report.state = state;
    return report;
  }
  Status Save(const state::State& s) override {
    ++saves;
    state = s;
    return Status::Ok();
  }
  std::string Describe() const override { return "memory"; }
  state::State state;
  int loads = 0;
  int saves = 0;
};

const char* kUtcOfficeHours =
    "  - {name: w, template: t, schedule: {deploy: \"0 8 * * *\", destroy: \"0 19 * * *\"}}\n";

TEST_SUITE("scheduler") {
  TEST_CASE(
      "scheduler: a workspace deploys at its deploy fire and is destroyed at its destroy fire") {
    // Given a fresh daemon at 07:00 UTC, when the day passes, then the first
    // tick converges to the 19:00 destroy of yesterday, 08:00 deploys and 19:00
    // destroys, each recorded with its trigger and change counts.
    Harness h(kUtcOfficeHours);
    Reconciler& r = h.Start();
    r.Tick();
    h.RunJobsToEnd();
    CHECK(h.Steps() == std::vector<std::string>{"init", "destroy"});

    h.clock_.Advance(std::chrono::hours(1));  // 08:00
    r.Tick();
    h.RunJobsToEnd();
    h.clock_.Advance(std::chrono::hours(11));  // 19:00
    r.Tick();
    h.RunJobsToEnd();
    CHECK(h.Steps() ==
          std::vector<std::string>{"init", "destroy", "init", "plan", "apply", "init", "destroy"});
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w destroy catch_up succeeded",
                                                             "w deploy schedule succeeded",
                                                             "w destroy schedule succeeded"});
    CHECK(h.observer_.FireOutcomes() ==
          std::vector<std::string>{"deploy 2026-11-24T08:00:00Z ran",
                                   "destroy 2026-11-24T19:00:00Z ran"});
    std::vector<std::string> warnings;
    auto history = r.history().Load("w", &warnings);
    REQUIRE_OK(history);
    REQUIRE(history->size() == 3);
    CHECK((*history)[1].changes == state::Changes{2, 0, 0});
    CHECK((*history)[1].scheduled_for == T("2026-11-24T08:00:00Z"));
    CHECK((*history)[2].changes == state::Changes{0, 0, 2});
    CHECK(h.LoadState().workspaces.at("w").actual == state::Actual::kDestroyed);

    // The exact argv of a deploy, as DESIGN.md §5 has it.
    auto argv = h.runner_.started_argv();
    CHECK(argv[3] == std::vector<std::string>{"tofu", "plan", "-input=false", "-no-color", "-json",
                                              "-detailed-exitcode", "-lock-timeout=5m",
                                              "-out=.provisioner.tfplan"});
    CHECK(argv[4] == std::vector<std::string>{"tofu", "apply", "-input=false", "-no-color", "-json",
                                              "-lock-timeout=5m", ".provisioner.tfplan"});
    CHECK(h.runner_.started()[4].spec.working_dir == h.tmp_.Join("state/workspaces/w"));
  }

  TEST_CASE("scheduler: the next wake-up is the next fire, and nothing runs before it") {
    Harness h(kUtcOfficeHours);
    Reconciler& r = h.Start();
    r.Tick();
    h.RunJobsToEnd();
    SystemTime next = r.Tick();
    CHECK(next == T("2026-11-24T08:00:00Z"));
    h.clock_.Advance(std::chrono::minutes(59));
    r.Tick();
    CHECK(h.runner_.running_handles().empty());
    CHECK(h.Steps().size() == 2);
  }

  TEST_CASE("scheduler: at most max_concurrent_jobs run, destroys first") {
    Harness h(
        "  - {name: a, template: t, schedule: {deploy: \"0 8 * * *\"}}\n"
        "  - {name: b, template: t, schedule: {deploy: \"0 8 * * *\"}}\n"
        "  - {name: c, template: t, schedule: {destroy: \"0 8 * * *\"}}\n",
        "2026-11-24T07:59:00Z", "{max_concurrent_jobs: 1}");
    state::State s;
    for (const char* name : {"a", "b", "c"}) {
      s.workspaces[name].last_fire = T("2026-11-24T07:00:00Z");
      s.workspaces[name].actual =
          std::string(name) == "c" ? state::Actual::kDeployed : state::Actual::kDestroyed;
    }
    // a and b were destroyed and c deployed by earlier events: nothing to do yet.
    s.workspaces["a"].gave_up_for.reset();
    Reconciler& r = h.Start(s);
    h.clock_.SetWallTime(T("2026-11-24T08:00:00Z"));
    r.Tick();
    REQUIRE(h.runner_.running_handles().size() == 1);
    CHECK(h.runner_.started().back().spec.working_dir == h.tmp_.Join("state/workspaces/c"));
    CHECK(r.snapshot()->jobs_queued == 2);
    h.RunJobsToEnd();
    CHECK(h.observer_.Finished() == std::vector<std::string>{"c destroy schedule succeeded",
                                                             "a deploy schedule succeeded",
                                                             "b deploy schedule succeeded"});
  }

  TEST_CASE("scheduler: queued work collapses to the latest desired action") {
    // Given one slot busy with workspace a, when b gets a manual deploy and
    // then a manual destroy before it could start, then only the destroy runs
    // and the deploy is recorded as superseded.
    Harness h(
        "  - {name: a, template: t}\n"
        "  - {name: b, template: t}\n",
        "2026-11-24T07:00:00Z", "{max_concurrent_jobs: 1}");
    Reconciler& r = h.Start();
    r.Tick();
    auto busy = r.Post(ManualCommand{"a", state::Operation::kDeploy, std::nullopt, "alice", {}});
    r.Tick();
    REQUIRE_OK(busy.get().status);
    auto deploy = r.Post(ManualCommand{"b", state::Operation::kDeploy, std::nullopt, "alice", {}});
    r.Tick();
    auto destroy = r.Post(ManualCommand{"b", state::Operation::kDestroy, std::nullopt, "bob", {}});
    r.Tick();
    CommandResult d1 = deploy.get();
    CommandResult d2 = destroy.get();
    REQUIRE_OK(d1.status);
    REQUIRE_OK(d2.status);
    CHECK(d1.job_id != d2.job_id);
    CHECK(WorkspaceOfJobId(d2.job_id) == "b");
    h.RunJobsToEnd();
    CHECK(h.observer_.Finished() == std::vector<std::string>{"b deploy manual cancelled",
                                                             "a deploy manual succeeded",
                                                             "b destroy manual succeeded"});
    CHECK(h.observer_.finished[0].error == "superseded by job " + d2.job_id + " before it started");
  }

  TEST_CASE("scheduler: a held state lock is retried with exponential backoff") {
    Harness h("  - {name: w, template: t, schedule: {deploy: \"0 8 * * *\"}}\n",
              "2026-11-24T07:59:00Z", "{retry: {max_attempts: 3, backoff: 1m, max_backoff: 30m}}");
    h.runner_.OnPrefix(
        {"tofu", "plan"},
        {ScriptedProcess::Exits(1).Print(
             OutputStream::kStdout,
             ErrorLine("Error acquiring the state lock",
                       "Lock Info:\\n  ID:        abc\\n  Who:       x@y\\n")),
         ScriptedProcess::Exits(1).Print(OutputStream::kStdout,
                                         ErrorLine("Error acquiring the state lock", "")),
         ScriptedProcess::Exits(2).Print(OutputStream::kStdout, SummaryLine("plan", 1, 0, 0))});
    state::State s;
    s.workspaces["w"].last_fire = T("2026-11-24T07:00:00Z");
    s.workspaces["w"].actual = state::Actual::kDestroyed;
    Reconciler& r = h.Start(s);
    h.clock_.SetWallTime(T("2026-11-24T08:00:00Z"));
    r.Tick();
    h.RunJobsToEnd();
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy schedule failed"});
    // Retry 1 after 1m, retry 2 after another 2m.
    SystemTime next = r.Tick();
    CHECK(next == T("2026-11-24T08:01:00Z"));
    h.clock_.SetWallTime(next);
    r.Tick();
    h.RunJobsToEnd();
    next = r.Tick();
    CHECK(next == T("2026-11-24T08:03:00Z"));
    h.clock_.SetWallTime(next);
    r.Tick();
    h.RunJobsToEnd();
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy schedule failed",
                                                             "w deploy retry failed",
                                                             "w deploy retry succeeded"});
    CHECK(h.observer_.finished[1].attempt == 2);
    CHECK(h.observer_.finished[2].attempt == 3);
    CHECK(h.observer_.finished[0].error == "Error acquiring the state lock");
  }

  TEST_CASE("scheduler: a variables error is not retried and not re-run until the next event") {
    Harness h(
        "  - {name: w, template: t, schedule: {deploy: \"0 8 * * *\", destroy: \"0 19 * * *\"}}\n",
        "2026-11-24T07:59:00Z");
    h.runner_.OnPrefix({"tofu", "plan"},
                       {ScriptedProcess::Exits(1).Print(
                           OutputStream::kStdout, ErrorLine("No value for required variable",
                                                            "The root module input variable"))});
    state::State s;
    s.workspaces["w"].last_fire = T("2026-11-24T07:00:00Z");
    s.workspaces["w"].actual = state::Actual::kDestroyed;
    Reconciler& r = h.Start(s);
    h.clock_.SetWallTime(T("2026-11-24T08:00:00Z"));
    r.Tick();
    h.RunJobsToEnd();
    for (int i = 0; i < 5; ++i) {
      h.clock_.Advance(std::chrono::minutes(30));
      r.Tick();
    }
    CHECK(h.runner_.running_handles().empty());
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy schedule failed"});
    CHECK(r.snapshot()->Find("w")->status == WorkspaceStatus::kFailed);
    // The 19:00 destroy is a new event and runs.
    h.clock_.SetWallTime(T("2026-11-24T19:00:00Z"));
    r.Tick();
    h.RunJobsToEnd();
    CHECK(h.observer_.Finished().back() == "w destroy schedule succeeded");
  }

  TEST_CASE("scheduler: a job that outlives its timeout is stopped and recorded as timeout") {
    Harness h("  - {name: w, template: t, timeout: 10m}\n");
    h.runner_.OnPrefix({"tofu", "apply"}, {ScriptedProcess::Exits(0)});
    Reconciler& r = h.Start();
    r.Tick();
    auto res = r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    REQUIRE_OK(res.get().status);
    h.runner_.FinishAll();  // init
    r.Tick();
    h.runner_.FinishAll();  // plan (exit 2)
    r.Tick();
    REQUIRE(h.Steps().back() == "apply");
    // The apply was given what was left of the 10m: the runner's deadline
    // stops it with kTimeout once the clock passes it.
    CHECK(h.runner_.started().back().spec.timeout <= std::chrono::minutes(10));
    h.clock_.Advance(std::chrono::minutes(11));
    r.Tick();
    r.Tick();
    REQUIRE(h.observer_.finished.size() == 1);
    CHECK(*h.observer_.finished[0].result == JobResult::kTimeout);
    CHECK(h.observer_.finished[0].error.starts_with("timed out after 10m during apply"));
  }

  TEST_CASE("scheduler: cancel stops a running job and it is not re-run") {
    Harness h("  - {name: w, template: t}\n");
    Reconciler& r = h.Start();
    r.Tick();
    auto res = r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    std::string id = res.get().job_id;
    auto cancel = r.Post(CancelCommand{id, "ops"});
    r.Tick();
    REQUIRE_OK(cancel.get().status);
    REQUIRE(h.runner_.stops().size() == 1);
    CHECK(h.runner_.stops()[0].reason == platform::StopReason::kCancelled);
    r.Tick();
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy manual cancelled"});
    h.clock_.Advance(std::chrono::hours(1));
    r.Tick();
    CHECK(h.runner_.running_handles().empty());
    auto again = r.Post(CancelCommand{id, "ops"});
    r.Tick();
    CHECK(again.get().status.code() == Status::Code::kFailedPrecondition);
    auto unknown = r.Post(CancelCommand{"nope", "ops"});
    r.Tick();
    CHECK(unknown.get().status.IsNotFound());
  }

  TEST_CASE("scheduler: a scheduled destroy of a protected workspace is refused and reported") {
    Harness h(
        "  - {name: w, template: t, protected: true, schedule: {deploy: \"0 8 * * *\", destroy: "
        "\"0 19 * * *\"}}\n",
        "2026-11-24T18:59:00Z");
    state::State s;
    s.workspaces["w"].last_fire = T("2026-11-24T08:00:00Z");
    s.workspaces["w"].actual = state::Actual::kDeployed;
    Reconciler& r = h.Start(s);
    h.clock_.SetWallTime(T("2026-11-24T19:00:00Z"));
    r.Tick();
    CHECK(h.runner_.started().empty());
    CHECK(h.observer_.FireOutcomes() ==
          std::vector<std::string>{"destroy 2026-11-24T19:00:00Z skipped_protected"});
    CHECK(h.sink_.Find("refused: the workspace is protected").size() == 1);
  }

  TEST_CASE("scheduler: wall-clock jumps never double-fire") {
    Harness h(kUtcOfficeHours, "2026-11-24T18:59:00Z");
    state::State s;
    s.workspaces["w"].last_fire = T("2026-11-24T08:00:00Z");
    s.workspaces["w"].actual = state::Actual::kDeployed;
    Reconciler& r = h.Start(s);
    h.clock_.SetWallTime(T("2026-11-24T19:00:00Z"));
    r.Tick();
    h.RunJobsToEnd();
    REQUIRE(h.observer_.Finished() == std::vector<std::string>{"w destroy schedule succeeded"});
    // NTP steps back across the destroy and the 08:00 deploy: nothing runs again.
    h.clock_.SetWallTime(T("2026-11-24T07:30:00Z"));
    r.Tick();
    h.clock_.SetWallTime(T("2026-11-24T18:00:00Z"));
    r.Tick();
    CHECK(h.runner_.running_handles().empty());
    CHECK(h.observer_.finished.size() == 1);
    // A jump forward over two days: one deploy, the earlier fires coalesced.
    h.clock_.SetWallTime(T("2026-11-26T09:00:00Z"));
    r.Tick();
    h.RunJobsToEnd();
    CHECK(h.observer_.Finished().back() == "w deploy schedule succeeded");
    CHECK(h.observer_.finished.size() == 2);
    CHECK(h.observer_.FireOutcomes() ==
          std::vector<std::string>{
              "destroy 2026-11-24T19:00:00Z ran", "deploy 2026-11-25T08:00:00Z coalesced",
              "destroy 2026-11-25T19:00:00Z coalesced", "deploy 2026-11-26T08:00:00Z ran"});
  }

  // The state of a daemon killed while `w` ran a deploy whose tofu had the
  // identity `process`.
  state::State CrashedWhileRunning(std::optional<platform::ProcessIdentity> process) {
    state::State s;
    state::WorkspaceState& ws = s.workspaces["w"];
    ws.last_fire = T("2026-11-24T08:00:00Z");
    ws.actual = state::Actual::kDestroyed;
    JobRecord running;
    running.id = "20261124T080000Z-abcdef-w";
    running.workspace = "w";
    running.scheduled_for = T("2026-11-24T08:00:00Z");
    running.started_at = T("2026-11-24T08:00:00Z");
    running.process = std::move(process);
    ws.running = running;
    return s;
  }

  TEST_CASE("scheduler: a job running at a crash is marked interrupted and reconciled once") {
    Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
    Reconciler& r = h.Start(CrashedWhileRunning(std::nullopt));
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy schedule interrupted"});
    r.Tick();
    h.RunJobsToEnd();
    r.Tick();
    CHECK(h.observer_.Finished() ==
          std::vector<std::string>{"w deploy schedule interrupted", "w deploy catch_up succeeded"});
    CHECK(h.Steps() == std::vector<std::string>{"init", "plan", "apply"});
  }

  TEST_CASE("scheduler: the state names the tofu process of each step while a job runs") {
    Harness h(kUtcOfficeHours, "2026-11-24T07:59:59Z");
    Reconciler& r = h.Start();
    h.runner_.FinishAll();
    r.Tick();
    h.RunJobsToEnd();  // the catch-up destroy
    h.clock_.Advance(std::chrono::seconds(1));
    r.Tick();  // 08:00: init starts
    auto running = h.LoadState().workspaces.at("w").running;
    REQUIRE(running.has_value());
    REQUIRE(running->process.has_value());
    CHECK(*running->process == h.runner_.Identify(h.runner_.running_handles().at(0)));
    h.runner_.FinishAll();
    r.Tick();  // plan starts: another process
    running = h.LoadState().workspaces.at("w").running;
    REQUIRE(running.has_value());
    REQUIRE(running->process.has_value());
    CHECK(*running->process == h.runner_.Identify(h.runner_.running_handles().at(0)));
    CHECK(h.Steps().back() == "plan");
    h.RunJobsToEnd();
    r.Tick();
    CHECK_FALSE(h.LoadState().workspaces.at("w").running.has_value());
    // Finished records in the history carry no process.
    std::vector<std::string> warnings;
    auto history = r.history().Load("w", &warnings);
    REQUIRE_OK(history);
    for (const JobRecord& j : *history) CHECK_FALSE(j.process.has_value());
  }

  TEST_CASE("scheduler: a tofu that outlived the daemon is stopped before the workspace runs") {
    // Given a state whose running job's tofu still runs and honours SIGINT
    // only after a while, when the daemon starts again, then it sends SIGINT
    // at once, starts nothing in that workspace (nor beyond the job limit)
    // while the leftover lives, SIGKILLs its group after kill_grace, and
    // then reconciles the workspace once.
    Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z", "{max_concurrent_jobs: 1}");
    const platform::ProcessIdentity leftover{4242, 777, FakeProcessRunner::kFakeBootId};
    h.runner_.AddLeftover(leftover, /*honours_interrupt=*/false);
    Reconciler& r = h.Start(CrashedWhileRunning(leftover));
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy schedule interrupted"});
    REQUIRE(h.runner_.leftover_signals().size() == 1);
    CHECK(h.runner_.leftover_signals()[0].signal == platform::LeftoverSignal::kInterrupt);
    CHECK(h.runner_.leftover_signals()[0].id == leftover);
    CHECK_FALSE(r.idle());
    CHECK(h.sink_.Find("still running").size() == 1);

    const SystemTime next = r.Tick();
    CHECK(h.runner_.started().empty());
    CHECK(next <= h.clock_.Now() + std::chrono::seconds(1));  // it polls the leftover
    h.clock_.Advance(std::chrono::minutes(2) - std::chrono::seconds(1));
    r.Tick();
    CHECK(h.runner_.started().empty());
    CHECK(h.runner_.leftover_signals().size() == 1);

    h.clock_.Advance(std::chrono::seconds(1));  // kill_grace (2 min) since SIGINT
    r.Tick();
    REQUIRE(h.runner_.leftover_signals().size() == 2);
    CHECK(h.runner_.leftover_signals()[1].signal == platform::LeftoverSignal::kKill);
    r.Tick();  // the leftover is gone now: the workspace converges
    h.RunJobsToEnd();
    r.Tick();
    CHECK(r.idle());
    CHECK(h.Steps() == std::vector<std::string>{"init", "plan", "apply"});
    CHECK(h.observer_.Finished() ==
          std::vector<std::string>{"w deploy schedule interrupted", "w deploy catch_up succeeded"});
    CHECK(h.runner_.leftover_signals().size() == 2);
  }

  TEST_CASE("scheduler: HA: a standby decides nothing, and once it leads it loads and recovers") {
    for (const bool claim_ends_early : {false, true}) {
      CAPTURE(claim_ends_early);
      // Given the shared state of a leader that died while its deploy ran,
      // whose claim on the workspace expires in 30 s,
      Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
      MemoryStateStore store;
      store.state =
          CrashedWhileRunning(platform::ProcessIdentity{4242, 777, FakeProcessRunner::kFakeBootId});
      h.runner_.AddLeftover(*store.state.workspaces["w"].running->process, true);
      const std::string old_job = store.state.workspaces["w"].running->id;
      MemoryJobClaims claims(h.clock_, "me", std::chrono::seconds(60));
      claims.rows[old_job] = {
          "w", "old", "running", 1, h.clock_.Monotonic() + std::chrono::seconds(30), ""};
      TestCoordinator coordinator;
      Reconciler& r = h.StartHa(store, coordinator, &claims);
      // a standby evaluates nothing, reads and writes no state, and refuses
      // commands with the not-leader error;
      auto command =
          r.Post(ManualCommand{"w", state::Operation::kDestroy, std::nullopt, "ann", {}});
      r.Tick();
      CHECK(r.standby());
      CHECK(h.runner_.started().empty());
      CHECK(store.loads == 0);
      CHECK(store.saves == 0);
      REQUIRE(command.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
      const CommandResult refused = command.get();
      CHECK(refused.status.code() == Status::Code::kUnavailable);
      CHECK(refused.status.message() == kNotLeaderError);

      // when it leads, it loads the state once, records the job interrupted,
      coordinator.current_term = 7;
      claims.leader_term = 7;
      coordinator.leader = true;
      r.Tick();
      CHECK_FALSE(r.standby());
      CHECK(store.loads == 1);
      CHECK(store.saves >= 1);
      CHECK_FALSE(store.state.workspaces.at("w").running.has_value());
      CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy schedule interrupted"});
      CHECK(h.sink_.Find("this node leads (term 7)").size() == 1);
      // never signals a tofu that belongs to the previous leader's machine,
      CHECK(h.runner_.leftover_signals().empty());
      if (claim_ends_early) {
        // and holds the workspace until that node ends its claim,
        h.clock_.Advance(std::chrono::seconds(5));
        r.Tick();
        CHECK(h.runner_.started().empty());
        claims.rows[old_job].state = "finished";
        h.clock_.Advance(std::chrono::seconds(2));  // the next poll
        r.Tick();
        CHECK(claims.rows[old_job].state == "finished");
      } else {
        // and holds the workspace until the claim's expiry (30 s) plus
        // kill_grace (2 min) has passed, polling it every 2 s,
        for (int i = 0; i < 74; ++i) {
          h.clock_.Advance(std::chrono::seconds(2));
          r.Tick();
        }
        CHECK(h.runner_.started().empty());  // 148 s
        CHECK(claims.rows[old_job].state == "running");
        h.clock_.Advance(std::chrono::seconds(2));
        r.Tick();
        // then ends it as interrupted,
        CHECK(claims.rows[old_job].state == "interrupted");
      }
      // and converges the workspace once, under a claim of its own.
      r.Tick();
      REQUIRE(h.runner_.started().size() == 1);
      CHECK(claims.rows.size() == 2);
      h.RunJobsToEnd();
      r.Tick();
      CHECK(h.Steps() == std::vector<std::string>{"init", "plan", "apply"});
      CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy schedule interrupted",
                                                               "w deploy catch_up succeeded"});
      CHECK(store.state.workspaces.at("w").actual == state::Actual::kDeployed);
      CHECK(store.loads == 1);
      for (const auto& [id, row] : claims.rows) {
        if (id == old_job) continue;
        CHECK(row.owner == "me");
        CHECK(row.state == "finished");
        CHECK(row.result == "succeeded");
      }
    }
  }

  TEST_CASE(
      "scheduler: HA: the leader does not act on a workspace another node defines otherwise") {
    // Given a leader whose workspace w is defined otherwise on node-b,
    Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
    MemoryStateStore store;
    TestCoordinator coordinator(true, 2);
    coordinator.differing = {{"w", "node-b"}};
    Reconciler& r = h.StartHa(store, coordinator);
    // it neither converges it (the 08:00 deploy is due) nor takes a
    // manual command for it,
    r.Tick();
    auto manual = r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "ann", {}});
    r.Tick();
    h.clock_.Advance(std::chrono::minutes(5));
    r.Tick();
    CHECK(h.runner_.started().empty());
    const CommandResult refused = manual.get();
    CHECK(refused.status.code() == Status::Code::kFailedPrecondition);
    CHECK(refused.status.message() ==
          "workspace \"w\" is defined otherwise on node node-b (HA): the leader starts no job "
          "for it until every node loads the same definition and templates");
    CHECK(h.sink_.Find("is defined otherwise on node node-b").size() == 1);
    // until the nodes agree again: then it converges at once.
    {
      std::lock_guard<std::mutex> lock(coordinator.mu);
      coordinator.differing.clear();
    }
    r.Tick();
    h.RunJobsToEnd();
    r.Tick();
    CHECK(h.Steps() == std::vector<std::string>{"init", "plan", "apply"});
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy catch_up succeeded"});
    CHECK(h.sink_.Find("every node defines the workspace alike again").size() == 1);
  }

  TEST_CASE("scheduler: HA: a workspace held for another node's claim leaves its job slot free") {
    // Given a leader allowed one job at a time, whose workspace w is held
    // by another node's claim, while v is due too,
    Harness h(std::string(kUtcOfficeHours) +
                  "  - {name: v, template: t, schedule: {deploy: \"0 8 * * *\", destroy: \"0 19 * "
                  "* *\"}}\n",
              "2026-11-24T08:10:00Z", "{max_concurrent_jobs: 1}");
    MemoryStateStore store;
    MemoryJobClaims claims(h.clock_, "me", std::chrono::seconds(60));
    claims.rows["old-job"] = {
        "w", "old", "running", 1, h.clock_.Monotonic() + std::chrono::seconds(30), ""};
    claims.leader_term = 1;
    TestCoordinator coordinator(true, 1);
    Reconciler& r = h.StartHa(store, coordinator, &claims);
    // the held workspace takes no slot: v's job starts at once.
    r.Tick();
    r.Tick();
    REQUIRE(h.runner_.started().size() == 1);
    CHECK(h.runner_.started()[0].spec.working_dir.ends_with("/v"));
  }

  TEST_CASE("scheduler: HA: a stop with the database out of reach tries one claim release only") {
    // Given a leader running two jobs under claims,
    Harness h(std::string(kUtcOfficeHours) +
                  "  - {name: v, template: t, schedule: {deploy: \"0 8 * * *\", destroy: \"0 19 * "
                  "* *\"}}\n",
              "2026-11-24T08:10:00Z");
    MemoryStateStore store;
    MemoryJobClaims claims(h.clock_, "me", std::chrono::seconds(60));
    claims.leader_term = 1;
    TestCoordinator coordinator(true, 1);
    Reconciler& r = h.StartHa(store, coordinator, &claims);
    r.Tick();
    REQUIRE(h.runner_.started().size() == 2);
    // when it stops while the database does not answer,
    claims.fail = Status::Unavailable("postgresql: connection lost");
    r.BeginShutdown();
    h.RunJobsToEnd();
    r.Tick();
    // the first release fails, and the second is not tried: the claims
    // lapse instead of each waiting out a timeout.
    CHECK(r.idle());
    CHECK(claims.finishes == 1);
    CHECK(h.sink_.Find("cannot release the job's claim").size() == 1);
  }

  TEST_CASE("scheduler: HA: a job whose claim is lost is stopped and recorded interrupted") {
    for (const bool ended_by_leader : {false, true}) {
      CAPTURE(ended_by_leader);
      // Given a leader running its catch-up deploy under a claim,
      Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
      MemoryStateStore store;
      TestCoordinator coordinator(true, 3);
      MemoryJobClaims claims(h.clock_, "me", std::chrono::seconds(60));
      claims.leader_term = 3;
      coordination::ClaimKeeper keeper(
          claims, h.runner_,
          {std::chrono::seconds(60), [&h] { return h.clock_.Monotonic(); }, nullptr});
      Reconciler& r = h.StartHa(store, coordinator, &claims, &keeper);
      r.Tick();
      REQUIRE(h.Steps() == std::vector<std::string>{"init"});
      REQUIRE(claims.rows.size() == 1);
      const std::string job = claims.rows.begin()->first;
      keeper.RunOnce();
      CHECK(claims.renewals == 1);
      CHECK_FALSE(keeper.LostWhy(job));
      // when its claim is ended by another node, or not renewed for 45 s,
      if (ended_by_leader) {
        claims.rows[job].state = "interrupted";
        h.clock_.Advance(std::chrono::seconds(10));
      } else {
        claims.fail = Status::Unavailable("postgresql: connection lost");
        for (int i = 0; i < 4; ++i) {
          h.clock_.Advance(std::chrono::seconds(10));
          keeper.RunOnce();
          REQUIRE_FALSE(keeper.LostWhy(job));
        }
        h.clock_.Advance(std::chrono::seconds(5));
      }
      keeper.RunOnce();
      // the keeper stops its tofu at once, without the scheduler,
      REQUIRE(keeper.LostWhy(job));
      CHECK(keeper.claims_lost() == 1);
      REQUIRE(h.runner_.stops().size() == 1);
      CHECK(h.runner_.stops()[0].reason == platform::StopReason::kShutdown);
      // and the scheduler starts no further step and records it interrupted.
      claims.fail = Status::Ok();
      r.Tick();
      REQUIRE_FALSE(h.observer_.Finished().empty());
      CHECK(h.observer_.Finished()[0] == "w deploy catch_up interrupted");
      CHECK(h.sink_.Find("the job's claim was lost").size() == 1);
      if (!ended_by_leader) {
        // A claim that lapsed unrenewed still runs in the database: the
        // workspace waits for its expiry (60 s after the last renewal)
        // plus kill_grace (2 min), as another node would,
        CHECK(claims.rows[job].state == "running");
        for (int i = 0; i < 67; ++i) {
          h.clock_.Advance(std::chrono::seconds(2));
          r.Tick();
        }
        CHECK(h.Steps() == std::vector<std::string>{"init"});  // 179 s after the renewal
        CHECK(h.observer_.Finished().size() == 1);
        h.clock_.Advance(std::chrono::seconds(2));
        r.Tick();
      }
      // then ends the claim and converges the workspace.
      CHECK(claims.rows[job].state == "interrupted");
      r.Tick();
      h.RunJobsToEnd();
      r.Tick();
      CHECK(h.Steps() == std::vector<std::string>{"init", "init", "plan", "apply"});
      CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy catch_up interrupted",
                                                               "w deploy catch_up succeeded"});
    }
  }

  TEST_CASE(
      "scheduler: HA: a leader that loses its lease, or whose term moves, stops and writes no "
      "more") {
    for (const bool term_moves : {false, true}) {
      CAPTURE(term_moves);
      // Given a leader running its catch-up deploy,
      Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
      MemoryStateStore store;
      TestCoordinator coordinator(true, 3);
      Reconciler& r = h.StartHa(store, coordinator);
      r.Tick();
      REQUIRE(h.Steps() == std::vector<std::string>{"init"});
      const int saves = store.saves;
      // when the lease is lost, or lapsed and came back under a new term
      // (another node may have led meanwhile),
      if (term_moves) {
        coordinator.current_term = 5;
      } else {
        coordinator.leader = false;
      }
      r.Tick();
      // it stops its job and saves nothing more: the state is the next leader's.
      CHECK(r.lost_leadership());
      CHECK(h.sink_.Find("lost the leader lease").size() == 1);
      h.RunJobsToEnd();
      r.Tick();
      CHECK(r.idle());
      CHECK(h.Steps() == std::vector<std::string>{"init"});
      CHECK(store.saves == saves);
      CHECK_OK(r.Flush());
      CHECK(store.saves == saves);
      auto late = r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "ann", {}});
      r.Tick();
      CHECK(late.get().status.code() == Status::Code::kUnavailable);
    }
  }

  TEST_CASE("scheduler: a leftover that ended, or a recycled pid, holds nothing up") {
    // The recorded process is not running (it ended with the daemon, or its
    // pid now belongs to someone else): no signal, the workspace runs at once.
    Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
    Reconciler& r = h.Start(
        CrashedWhileRunning(platform::ProcessIdentity{4242, 777, FakeProcessRunner::kFakeBootId}));
    CHECK(r.idle());
    r.Tick();
    CHECK(h.Steps() == std::vector<std::string>{"init"});
    CHECK(h.runner_.leftover_signals().empty());
  }

  TEST_CASE("scheduler: a leftover that honours SIGINT frees its workspace when it ends") {
    Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
    const platform::ProcessIdentity leftover{4242, 777, FakeProcessRunner::kFakeBootId};
    h.runner_.AddLeftover(leftover, /*honours_interrupt=*/true);
    Reconciler& r = h.Start(CrashedWhileRunning(leftover));
    r.Tick();
    CHECK(h.Steps() == std::vector<std::string>{"init"});
    REQUIRE(h.runner_.leftover_signals().size() == 1);
    CHECK(h.runner_.leftover_signals()[0].signal == platform::LeftoverSignal::kInterrupt);
  }

  TEST_CASE("scheduler: shutdown waits for a leftover like for a job of its own") {
    Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
    const platform::ProcessIdentity leftover{4242, 777, FakeProcessRunner::kFakeBootId};
    h.runner_.AddLeftover(leftover, /*honours_interrupt=*/false);
    Reconciler& r = h.Start(CrashedWhileRunning(leftover));
    r.BeginShutdown();
    r.Tick();
    CHECK_FALSE(r.idle());
    h.clock_.Advance(std::chrono::minutes(2));
    r.Tick();  // SIGKILL
    r.Tick();  // gone
    CHECK(r.idle());
    CHECK(h.runner_.started().empty());
  }

  TEST_CASE("scheduler: a job that reached its journal just before a crash is not recorded twice") {
    // Given a crash after a deploy's record was appended to its journal but
    // before the state that clears `running` was saved,
    Harness h(kUtcOfficeHours, "2026-11-24T08:10:00Z");
    state::State s = CrashedWhileRunning(std::nullopt);
    JobRecord done = *s.workspaces["w"].running;
    done.finished_at = T("2026-11-24T08:01:00Z");
    done.result = JobResult::kSucceeded;
    {
      state::JobHistory journal(h.fs_, h.tmp_.Join("state"), 100);
      REQUIRE_OK(journal.Append(done));
    }
    // when the daemon starts again, then the journal's record stands: one
    // record, the workspace deployed, nothing to run.
    Reconciler& r = h.Start(s);
    r.Tick();
    CHECK(h.runner_.started().empty());
    CHECK(h.observer_.Finished().empty());
    std::vector<std::string> warnings;
    auto history = r.history().Load("w", &warnings);
    REQUIRE_OK(history);
    REQUIRE(history->size() == 1);
    CHECK((*history)[0].result == JobResult::kSucceeded);
    const state::WorkspaceState st = h.LoadState().workspaces.at("w");
    CHECK(st.actual == state::Actual::kDeployed);
    CHECK(st.actual_since == T("2026-11-24T08:01:00Z"));
    CHECK_FALSE(st.running.has_value());
    REQUIRE(st.last_job.has_value());
    CHECK(st.last_job->id == done.id);
  }

  TEST_CASE("scheduler: a request made while a cancelled job stops is not given up with it") {
    // Given a manual deploy whose apply takes its time to stop,
    Harness h("  - {name: w, template: t}\n");
    h.runner_.OnPrefix({"tofu", "apply"},
                       {ScriptedProcess::Exits(0).IgnoresInterrupt(), ScriptedProcess::Exits(0)});
    Reconciler& r = h.Start();
    r.Tick();
    auto first = r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    const std::string first_id = first.get().job_id;
    for (int i = 0; i < 2; ++i) {  // init, plan
      h.runner_.FinishAll();
      r.Tick();
    }
    REQUIRE(h.Steps().back() == "apply");
    const platform::RunHandle apply = h.runner_.running_handles().at(0);
    // when an operator cancels it and, while it stops, asks for a deploy again,
    auto cancel = r.Post(CancelCommand{first_id, "ops"});
    r.Tick();
    REQUIRE_OK(cancel.get().status);
    h.clock_.Advance(std::chrono::seconds(1));
    auto second = r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    CHECK(second.get().job_id != first_id);
    h.runner_.Finish(apply, testing::ScriptedExit{1, 0});
    r.Tick();
    // then the cancel gives up on the first request only,
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy manual cancelled"});
    CHECK_FALSE(h.LoadState().workspaces.at("w").gave_up_for.has_value());
    CHECK(h.Steps().back() == "init");  // the second request runs
    // and a crash while the second one runs does not strand the workspace.
    Reconciler& restarted = h.Start(h.LoadState());
    restarted.Tick();
    CHECK(h.observer_.Finished() ==
          std::vector<std::string>{"w deploy manual cancelled", "w deploy manual interrupted"});
    h.RunJobsToEnd();
    restarted.Tick();
    CHECK(h.observer_.Finished().back() == "w deploy manual succeeded");
    CHECK(h.LoadState().workspaces.at("w").actual == state::Actual::kDeployed);
  }

  TEST_CASE("scheduler: downtime across a destroy: catch_up runs it once, or skips it as missed") {
    for (bool catch_up : {true, false}) {
      CAPTURE(catch_up);
      Harness h(kUtcOfficeHours, "2026-11-24T20:00:00Z",
                std::string("{catch_up: ") + (catch_up ? "true" : "false") + "}");
      state::State s;
      s.last_seen = T("2026-11-24T18:00:00Z");  // went down at 18:00
      s.workspaces["w"].last_fire = T("2026-11-24T08:00:00Z");
      s.workspaces["w"].actual = state::Actual::kDeployed;
      Reconciler& r = h.Start(s);
      r.Tick();
      h.RunJobsToEnd();
      r.Tick();
      if (catch_up) {
        CHECK(h.observer_.Finished() == std::vector<std::string>{"w destroy catch_up succeeded"});
        CHECK(h.observer_.FireOutcomes() ==
              std::vector<std::string>{"destroy 2026-11-24T19:00:00Z ran"});
      } else {
        CHECK(h.observer_.Finished().empty());
        CHECK(h.observer_.FireOutcomes() ==
              std::vector<std::string>{"destroy 2026-11-24T19:00:00Z missed"});
      }
    }
  }

  TEST_CASE("scheduler: a removed workspace is orphaned, never destroyed automatically") {
    Harness h(kUtcOfficeHours, "2026-11-24T09:00:00Z");
    state::State s;
    s.workspaces["w"].last_fire = T("2026-11-24T08:00:00Z");
    s.workspaces["w"].actual = state::Actual::kDeployed;
    Reconciler& r = h.Start(s);
    r.Tick();
    auto reload = r.Post(ReloadCommand{h.Parse("  - {name: other, template: t}\n"), "api"});
    r.Tick();
    CommandResult result = reload.get();
    REQUIRE_OK(result.status);
    CHECK(result.diff.removed == std::vector<std::string>{"w"});
    CHECK(result.diff.added == std::vector<std::string>{"other"});
    h.clock_.SetWallTime(T("2026-11-25T09:00:00Z"));  // past 19:00 and 08:00
    r.Tick();
    CHECK(h.runner_.started().empty());
    CHECK(r.snapshot()->Find("w")->status == WorkspaceStatus::kOrphaned);
    CHECK(h.LoadState().workspaces.at("w").orphaned);
    // Deploying an orphan is refused; destroying it works, then it is gone.
    auto deploy = r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    CHECK(deploy.get().status.code() == Status::Code::kFailedPrecondition);
    auto destroy = r.Post(ManualCommand{"w", state::Operation::kDestroy, std::nullopt, "ops", {}});
    r.Tick();
    REQUIRE_OK(destroy.get().status);
    h.RunJobsToEnd();
    r.Tick();
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w destroy manual succeeded"});
    CHECK(r.snapshot()->Find("w") == nullptr);
    CHECK(h.LoadState().workspaces.count("w") == 0);
  }

  TEST_CASE("scheduler: a reload that changes a schedule re-plans at once") {
    Harness h(kUtcOfficeHours, "2026-11-24T09:00:00Z");
    state::State s;
    s.workspaces["w"].last_fire = T("2026-11-24T08:00:00Z");
    s.workspaces["w"].actual = state::Actual::kDeployed;
    Reconciler& r = h.Start(s);
    CHECK(r.Tick() == T("2026-11-24T19:00:00Z"));
    r.Post(ReloadCommand{h.Parse("  - {name: w, template: t, schedule: {deploy: \"0 8 * * *\", "
                                 "destroy: \"0 10 * * *\"}}\n"),
                         "inotify"});
    CHECK(r.Tick() == T("2026-11-24T10:00:00Z"));
    REQUIRE(h.observer_.reloads.size() == 1);
    CHECK(h.observer_.reloads[0].diff.changed[0].fields ==
          std::vector<std::string>{"schedule.destroy"});
  }

  TEST_CASE("scheduler: pause skips scheduled fires, but manual actions still run") {
    Harness h(kUtcOfficeHours, "2026-11-24T18:00:00Z");
    state::State s;
    s.workspaces["w"].last_fire = T("2026-11-24T08:00:00Z");
    s.workspaces["w"].actual = state::Actual::kDeployed;
    Reconciler& r = h.Start(s);
    auto pause = r.Post(PauseCommand{"w", T("2026-11-24T20:00:00Z"), "ops"});
    r.Tick();
    REQUIRE_OK(pause.get().status);
    CHECK(h.LoadState().workspaces.at("w").pause.has_value());  // on disk before the reply
    h.clock_.SetWallTime(T("2026-11-24T19:00:00Z"));
    r.Tick();
    CHECK(h.observer_.FireOutcomes() ==
          std::vector<std::string>{"destroy 2026-11-24T19:00:00Z skipped_paused"});
    CHECK(h.runner_.started().empty());
    CHECK(r.snapshot()->Find("w")->paused);
    auto manual = r.Post(ManualCommand{"w", state::Operation::kDestroy, std::nullopt, "ops", {}});
    r.Tick();
    REQUIRE_OK(manual.get().status);
    h.RunJobsToEnd();
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w destroy manual succeeded"});
    auto resume = r.Post(ResumeCommand{"w", "ops"});
    r.Tick();
    REQUIRE_OK(resume.get().status);
    CHECK_FALSE(r.snapshot()->Find("w")->paused);
  }

  TEST_CASE("scheduler: a command's reply comes after its effect is saved and published") {
    // Given a workspace with a job running, When a deploy of another one is
    // posted and a Tick runs on another thread, Then by the time the reply
    // arrives the queued job is on disk and in the snapshot (so a client
    // can follow its log at once).
    Harness h("  - {name: a, template: t}\n  - {name: b, template: t}\n", "2026-11-24T07:00:00Z",
              "{max_concurrent_jobs: 1}");
    Reconciler& r = h.Start();
    auto busy = r.Post(ManualCommand{"a", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    REQUIRE_OK(busy.get().status);
    auto queued = r.Post(ManualCommand{"b", state::Operation::kDeploy, std::nullopt, "", {}});
    std::thread ticker([&r] { r.Tick(); });
    CommandResult result = queued.get();
    const scheduler::WorkspaceView* b = r.snapshot()->Find("b");
    const bool in_snapshot = b != nullptr && b->queued.has_value();
    ticker.join();
    REQUIRE_OK(result.status);
    CHECK(in_snapshot);
    CHECK(h.LoadState().workspaces.at("b").manual.size() == 1);
    h.RunJobsToEnd();
  }

  TEST_CASE("scheduler: shutdown stops running jobs and records them as interrupted") {
    Harness h("  - {name: w, template: t}\n");
    Reconciler& r = h.Start();
    r.Tick();
    r.Post(ManualCommand{"w", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    REQUIRE(h.runner_.running_handles().size() == 1);
    r.BeginShutdown();
    REQUIRE(h.runner_.stops().size() == 1);
    CHECK(h.runner_.stops()[0].reason == platform::StopReason::kShutdown);
    r.Tick();
    CHECK(r.idle());
    CHECK(h.observer_.Finished() == std::vector<std::string>{"w deploy manual interrupted"});
    // Nothing new starts while shutting down.
    auto late = r.Post(ManualCommand{"w", state::Operation::kDestroy, std::nullopt, "", {}});
    r.Tick();
    CHECK(late.get().status.IsUnavailable());
    REQUIRE_OK(r.Flush());
    CHECK_FALSE(h.LoadState().workspaces.at("w").running.has_value());
  }

  TEST_CASE("scheduler: shutdown cancels queued jobs, refuses every command, and Close answers") {
    // Given one slot busy with a and b queued behind it,
    Harness h("  - {name: a, template: t}\n  - {name: b, template: t}\n", "2026-11-24T07:00:00Z",
              "{max_concurrent_jobs: 1}");
    Reconciler& r = h.Start();
    r.Tick();
    auto a = r.Post(ManualCommand{"a", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    REQUIRE_OK(a.get().status);
    auto b = r.Post(ManualCommand{"b", state::Operation::kDeploy, std::nullopt, "", {}});
    r.Tick();
    const std::string b_job = b.get().job_id;
    REQUIRE(r.snapshot()->jobs_queued == 1);
    // when the daemon begins to shut down,
    r.BeginShutdown();
    r.Tick();
    // then b is cancelled at once (nobody waits for a job that never starts),
    CHECK(r.snapshot()->jobs_queued == 0);
    const WorkspaceView* view = r.snapshot()->Find("b");
    REQUIRE(view != nullptr);
    CHECK_FALSE(view->queued.has_value());
    REQUIRE(view->last_job.has_value());
    CHECK(view->last_job->id == b_job);
    CHECK(*view->last_job->result == JobResult::kCancelled);
    CHECK(view->last_job->error == std::string(kShutdownCancelError));
    CHECK(h.observer_.Finished() ==
          std::vector<std::string>{"b deploy manual cancelled", "a deploy manual interrupted"});
    // every command is refused, a pause or cancel as well as a deploy,
    auto pause = r.Post(PauseCommand{"a", std::nullopt, ""});
    auto cancel = r.Post(CancelCommand{b_job, ""});
    r.Tick();
    CHECK(pause.get().status.IsUnavailable());
    CHECK(cancel.get().status.IsUnavailable());
    // and after Close (no Tick will come) a command is answered without one.
    auto queued_at_close = r.Post(ResumeCommand{"a", ""});
    r.Close();
    CHECK(queued_at_close.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    CHECK(queued_at_close.get().status.IsUnavailable());
    auto after = r.Post(ManualCommand{"a", state::Operation::kDeploy, std::nullopt, "", {}});
    REQUIRE(after.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    CHECK(after.get().status.IsUnavailable());
    // The state has what happened: nothing runs, and the manual deploy of b
    // still counts, so the next start runs it again.
    REQUIRE_OK(r.Flush());
    state::State s = h.LoadState();
    CHECK_FALSE(s.workspaces.at("a").running.has_value());
    CHECK(s.workspaces.at("b").manual.size() == 1);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::scheduler
