#include "state/state_json.h"

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "base/time_format.h"
#include "platform/depth_json.h"

namespace provisioner::state {

std::string_view OperationName(Operation op) {
  return op == Operation::kDeploy ? "deploy" : "destroy";
}

Result<Operation> ParseOperation(std::string_view name) {
  if (name == "deploy") return Operation::kDeploy;
  if (name == "destroy") return Operation::kDestroy;
  return Status::InvalidArgument("\"" + std::string(name) + "\" is not deploy or destroy");
}

std::string_view TriggerName(Trigger t) {
  switch (t) {
    case Trigger::kSchedule:
      return "schedule";
    case Trigger::kManual:
      return "manual";
    case Trigger::kCatchUp:
      return "catch_up";
    case Trigger::kRetry:
      return "retry";
  }
  return "schedule";
}

Result<Trigger> ParseTrigger(std::string_view name) {
  for (Trigger t : {Trigger::kSchedule, Trigger::kManual, Trigger::kCatchUp, Trigger::kRetry}) {
    if (name == TriggerName(t)) return t;
  }
  return Status::InvalidArgument("\"" + std::string(name) +
                                 "\" is not one of schedule, manual, catch_up, retry");
}

std::string_view JobResultName(JobResult r) {
  switch (r) {
    case JobResult::kSucceeded:
      return "succeeded";
    case JobResult::kNoChanges:
      return "no_changes";
    case JobResult::kFailed:
      return "failed";
    case JobResult::kTimeout:
      return "timeout";
    case JobResult::kCancelled:
      return "cancelled";
    case JobResult::kInterrupted:
      return "interrupted";
  }
  return "failed";
}

Result<JobResult> ParseJobResult(std::string_view name) {
  for (JobResult r : {JobResult::kSucceeded, JobResult::kNoChanges, JobResult::kFailed,
                      JobResult::kTimeout, JobResult::kCancelled, JobResult::kInterrupted}) {
    if (name == JobResultName(r)) return r;
  }
  return Status::InvalidArgument(
      "\"" + std::string(name) +
      "\" is not one of succeeded, no_changes, failed, timeout, cancelled, interrupted");
}

std::string_view ActualName(Actual a) {
  switch (a) {
    case Actual::kUnknown:
      return "unknown";
    case Actual::kDeployed:
      return "deployed";
    case Actual::kDestroyed:
      return "destroyed";
  }
  return "unknown";
}

Result<Actual> ParseActual(std::string_view name) {
  for (Actual a : {Actual::kUnknown, Actual::kDeployed, Actual::kDestroyed}) {
    if (name == ActualName(a)) return a;
  }
  return Status::InvalidArgument("\"" + std::string(name) +
                                 "\" is not one of unknown, deployed, destroyed");
}

namespace {

std::string Time(SystemTime t) { return FormatUtc(t, 3); }

// Writers by hand: building an nlohmann tree first costs more than the
// fsync for 10,000 workspaces, and the output must be byte-stable anyway.
void Key(std::string* out, std::string_view key, bool* first) {
  if (!*first) out->push_back(',');
  *first = false;
  AppendJsonString(out, key);
  out->push_back(':');
}
void PutString(std::string* out, std::string_view key, std::string_view v, bool* first) {
  Key(out, key, first);
  AppendJsonString(out, v);
}
void PutTime(std::string* out, std::string_view key, const std::optional<SystemTime>& t,
             bool* first) {
  Key(out, key, first);
  if (t) {
    AppendJsonString(out, Time(*t));
  } else {
    out->append("null");
  }
}
void PutInt(std::string* out, std::string_view key, int64_t v, bool* first) {
  Key(out, key, first);
  out->append(std::to_string(v));
}
// The shortest text that reads back as exactly `v` (std::to_chars): several
// times faster than "%.17g", which matters with 10,000 workspaces per save.
void AppendDouble(std::string* out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, ec == std::errc() ? end : buf);
}
void PutBool(std::string* out, std::string_view key, bool v, bool* first) {
  Key(out, key, first);
  out->append(v ? "true" : "false");
}

void AppendJob(std::string* out, const JobRecord& j) {
  bool first = true;
  out->push_back('{');
  PutString(out, "id", j.id, &first);
  PutString(out, "workspace", j.workspace, &first);
  PutString(out, "operation", OperationName(j.operation), &first);
  PutString(out, "trigger", TriggerName(j.trigger), &first);
  PutTime(out, "scheduled_for", j.scheduled_for, &first);
  PutTime(out, "started_at", j.started_at, &first);
  PutTime(out, "finished_at", j.finished_at, &first);
  Key(out, "result", &first);
  if (j.result) {
    AppendJsonString(out, JobResultName(*j.result));
  } else {
    out->append("null");
  }
  Key(out, "exit_code", &first);
  out->append(j.exit_code ? std::to_string(*j.exit_code) : "null");
  PutInt(out, "attempt", j.attempt, &first);
  Key(out, "changes", &first);
  out->append("{\"add\":" + std::to_string(j.changes.add) +
              ",\"change\":" + std::to_string(j.changes.change) +
              ",\"remove\":" + std::to_string(j.changes.remove) + "}");
  PutString(out, "error", j.error, &first);
  PutString(out, "log_path", j.log_path, &first);
  PutString(out, "trace_id", j.trace_id, &first);
  PutBool(out, "drift", j.drift, &first);
  if (j.process) {
    Key(out, "process", &first);
    out->append("{\"pid\":" + std::to_string(j.process->pid) +
                ",\"start_ticks\":" + std::to_string(j.process->start_ticks) + ",\"boot_id\":");
    AppendJsonString(out, j.process->boot_id);
    out->push_back('}');
  }
  out->push_back('}');
}

void AppendWorkspace(std::string* out, const WorkspaceState& ws) {
  out->push_back('{');
  bool f = true;
  PutString(out, "actual", ActualName(ws.actual), &f);
  PutTime(out, "actual_since", ws.actual_since, &f);
  PutTime(out, "last_fire", ws.last_fire, &f);
  Key(out, "manual", &f);
  out->push_back('[');
  for (size_t i = 0; i < ws.manual.size(); ++i) {
    const ManualAction& m = ws.manual[i];
    if (i > 0) out->push_back(',');
    bool mf = true;
    out->push_back('{');
    PutString(out, "operation", OperationName(m.operation), &mf);
    PutTime(out, "at", m.at, &mf);
    PutTime(out, "until", m.until, &mf);
    PutString(out, "requested_by", m.requested_by, &mf);
    out->push_back('}');
  }
  out->push_back(']');
  Key(out, "pause", &f);
  if (ws.pause) {
    bool pf = true;
    out->push_back('{');
    PutTime(out, "from", ws.pause->from, &pf);
    PutTime(out, "until", ws.pause->until, &pf);
    PutString(out, "requested_by", ws.pause->requested_by, &pf);
    out->push_back('}');
  } else {
    out->append("null");
  }
  Key(out, "running", &f);
  if (ws.running) {
    AppendJob(out, *ws.running);
  } else {
    out->append("null");
  }
  Key(out, "last_job", &f);
  if (ws.last_job) {
    AppendJob(out, *ws.last_job);
  } else {
    out->append("null");
  }
  Key(out, "retry", &f);
  if (ws.retry) {
    bool rf = true;
    out->push_back('{');
    PutString(out, "operation", OperationName(ws.retry->operation), &rf);
    PutInt(out, "attempt", ws.retry->attempt, &rf);
    PutTime(out, "not_before", ws.retry->not_before, &rf);
    out->push_back('}');
  } else {
    out->append("null");
  }
  PutTime(out, "gave_up_for", ws.gave_up_for, &f);
  PutBool(out, "drift", ws.drift, &f);
  PutBool(out, "orphaned", ws.orphaned, &f);
  Key(out, "saved_seconds", &f);
  AppendDouble(out, ws.saved_seconds);
  // The field of binaries before the rename, so that a downgrade keeps
  // the count; never read while saved_seconds is there.
  Key(out, "saved_hours", &f);
  AppendDouble(out, ws.saved_seconds / 3600);
  out->push_back('}');
}

// Reads fields out of a parsed document, recording the first problem with
// its key path. Reading goes on after a problem so that the code stays
// linear; the first one is what gets reported.
class Reader {
 public:
  bool ok() const { return problem_.empty(); }
  Status status() const { return Status::Corruption(problem_); }

