// The -json UI parser and its stream fold. Everything lives in this one file
// because the JSON library may only be included by *_json.cc files (STYLE.md
// B1) and the fold is small.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "base/strings.h"
#include "tofu/ui_stream.h"

namespace provisioner::tofu {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kLockErrorSummary = "Error acquiring the state lock";

struct TypeEntry {
  std::string_view name;
  UiEventType type;
};

// Wire names of reference §1.3 (v1.12.6 message_types.go, plus the legacy
// `output` of 1.7-1.11 init).
constexpr TypeEntry kTypes[] = {
    {"version", UiEventType::kVersion},
    {"log", UiEventType::kLog},
    {"diagnostic", UiEventType::kDiagnostic},
    {"resource_drift", UiEventType::kResourceDrift},
    {"planned_change", UiEventType::kPlannedChange},
    {"change_summary", UiEventType::kChangeSummary},
    {"outputs", UiEventType::kOutputs},
    {"apply_start", UiEventType::kApplyStart},
    {"apply_progress", UiEventType::kApplyProgress},
    {"apply_complete", UiEventType::kApplyComplete},
    {"apply_errored", UiEventType::kApplyErrored},
    {"provision_start", UiEventType::kProvisionStart},
    {"provision_progress", UiEventType::kProvisionProgress},
    {"provision_complete", UiEventType::kProvisionComplete},
    {"provision_errored", UiEventType::kProvisionErrored},
    {"refresh_start", UiEventType::kRefreshStart},
    {"refresh_complete", UiEventType::kRefreshComplete},
    {"ephemeral_action_started", UiEventType::kEphemeralActionStarted},
    {"ephemeral_action_complete", UiEventType::kEphemeralActionComplete},
    {"state_lock_acquire", UiEventType::kStateLockAcquire},
    {"state_lock_release", UiEventType::kStateLockRelease},
    {"output", UiEventType::kOutput},
};

UiEventType TypeFromName(std::string_view name) {
  for (const TypeEntry& entry : kTypes) {
    if (entry.name == name) return entry.type;
  }
  return UiEventType::kUnknown;
}

bool IsHook(UiEventType type) {
  switch (type) {
    case UiEventType::kApplyStart:
    case UiEventType::kApplyProgress:
    case UiEventType::kApplyComplete:
    case UiEventType::kApplyErrored:
    case UiEventType::kProvisionStart:
    case UiEventType::kProvisionProgress:
    case UiEventType::kProvisionComplete:
    case UiEventType::kProvisionErrored:
    case UiEventType::kRefreshStart:
    case UiEventType::kRefreshComplete:
    case UiEventType::kEphemeralActionStarted:
    case UiEventType::kEphemeralActionComplete:
      return true;
    default:
      return false;
  }
}

// Values we print back (types, output values) may hold anything the producer
// sent; the replace handler keeps dump() from throwing on odd strings.
std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const Json* Field(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// A field the schema says is a string. Absent and null read as "".
std::string Text(const Json* value, bool* malformed) {
  if (value == nullptr || value->is_null()) return {};
  if (value->is_string()) return value->get_ref<const std::string&>();
  *malformed = true;
  if (value->is_boolean()) return value->get<bool>() ? "true" : "false";
  return Dump(*value);  // numbers print as themselves; objects/arrays as JSON
}

// A non-negative count. Absent and null read as 0 (older tofu lacks "forget").
int64_t Count(const Json* value, bool* malformed) {
  if (value == nullptr || value->is_null()) return 0;
  if (value->is_number_unsigned()) {
    uint64_t n = value->get<uint64_t>();
    if (n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(n);
    }
    *malformed = true;
    return std::numeric_limits<int64_t>::max();
  }
  *malformed = true;
  if (value->is_number_integer()) return 0;  // negative: no meaning for a count
  if (value->is_number_float()) {
    double d = value->get<double>();
    // 9.2e18 is just under 2^63: larger doubles do not convert safely.
    if (std::isfinite(d) && d >= 0 && d < 9.2e18 && d == std::floor(d)) {
      return static_cast<int64_t>(d);
    }
    return 0;
  }
  if (value->is_string()) {
    std::optional<uint64_t> n = ParseUint(value->get_ref<const std::string&>());
    if (n && *n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(*n);
    }
  }
  return 0;
}

std::optional<double> Number(const Json* value, bool* malformed) {
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (value->is_number()) return value->get<double>();
  *malformed = true;
  if (value->is_string()) {
    const std::string& s = value->get_ref<const std::string&>();
    double d = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && end == s.data() + s.size() && std::isfinite(d)) return d;
  }
  return std::nullopt;
}

bool Flag(const Json* value, bool* malformed) {
  if (value == nullptr || value->is_null()) return false;
  if (value->is_boolean()) return value->get<bool>();
  *malformed = true;
  if (value->is_string()) return value->get_ref<const std::string&>() == "true";
  if (value->is_number()) return value->get<double>() != 0;
  // Anything else (an object, an array): treat as sensitive, the safe side.
  return true;
}

std::optional<ResourceAddr> ParseResource(const Json* value, bool* malformed) {
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (!value->is_object()) {
    *malformed = true;
    return std::nullopt;
  }
  ResourceAddr r;
  r.addr = Text(Field(*value, "addr"), malformed);
  r.module = Text(Field(*value, "module"), malformed);
  r.resource = Text(Field(*value, "resource"), malformed);
  r.implied_provider = Text(Field(*value, "implied_provider"), malformed);
  r.resource_type = Text(Field(*value, "resource_type"), malformed);
  r.resource_name = Text(Field(*value, "resource_name"), malformed);
  const Json* key = Field(*value, "resource_key");
  if (key != nullptr && !key->is_null()) {
    if (key->is_string()) {
      r.resource_key = key->get_ref<const std::string&>();
    } else if (key->is_number()) {
      r.resource_key = Dump(*key);
    } else {
      *malformed = true;
      r.resource_key = Dump(*key);
    }
  }
  return r;
}

SourcePos ParsePos(const Json* value, bool* malformed) {
  SourcePos pos;
  if (value == nullptr) return pos;
  pos.line = Count(Field(*value, "line"), malformed);
  pos.column = Count(Field(*value, "column"), malformed);
  pos.byte = Count(Field(*value, "byte"), malformed);
  return pos;
}

std::optional<Diagnostic> ParseDiagnostic(const Json* value, bool* malformed) {
  if (value == nullptr || !value->is_object()) {
    *malformed = true;
    return std::nullopt;
  }
  Diagnostic d;
  d.severity = Text(Field(*value, "severity"), malformed);
  d.summary = Text(Field(*value, "summary"), malformed);
  d.detail = Text(Field(*value, "detail"), malformed);
  d.address = Text(Field(*value, "address"), malformed);
  const Json* range = Field(*value, "range");
  if (range != nullptr && range->is_object()) {
    SourceRange r;
    r.filename = Text(Field(*range, "filename"), malformed);
    r.start = ParsePos(Field(*range, "start"), malformed);
    r.end = ParsePos(Field(*range, "end"), malformed);
    d.range = std::move(r);
  } else if (range != nullptr && !range->is_null()) {
    *malformed = true;
  }
  return d;
}

std::optional<ChangeSummary> ParseChanges(const Json* value, bool* malformed) {
  if (value == nullptr || !value->is_object()) {
    *malformed = true;
    return std::nullopt;
  }
  ChangeSummary c;
  c.add = Count(Field(*value, "add"), malformed);
  c.change = Count(Field(*value, "change"), malformed);
  c.import = Count(Field(*value, "import"), malformed);
  c.remove = Count(Field(*value, "remove"), malformed);
  c.forget = Count(Field(*value, "forget"), malformed);
  c.operation = Text(Field(*value, "operation"), malformed);
  return c;
}

std::vector<UiOutput> ParseOutputs(const Json* value, bool* malformed) {
  std::vector<UiOutput> outputs;
  if (value == nullptr || !value->is_object()) {
    *malformed = true;
    return outputs;
  }
  for (auto it = value->begin(); it != value->end(); ++it) {
    UiOutput out;
    out.name = it.key();
    if (!it->is_object()) {
      *malformed = true;
      out.sensitive = true;  // unknown shape: do not treat as publishable
      outputs.push_back(std::move(out));
      continue;
    }
    out.sensitive = Flag(Field(*it, "sensitive"), malformed);
    if (const Json* type = Field(*it, "type")) out.type_json = Dump(*type);
    const Json* v = Field(*it, "value");
    if (v != nullptr && !out.sensitive) out.value_json = Dump(*v);
    out.action = Text(Field(*it, "action"), malformed);
    outputs.push_back(std::move(out));
  }
  return outputs;  // nlohmann::json keeps object keys sorted: wire order
}

// "1.2" -> 1. Absent means a producer from before the field existed: trust it.
bool UiVersionSupported(const std::string& ui, bool present) {
  if (!present) return true;
  std::string_view major = ui;
  major = major.substr(0, major.find('.'));
  std::optional<uint64_t> n = ParseUint(major);
  return n.has_value() && *n == 1;
}

void ParseTypedPayload(const Json& object, UiEvent* event) {
  bool* malformed = &event->malformed;
  switch (event->type) {
    case UiEventType::kVersion: {
      VersionInfo v;
      const Json* tofu = Field(object, "tofu");
      v.tofu = Text(tofu != nullptr ? tofu : Field(object, "terraform"), malformed);
      const Json* ui = Field(object, "ui");
      v.ui = Text(ui, malformed);
      v.supported = UiVersionSupported(v.ui, ui != nullptr && !ui->is_null());
      event->version = std::move(v);
      return;
    }
    case UiEventType::kDiagnostic:
      event->diagnostic = ParseDiagnostic(Field(object, "diagnostic"), malformed);
      return;
    case UiEventType::kResourceDrift:
    case UiEventType::kPlannedChange: {
      const Json* change = Field(object, "change");
      if (change == nullptr || !change->is_object()) {
        *malformed = true;
        return;
      }
      event->resource = ParseResource(Field(*change, "resource"), malformed);
      event->previous_resource = ParseResource(Field(*change, "previous_resource"), malformed);
      event->action = Text(Field(*change, "action"), malformed);
      event->reason = Text(Field(*change, "reason"), malformed);
      return;
    }
    case UiEventType::kChangeSummary:
      event->changes = ParseChanges(Field(object, "changes"), malformed);
      return;
    case UiEventType::kOutputs:
      event->outputs = ParseOutputs(Field(object, "outputs"), malformed);
      return;
    default:
      break;
  }
  if (!IsHook(event->type)) return;
  const Json* hook = Field(object, "hook");
  if (hook == nullptr || !hook->is_object()) {
    *malformed = true;
    return;
  }
  event->resource = ParseResource(Field(*hook, "resource"), malformed);
  event->action = Text(Field(*hook, "action"), malformed);
  event->id_key = Text(Field(*hook, "id_key"), malformed);
  event->id_value = Text(Field(*hook, "id_value"), malformed);
  event->elapsed_seconds = Number(Field(*hook, "elapsed_seconds"), malformed);
  event->provisioner = Text(Field(*hook, "provisioner"), malformed);
  event->provisioner_output = Text(Field(*hook, "output"), malformed);
}

struct TooDeep {};

// json::parse builds iteratively, but copying and dumping recurse, so depth
// is capped while parsing. The callback's exception is the documented way to
// stop the parser early (reference/debian-libraries.md §3); it never leaves
// this function.
Json ParseBounded(std::string_view text) {
  auto depth_guard = [](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxUiJsonDepth) throw TooDeep{};
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), depth_guard,
                       /*allow_exceptions=*/false);
  } catch (const TooDeep&) {
    return Json(Json::value_t::discarded);
  }
}

