// fake_tofu: a stand-in for the `tofu` binary (OpenTofu v1.12.6 semantics)
// that the test suite runs as a real child process. It follows
// shared/reference/opentofu-cli.md §1, §2, §4 and §7; README.md next to this
// file lists the scenarios and the control-file keys.
//
// Standalone on purpose: it links nlohmann_json only, never provisioner code,
// so a bug in the daemon cannot hide a bug in its own test double.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fake_tofu {

// Go structs marshal in declaration order; Go maps (and cty objects) sorted.
using Json = nlohmann::ordered_json;
using MapJson = nlohmann::json;

// Exit code when the fake itself is misconfigured (bad control file, unknown
// scenario): distinct from tofu's 0/1/2/11 so a broken test setup is obvious.
constexpr int kExitFakeMisconfigured = 3;

// ---- process.cc: I/O, clocks, signals, exit ----

void WriteAll(int fd, std::string_view data);
inline void Out(std::string_view s) { WriteAll(1, s); }
inline void Err(std::string_view s) { WriteAll(2, s); }

// "2026-11-23T11:34:23.275359Z": hclog's JSON time format (6 fractional
// digits, local offset, Z when UTC).
std::string HclogTimestamp();
// Go time.Time.String() and RFC 3339 (nano) of the same instant.
std::string GoTimeString(std::chrono::system_clock::time_point t);
std::string Rfc3339Nano(std::chrono::system_clock::time_point t);
std::string RandomUuid();
std::string RandomDigits(int n);
// "user@host", as tofu's lock info "Who".
std::string WhoAmI();

// SIGINT and SIGTERM are counted the same way (reference §2.2).
void InstallSignalHandlers();
// For forked helpers (lock holder, provider): stdio on /dev/null, so they never
// keep a caller's pipes open, and default signal dispositions.
void DetachChildStdio();
int SignalCount();
// Names of the signals received so far ("SIGINT", ...).
std::vector<std::string> SignalNames();
// Sleeps `real` time; returns false early when the signal count exceeds
// `seen` (a new signal arrived).
bool SleepUnlessSignalled(std::chrono::nanoseconds real, int seen);

// Where the invocation log goes and what the exit record says.
struct Invocation {
  std::string log_path;  // FAKE_TOFU_LOG, absolute; "" = no log
  std::string command;
  std::string scenario;
  int step = 0;
  std::string version;  // what the fake reports (the span's service.version)
};
Invocation& CurrentInvocation();
void AppendLogRecord(const Json& record);

// Children and locks to clean up at exit. Exit() releases them (removing the
// lock-info file) unless `Crash` is on its way out.
struct ExitHooks {
  int lock_fd = -1;
  std::string lock_info_path;
  int holder_pid = -1;    // lock_held scenario: the child holding the lock
  int holder_pipe = -1;   // closing it tells the holder to let go
  int provider_pid = -1;  // provider_child: a plugin-like grandchild
};
ExitHooks& CurrentExitHooks();
[[noreturn]] void Exit(int code);
// Panic banner + fake goroutine stack on stderr, exit 11 (reference §2.1).
[[noreturn]] void Crash();

// ---- otlp.cc: the command's trace span (README.md "Tracing") ----

// Notes the start time and, when OTEL_TRACES_EXPORTER=otlp, a valid sampled
// TRACEPARENT and an http:// endpoint are set, the export settings. Call once,
// before the command runs.
void BeginCommandSpan();
// Posts the span (OTLP/HTTP JSON) if BeginCommandSpan armed it, in this
// process only and once. Bounded by 2 s; failures are one stderr line and
// never change `exit_code`. Exit() calls it.
void ExportCommandSpan(int exit_code);

// ---- options.cc: scenario presets, control file, sequences ----