  void Fail(const std::string& path, const std::string& why) {
    if (problem_.empty()) problem_ = path + ": " + why;
  }

  const nlohmann::json* Field(const nlohmann::json& obj, const std::string& path, const char* key) {
    if (!obj.is_object()) {
      Fail(path, "expected an object");
      return nullptr;
    }
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::string String(const nlohmann::json& obj, const std::string& path, const char* key) {
    const nlohmann::json* v = Field(obj, path, key);
    if (v == nullptr) return "";
    if (!v->is_string()) {
      Fail(path + "." + key, "expected a string");
      return "";
    }
    return v->get<std::string>();
  }

  std::optional<SystemTime> Time(const nlohmann::json& obj, const std::string& path,
                                 const char* key) {
    const nlohmann::json* v = Field(obj, path, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      Fail(path + "." + key, "expected an RFC 3339 time");
      return std::nullopt;
    }
    auto t = ParseRfc3339(v->get<std::string>());
    if (!t.ok()) {
      Fail(path + "." + key, t.status().message());
      return std::nullopt;
    }
    // Files hold milliseconds (Time() above); a hand-edited time with more
    // digits is cut to them, so that what loads saves and loads back the
    // same (found by tests/fuzz/state_fuzz.cc).
    return std::chrono::floor<std::chrono::milliseconds>(*t);
  }

  SystemTime RequiredTime(const nlohmann::json& obj, const std::string& path, const char* key) {
    auto t = Time(obj, path, key);
    if (!t) {
      Fail(path + "." + key, "missing");
      return SystemTime();
    }
    return *t;
  }

  int64_t Int(const nlohmann::json& obj, const std::string& path, const char* key,
              int64_t fallback) {
    const nlohmann::json* v = Field(obj, path, key);
    if (v == nullptr) return fallback;
    if (!v->is_number_integer()) {
      Fail(path + "." + key, "expected an integer");
      return fallback;
    }
    return v->get<int64_t>();
  }

  double Double(const nlohmann::json& obj, const std::string& path, const char* key) {
    const nlohmann::json* v = Field(obj, path, key);
    if (v == nullptr) return 0;
    if (!v->is_number()) {
      Fail(path + "." + key, "expected a number");
      return 0;
    }
    return v->get<double>();
  }

  bool Bool(const nlohmann::json& obj, const std::string& path, const char* key) {
    const nlohmann::json* v = Field(obj, path, key);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      Fail(path + "." + key, "expected true or false");
      return false;
    }
    return v->get<bool>();
  }