std::string ValidUtf8(std::string_view text) {
  // Nearly all of it is ASCII: copy that run whole and check byte by byte
  // only from the first byte that could start a bad sequence.
  size_t ascii = 0;
  while (ascii < text.size() && static_cast<unsigned char>(text[ascii]) < 0x80) {
    ++ascii;
  }
  std::string out(text.substr(0, ascii));
  if (ascii < text.size()) AppendValidUtf8(&out, text.substr(ascii));
  return out;
}

UiEvent NotJson(std::string_view line) {
  UiEvent event;
  event.type = UiEventType::kNotJson;
  event.message = ValidUtf8(line);
  return event;
}

UiEvent ParseUiLineOrThrow(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Cheap rejection of the common non-JSON lines (banners, log text) before
  // the JSON parser sees them.
  size_t first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos || line[first] != '{') return NotJson(line);

  Json object = ParseBounded(line);
  if (object.is_discarded()) {
    // The JSON parser rejects invalid UTF-8 inside strings. Go's encoder never
    // produces it, but a line mangled on its way (a cut pipe buffer, a
    // misbehaving wrapper) still deserves its payload: repair and retry once.
    std::string repaired = ValidUtf8(line);
    if (repaired.size() == line.size() && repaired == line) return NotJson(line);
    object = ParseBounded(repaired);
    if (object.is_discarded()) return NotJson(line);
  }
  if (!object.is_object()) return NotJson(line);

  UiEvent event;
  event.level = Text(Field(object, "@level"), &event.malformed);
  event.message = Text(Field(object, "@message"), &event.malformed);
  event.timestamp = Text(Field(object, "@timestamp"), &event.malformed);
  const Json* type = Field(object, "type");
  if (type == nullptr || type->is_null()) {
    event.type = UiEventType::kUntyped;
    return event;
  }
  event.type_name = Text(type, &event.malformed);
  event.type = type->is_string() ? TypeFromName(event.type_name) : UiEventType::kUnknown;
  ParseTypedPayload(object, &event);
  return event;
}

