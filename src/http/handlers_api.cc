#include "http/handlers_api.h"

#include <algorithm>
#include <thread>

#include "base/strings.h"
#include "base/time_format.h"
#include "config/config.h"
#include "http/api_json.h"
#include "platform/filename.h"
#include "state/state_json.h"

namespace provisioner::http {
namespace {

using scheduler::CommandResult;
using scheduler::WorkspaceView;

constexpr uint64_t kMaxJournalBytes = 64ull << 20;
// Job logs are read and sent in pieces of at most this size.
constexpr uint64_t kLogChunkBytes = 1ull << 20;
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
  // HA mode: the journal every leader wrote, unless the database is away
  // (then this node's own).
  if (ctx.shared_jobs != nullptr) {
    if (auto shared = ctx.shared_jobs->History(workspace); shared.ok()) return std::move(*shared);
  }
  std::vector<state::JobRecord> out;
  auto text =
      ctx.fs->ReadFile(platform::HistoryFileName(ctx.state_dir, workspace), kMaxJournalBytes);
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
  auto result = Run(ctx, scheduler::ManualCommand{name, op, body->until, req.user, req.trace});
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

// The last line of a followed log when the daemon stops: why the stream
// ends, and what became of the job when that is known.
std::string StoppingLine(const scheduler::StatusSnapshot& snap, const std::string& id) {
  std::string line(kDaemonStoppingLine);
  const WorkspaceView* v = snap.Find(scheduler::WorkspaceOfJobId(id));
  if (v != nullptr && v->last_job && v->last_job->id == id && v->last_job->result) {
    line += "; job " + id + " ended " + std::string(state::JobResultName(*v->last_job->result));
    if (!v->last_job->error.empty()) line += ": " + v->last_job->error;
  } else {
    line += "; job " + id + " did not finish (it is reconciled again at the next start)";
  }
  return line + "\n";
}

// Waits one follow_poll, or less when the daemon begins to stop: true then.
bool WaitFollowPoll(const ApiContext& ctx) {
  if (ctx.stopping != nullptr) return ctx.stopping->WaitFor(ctx.follow_poll);
  std::this_thread::sleep_for(ctx.follow_poll);
  return false;
}

// How many chunks of a shared log one read takes (each at most 256 KiB).
constexpr int kSharedChunksPerRead = 16;
// How long a followed shared log waits for its first chunk: the node that
// queued the job writes it about when it answers the command.
constexpr std::chrono::seconds kSharedLogFirstWait(5);

Response SharedJobLog(ApiContext& ctx, const std::string& id, bool follow) {
  auto first = ctx.shared_jobs->Read(id, 0, kSharedChunksPerRead);
  // Polls, follow_poll apart, until about kSharedLogFirstWait has passed.
  const auto polls = kSharedLogFirstWait / std::max(ctx.follow_poll, std::chrono::milliseconds(1));
  for (int64_t i = 0; follow && first.ok() && first->empty() && i < polls; ++i) {
    if (WaitFollowPoll(ctx)) break;
    first = ctx.shared_jobs->Read(id, 0, kSharedChunksPerRead);
  }
  if (!first.ok()) {
    return Response::Error(503, "unavailable",
                           "cannot read the log of job \"" + id +
                               "\" from the database: " + first.status().ToString());
  }
  if (first->empty()) return Response::Error(404, "not_found", "no log for job \"" + id + "\"");
  struct Cursor {
    std::vector<SharedJobs::Chunk> read;  // read, not sent yet
    int64_t next_seq = 0;
    bool done = false;
  };
  auto cursor = std::make_shared<Cursor>();
  cursor->read = std::move(*first);
  ApiContext* c = &ctx;
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  r.stream = [c, id, follow, cursor](std::string* chunk) {
    while (!cursor->done) {
      if (!cursor->read.empty()) {
        for (SharedJobs::Chunk& piece : cursor->read) {
          chunk->append(piece.bytes);
          cursor->next_seq = piece.seq + 1;
          if (piece.final) cursor->done = true;
        }
        cursor->read.clear();
        if (!chunk->empty() || cursor->done) return !cursor->done;
      }
      const bool stopping = c->stopping != nullptr && c->stopping->HasBeenNotified();
      // Whether the job may still write is read before the log, so that
      // the last chunks it wrote are read after it ended.
      bool live = false;
      if (follow && !stopping) {
        auto l = c->shared_jobs->Live(id);
        live = !l.ok() || *l;  // the database away: keep trying
      }
      auto more = c->shared_jobs->Read(id, cursor->next_seq, kSharedChunksPerRead);
      // The reply has begun: a read error can only end it early, unless
      // following, which tries again.
      if (more.ok() && !more->empty()) {
        cursor->read = std::move(*more);
        continue;
      }
      if (!live) {
        if (stopping) {
          chunk->append(std::string(kDaemonStoppingLine) + "; job " + id +
                        " runs on another node: follow its log there or on another node\n");
        }
        cursor->done = true;
        return false;
      }
      WaitFollowPoll(*c);
    }
    return false;
  };
  return r;
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
    bool last_in_journal = false;
    for (state::JobRecord& j : ReadJournal(ctx, v.name)) {
      last_in_journal |= v.last_job && j.id == v.last_job->id;
      jobs.emplace_back(std::move(j), "finished");
    }
    // A job whose journal line could not be written (a full disk) is still
    // the workspace's last job in the state.
    if (v.last_job && !last_in_journal) jobs.emplace_back(*v.last_job, "finished");
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
    // Not in the journal because its line could not be written (a full
    // disk): the state still has it as the workspace's last job.
    const WorkspaceView* v = snap->Find(workspace);
    if (v != nullptr && v->last_job && v->last_job->id == id) {
      return Response::Json(200, JobJson(*v->last_job, "finished"));
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
  const std::string path = platform::JobLogFileName(ctx.state_dir, workspace, id);
  bool follow = false;
  if (auto it = req.query.find("follow"); it != req.query.end()) {
    if (it->second != "1" && it->second != "true" && it->second != "0" && it->second != "false") {
      return Response::Error(400, "bad_request", "follow: use 1 or 0");
    }
    follow = it->second == "1" || it->second == "true";
  }
  auto info = ctx.fs->Stat(path);
  if (!info.ok()) {
    // A queued job has no log yet; following it waits for one.
    const bool live_here = LiveJob(*ctx.snapshot(), id).has_value();
    // HA mode: a job another node runs or ran.
    if (!live_here && ctx.shared_jobs != nullptr) return SharedJobLog(ctx, id, follow);
    if (!(follow && live_here))
      return Response::Error(404, "not_found", "no log for job \"" + id + "\"");
  }
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  if (!follow && info->size <= kLogChunkBytes) {
    auto text = ctx.fs->ReadFileFrom(path, 0, kLogChunkBytes);
    if (!text.ok()) return ErrorFromStatus(text.status());
    r.body = std::move(text).value();
    return r;
  }
  // Larger logs, and followed ones, go out in pieces read from where the
  // last one ended (logs are append-only), so that neither the size of a log
  // nor its growth costs more than the new bytes. A finished log is sent up
  // to the size it had when asked for.
  struct Cursor {
    uint64_t offset = 0;
    uint64_t end = 0;  // not following: stop here
    bool done = false;
  };
  auto cursor = std::make_shared<Cursor>();
  cursor->end = info.ok() ? info->size : 0;
  ApiContext* c = &ctx;
  if (!follow) {
    r.stream = [c, path, cursor](std::string* chunk) {
      if (cursor->offset >= cursor->end) return false;
      auto text = c->fs->ReadFileFrom(path, cursor->offset,
                                      std::min(kLogChunkBytes, cursor->end - cursor->offset));
      // The reply has begun: a read error can only end it early.
      if (!text.ok() || text->empty()) return false;
      cursor->offset += text->size();
      chunk->append(*text);
      return cursor->offset < cursor->end;
    };
    return r;
  }
  // Follow: send what is there, then what is appended, until the job has
  // finished and everything is out, or the daemon stops.
  r.stream = [c, path, id, cursor](std::string* chunk) {
    while (!cursor->done) {
      const bool stopping = c->stopping != nullptr && c->stopping->HasBeenNotified();
      std::shared_ptr<const scheduler::StatusSnapshot> snap = c->snapshot();
      // Whether the job still runs is read before the log, so that the
      // last bytes it wrote are read after it ended.
      const bool live = !stopping && LiveJob(*snap, id).has_value();
      auto info = c->fs->Stat(path);
      if (info.ok() && info->size > cursor->offset) {
        auto text = c->fs->ReadFileFrom(path, cursor->offset, kLogChunkBytes);
        if (text.ok() && !text->empty()) {
          cursor->offset += text->size();
          chunk->append(*text);
          return true;
        }
      }
      if (!live) {
        if (stopping || snap->shutting_down) chunk->append(StoppingLine(*snap, id));
        cursor->done = true;
        return false;
      }
      WaitFollowPoll(*c);
    }
    return false;
  };
  return r;
}

Response Reload(ApiContext& ctx, const Request&) {
  Result<scheduler::ReloadReport> answer = ctx.reload("api");
  if (!answer.ok()) return ErrorFromStatus(answer.status());
  const scheduler::ReloadReport& report = *answer;
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