  template <typename T>
  T Enum(const nlohmann::json& obj, const std::string& path, const char* key,
         Result<T> (*parse)(std::string_view), T fallback) {
    const nlohmann::json* v = Field(obj, path, key);
    if (v == nullptr) return fallback;
    if (!v->is_string()) {
      Fail(path + "." + key, "expected a string");
      return fallback;
    }
    auto r = parse(v->get<std::string>());
    if (!r.ok()) {
      Fail(path + "." + key, r.status().message());
      return fallback;
    }
    return *r;
  }

  JobRecord Job(const nlohmann::json& o, const std::string& path) {
    JobRecord j;
    j.id = String(o, path, "id");
    if (j.id.empty()) Fail(path + ".id", "missing");
    j.workspace = String(o, path, "workspace");
    j.operation = Enum(o, path, "operation", ParseOperation, Operation::kDeploy);
    j.trigger = Enum(o, path, "trigger", ParseTrigger, Trigger::kSchedule);
    j.scheduled_for = Time(o, path, "scheduled_for");
    j.started_at = Time(o, path, "started_at");
    j.finished_at = Time(o, path, "finished_at");
    if (Field(o, path, "result") != nullptr) {
      j.result = Enum(o, path, "result", ParseJobResult, JobResult::kFailed);
    }
    if (Field(o, path, "exit_code") != nullptr) {
      j.exit_code = static_cast<int>(Int(o, path, "exit_code", 0));
    }
    j.attempt = static_cast<int>(Int(o, path, "attempt", 1));
    if (const nlohmann::json* c = Field(o, path, "changes"); c != nullptr) {
      j.changes.add = static_cast<int>(Int(*c, path + ".changes", "add", 0));
      j.changes.change = static_cast<int>(Int(*c, path + ".changes", "change", 0));
      j.changes.remove = static_cast<int>(Int(*c, path + ".changes", "remove", 0));
    }
    j.error = String(o, path, "error");
    j.log_path = String(o, path, "log_path");
    j.trace_id = String(o, path, "trace_id");
    j.drift = Bool(o, path, "drift");
    if (const nlohmann::json* p = Field(o, path, "process"); p != nullptr) {
      const std::string at = path + ".process";
      platform::ProcessIdentity id;
      id.pid = Int(*p, at, "pid", 0);
      const int64_t ticks = Int(*p, at, "start_ticks", 0);
      id.boot_id = String(*p, at, "boot_id");
      if (id.pid <= 0) Fail(at + ".pid", "expected a positive integer");
      if (ticks < 0) Fail(at + ".start_ticks", "expected a non-negative integer");
      id.start_ticks = static_cast<uint64_t>(ticks);
      j.process = std::move(id);
    }
    return j;
  }

