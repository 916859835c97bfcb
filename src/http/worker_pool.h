// WorkerPool: the listener's task queue, a thread pool that grows under load
// and shrinks back when idle.
//
// cpp-httplib 0.11.4 runs a whole connection on one worker, keep-alive
// waits included (reference/debian-libraries.md §1.4). With a fixed pool,
// as many idle keep-alive clients as there are workers starve everyone
// else: probes time out and the orchestrator restarts a healthy daemon.
// This pool keeps `min_threads` workers and starts another whenever a task
// arrives and no worker is idle, up to `max_threads`; a worker above the
// minimum exits after `idle_timeout` without work. Past `max_threads` tasks
// wait in order, as with httplib's own pool.
//
// Thread-safe. Shutdown() runs the tasks already queued, then joins every
// worker; Enqueue after Shutdown drops the task.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"

namespace provisioner::http {

class WorkerPool {
 public:
  WorkerPool(size_t min_threads, size_t max_threads, std::chrono::milliseconds idle_timeout);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Enqueue(std::function<void()> task);
  void Shutdown();

  // Workers alive now, and the most there have been at once.
  size_t threads();
  size_t peak_threads();

 private:
  void StartWorkerLocked() REQUIRES(mu_);
  void Work() EXCLUDES(mu_);

  const size_t min_threads_;
  const size_t max_threads_;
  const std::chrono::milliseconds idle_timeout_;

  Mutex mu_;
  // _any: it waits on mu_ itself, which the analysis then sees held.
  std::condition_variable_any cv_;
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mu_);
  size_t alive_ GUARDED_BY(mu_) = 0;  // workers that have not exited
  size_t idle_ GUARDED_BY(mu_) = 0;   // workers waiting for a task
  size_t peak_ GUARDED_BY(mu_) = 0;
  bool shutdown_ GUARDED_BY(mu_) = false;
  // Every worker ever started; exited ones are joined by the next start
  // or by Shutdown.
  std::vector<std::thread> workers_ GUARDED_BY(mu_);
  std::vector<std::thread::id> exited_ GUARDED_BY(mu_);
};

}  // namespace provisioner::http
