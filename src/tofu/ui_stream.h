// The parser of tofu's machine-readable UI: the JSON-lines stream that
// `tofu plan|apply|destroy|init -json` prints on stdout.
//
// Contract (shared/reference/opentofu-cli.md §1): one JSON object per line,
// top-level keys "@level", "@message", "@module", "@timestamp", "type" plus a
// payload named after the type. The first line is a `version` message whose
// "ui" field is the schema version: the same major (1) means "accept and
// ignore unknown keys", a different major means the typed payloads cannot be
// trusted. Consumers must present unknown types by their "@message", and must
// be prepared for stdout lines that are not JSON at all (early CLI errors,
// crash banners when streams are merged, TF_LOG junk).
//
// Nothing here throws, whatever the bytes: every line becomes a UiEvent, and
// text that is not a JSON object becomes a kNotJson event carrying the text.
// (The one exception is running out of memory while UiStreamParser buffers
// a partial line, bounded by its line cap.)
// Strings in events are always valid UTF-8 (invalid sequences are replaced
// with U+FFFD), so callers may write them into JSON job records as they are.
//
// Thread-safety: ParseUiLine is a pure function. A UiStreamParser is used by
// one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace provisioner::tofu {

// The "type" of a line, plus three kinds for lines that have none we know.
enum class UiEventType : uint8_t {
  kVersion,
  kLog,
  kDiagnostic,
  kResourceDrift,
  kPlannedChange,
  kChangeSummary,
  kOutputs,
  kApplyStart,
  kApplyProgress,
  kApplyComplete,
  kApplyErrored,
  kProvisionStart,
  kProvisionProgress,
  kProvisionComplete,
  kProvisionErrored,
  kRefreshStart,
  kRefreshComplete,
  kEphemeralActionStarted,
  kEphemeralActionComplete,
  kStateLockAcquire,
  kStateLockRelease,
  kOutput,   // legacy `init -json` line (tofu 1.7-1.11 `Ui.Output` shim)
  kUntyped,  // a JSON object without "type" (`init -json` progress lines)
  kUnknown,  // a "type" we do not know, or a typed line we do not trust
  kNotJson,  // anything that is not a JSON object
};

// The wire name ("planned_change", ...), or "untyped", "unknown", "not_json".
std::string_view UiEventTypeName(UiEventType type);

// jsonentities.ResourceAddr.
struct ResourceAddr {
  std::string addr;              // "module.net.aws_subnet.a[0]"
  std::string module;            // "" for the root module, else "module.net"
  std::string resource;          // module-relative: "aws_subnet.a[0]"
  std::string implied_provider;  // "aws"
  std::string resource_type;     // "aws_subnet"
  std::string resource_name;     // "a"
  // JSON null -> nullopt; a number -> its decimal text ("0"); a string as is.
  // The two non-null forms are told apart by `addr` ("a[0]" vs "a[\"0\"]").
  std::optional<std::string> resource_key;
};

// The "changes" payload of change_summary.
struct ChangeSummary {
  int64_t add = 0;
  int64_t change = 0;
  int64_t import = 0;
  int64_t remove = 0;
  int64_t forget = 0;     // tofu >= 1.10; 0 when absent
  std::string operation;  // "plan", "apply" or "destroy"
};

struct SourcePos {
  int64_t line = 0;
  int64_t column = 0;
  int64_t byte = 0;
};

struct SourceRange {
  std::string filename;
  SourcePos start;
  SourcePos end;
};

// jsonentities.Diagnostic, without the snippet (the range locates it).
struct Diagnostic {
  std::string severity;  // "error" or "warning"
  std::string summary;
  std::string detail;
  std::string address;  // the resource address, "" when absent
  std::optional<SourceRange> range;

  bool IsError() const { return severity == "error"; }
};