  // One workspace record; `path` is "workspaces.<name>".
  WorkspaceState Workspace(const nlohmann::json& w, const std::string& path) {
    WorkspaceState ws;
    if (!w.is_object()) {
      Fail(path, "expected an object");
      return ws;
    }
    ws.actual = Enum(w, path, "actual", ParseActual, Actual::kUnknown);
    ws.actual_since = Time(w, path, "actual_since");
    ws.last_fire = Time(w, path, "last_fire");
    if (const nlohmann::json* manual = Field(w, path, "manual"); manual != nullptr) {
      if (!manual->is_array()) {
        Fail(path + ".manual", "expected an array");
      } else {
        for (size_t i = 0; i < manual->size(); ++i) {
          const std::string mp = path + ".manual[" + std::to_string(i) + "]";
          const nlohmann::json& m = (*manual)[i];
          ManualAction a;
          a.operation = Enum(m, mp, "operation", ParseOperation, Operation::kDeploy);
          a.at = RequiredTime(m, mp, "at");
          a.until = Time(m, mp, "until");
          a.requested_by = String(m, mp, "requested_by");
          ws.manual.push_back(std::move(a));
        }
      }
    }
    if (const nlohmann::json* p = Field(w, path, "pause"); p != nullptr) {
      PauseWindow pause;
      pause.from = RequiredTime(*p, path + ".pause", "from");
      pause.until = Time(*p, path + ".pause", "until");
      pause.requested_by = String(*p, path + ".pause", "requested_by");
      ws.pause = pause;
    }
    if (const nlohmann::json* j = Field(w, path, "running"); j != nullptr) {
      ws.running = Job(*j, path + ".running");
    }
    if (const nlohmann::json* j = Field(w, path, "last_job"); j != nullptr) {
      ws.last_job = Job(*j, path + ".last_job");
    }
    if (const nlohmann::json* rt = Field(w, path, "retry"); rt != nullptr) {
      RetryState retry;
      retry.operation = Enum(*rt, path + ".retry", "operation", ParseOperation, Operation::kDeploy);
      retry.attempt = static_cast<int>(Int(*rt, path + ".retry", "attempt", 1));
      retry.not_before = RequiredTime(*rt, path + ".retry", "not_before");
      ws.retry = retry;
    }
    ws.gave_up_for = Time(w, path, "gave_up_for");
    ws.drift = Bool(w, path, "drift");
    ws.orphaned = Bool(w, path, "orphaned");
    // A state written before the metric was renamed to seconds has only
    // saved_hours: carry it over.
    ws.saved_seconds = Field(w, path, "saved_seconds") != nullptr
                           ? Double(w, path, "saved_seconds")
                           : Double(w, path, "saved_hours") * 3600;
    return ws;
  }

