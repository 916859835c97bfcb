#include "scheduler/job_queue.h"

#include <algorithm>

namespace provisioner::scheduler {

std::optional<QueuedJob> JobQueue::Put(QueuedJob job) {
  std::optional<QueuedJob> replaced;
  auto it = jobs_.find(job.record.workspace);
  if (it != jobs_.end()) {
    replaced = std::move(it->second);
    it->second = std::move(job);
  } else {
    std::string key = job.record.workspace;
    jobs_.emplace(std::move(key), std::move(job));
  }
  return replaced;
}

std::optional<QueuedJob> JobQueue::Remove(const std::string& workspace) {
  auto it = jobs_.find(workspace);
  if (it == jobs_.end()) return std::nullopt;
  QueuedJob job = std::move(it->second);
  jobs_.erase(it);
  return job;
}

const QueuedJob* JobQueue::Find(const std::string& workspace) const {
  auto it = jobs_.find(workspace);
  return it == jobs_.end() ? nullptr : &it->second;
}

const QueuedJob* JobQueue::FindById(const std::string& job_id) const {
  for (const auto& [_, job] : jobs_) {
    if (job.record.id == job_id) return &job;
  }
  return nullptr;
}

std::vector<QueuedJob> JobQueue::TakeRunnable(size_t slots,
                                              const std::function<bool(const std::string&)>& busy) {
  std::vector<const QueuedJob*> candidates;
  for (const auto& [workspace, job] : jobs_) {
    if (!busy(workspace)) candidates.push_back(&job);
  }
  auto due = [](const QueuedJob* j) { return j->record.scheduled_for.value_or(j->enqueued_at); };
  std::sort(candidates.begin(), candidates.end(), [&due](const QueuedJob* a, const QueuedJob* b) {
    bool a_destroy = a->record.operation == state::Operation::kDestroy;
    bool b_destroy = b->record.operation == state::Operation::kDestroy;
    if (a_destroy != b_destroy) return a_destroy;
    if (due(a) != due(b)) return due(a) < due(b);
    return a->record.workspace < b->record.workspace;
  });
  if (candidates.size() > slots) candidates.resize(slots);
  std::vector<std::string> names;
  names.reserve(candidates.size());
  for (const QueuedJob* j : candidates) names.push_back(j->record.workspace);
  std::vector<QueuedJob> out;
  out.reserve(names.size());
  for (const std::string& name : names) out.push_back(*Remove(name));
  return out;
}

std::vector<QueuedJob> JobQueue::TakeAll() {
  std::vector<QueuedJob> out;
  out.reserve(jobs_.size());
  for (auto& [workspace, job] : jobs_) out.push_back(std::move(job));
  jobs_.clear();
  return out;
}

}  // namespace provisioner::scheduler