// One entry of an `outputs` message.
struct UiOutput {
  std::string name;
  bool sensitive = false;
  // The cty type as compact JSON ("\"string\"", "[\"list\",\"string\"]"), or
  // "" when absent (plan-time outputs carry no type).
  std::string type_json;
  // The value as compact JSON, only when the line carried one. Never set for a
  // sensitive output, even if the producer sent it (Terraform <= 1.3 did):
  // these values end up in job records and logs, which must not hold secrets.
  std::optional<std::string> value_json;
  std::string action;  // plan-time outputs: "create", "update", "delete", "noop"
};

// The payload of a `version` line.
struct VersionInfo {
  std::string tofu;  // "1.12.6" (the "terraform" key in Terraform streams)
  std::string ui;    // "1.2"
  // False when the ui major version is not 1 (or not a number): the typed
  // payloads of the stream follow a schema this parser does not know.
  bool supported = true;
};

// One line of the stream. Fields a type does not carry stay empty.
struct UiEvent {
  UiEventType type = UiEventType::kNotJson;
  std::string type_name;  // "type" as received; "" when untyped or not JSON
  std::string level;      // "@level": "info", "warn", "error"
  // "@message"; for kNotJson the line itself (without "\r\n").
  std::string message;
  std::string timestamp;  // "@timestamp" as received

  // change (planned_change, resource_drift) and hook (apply_*, provision_*,
  // refresh_*, ephemeral_*) payloads.
  std::optional<ResourceAddr> resource;
  std::optional<ResourceAddr> previous_resource;  // set when the address moved
  std::string action;  // "create", "update", "replace", "delete", "read", ...
  std::string reason;  // "cannot_update", "delete_because_no_resource_config", ...
  std::string id_key;
  std::string id_value;
  std::optional<double> elapsed_seconds;
  std::string provisioner;         // provision_*
  std::string provisioner_output;  // provision_progress "output"

  std::optional<ChangeSummary> changes;
  std::optional<Diagnostic> diagnostic;
  std::vector<UiOutput> outputs;  // ordered by name, as on the wire
  std::optional<VersionInfo> version;

  // A field had a JSON type other than the schema's ("add":"3", "action":7,
  // "hook":[]). Unambiguous values were converted ("3" -> 3, 7 -> "7"); the
  // rest were left empty.
  bool malformed = false;
  // The stream announced an unsupported ui major version, so this typed line
  // was demoted to kUnknown: only level, message and timestamp are kept.
  // Set by UiStreamParser, never by ParseUiLine.
  bool untrusted = false;
};

// JSON objects nested deeper than this are rejected (the line becomes
// kNotJson): the JSON library copies and prints values recursively, so
// unbounded depth would be a stack overflow waiting for a caller.
inline constexpr int kMaxUiJsonDepth = 64;

// Parses one line (a trailing "\n" or "\r\n" is ignored). Stateless: it does
// not apply the ui-version policy, which needs the stream (UiStreamParser).
UiEvent ParseUiLine(std::string_view line);

// What happened to a resource, by the last event that named it.
enum class ResourceStatus : uint8_t {
  kRefreshed,  // refresh_start/refresh_complete only
  kDrifted,    // resource_drift, no planned change (yet)
  kPlanned,    // planned_change, not applied (a plan, or an apply that stopped)
  kApplying,   // apply_start/apply_progress without an end: interrupted or
               // killed
  kApplied,    // apply_complete
  kErrored,    // apply_errored or provision_errored
};
std::string_view ResourceStatusName(ResourceStatus status);  // "applied", ...

struct ResourceProgress {
  std::string addr;
  ResourceStatus status = ResourceStatus::kRefreshed;
  std::string action;  // the last action seen for it ("" for refresh only)
  std::string id_key;  // from the last event that carried one
  std::string id_value;
  double elapsed_seconds = 0;
};