// Only level, message and timestamp survive: the rest was read with a schema
// the producer did not promise.
void Demote(UiEvent* event) {
  UiEvent kept;
  kept.type = UiEventType::kUnknown;
  kept.type_name = std::move(event->type_name);
  kept.level = std::move(event->level);
  kept.message = std::move(event->message);
  kept.timestamp = std::move(event->timestamp);
  kept.untrusted = true;
  *event = std::move(kept);
}

bool Demotable(UiEventType type) {
  return type != UiEventType::kVersion && type != UiEventType::kUntyped &&
         type != UiEventType::kNotJson;
}

// Reads the "Lock Info:" block of reference §2.3: "  ID:        4bd3…".
StateLockError ParseLockDetail(std::string_view detail) {
  StateLockError lock;
  const std::pair<std::string_view, std::string*> keys[] = {
      {"Error message:", &lock.error_message},
      {"ID:", &lock.id},
      {"Path:", &lock.path},
      {"Operation:", &lock.operation},
      {"Who:", &lock.who},
      {"Version:", &lock.version},
      {"Created:", &lock.created},
  };
  for (std::string_view line : Split(detail, '\n')) {
    line = Trim(line);
    for (const auto& [key, field] : keys) {
      if (line.substr(0, key.size()) == key && field->empty()) {
        *field = std::string(Trim(line.substr(key.size())));
        break;
      }
    }
  }
  return lock;
}