 private:
  std::string problem_;
};

// Files on disk are capped at 16 levels (two are needed); see
// platform/depth_json.h for why the check is a separate pass.
nlohmann::json ParseCapped(std::string_view text, std::string* error) {
  nlohmann::json doc;
  switch (platform::ParseJsonWithDepthLimit(text, 16, &doc, error)) {
    case platform::JsonParse::kOk:
      return doc;
    case platform::JsonParse::kTooDeep:
      *error = "nested deeper than 16 levels";
      break;
    case platform::JsonParse::kSyntaxError:
      break;
  }
  return nlohmann::json();
}

}  // namespace

std::string StateToJson(const State& s) {
  // One workspace per line: compact, yet diff- and grep-friendly.
  std::string out;
  out.reserve(256 + s.workspaces.size() * 640);
  bool first = true;
  out.push_back('{');
  PutInt(&out, "version", s.version, &first);
  PutTime(&out, "last_seen", s.last_seen, &first);
  Key(&out, "workspaces", &first);
  out.push_back('{');
  bool first_ws = true;
  for (const auto& [name, ws] : s.workspaces) {
    if (!first_ws) out.push_back(',');
    first_ws = false;
    out.push_back('\n');
    AppendJsonString(&out, name);
    out.push_back(':');
    AppendWorkspace(&out, ws);
  }
  out.append(s.workspaces.empty() ? "}}\n" : "\n}}\n");
  return out;
}

Result<State> StateFromJson(std::string_view text) {
  std::string error;
  nlohmann::json root = ParseCapped(text, &error);
  if (!error.empty()) return Status::Corruption("not valid JSON", error);
  if (!root.is_object()) return Status::Corruption("expected a JSON object at the top");
  Reader r;
  State s;
  const nlohmann::json* version = r.Field(root, "", "version");
  if (version == nullptr || !version->is_number_integer()) {
    return Status::Corruption("version: missing or not an integer");
  }
  s.version = version->get<int>();
  if (s.version > kStateVersion) {
    return Status::FailedPrecondition(
        "state version " + std::to_string(s.version) + " is newer than this provisioner reads (" +
        std::to_string(kStateVersion) + "); upgrade provisioner or restore a backup");
  }
  if (s.version < 1) return Status::Corruption("version: " + std::to_string(s.version));
  s.last_seen = r.Time(root, "", "last_seen");
  const nlohmann::json* workspaces = r.Field(root, "", "workspaces");
  if (workspaces != nullptr) {
    if (!workspaces->is_object()) return Status::Corruption("workspaces: expected an object");
    for (const auto& [name, w] : workspaces->items()) {
      s.workspaces.emplace(name, r.Workspace(w, "workspaces." + name));
    }
  }
  if (!r.ok()) return r.status();
  return s;
}

std::string WorkspaceToJson(const WorkspaceState& ws) {
  std::string out;
  out.reserve(640);
  AppendWorkspace(&out, ws);
  return out;
}

Result<WorkspaceState> WorkspaceFromJson(std::string_view text, std::string_view name) {
  const std::string path = "workspaces." + std::string(name);
  std::string error;
  nlohmann::json doc = ParseCapped(text, &error);
  if (!error.empty()) return Status::Corruption(path + ": not valid JSON", error);
  Reader r;
  WorkspaceState ws = r.Workspace(doc, path);
  if (!r.ok()) return r.status();
  return ws;
}

std::string JobToJsonLine(const JobRecord& job) {
  std::string out;
  out.reserve(512);
  AppendJob(&out, job);
  return out;
}

Result<JobRecord> JobFromJson(std::string_view text) {
  std::string error;
  nlohmann::json doc = ParseCapped(text, &error);
  if (!error.empty()) return Status::Corruption("not valid JSON", error);
  Reader r;
  JobRecord job = r.Job(doc, "job");
  if (!r.ok()) return r.status();
  return job;
}

}  // namespace provisioner::state
