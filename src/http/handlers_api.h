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

#include "http/server.h"
#include "platform/file_system.h"
#include "scheduler/observer.h"
#include "scheduler/reconciler.h"
#include "scheduler/snapshot.h"

namespace provisioner::http {

// What the handlers need from the daemon; every member is thread-safe.
struct ApiContext {
  std::function<std::shared_ptr<const scheduler::StatusSnapshot>()> snapshot;
  std::function<std::future<scheduler::CommandResult>(scheduler::Command)> post;
  // Reads and validates the config file and swaps it in; synchronous.
  std::function<scheduler::ReloadReport(const std::string& source)> reload;
  platform::FileSystem* fs = nullptr;
  std::string jobs_dir;  // state.dir/jobs
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
