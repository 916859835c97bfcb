// Reading the daemon's API replies for the CLI client (the only JSON the
// client parses; the documents are described in docs/api.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace provisioner::app {

struct WorkspaceRow {
  std::string name;
  std::string status;
  std::string actual;
  std::string desired;       // "deployed (schedule)", "-"
  std::string next;          // "deploy 2026-11-24T07:00:00Z", "-"
  std::string last_job;      // "deploy succeeded 2026-11-23T18:02:00Z", "-"
  std::string flags;         // "paused,protected", ""
  std::string actual_since;  // RFC 3339, "" when unknown
  bool deploy_scheduled = false;
  std::optional<double> cost_per_hour;
};

struct JobRow {
  std::string id;
  std::string workspace;
  std::string operation;
  std::string trigger;
  std::string status;  // running, queued, finished
  std::string result;  // "" while not finished
  std::string started_at;
  std::string finished_at;
  int add = 0, change = 0, remove = 0;
  std::string error;
  std::string trace_id;  // "" when the job was not sampled
};

Result<std::vector<WorkspaceRow>> ParseWorkspaceList(std::string_view json);
Result<WorkspaceRow> ParseWorkspace(std::string_view json);
Result<JobRow> ParseJob(std::string_view json);
Result<std::vector<JobRow>> ParseJobList(std::string_view json, std::optional<std::string>* next);
// The value of a top-level string field, e.g. "job_id"; "" when absent.
std::string StringField(std::string_view json, const std::string& key);
// "<message> (<code>)" from {"error":{"code","message"}}, or the body itself.
std::string ErrorText(std::string_view body);

}  // namespace provisioner::app
