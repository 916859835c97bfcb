// HA mode: copies the logs and records of this node's jobs into PostgreSQL
// (coordination/pg_job_logs.h), so that every node serves them, during the
// job and after a failover (docs/ha.md "Job logs and history").
//
// An Observer of the scheduler: the job's queueing, start and end are
// handed to a thread of its own, which ships what tofu appended to the
// job's log file every `interval`, in chunks of at most `chunk_bytes`, up to
// `max_bytes` per job; past the cap one line says where the whole log is.
// When the job has ended, its record (the journal line) goes too.
// The database being away delays the copy, never the job: the file is the
// source, and shipping resumes where it stopped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coordination/pg_job_logs.h"
#include "http/handlers_api.h"
#include "platform/file_system.h"
#include "scheduler/observer.h"

namespace provisioner::app {

class JobLogShipper final : public scheduler::Observer {
 public:
  struct Options {
    std::string node;  // for the note past the cap
    std::chrono::milliseconds interval{1000};
    size_t chunk_bytes = 256u << 10;
    uint64_t max_bytes = 4u << 20;
    // Logs kept per workspace (state.history_limit). Thread-safe.
    std::function<int()> keep;
    // Told of a failure, once until a success (may be null).
    std::function<void(const Status&)> on_error;
  };

  JobLogShipper(coordination::PgJobLogs& db, platform::FileSystem& fs, Options options);
  ~JobLogShipper() override;  // Stop()

  void Start();
  // Ships what it can in one last pass, then joins the thread.
  void Stop();

  void OnJobQueued(const state::JobRecord& job, const scheduler::JobTrace&) override;
  void OnJobStarted(const state::JobRecord& job, std::chrono::milliseconds) override;
  void OnJobFinished(const state::JobRecord& job, const tofu::JobOutcome&) override;

 private:
  struct Event {
    enum Kind { kQueued, kStarted, kFinished } kind;
    std::string job_id;
    std::string workspace;
    std::string log_path;
    std::string record;  // kFinished: the job's journal line
  };
  struct Job {
    std::string workspace;
    std::string log_path;  // "" until it starts
    int64_t next_seq = 0;  // 0: chunk 0 not written yet
    uint64_t offset = 0;   // of the file, shipped up to here
    bool capped = false;
    bool ended_with_newline = true;
    bool finished = false;
    std::string record;  // set when finished; "" once written
  };

  void Post(Event e);
  void Run();
  // Ships every job as far as it can; false when the database failed.
  bool Pass();
  bool Ship(const std::string& id, Job& job);
  void Error(const Status& s);

  coordination::PgJobLogs& db_;
  platform::FileSystem& fs_;
  const Options options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;  // guarded by mu_
  bool stop_ = false;          // guarded by mu_

  // The thread's own.
  std::map<std::string, Job> jobs_;
  std::string last_error_;
  std::thread thread_;
};

// The http side's view of pv_job_logs and pv_job_history
// (ApiContext::shared_jobs).
class SharedJobsOnPg final : public http::SharedJobs {
 public:
  explicit SharedJobsOnPg(coordination::PgJobLogs& db) : db_(db) {}
  Result<std::vector<Chunk>> Read(const std::string& id, int64_t from_seq, int limit) override;
  Result<bool> Live(const std::string& id) override { return db_.Live(id); }
  Result<std::vector<state::JobRecord>> History(const std::string& workspace) override;

 private:
  coordination::PgJobLogs& db_;
};

}  // namespace provisioner::app