// The holder of the state lock, from the detail of an "Error acquiring the
// state lock" diagnostic (local backend layout, reference §2.3).
struct StateLockError {
  std::string error_message;  // "resource temporarily unavailable"
  std::string id;
  std::string path;
  std::string operation;  // "OperationTypeApply"
  std::string who;        // "runner@build-host"
  std::string version;
  std::string created;
};

// A whole stream folded into what a job record needs.
struct UiStreamSummary {
  std::string tofu_version;  // from the last version line
  std::string ui_version;
  bool ui_supported = true;
  int64_t version_lines = 0;

  // The last change_summary: the plan's, or the apply's when the apply ran to
  // the end. Its `operation` says which.
  std::optional<ChangeSummary> changes;
  std::vector<Diagnostic> diagnostics;  // errors and warnings, in order
  int64_t error_count = 0;
  int64_t warning_count = 0;
  bool drift_detected = false;  // at least one resource_drift line
  // The non-sensitive entries of the last `outputs` message. Sensitive outputs
  // are listed by name only.
  std::vector<UiOutput> outputs;
  std::vector<std::string> sensitive_outputs;
  // Every resource a hook or change named, in order of first appearance.
  std::vector<ResourceProgress> resources;
  // Set when a diagnostic says "Error acquiring the state lock": retryable.
  std::optional<StateLockError> state_lock;
  bool interrupted = false;  // the "Interrupt received" log line
  bool cancelled = false;    // the "Two interrupts received" log line
  bool crashed = false;      // a "!!! OPENTOFU CRASH !!!" banner line was seen

  int64_t lines = 0;  // non-blank lines
  int64_t not_json_lines = 0;
  int64_t unknown_lines = 0;  // includes untrusted ones
  int64_t malformed_lines = 0;

  // The first error diagnostic as one line for a job record:
  // "<summary>" or "<summary> (<address>)"; "OpenTofu crashed" when only a
  // crash banner explains the failure; "" when nothing went wrong.
  std::string ErrorSummary() const;
  // The ResourceProgress for `addr`, or nullptr.
  const ResourceProgress* FindResource(std::string_view addr) const;
};

// Folds a stream arriving in pieces (pipe reads, log file chunks, or lines).
class UiStreamParser {
 public:
  // Lines longer than this are not parsed: they become a kNotJson event with
  // the first kKeptPrefixBytes bytes, so a runaway line cannot take memory.
  static constexpr size_t kDefaultMaxLineBytes = size_t{64} << 20;
  static constexpr size_t kKeptPrefixBytes = 4096;

  // `on_event`, if set, sees every event after the ui-version policy ran.
  explicit UiStreamParser(std::function<void(const UiEvent&)> on_event = nullptr,
                          size_t max_line_bytes = kDefaultMaxLineBytes);
  UiStreamParser(const UiStreamParser&) = delete;
  UiStreamParser& operator=(const UiStreamParser&) = delete;

  // Appends raw bytes; every complete line is handled, a partial last line is
  // kept for the next call.
  void Feed(std::string_view bytes);
  // Handles one line that the caller has already split (no "\n" inside),
  // e.g. from ProcessSpec::on_line. Use either Feed or AddLine on one parser.
  void AddLine(std::string_view line);
  // Handles a final line without a newline, if any.
  void Finish();

  const UiStreamSummary& summary() const { return summary_; }
  UiStreamSummary TakeSummary() { return std::move(summary_); }

 private:
  void HandleLine(std::string_view line);
  void Fold(const UiEvent& event);
  ResourceProgress& Resource(const std::string& addr);

  std::function<void(const UiEvent&)> on_event_;
  size_t max_line_bytes_;
  std::string partial_;
  bool overlong_ = false;  // keeping only the prefix of an over-long line
  UiStreamSummary summary_;
  std::unordered_map<std::string, size_t> resource_index_;
};

// Parses a whole stream at once; appends the events to `events` if non-null.
UiStreamSummary ParseUiStream(std::string_view text, std::vector<UiEvent>* events = nullptr);

}  // namespace provisioner::tofu
