// The REST API under /api/v1 (DESIGN.md §7, docs/api.md). Handlers are thin:
// parse the request, read the scheduler's snapshot or post it a command,
// write JSON. They never block on a job; a command waits only for the next
// scheduler tick to apply and save it (the change is on disk before 202).
// Unit-tested without sockets (tests/http/handlers_api_test.cc).
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "base/notification.h"
#include "http/server.h"
#include "platform/file_system.h"
#include "scheduler/observer.h"
#include "scheduler/reconciler.h"
#include "scheduler/snapshot.h"

namespace provisioner::http {

// The start of the last line of a followed job log (GET
// /api/v1/jobs/{id}/log?follow=1) that ends because the daemon stops; the
// rest of the line says what became of the job. A "# " line is a note of
// provisioner's in the log, which `provisioner logs` shows and the progress
// view of `--wait` reports.
inline constexpr std::string_view kDaemonStoppingLine =
    "# provisioner: the daemon is shutting down";

// HA mode: job logs and records kept where every node reads them
// (coordination/pg_job_logs.h, through an adapter in app/). Thread-safe.
class SharedJobs {
 public:
  struct Chunk {
    int64_t seq = 0;
    std::string bytes;
    bool final = false;  // the job ended: nothing follows
  };
  virtual ~SharedJobs() = default;
  // The chunks of job `id` from `from_seq` on, in order, at most `limit`.
  virtual Result<std::vector<Chunk>> Read(const std::string& id, int64_t from_seq, int limit) = 0;
  // Whether the job may still add to its log.
  virtual Result<bool> Live(const std::string& id) = 0;
  // The finished jobs of `workspace`, oldest first (its journal).
  virtual Result<std::vector<state::JobRecord>> History(const std::string& workspace) = 0;
};

// What the handlers need from the daemon; every member is thread-safe.
struct ApiContext {
  std::function<std::shared_ptr<const scheduler::StatusSnapshot>()> snapshot;
  std::function<std::future<scheduler::CommandResult>(scheduler::Command)> post;
  // Reads and validates the config file and swaps it in; returns once the
  // new config is in force or was rejected (the report says which). An
  // error status when the daemon could not answer (Unavailable: shutting
  // down, or no answer within command_timeout).
  std::function<Result<scheduler::ReloadReport>(const std::string& source)> reload;
  platform::FileSystem* fs = nullptr;
  std::string state_dir;  // job logs and journals live under it (platform/filename.h)
  // Notified when the daemon begins to stop: followed logs end with
  // kDaemonStoppingLine instead of waiting for their job. May be null.
  const Notification* stopping = nullptr;
  // HA mode: "" while this node leads, else why it cannot serve the API
  // (a standby, and who leads). Unset in the default mode.
  std::function<std::string()> not_leader;
  // HA mode: answers a request of the leader's on a standby (the API
  // relay, app/api_relay.h); `why` is what not_leader said. Unset: a
  // standby answers 503 not_leader.
  std::function<Response(const Request& req, bool mutating, const std::string& why)> relay;
  // HA mode: the journals of every workspace, and the logs that are not in
  // state_dir (a job that another node ran or runs). Null in the default
  // mode.
  SharedJobs* shared_jobs = nullptr;
  // How long a command may wait for the scheduler to apply it.
  std::chrono::milliseconds command_timeout{std::chrono::seconds(30)};
  // How often a followed log is checked for new output.
  std::chrono::milliseconds follow_poll{std::chrono::milliseconds(200)};
};

Response ListWorkspaces(ApiContext& ctx, const Request& req);
Response GetWorkspace(ApiContext& ctx, const Request& req);
Response DeployWorkspace(ApiContext& ctx, const Request& req);
Response DestroyWorkspace(ApiContext& ctx, const Request& req);
Response PauseWorkspace(ApiContext& ctx, const Request& req);
Response ResumeWorkspace(ApiContext& ctx, const Request& req);
Response CancelJob(ApiContext& ctx, const Request& req);
Response ListJobs(ApiContext& ctx, const Request& req);
Response GetJob(ApiContext& ctx, const Request& req);
Response GetJobLog(ApiContext& ctx, const Request& req);
Response Reload(ApiContext& ctx, const Request& req);

// The HTTP reply for a Status from the scheduler: NotFound 404, InvalidArgument
// 400, FailedPrecondition 409, Unavailable 503, anything else 500.
Response ErrorFromStatus(const Status& status);

}  // namespace provisioner::http
