#include "app/cli_client_json.h"

#include <nlohmann/json.hpp>

namespace provisioner::app {
namespace {

using nlohmann::json;

Result<json> Parse(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return Status::InvalidArgument("the server sent a reply that is not JSON");
  return doc;
}

std::string Str(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int Int(const json& o, const char* key) {
  if (!o.is_object()) return 0;
  auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<int>() : 0;
}

const json& Obj(const json& o, const char* key) {
  static const json kNull;
  if (!o.is_object()) return kNull;
  auto it = o.find(key);
  return it != o.end() ? *it : kNull;
}

JobRow JobFrom(const json& j) {
  JobRow r;
  r.id = Str(j, "id");
  r.workspace = Str(j, "workspace");
  r.operation = Str(j, "operation");
  r.trigger = Str(j, "trigger");
  r.status = Str(j, "status");
  r.result = Str(j, "result");
  r.started_at = Str(j, "started_at");
  r.finished_at = Str(j, "finished_at");
  const json& c = Obj(j, "changes");
  r.add = Int(c, "add");
  r.change = Int(c, "change");
  r.remove = Int(c, "remove");
  r.error = Str(j, "error");
  r.trace_id = Str(j, "trace_id");
  return r;
}

WorkspaceRow WorkspaceFrom(const json& w) {
  WorkspaceRow r;
  r.name = Str(w, "name");
  r.status = Str(w, "status");
  r.actual = Str(Obj(w, "actual"), "state");
  const json& desired = Obj(w, "desired");
  r.desired =
      desired.is_object() ? Str(desired, "state") + " (" + Str(desired, "source") + ")" : "-";
  std::string next_at;
  std::string next_action;
  for (const char* action : {"deploy", "destroy"}) {
    const json& n = Obj(Obj(w, "next_actions"), action);
    std::string at = Str(n, "at");
    if (!at.empty() && (next_at.empty() || at < next_at)) {
      next_at = at;
      next_action = action;
    }
  }
  r.next = next_at.empty() ? "-" : next_action + " " + next_at;
  const json& last = Obj(w, "last_job");
  r.last_job = last.is_object() ? Str(last, "operation") + " " + Str(last, "result") + " " +
                                      Str(last, "finished_at")
                                : "-";
  std::vector<std::string> flags;
  if (w.value("paused", false)) flags.push_back("paused");
  if (w.value("protected", false)) flags.push_back("protected");
  if (!w.value("enabled", true)) flags.push_back("disabled");
  if (w.value("drift", false)) flags.push_back("drift");
  if (Obj(w, "running_job").is_object()) flags.push_back("running");
  if (Obj(w, "queued_job").is_object()) flags.push_back("queued");
  for (size_t i = 0; i < flags.size(); ++i) r.flags += (i > 0 ? "," : "") + flags[i];
  r.actual_since = Str(Obj(w, "actual"), "since");
  r.deploy_scheduled = !Str(Obj(w, "schedule"), "deploy").empty();
  const json& cost = Obj(w, "cost_per_hour");
  if (cost.is_number()) r.cost_per_hour = cost.get<double>();
  return r;
}

}  // namespace

Result<std::vector<WorkspaceRow>> ParseWorkspaceList(std::string_view text) {
  ASSIGN_OR_RETURN(json doc, Parse(text));
  const json& list = Obj(doc, "workspaces");
  if (!list.is_array()) return Status::InvalidArgument("the reply has no \"workspaces\" list");
  std::vector<WorkspaceRow> out;
  for (const json& w : list) out.push_back(WorkspaceFrom(w));
  return out;
}

Result<WorkspaceRow> ParseWorkspace(std::string_view text) {
  ASSIGN_OR_RETURN(json doc, Parse(text));
  return WorkspaceFrom(doc);
}

Result<JobRow> ParseJob(std::string_view text) {
  ASSIGN_OR_RETURN(json doc, Parse(text));
  return JobFrom(doc);
}

Result<std::vector<JobRow>> ParseJobList(std::string_view text, std::optional<std::string>* next) {
  ASSIGN_OR_RETURN(json doc, Parse(text));
  const json& list = Obj(doc, "jobs");
  if (!list.is_array()) return Status::InvalidArgument("the reply has no \"jobs\" list");
  std::vector<JobRow> out;
  for (const json& j : list) out.push_back(JobFrom(j));
  std::string n = Str(doc, "next_before");
  if (!n.empty()) *next = n;
  return out;
}

std::string StringField(std::string_view text, const std::string& key) {
  auto doc = Parse(text);
  return doc.ok() ? Str(*doc, key.c_str()) : "";
}

std::string ErrorText(std::string_view body) {
  auto doc = Parse(body);
  if (doc.ok()) {
    const json& e = Obj(*doc, "error");
    std::string message = Str(e, "message");
    if (!message.empty()) {
      std::string out = message;
      const json& details = Obj(e, "details");
      if (details.is_array()) {
        for (const json& d : details) {
          if (d.is_string()) out += "\n  " + d.get<std::string>();
        }
      }
      return out;
    }
  }
  return std::string(body.substr(0, 200));
}

}  // namespace provisioner::app