struct Options {
  std::string scenario = "changes";
  std::string version = "1.12.6";
  std::vector<std::string> resources = {"null_resource.web", "null_resource.db"};
  double time_scale = 1.0;        // real seconds per fake second
  double heartbeat_seconds = 10;  // apply_progress interval (fake time)
  double apply_seconds = 0;       // every resource's apply time
  double plan_seconds = 0;        // extra plan time after refresh
  std::string slow_resource;      // "" = the first resource applied
  double slow_seconds = 0;        // its apply time when > 0
  bool fail_init = false;
  bool fail_plan = false;
  bool fail_apply = false;
  std::string fail_resource;  // "" = the first resource applied
  std::string fail_summary;   // "" = a per-command default
  std::string fail_detail;
  bool lock_held = false;
  std::string lock_holder_who = "ci-runner@other-host";
  double lock_held_seconds = 0;  // 0 = held until this fake exits
  std::string crash;             // "", a command name, or "any"
  bool ignore_first_signal = false;
  bool ignore_signals = false;
  bool stderr_junk = false;
  bool stdout_junk = false;
  bool drift = false;
  std::string drift_resource;  // "" = the first resource in state
  std::vector<std::string> required_variables;
  std::vector<std::string> sensitive_variables;
  std::vector<std::string> replace;  // forced replace, reason cannot_update
  bool no_changes = false;
  bool provider_child = false;
  double provider_linger_seconds = 30;  // real seconds; bounds an orphan's life
  bool legacy_init_json = false;
  // A `terraform { backend "<type>" {} }` block: init records it in
  // $TF_DATA_DIR/terraform.tfstate as tofu does, with the -backend-config
  // pairs as its config. "" = none (the implied local backend, no file).
  std::string backend;
  // Misbehaviour (README.md "Control-file keys"): written right after the
  // version line by init, plan, apply and destroy.
  double stdout_flood_bytes = 0;  // this many bytes of non-JSON 100-byte lines on stdout
  double long_line_bytes = 0;     // one stdout and one stderr line this long, invalid UTF-8 inside
  std::string grandchild;         // "", "group" or "setsid": fork a child that keeps the pipes
  double grandchild_linger_seconds = 30;  // its lifetime, real seconds
  MapJson outputs = MapJson::object();    // {"name": {"value": V, "sensitive": b}}
};

// Resolves the options of this invocation: defaults, the preset of the base
// scenario (FAKE_TOFU_SCENARIO, else the control file's "scenario"), the
// control file's keys, then the step of its "sequence" for `command` (which
// advances a counter file next to the control file). Errors are messages.
struct ResolvedOptions {
  Options options;
  int step = 0;
  std::string error;
};
ResolvedOptions ResolveOptions(const std::string& command, const std::string& control_path,
                               const std::string& env_scenario, const std::string& env_time_scale);
std::chrono::nanoseconds RealTime(const Options& options, double fake_seconds);

// ---- ui.cc: the JSON view and the human view ----

struct SourceRange {
  std::string filename;
  int line = 1;
  int column = 1;
  int byte = 0;
  int end_column = 1;
  std::string code;     // snippet line
  std::string context;  // snippet context, "" = null
};

struct Diag {
  bool error = true;
  std::string summary;
  std::string detail;
  std::string address;
  std::optional<SourceRange> range;
};

// A resource address split like jsonentities.ResourceAddr.
struct Addr {
  std::string addr;
  std::string module;  // "" for root
  std::string type;
  std::string name;
  std::optional<Json> key;       // number or string
  std::string Resource() const;  // module-relative
  std::string ImpliedProvider() const;
  Json ToJson() const;
};
Addr ParseAddr(const std::string& addr);

class View {
 public:
  View(bool json, bool color, std::string version)
      : json_(json), color_(color), version_(version) {}
  bool json() const { return json_; }
  bool color() const { return color_; }

  // One JSON-lines message: top-level keys sorted as hclog does.
  void Line(std::string_view level, std::string_view message, std::string_view type,
            const std::vector<std::pair<std::string, Json>>& payload);
  void VersionLine();
  void Diagnostic(const Diag& diag);
  void Log(std::string_view message);
  void Untyped(std::string_view level, std::string_view message);
  // Human text on stdout (ignored in JSON mode).
  void Human(std::string_view text);
  std::string Bold(std::string_view text) const;
  std::string Green(std::string_view text) const;

 private:
  bool json_;
  bool color_;
  std::string version_;
};

// "10s", "1m0s", "1h2m3s" like Go's time.Duration.String for whole seconds.
std::string GoDuration(int64_t seconds);

