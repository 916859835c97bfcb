#include "http/handlers_api.h"

#include <algorithm>
#include <thread>

#include "base/strings.h"
#include "base/time_format.h"
#include "config/config.h"
#include "http/api_json.h"
#include "state/state_json.h"

namespace provisioner::http {
namespace {

using scheduler::CommandResult;
using scheduler::WorkspaceView;

constexpr uint64_t kMaxJournalBytes = 64ull << 20;
constexpr uint64_t kMaxLogBytes = 64ull << 20;
constexpr int kDefaultJobLimit = 50;
constexpr int kMaxJobLimit = 1000;

bool IsSafeJobId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

Response NoWorkspace(const std::string& name) {
  return Response::Error(404, "not_found", "no workspace \"" + name + "\"");
}

// Posts a command and waits for the scheduler to apply it.
Result<CommandResult> Run(ApiContext& ctx, scheduler::Command command) {
  std::future<CommandResult> f = ctx.post(std::move(command));
  if (f.wait_for(ctx.command_timeout) != std::future_status::ready) {
    // The command stays queued and will still be applied.
    return Status::Unavailable("the scheduler did not answer within " +
                               std::to_string(ctx.command_timeout.count() / 1000) + " s");
  }
  return f.get();
}

// The journal of one workspace, read-only (the scheduler owns writing and
// repairing it). Lines that do not parse are skipped.
std::vector<state::JobRecord> ReadJournal(ApiContext& ctx, const std::string& workspace) {
  std::vector<state::JobRecord> out;
  auto text = ctx.fs->ReadFile(
      platform::JoinPath(platform::JoinPath(ctx.jobs_dir, workspace), "history.jsonl"),
      kMaxJournalBytes);
  if (!text.ok()) return out;
  for (std::string_view line : Split(*text, '\n')) {
    if (line.empty()) continue;
    auto job = state::JobFromJson(line);
    if (job.ok()) out.push_back(std::move(job).value());
  }
  return out;
}

Response ManualAction(ApiContext& ctx, const Request& req, state::Operation op) {
  const std::string& name = req.params.at("name");
  auto body = ParseUntilBody(req.body);
  if (!body.ok()) return Response::Error(400, "bad_request", body.status().message());
  auto result = Run(ctx, scheduler::ManualCommand{name, op, body->until, req.user});
  if (!result.ok()) return ErrorFromStatus(result.status());
  if (!result->status.ok()) return ErrorFromStatus(result->status);
  std::string out = "{\"job_id\":";
  AppendJsonString(&out, result->job_id);
  out += ",\"workspace\":";
  AppendJsonString(&out, name);
  out += ",\"operation\":";
  AppendJsonString(&out, state::OperationName(op));
  out += ",\"until\":";
  if (body->until) {
    AppendJsonString(&out, FormatUtc(*body->until));
  } else {
    out += "null";
  }
  out += "}";
  return Response::Json(202, std::move(out));
}

// The status of a job id in the snapshot ("running", "queued"), with its
// record, or nullopt.
std::optional<std::pair<state::JobRecord, std::string>> LiveJob(
    const scheduler::StatusSnapshot& snap, const std::string& id) {
  const WorkspaceView* v = snap.Find(scheduler::WorkspaceOfJobId(id));
  if (v == nullptr) return std::nullopt;
  if (v->running && v->running->id == id)
    return std::make_pair(*v->running, std::string("running"));
  if (v->queued && v->queued->id == id) return std::make_pair(*v->queued, std::string("queued"));
  return std::nullopt;
}

}  // namespace

Response ErrorFromStatus(const Status& status) {
  switch (status.code()) {
    case Status::Code::kNotFound:
      return Response::Error(404, "not_found", status.message());
    case Status::Code::kInvalidArgument:
      return Response::Error(400, "bad_request", status.message());
    case Status::Code::kFailedPrecondition:
    case Status::Code::kAlreadyExists:
      return Response::Error(409, "conflict", status.message());
    case Status::Code::kUnavailable:
      return Response::Error(503, "unavailable", status.message());
    default:
      return Response::Error(500, "internal", status.message());
  }
}

Response ListWorkspaces(ApiContext& ctx, const Request&) {
  return Response::Json(200, WorkspaceListJson(*ctx.snapshot()));
}

Response GetWorkspace(ApiContext& ctx, const Request& req) {
  const std::string& name = req.params.at("name");
  auto snap = ctx.snapshot();
  const WorkspaceView* v = snap->Find(name);
  if (v == nullptr) return NoWorkspace(name);
  return Response::Json(200, WorkspaceJson(*v));
}

Response DeployWorkspace(ApiContext& ctx, const Request& req) {
  return ManualAction(ctx, req, state::Operation::kDeploy);
}

Response DestroyWorkspace(ApiContext& ctx, const Request& req) {
  return ManualAction(ctx, req, state::Operation::kDestroy);
}

Response PauseWorkspace(ApiContext& ctx, const Request& req) {
  const std::string& name = req.params.at("name");
  auto body = ParseUntilBody(req.body);
  if (!body.ok()) return Response::Error(400, "bad_request", body.status().message());
  auto result = Run(ctx, scheduler::PauseCommand{name, body->until, req.user});
  if (!result.ok()) return ErrorFromStatus(result.status());
  if (!result->status.ok()) return ErrorFromStatus(result->status);
  std::string out = "{\"workspace\":";
  AppendJsonString(&out, name);
  out += ",\"paused\":true,\"until\":";
  if (body->until) {
    AppendJsonString(&out, FormatUtc(*body->until));
  } else {
    out += "null";
  }
  out += "}";
  return Response::Json(200, std::move(out));
}

Response ResumeWorkspace(ApiContext& ctx, const Request& req) {
  const std::string& name = req.params.at("name");
  auto body = ParseUntilBody(req.body);  // accepts {} or nothing; refuses junk
  if (!body.ok()) return Response::Error(400, "bad_request", body.status().message());
  if (body->until) return Response::Error(400, "bad_request", "body: resume takes no \"until\"");
  auto result = Run(ctx, scheduler::ResumeCommand{name, req.user});
  if (!result.ok()) return ErrorFromStatus(result.status());
  if (!result->status.ok()) return ErrorFromStatus(result->status);
  std::string out = "{\"workspace\":";
  AppendJsonString(&out, name);
  out += ",\"paused\":false}";
  return Response::Json(200, std::move(out));
}

Response CancelJob(ApiContext& ctx, const Request& req) {
  const std::string& id = req.params.at("id");
  if (!IsSafeJobId(id)) return Response::Error(404, "not_found", "no job \"" + id + "\"");
  auto result = Run(ctx, scheduler::CancelCommand{id, req.user});
  if (!result.ok()) return ErrorFromStatus(result.status());
  if (!result->status.ok()) return ErrorFromStatus(result->status);
  std::string out = "{\"job_id\":";
  AppendJsonString(&out, id);
  out += ",\"cancel_requested\":true}";
  return Response::Json(202, std::move(out));
}

Response ListJobs(ApiContext& ctx, const Request& req) {
  int limit = kDefaultJobLimit;
  if (auto it = req.query.find("limit"); it != req.query.end()) {
    auto v = ParseUint(it->second);
    if (!v || *v < 1 || *v > static_cast<uint64_t>(kMaxJobLimit)) {
      return Response::Error(400, "bad_request",
                             "limit: \"" + it->second + "\" is not a number in 1-1000");
    }
    limit = static_cast<int>(*v);
  }
  std::string workspace, before, operation, result;
  if (auto it = req.query.find("workspace"); it != req.query.end()) workspace = it->second;
  if (auto it = req.query.find("before"); it != req.query.end()) before = it->second;
  if (auto it = req.query.find("operation"); it != req.query.end()) {
    operation = it->second;
    if (!state::ParseOperation(operation).ok()) {
      return Response::Error(400, "bad_request",
                             "operation: \"" + operation + "\" is not deploy or destroy");
    }
  }
  if (auto it = req.query.find("result"); it != req.query.end()) {
    result = it->second;
    if (!state::ParseJobResult(result).ok()) {
      return Response::Error(400, "bad_request",
                             "result: " + state::ParseJobResult(result).status().message());
    }
  }
  for (const auto& [key, _] : req.query) {
    if (key != "limit" && key != "workspace" && key != "before" && key != "operation" &&
        key != "result") {
      return Response::Error(400, "bad_request",
                             "unknown query parameter \"" + key +
                                 "\" (allowed: workspace, operation, result, limit, before)");
    }
  }

  auto snap = ctx.snapshot();
  std::vector<std::pair<state::JobRecord, std::string>> jobs;
  auto add_workspace = [&](const WorkspaceView& v) {
    if (v.running) jobs.emplace_back(*v.running, "running");
    if (v.queued) jobs.emplace_back(*v.queued, "queued");
    for (state::JobRecord& j : ReadJournal(ctx, v.name))
      jobs.emplace_back(std::move(j), "finished");
  };
  if (!workspace.empty()) {
    const WorkspaceView* v = snap->Find(workspace);
    if (v == nullptr) return NoWorkspace(workspace);
    add_workspace(*v);
  } else {
    for (const auto& v : snap->workspaces) add_workspace(*v);
  }
  std::erase_if(jobs, [&](const auto& j) {
    return (!before.empty() && j.first.id >= before) ||
           (!operation.empty() && state::OperationName(j.first.operation) != operation) ||
           (!result.empty() &&
            (!j.first.result || state::JobResultName(*j.first.result) != result));
  });
  // Job ids start with their creation time: newest first.
  std::sort(jobs.begin(), jobs.end(),
            [](const auto& a, const auto& b) { return a.first.id > b.first.id; });
  std::optional<std::string> next;
  if (jobs.size() > static_cast<size_t>(limit)) {
    jobs.resize(static_cast<size_t>(limit));
    next = jobs.back().first.id;
  }
  return Response::Json(200, JobListJson(jobs, next));
}

Response GetJob(ApiContext& ctx, const Request& req) {
  const std::string& id = req.params.at("id");
  if (!IsSafeJobId(id)) return Response::Error(404, "not_found", "no job \"" + id + "\"");
  auto snap = ctx.snapshot();
  if (auto live = LiveJob(*snap, id))
    return Response::Json(200, JobJson(live->first, live->second));
  const std::string workspace = scheduler::WorkspaceOfJobId(id);
  if (!workspace.empty() && config::IsValidWorkspaceName(workspace)) {
    for (const state::JobRecord& j : ReadJournal(ctx, workspace)) {
      if (j.id == id) return Response::Json(200, JobJson(j, "finished"));
    }
  }
  return Response::Error(404, "not_found", "no job \"" + id + "\"");
}

Response GetJobLog(ApiContext& ctx, const Request& req) {
  const std::string& id = req.params.at("id");
  const std::string workspace = scheduler::WorkspaceOfJobId(id);
  if (!IsSafeJobId(id) || workspace.empty() || !config::IsValidWorkspaceName(workspace)) {
    return Response::Error(404, "not_found", "no log for job \"" + id + "\"");
  }
  const std::string path =
      platform::JoinPath(platform::JoinPath(ctx.jobs_dir, workspace), id + ".log");
  bool follow = false;
  if (auto it = req.query.find("follow"); it != req.query.end()) {
    if (it->second != "1" && it->second != "true" && it->second != "0" && it->second != "false") {
      return Response::Error(400, "bad_request", "follow: use 1 or 0");
    }
    follow = it->second == "1" || it->second == "true";
  }
  auto live = [&ctx, id] { return LiveJob(*ctx.snapshot(), id).has_value(); };
  auto info = ctx.fs->Stat(path);
  if (!info.ok()) {
    // A queued job has no log yet; following it waits for one.
    if (!(follow && live()))
      return Response::Error(404, "not_found", "no log for job \"" + id + "\"");
  }
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  if (!follow) {
    auto text = ctx.fs->ReadFile(path, kMaxLogBytes);
    if (!text.ok()) return ErrorFromStatus(text.status());
    r.body = std::move(text).value();
    return r;
  }
  // Follow: send what is there, then what is appended, until the job has
  // finished and everything is out. The file is re-read from the last
  // offset: logs are append-only.
  struct Follow {
    size_t offset = 0;
    bool finished = false;
  };
  auto state = std::make_shared<Follow>();
  ApiContext* c = &ctx;
  r.stream = [c, path, state, live](std::string* chunk) {
    while (!state->finished) {
      bool still_running = live();
      // Read only when the log grew: a follower polls every follow_poll
      // for as long as the job runs.
      auto info = c->fs->Stat(path);
      if (info.ok() && info->size > state->offset) {
        auto text = c->fs->ReadFile(path, kMaxLogBytes);
        if (text.ok() && text->size() > state->offset) {
          chunk->append(*text, state->offset, std::string::npos);
          state->offset = text->size();
          return true;
        }
      }
      if (!still_running) {
        state->finished = true;
        return false;
      }
      std::this_thread::sleep_for(c->follow_poll);
    }
    return false;
  };
  return r;
}

Response Reload(ApiContext& ctx, const Request&) {
  scheduler::ReloadReport report = ctx.reload("api");
  if (report.ok)
    return Response::Json(200, "{\"status\":\"reloaded\",\"diff\":" + DiffJson(report.diff) + "}");
  std::string out = "{\"error\":{\"code\":\"invalid_config\",\"message\":";
  AppendJsonString(&out, "config rejected with " + std::to_string(report.errors.size()) +
                             " error(s); the previous config stays in force");
  out += ",\"details\":[";
  for (size_t i = 0; i < report.errors.size(); ++i) {
    if (i > 0) out += ",";
    AppendJsonString(&out, report.errors[i]);
  }
  out += "]}}";
  return Response::Json(409, std::move(out));
}

}  // namespace provisioner::http
