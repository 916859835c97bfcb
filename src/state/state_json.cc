#include "state/state_json.h"

#include <nlohmann/json.hpp>

#include "base/time_format.h"

namespace provisioner::state {

using nlohmann::ordered_json;

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

ordered_json OptionalTime(const std::optional<SystemTime>& t) {
  return t ? ordered_json(Time(*t)) : ordered_json(nullptr);
}

ordered_json JobJson(const JobRecord& j) {
  ordered_json o;
  o["id"] = j.id;
  o["workspace"] = j.workspace;
  o["operation"] = OperationName(j.operation);
  o["trigger"] = TriggerName(j.trigger);
  o["scheduled_for"] = OptionalTime(j.scheduled_for);
  o["started_at"] = OptionalTime(j.started_at);
  o["finished_at"] = OptionalTime(j.finished_at);
  o["result"] = j.result ? ordered_json(JobResultName(*j.result)) : ordered_json(nullptr);
  o["exit_code"] = j.exit_code ? ordered_json(*j.exit_code) : ordered_json(nullptr);
  o["attempt"] = j.attempt;
  o["changes"] = {{"add", j.changes.add}, {"change", j.changes.change}, {"remove", j.changes.remove}};
  o["error"] = j.error;
  o["log_path"] = j.log_path;
  o["trace_id"] = j.trace_id;
  o["drift"] = j.drift;
  if (j.pid != 0) {
    o["pid"] = j.pid;
    o["pid_start_ticks"] = j.pid_start_ticks;
  }
  return o;
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

  const nlohmann::json* Field(const nlohmann::json& obj, const std::string& path,
                              const char* key) {
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
    return *t;
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
    j.pid = Int(o, path, "pid", 0);
    j.pid_start_ticks = static_cast<uint64_t>(Int(o, path, "pid_start_ticks", 0));
    return j;
  }

 private:
  std::string problem_;
};

// A depth cap for documents read from disk: nlohmann parses iteratively but
// copies and compares recursively, so a hostile deeply nested file could
// still overflow the stack later (reference/debian-libraries.md §3).
struct TooDeep {};

nlohmann::json ParseCapped(std::string_view text, std::string* error) {
  try {
    nlohmann::json doc = nlohmann::json::parse(
        text,
        [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > 16) throw TooDeep{};
          return true;
        },
        /*allow_exceptions=*/true);
    return doc;
  } catch (const TooDeep&) {
    *error = "nested deeper than 16 levels";
  } catch (const nlohmann::json::exception& e) {
    *error = e.what();
  }
  return nlohmann::json();
}

}  // namespace

std::string StateToJson(const State& s) {
  ordered_json root;
  root["version"] = s.version;
  root["last_seen"] = OptionalTime(s.last_seen);
  ordered_json workspaces = ordered_json::object();
  for (const auto& [name, ws] : s.workspaces) {
    ordered_json w;
    w["actual"] = ActualName(ws.actual);
    w["actual_since"] = OptionalTime(ws.actual_since);
    w["last_fire"] = OptionalTime(ws.last_fire);
    ordered_json manual = ordered_json::array();
    for (const ManualAction& m : ws.manual) {
      manual.push_back({{"operation", OperationName(m.operation)},
                        {"at", Time(m.at)},
                        {"until", OptionalTime(m.until)},
                        {"requested_by", m.requested_by}});
    }
    w["manual"] = std::move(manual);
    w["pause"] = ws.pause ? ordered_json{{"from", Time(ws.pause->from)},
                                         {"until", OptionalTime(ws.pause->until)},
                                         {"requested_by", ws.pause->requested_by}}
                          : ordered_json(nullptr);
    w["running"] = ws.running ? JobJson(*ws.running) : ordered_json(nullptr);
    w["last_job"] = ws.last_job ? JobJson(*ws.last_job) : ordered_json(nullptr);
    w["retry"] = ws.retry ? ordered_json{{"operation", OperationName(ws.retry->operation)},
                                         {"attempt", ws.retry->attempt},
                                         {"not_before", Time(ws.retry->not_before)}}
                          : ordered_json(nullptr);
    w["gave_up_for"] = OptionalTime(ws.gave_up_for);
    w["drift"] = ws.drift;
    w["orphaned"] = ws.orphaned;
    w["saved_hours"] = ws.saved_hours;
    workspaces[name] = std::move(w);
  }
  root["workspaces"] = std::move(workspaces);
  return root.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
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
      const std::string path = "workspaces." + name;
      if (!w.is_object()) {
        r.Fail(path, "expected an object");
        continue;
      }
      WorkspaceState ws;
      ws.actual = r.Enum(w, path, "actual", ParseActual, Actual::kUnknown);
      ws.actual_since = r.Time(w, path, "actual_since");
      ws.last_fire = r.Time(w, path, "last_fire");
      if (const nlohmann::json* manual = r.Field(w, path, "manual"); manual != nullptr) {
        if (!manual->is_array()) {
          r.Fail(path + ".manual", "expected an array");
        } else {
          for (size_t i = 0; i < manual->size(); ++i) {
            const std::string mp = path + ".manual[" + std::to_string(i) + "]";
            const nlohmann::json& m = (*manual)[i];
            ManualAction a;
            a.operation = r.Enum(m, mp, "operation", ParseOperation, Operation::kDeploy);
            a.at = r.RequiredTime(m, mp, "at");
            a.until = r.Time(m, mp, "until");
            a.requested_by = r.String(m, mp, "requested_by");
            ws.manual.push_back(std::move(a));
          }
        }
      }
      if (const nlohmann::json* p = r.Field(w, path, "pause"); p != nullptr) {
        PauseWindow pause;
        pause.from = r.RequiredTime(*p, path + ".pause", "from");
        pause.until = r.Time(*p, path + ".pause", "until");
        pause.requested_by = r.String(*p, path + ".pause", "requested_by");
        ws.pause = pause;
      }
      if (const nlohmann::json* j = r.Field(w, path, "running"); j != nullptr) {
        ws.running = r.Job(*j, path + ".running");
      }
      if (const nlohmann::json* j = r.Field(w, path, "last_job"); j != nullptr) {
        ws.last_job = r.Job(*j, path + ".last_job");
      }
      if (const nlohmann::json* rt = r.Field(w, path, "retry"); rt != nullptr) {
        RetryState retry;
        retry.operation = r.Enum(*rt, path + ".retry", "operation", ParseOperation,
                                 Operation::kDeploy);
        retry.attempt = static_cast<int>(r.Int(*rt, path + ".retry", "attempt", 1));
        retry.not_before = r.RequiredTime(*rt, path + ".retry", "not_before");
        ws.retry = retry;
      }
      ws.gave_up_for = r.Time(w, path, "gave_up_for");
      ws.drift = r.Bool(w, path, "drift");
      ws.orphaned = r.Bool(w, path, "orphaned");
      ws.saved_hours = r.Double(w, path, "saved_hours");
      s.workspaces.emplace(name, std::move(ws));
    }
  }
  if (!r.ok()) return r.status();
  return s;
}

std::string JobToJsonLine(const JobRecord& job) {
  return JobJson(job).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