bool Contains(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

}  // namespace

std::string_view UiEventTypeName(UiEventType type) {
  for (const TypeEntry& entry : kTypes) {
    if (entry.type == type) return entry.name;
  }
  switch (type) {
    case UiEventType::kUntyped:
      return "untyped";
    case UiEventType::kUnknown:
      return "unknown";
    default:
      return "not_json";
  }
}

std::string_view ResourceStatusName(ResourceStatus status) {
  switch (status) {
    case ResourceStatus::kRefreshed:
      return "refreshed";
    case ResourceStatus::kDrifted:
      return "drifted";
    case ResourceStatus::kPlanned:
      return "planned";
    case ResourceStatus::kApplying:
      return "applying";
    case ResourceStatus::kApplied:
      return "applied";
    case ResourceStatus::kErrored:
      return "errored";
  }
  return "unknown";
}

UiEvent ParseUiLine(std::string_view line) {
  // The catch-all keeps the no-throw promise against what cannot be ruled
  // out (std::bad_alloc on a huge line); UiEvent's default holds no memory.
  try {
    return ParseUiLineOrThrow(line);
  } catch (...) {
    UiEvent event;
    event.malformed = true;
    return event;
  }
}

std::string UiStreamSummary::ErrorSummary() const {
  for (const Diagnostic& d : diagnostics) {
    if (!d.IsError()) continue;
    if (d.address.empty()) return d.summary;
    return d.summary + " (" + d.address + ")";
  }
  return crashed ? "OpenTofu crashed" : "";
}

