#include "http/api_json.h"

#include <nlohmann/json.hpp>

#include "base/time_format.h"
#include "platform/depth_json.h"

namespace provisioner::http {
namespace {

using nlohmann::ordered_json;

ordered_json Time(const std::optional<SystemTime>& t) {
  return t ? ordered_json(FormatUtc(*t)) : ordered_json(nullptr);
}

std::string Dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ordered_json JobObject(const state::JobRecord& j, std::string_view status) {
  ordered_json o;
  o["id"] = j.id;
  o["workspace"] = j.workspace;
  o["operation"] = state::OperationName(j.operation);
  o["trigger"] = state::TriggerName(j.trigger);
  o["status"] = status;
  o["scheduled_for"] = Time(j.scheduled_for);
  o["started_at"] = Time(j.started_at);
  o["finished_at"] = Time(j.finished_at);
  o["result"] = j.result ? ordered_json(state::JobResultName(*j.result)) : ordered_json(nullptr);
  o["exit_code"] = j.exit_code ? ordered_json(*j.exit_code) : ordered_json(nullptr);
  o["attempt"] = j.attempt;
  o["changes"] = {
      {"add", j.changes.add}, {"change", j.changes.change}, {"remove", j.changes.remove}};
  o["error"] = j.error.empty() ? ordered_json(nullptr) : ordered_json(j.error);
  o["drift"] = j.drift;
  o["trace_id"] = j.trace_id.empty() ? ordered_json(nullptr) : ordered_json(j.trace_id);
  o["log"] = "/api/v1/jobs/" + j.id + "/log";
  return o;
}

ordered_json FireObject(const std::optional<scheduler::ScheduledFire>& f, const std::string& tz) {
  if (!f) return nullptr;
  ordered_json o;
  o["at"] = FormatUtc(f->at);
  o["suppressed"] = f->suppressed == scheduler::Suppression::kNone
                        ? ordered_json(nullptr)
                        : ordered_json(scheduler::SuppressionName(f->suppressed));
  o["timezone"] = tz;
  return o;
}

ordered_json WorkspaceObject(const scheduler::WorkspaceView& v) {
  ordered_json o;
  o["name"] = v.name;
  o["template"] = v.orphaned ? ordered_json(nullptr) : ordered_json(v.template_name);
  o["status"] = scheduler::WorkspaceStatusName(v.status);
  o["actual"] = {{"state", state::ActualName(v.actual)}, {"since", Time(v.actual_since)}};
  if (v.desired) {
    o["desired"] = {
        {"state", *v.desired == scheduler::Action::kDeploy ? "deployed" : "destroyed"},
        {"since", Time(v.desired_since)},
        {"source", v.desired_source == scheduler::Source::kManual ? "manual" : "schedule"}};
  } else {
    o["desired"] = nullptr;
  }
  o["schedule"] = {{"deploy", v.deploy_schedule.empty() ? ordered_json(nullptr)
                                                        : ordered_json(v.deploy_schedule)},
                   {"destroy", v.destroy_schedule.empty() ? ordered_json(nullptr)
                                                          : ordered_json(v.destroy_schedule)},
                   {"timezone", v.timezone}};
  o["enabled"] = v.enabled;
  o["protected"] = v.is_protected;
  o["orphaned"] = v.orphaned;
  o["paused"] = v.paused;
  o["next_actions"] = {{"deploy", FireObject(v.next_deploy, v.timezone)},
                       {"destroy", FireObject(v.next_destroy, v.timezone)}};
  ordered_json manual = ordered_json::array();
  for (const state::ManualAction& m : v.manual) {
    manual.push_back({{"operation", state::OperationName(m.operation)},
                      {"at", FormatUtc(m.at)},
                      {"until", Time(m.until)},
                      {"requested_by", m.requested_by}});
  }
  o["overrides"] = {{"manual", std::move(manual)},
                    {"pause", v.pause ? ordered_json{{"from", FormatUtc(v.pause->from)},
                                                     {"until", Time(v.pause->until)},
                                                     {"requested_by", v.pause->requested_by}}
                                      : ordered_json(nullptr)}};
  o["running_job"] = v.running ? JobObject(*v.running, "running") : ordered_json(nullptr);
  o["queued_job"] = v.queued ? JobObject(*v.queued, "queued") : ordered_json(nullptr);
  o["last_job"] = v.last_job ? JobObject(*v.last_job, "finished") : ordered_json(nullptr);
  o["retry"] = v.retry ? ordered_json{{"operation", state::OperationName(v.retry->operation)},
                                      {"attempt", v.retry->attempt},
                                      {"not_before", FormatUtc(v.retry->not_before)}}
                       : ordered_json(nullptr);
  o["drift"] = v.drift;
  o["saved_seconds"] = v.saved_seconds;
  o["cost_per_hour"] = v.cost_per_hour ? ordered_json(*v.cost_per_hour) : ordered_json(nullptr);
  o["labels"] = v.labels;
  return o;
}

}  // namespace

std::string WorkspaceJson(const scheduler::WorkspaceView& view) {
  return Dump(WorkspaceObject(view));
}

std::string WorkspaceListJson(const scheduler::StatusSnapshot& snapshot) {
  ordered_json list = ordered_json::array();
  for (const auto& v : snapshot.workspaces) list.push_back(WorkspaceObject(*v));
  ordered_json o;
  o["workspaces"] = std::move(list);
  o["jobs_running"] = snapshot.jobs_running;
  o["jobs_queued"] = snapshot.jobs_queued;
  return Dump(o);
}

std::string JobJson(const state::JobRecord& job, std::string_view status) {
  return Dump(JobObject(job, status));
}

std::string JobListJson(const std::vector<std::pair<state::JobRecord, std::string>>& jobs,
                        const std::optional<std::string>& next_before) {
  ordered_json list = ordered_json::array();
  for (const auto& [job, status] : jobs) list.push_back(JobObject(job, status));
  ordered_json o;
  o["jobs"] = std::move(list);
  o["next_before"] = next_before ? ordered_json(*next_before) : ordered_json(nullptr);
  return Dump(o);
}

std::string DiffJson(const config::ConfigDiff& diff) {
  ordered_json changed = ordered_json::array();
  for (const auto& c : diff.changed) changed.push_back({{"name", c.name}, {"fields", c.fields}});
  ordered_json o;
  o["added"] = diff.added;
  o["removed"] = diff.removed;
  o["changed"] = std::move(changed);
  o["settings"] = diff.settings;
  o["summary"] = diff.Summary();
  return Dump(o);
}

Result<UntilBody> ParseUntilBody(std::string_view body) {
  UntilBody out;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  // Depth 2 is all a valid body needs.
  nlohmann::json doc;
  std::string error;
  switch (platform::ParseJsonWithDepthLimit(body, 4, &doc, &error)) {
    case platform::JsonParse::kOk:
      break;
    case platform::JsonParse::kTooDeep:
      return Status::InvalidArgument("body: nested too deeply");
    case platform::JsonParse::kSyntaxError:
      return Status::InvalidArgument("body: not valid JSON", error);
  }
  if (!doc.is_object()) return Status::InvalidArgument("body: expected a JSON object");
  for (const auto& [key, value] : doc.items()) {
    if (key != "until") {
      return Status::InvalidArgument("body: unknown field \"" + key + "\" (allowed: until)");
    }
    if (value.is_null()) continue;
    if (!value.is_string()) {
      return Status::InvalidArgument("body: \"until\" must be an RFC 3339 time string");
    }
    auto t = ParseRfc3339(value.get<std::string>());
    if (!t.ok()) return Status::InvalidArgument("body: \"until\": " + t.status().message());
    out.until = *t;
  }
  return out;
}

}  // namespace provisioner::http
