#include "http/worker_pool.h"

#include <algorithm>

namespace provisioner::http {

WorkerPool::WorkerPool(size_t min_threads, size_t max_threads,
                       std::chrono::milliseconds idle_timeout)
    : min_threads_(std::max<size_t>(1, min_threads)),
      max_threads_(std::max(max_threads, std::max<size_t>(1, min_threads))),
      idle_timeout_(idle_timeout) {
  MutexLock lock(mu_);
  for (size_t i = 0; i < min_threads_; ++i) StartWorkerLocked();
}

WorkerPool::~WorkerPool() { Shutdown(); }

void WorkerPool::Enqueue(std::function<void()> task) {
  MutexLock lock(mu_);
  if (shutdown_) return;
  tasks_.push_back(std::move(task));
  // Each idle worker takes one queued task; start another worker when the
  // queue holds more than the idle ones can take.
  if (tasks_.size() > idle_ && alive_ < max_threads_) StartWorkerLocked();
  cv_.notify_one();
}

void WorkerPool::StartWorkerLocked() {
  // Join the workers that have exited since the last start, so that the
  // vector does not grow with every burst.
  if (!exited_.empty()) {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (std::find(exited_.begin(), exited_.end(), it->get_id()) != exited_.end()) {
        it->join();  // it has returned from Work(), or is about to
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    exited_.clear();
  }
  ++alive_;
  peak_ = std::max(peak_, alive_);
  workers_.emplace_back([this] { Work(); });
}

void WorkerPool::Work() {
  MutexLock lock(mu_);
  while (true) {
    ++idle_;
    bool timed_out = false;
    while (tasks_.empty() && !shutdown_ && !timed_out) {
      if (alive_ > min_threads_) {
        timed_out = cv_.wait_for(mu_, idle_timeout_) == std::cv_status::timeout;
      } else {
        cv_.wait(mu_);
      }
    }
    --idle_;
    if (tasks_.empty()) {
      // Shut down, or idle too long above the minimum.
      if (shutdown_ || alive_ > min_threads_) break;
      continue;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    mu_.unlock();
    task();
    task = nullptr;  // release what the task holds before waiting again
    mu_.lock();
  }
  --alive_;
  exited_.push_back(std::this_thread::get_id());
}

void WorkerPool::Shutdown() {
  std::vector<std::thread> workers;
  {
    MutexLock lock(mu_);
    shutdown_ = true;
    workers.swap(workers_);
    exited_.clear();
  }
  cv_.notify_all();
  for (std::thread& t : workers) t.join();
}

size_t WorkerPool::threads() {
  MutexLock lock(mu_);
  return alive_;
}

size_t WorkerPool::peak_threads() {
  MutexLock lock(mu_);
  return peak_;
}

}  // namespace provisioner::http