const ResourceProgress* UiStreamSummary::FindResource(std::string_view addr) const {
  for (const ResourceProgress& r : resources) {
    if (r.addr == addr) return &r;
  }
  return nullptr;
}

UiStreamParser::UiStreamParser(std::function<void(const UiEvent&)> on_event, size_t max_line_bytes)
    : on_event_(std::move(on_event)), max_line_bytes_(std::max(max_line_bytes, kKeptPrefixBytes)) {}

void UiStreamParser::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    size_t newline = bytes.find('\n');
    std::string_view piece = bytes.substr(0, newline);
    if (!overlong_ && partial_.size() + piece.size() > max_line_bytes_) {
      overlong_ = true;  // from here on only the prefix is kept
      if (partial_.size() > kKeptPrefixBytes) partial_.resize(kKeptPrefixBytes);
    }
    if (overlong_) {
      if (partial_.size() < kKeptPrefixBytes) {
        partial_.append(piece.substr(0, kKeptPrefixBytes - partial_.size()));
      }
    } else if (newline != std::string_view::npos && partial_.empty()) {
      HandleLine(piece);  // the common case: a whole line inside `bytes`, no copy
    } else {
      partial_.append(piece);
    }
    if (newline == std::string_view::npos) return;
    if (overlong_ || !partial_.empty()) Finish();
    bytes.remove_prefix(newline + 1);
  }
}

void UiStreamParser::AddLine(std::string_view line) {
  if (line.size() > max_line_bytes_) {
    partial_.assign(line.substr(0, kKeptPrefixBytes));
    overlong_ = true;
  } else {
    HandleLine(line);
    return;
  }
  Finish();
}

void UiStreamParser::Finish() {
  if (overlong_) {
    UiEvent event = NotJson(partial_);
    event.malformed = true;
    ++summary_.lines;
    Fold(event);
    if (on_event_) on_event_(event);
  } else if (!partial_.empty()) {
    HandleLine(partial_);
  }
  partial_.clear();
  overlong_ = false;
}

void UiStreamParser::HandleLine(std::string_view line) {
  if (Trim(line).empty()) return;
  ++summary_.lines;
  UiEvent event = ParseUiLine(line);
  if (event.type == UiEventType::kVersion && event.version) {
    ++summary_.version_lines;
    summary_.tofu_version = event.version->tofu;
    summary_.ui_version = event.version->ui;
    summary_.ui_supported = event.version->supported;
  } else if (!summary_.ui_supported && Demotable(event.type)) {
    Demote(&event);
  }
  Fold(event);
  if (on_event_) on_event_(event);
}

ResourceProgress& UiStreamParser::Resource(const std::string& addr) {
  auto [it, inserted] = resource_index_.try_emplace(addr, summary_.resources.size());
  if (inserted) {
    ResourceProgress fresh;
    fresh.addr = addr;
    summary_.resources.push_back(std::move(fresh));
  }
  return summary_.resources[it->second];
}

