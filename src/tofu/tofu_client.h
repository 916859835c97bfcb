// Driving `tofu` for one job: the argv and environment of each step
// (DESIGN.md §5), the step sequence, and a typed outcome.
//
// Deploy:  init -input=false -no-color [-backend-config=k=v ...]
//          plan -input=false -no-color -json -detailed-exitcode -lock-timeout=X -out=PLAN
//          apply -input=false -no-color -json -lock-timeout=X PLAN   (only when plan exits 2)
// Destroy: init ..., then destroy -input=false -no-color -json -auto-approve -lock-timeout=X
//
// A TofuJob is a small state machine on top of ProcessRunner's step model:
// Start() launches the first step, and the owner hands each FinishedProcess
// of the job to OnFinished(), which starts the next step or completes the
// job. It never blocks and never owns the runner. RunToCompletion() wraps
// that for one-shot callers (`provisioner run`).
//
// This module knows nothing of the config: callers translate it into a
// TofuJobSpec (scheduler/job_spec.cc).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "base/trace_context.h"
#include "platform/file_system.h"
#include "platform/process_runner.h"
#include "tofu/ui_stream.h"

namespace provisioner::tofu {

enum class Operation : uint8_t { kDeploy, kDestroy };
enum class Step : uint8_t { kInit, kPlan, kApply, kDestroy };
std::string_view StepName(Step step);  // "init", "plan", "apply", "destroy"

// The inputs of the environment of every tofu run, in the order they are
// layered (later wins): a minimal base (PATH, HOME, LANG, taken from the
// daemon's environment with fallbacks), the daemon variables matching
// `pass_env`, `global_env` (opentofu.env), `workspace_env`, and finally the
// variables provisioner always sets.
struct EnvInputs {
  std::map<std::string, std::string> daemon_env;
  std::vector<std::string> pass_env;
  std::map<std::string, std::string> global_env;
  std::map<std::string, std::string> workspace_env;
  std::string plugin_cache_dir;
  // HOME when the daemon has none (systemd services often do not).
  std::string home_fallback;
  // Set last, when the job is sampled (DESIGN.md §9): OTEL_TRACES_EXPORTER,
  // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and the like, so that tofu exports
  // its own spans under ours. TRACEPARENT and TRACESTATE never come from
  // anywhere else: TofuJob sets them per step.
  std::map<std::string, std::string> trace_env;
};

std::map<std::string, std::string> BuildEnv(const EnvInputs& in);

struct TofuJobSpec {
  Operation operation = Operation::kDeploy;
  // A path, or a name looked up on the PATH of `env`.
  std::string binary = "tofu";
  std::string workspace_dir;
  std::map<std::string, std::string> env;
  // -backend-config=key=value, in this order.
  std::vector<std::pair<std::string, std::string>> backend_config;
  std::chrono::milliseconds lock_timeout{std::chrono::minutes(5)};
  // For the whole job: each step gets what is left of it.
  std::chrono::milliseconds timeout{std::chrono::hours(1)};
  std::chrono::milliseconds kill_grace{std::chrono::minutes(2)};
  // The combined output of every step is appended here, up to
  // max_log_bytes of it for the whole job (ProcessSpec::max_log_bytes).
  std::string log_path;
  uint64_t max_log_bytes = uint64_t{64} << 20;
  // The saved plan, relative to workspace_dir; removed when the job ends
  // (a plan file can hold sensitive values).
  std::string plan_file = ".provisioner.tfplan";
  // The job span, when sampled: each step gets a span of its own below it,
  // and its child gets that span as TRACEPARENT.
  std::optional<TraceContext> trace;
  // Handed to every step as its descriptor 3 (ProcessSpec::inherit_fd): the
  // workspace lock, so that a step that outlives the daemon keeps it.
  int inherit_fd = -1;
  // HA mode: after init, the job fails (not retryable) unless the workspace
  // uses a remote backend with locking (CheckLockingBackend).
  bool require_locking_backend = false;
};

// What init recorded in $TF_DATA_DIR/terraform.tfstate (.terraform/ by
// default, relative to `workspace_dir`) must name a remote backend that
// locks: FailedPrecondition for none (the implied local backend writes no
// such file), `local`, an `s3` without `dynamodb_table` or `use_lockfile`,
// and an `http` without `lock_address`; Corruption for a file that does
// not parse. Every other backend type is taken as locking.
Status CheckLockingBackend(platform::FileSystem& fs, const std::string& workspace_dir,
                           const std::map<std::string, std::string>& env);

std::vector<std::string> InitArgv(const TofuJobSpec& spec);
std::vector<std::string> PlanArgv(const TofuJobSpec& spec);
std::vector<std::string> ApplyArgv(const TofuJobSpec& spec);
std::vector<std::string> DestroyArgv(const TofuJobSpec& spec);

enum class Outcome : uint8_t {
  kSucceeded,  // changes applied (or the workspace destroyed)
  kNoChanges,  // the plan was empty: nothing to apply
  kFailed,
  kTimeout,
  kCancelled,  // Stop(kCancelled) or Stop(kShutdown)
};
std::string_view OutcomeName(Outcome o);

struct StepResult {
  Step step = Step::kInit;
  int exit_code = -1;  // -1 when a signal ended it
  int term_signal = 0;
  platform::StopReason stop_reason = platform::StopReason::kNone;
  bool killed = false;  // SIGKILL after kill_grace
  std::chrono::milliseconds duration{0};
  SystemTime started_at;
  // The step's span under the job's, when the job is sampled.
  SpanId span_id;
};

struct JobOutcome {
  Outcome outcome = Outcome::kFailed;
  std::vector<StepResult> steps;
  // The apply's or destroy's change summary when it ran to the end, else the
  // plan's (operation says which).
  std::optional<ChangeSummary> changes;
  std::vector<Diagnostic> diagnostics;  // errors and warnings of every step
  bool drift = false;                   // the plan saw resource_drift
  std::optional<StateLockError> state_lock;
  std::vector<UiOutput> outputs;  // non-sensitive, from the apply
  // One line for the job record: the first error, or why the job stopped.
  std::string error;
  // A retry may succeed: a held state lock, a timeout, a crash, a provider
  // error. Not retryable: configuration and variable errors, a missing
  // binary, a cancel.
  bool retryable = false;
  // The exit code of the last step that ran; unset when a signal ended it.
  std::optional<int> exit_code;
  // "" when the job log holds everything; else the first error writing it
  // (a full disk, say), after which the log has a gap. The job's outcome
  // never depends on it: tofu ran whether or not its output was kept.
  std::string log_error;
};

// The longest `JobOutcome::error` (a tofu that prints a megabyte "Error:"
// line must not put a megabyte into every record, log line and reply).
inline constexpr size_t kMaxJobErrorBytes = 2048;

// Progress as it arrives, on the runner's I/O thread: every line of every
// step (init prints human text, which arrives as kNotJson events). Must not
// block.
using ProgressCallback = std::function<void(Step step, const UiEvent& event)>;

class TofuJob {
 public:
  // Never owns runner, fs or clock. `on_progress` may be null.
  TofuJob(platform::ProcessRunner& runner, platform::FileSystem& fs, Clock& clock, TofuJobSpec spec,
          ProgressCallback on_progress);
  TofuJob(const TofuJob&) = delete;
  TofuJob& operator=(const TofuJob&) = delete;

