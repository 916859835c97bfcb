// The job queue (DESIGN.md §5): at most one queued job per workspace, the
// latest desired action winning; destroys start first; then oldest first.
// Pure data structure, used by the scheduler thread only.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/job_trace.h"
#include "state/state.h"

namespace provisioner::scheduler {

struct QueuedJob {
  state::JobRecord record;  // id, workspace, operation, trigger, scheduled_for, attempt
  SystemTime enqueued_at;
  JobTrace trace;
};

class JobQueue {
 public:
  // Queues `job`, replacing the workspace's queued job if there is one; the
  // replaced job is returned so that its id can be reported as superseded.
  std::optional<QueuedJob> Put(QueuedJob job);

  std::optional<QueuedJob> Remove(const std::string& workspace);
  const QueuedJob* Find(const std::string& workspace) const;
  const QueuedJob* FindById(const std::string& job_id) const;

  // Removes and returns up to `slots` jobs to start now: not of a workspace
  // for which `busy` says true, destroys first, then by scheduled_for (or
  // enqueue time), then by workspace name.
  std::vector<QueuedJob> TakeRunnable(size_t slots,
                                      const std::function<bool(const std::string&)>& busy);

  // Empties the queue; the jobs in workspace order.
  std::vector<QueuedJob> TakeAll();

  size_t size() const { return jobs_.size(); }
  bool empty() const { return jobs_.empty(); }

 private:
  std::map<std::string, QueuedJob> jobs_;  // by workspace
};

}  // namespace provisioner::scheduler