void UiStreamParser::Fold(const UiEvent& event) {
  UiStreamSummary& s = summary_;
  if (event.malformed) ++s.malformed_lines;
  switch (event.type) {
    case UiEventType::kNotJson:
      ++s.not_json_lines;
      // tofu's panic banner (internal/logging/panic.go); Terraform's says
      // TERRAFORM. Seen here only when stderr is merged into the stream.
      if (Contains(event.message, "!!!!! OPENTOFU CRASH !!!!!") ||
          Contains(event.message, "!!!!! TERRAFORM CRASH !!!!!")) {
        s.crashed = true;
      }
      return;
    case UiEventType::kUnknown:
      ++s.unknown_lines;
      return;
    case UiEventType::kLog:
      if (Contains(event.message, "Two interrupts received")) {
        s.cancelled = true;
      } else if (Contains(event.message, "Interrupt received")) {
        s.interrupted = true;
      }
      return;
    case UiEventType::kDiagnostic:
      if (!event.diagnostic) return;
      if (event.diagnostic->IsError()) {
        ++s.error_count;
        if (event.diagnostic->summary == kLockErrorSummary && !s.state_lock) {
          s.state_lock = ParseLockDetail(event.diagnostic->detail);
        }
      } else {
        ++s.warning_count;
      }
      s.diagnostics.push_back(*event.diagnostic);
      return;
    case UiEventType::kChangeSummary:
      if (event.changes) s.changes = event.changes;
      return;
    case UiEventType::kOutputs:
      s.outputs.clear();
      s.sensitive_outputs.clear();
      for (const UiOutput& out : event.outputs) {
        if (out.sensitive) {
          s.sensitive_outputs.push_back(out.name);
        } else {
          s.outputs.push_back(out);
        }
      }
      return;
    default:
      break;
  }
  if (event.type == UiEventType::kResourceDrift) s.drift_detected = true;
  if (!event.resource || event.resource->addr.empty()) return;
  if (event.type == UiEventType::kEphemeralActionStarted ||
      event.type == UiEventType::kEphemeralActionComplete) {
    return;  // ephemeral resources are never in state: nothing was touched
  }

  ResourceProgress& r = Resource(event.resource->addr);
  if (!event.id_value.empty()) {
    r.id_key = event.id_key;
    r.id_value = event.id_value;
  }
  if (event.elapsed_seconds) r.elapsed_seconds = *event.elapsed_seconds;
  switch (event.type) {
    case UiEventType::kResourceDrift:
      if (r.status == ResourceStatus::kRefreshed) r.status = ResourceStatus::kDrifted;
      if (r.action.empty()) r.action = event.action;
      break;
    case UiEventType::kPlannedChange:
      // The planned action ("replace") says more than the hooks that carry it
      // out ("delete" then "create"), so it wins.
      r.status = ResourceStatus::kPlanned;
      r.action = event.action;
      break;
    case UiEventType::kApplyStart:
    case UiEventType::kApplyProgress:
      r.status = ResourceStatus::kApplying;
      if (r.action.empty()) r.action = event.action;
      break;
    case UiEventType::kApplyComplete:
      r.status = ResourceStatus::kApplied;
      if (r.action.empty()) r.action = event.action;
      break;
    case UiEventType::kApplyErrored:
    case UiEventType::kProvisionErrored:
      r.status = ResourceStatus::kErrored;
      if (r.action.empty()) r.action = event.action;
      break;
    default:
      break;  // refresh_* and provision_* leave the status as it is
  }
}

UiStreamSummary ParseUiStream(std::string_view text, std::vector<UiEvent>* events) {
  std::function<void(const UiEvent&)> collect;
  if (events != nullptr) {
    collect = [events](const UiEvent& event) { events->push_back(event); };
  }
  UiStreamParser parser(std::move(collect));
  parser.Feed(text);
  parser.Finish();
  return parser.TakeSummary();
}

}  // namespace provisioner::tofu