  // Starts the first step. An error (binary missing, say) also completes the
  // job: done() is true and outcome() explains it.
  Status Start();

  // The process of the step in flight (0 when none).
  platform::RunHandle handle() const { return handle_; }

  // Hands over the finished process of the step in flight. Starts the next
  // step, or completes the job. Returns true when the job is done.
  bool OnFinished(const platform::FinishedProcess& finished);

  // Stops the step in flight through the runner's ladder; no further step
  // starts. Idempotent.
  void Stop(platform::StopReason reason);

  bool done() const { return done_; }
  const JobOutcome& outcome() const { return outcome_; }
  const TofuJobSpec& spec() const { return spec_; }

 private:
  // What one step's output told us. Written on the runner's I/O thread while
  // the step runs and read after it finished; the runner's Reap/Wait orders
  // the two.
  struct StepIo {
    explicit StepIo(std::function<void(const UiEvent&)> on_event) : parser(std::move(on_event)) {}
    UiStreamParser parser;
    std::string first_stderr_error;  // "Error: ..." of human-format output
    bool config_error = false;       // an error located in a .tf file
    bool crashed = false;            // a crash banner on stderr
  };

  void StartStep(Step step);
  void Complete(Outcome outcome, std::string error, bool retryable);
  void Log(const std::string& line);
  // Keeps the first error writing the job log (outcome().log_error).
  void NoteLogError(const Status& s);

  platform::ProcessRunner& runner_;
  platform::FileSystem& fs_;
  Clock& clock_;
  const TofuJobSpec spec_;
  const ProgressCallback on_progress_;
  MonotonicTime deadline_;
  Step step_ = Step::kInit;
  platform::RunHandle handle_ = 0;
  std::unique_ptr<StepIo> io_;
  SystemTime step_started_at_;
  SpanId step_span_;
  uint64_t log_bytes_ = 0;  // tofu output in the job log so far
  platform::StopReason stop_requested_ = platform::StopReason::kNone;
  bool done_ = false;
  JobOutcome outcome_;
};

// Starts `job` and waits for it with runner.Wait(); for one-shot callers.
const JobOutcome& RunToCompletion(platform::ProcessRunner& runner, TofuJob& job);

}  // namespace provisioner::tofu