// ---- workspace.cc: state, lock, plan file, variables ----

struct Resource {
  std::string addr;
  std::string id;
};

struct OutputValue {
  MapJson value;
  MapJson type;
  bool sensitive = false;
  bool operator==(const OutputValue&) const = default;
};

struct State {
  bool exists = false;  // the file had content
  int64_t serial = 0;
  std::string lineage;
  std::string terraform_version;
  std::vector<Resource> resources;
  std::map<std::string, OutputValue> outputs;
  const Resource* Find(const std::string& addr) const;
};

std::string StateToText(const State& state, const std::string& version);
// "" when the text is empty, else an error message if it is not a v4 state.
std::string StateFromText(const std::string& text, State* state);
MapJson CtyTypeOf(const MapJson& value);

// The local backend's state file with its fcntl lock (reference §2.3). All
// reads and writes go through the locked descriptor: closing any other
// descriptor of the file would drop a POSIX record lock.
class StateFile {
 public:
  // `display_path` is what the lock info's "Path" says (tofu writes the
  // state path relative to its working directory).
  explicit StateFile(std::string path, std::string display_path = "")
      : path_(std::move(path)),
        display_path_(display_path.empty() ? path_ : std::move(display_path)) {}
  ~StateFile();
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  const std::string& path() const { return path_; }
  std::string LockInfoPath() const;
  // Opens (creating) the file; with `lock`, takes the write lock or fails.
  // Returns "" or an errno text ("resource temporarily unavailable").
  std::string Open(bool lock);
  bool TryLockOnce();
  void WriteLockInfo(const std::string& operation, const std::string& who,
                     const std::string& version);
  // Lock info of the holder, as printed in the lock error.
  std::string ReadLockInfoForError() const;
  std::string Read() const;
  void Write(const std::string& text);
  void Unlock();
  int fd() const { return fd_; }

 private:
  std::string path_;
  std::string display_path_;
  int fd_ = -1;
  bool locked_ = false;
};

// Lock error detail of reference §2.3, with the holder's lock info.
std::string LockErrorDetail(const std::string& holder_info);

// Reads a whole file; nullopt when it cannot be opened.
std::optional<std::string> ReadFile(const std::string& path);
bool WriteFile(const std::string& path, const std::string& text);
bool FileExists(const std::string& path);
bool MakeDirs(const std::string& path);

// Variables from TF_VAR_*, terraform.tfvars[.json], *.auto.tfvars[.json],
// then -var-file and -var in command-line order (reference §3).
struct VarSource {
  bool is_file = false;
  std::string text;  // "k=v" or a path
};
std::optional<Diag> LoadVariables(const std::vector<VarSource>& cli,
                                  std::map<std::string, MapJson>* vars);

// ---- commands.cc ----

struct Context {
  std::string command;
  std::vector<std::string> args;  // after the command word, TF_CLI_ARGS merged
  std::string data_dir;           // TF_DATA_DIR or ".terraform"
  std::string workspace;          // TF_WORKSPACE, the environment file, or "default"
  bool in_automation = false;     // TF_IN_AUTOMATION non-empty
  std::optional<bool> tf_input;   // TF_INPUT parsed like strconv.ParseBool
  Options options;
};

int RunVersion(Context& ctx);
int RunInit(Context& ctx);
int RunPlan(Context& ctx);
int RunApply(Context& ctx);
int RunDestroy(Context& ctx);
int RunOutput(Context& ctx);
int RunShow(Context& ctx);
// TF_LOG-style lines on stderr (or TF_LOG_PATH) when TF_LOG is set.
void WriteTfLogIfEnabled(const Context& ctx, const std::vector<std::string>& raw_args);
// `fake_tofu __hold-lock DIR [--who W] [--seconds S]`: see README.md.
int RunHoldLock(const std::vector<std::string>& args);

// Go's strconv.ParseBool.
std::optional<bool> ParseGoBool(std::string_view text);
// Go's time.ParseDuration (subset: h, m, s, ms, us, ns; decimals).
std::optional<double> ParseGoDurationSeconds(std::string_view text);

}  // namespace fake_tofu
