// Job logs and history in PostgreSQL (HA mode; DESIGN.md §11, docs/ha.md
// "Job logs and history"): pv_job_logs and pv_job_history, made by
// MigrateStateSchema (pg_state_store.h), schema version 4.
//
// The node that runs a job copies its log into numbered chunks as tofu
// writes it (app/job_log_shipper.h): chunk 0, empty, when the job is
// queued, so that the job's log exists before it starts; then the output,
// capped per job; then an empty chunk marked final once the job ended. Any
// node serves GET /api/v1/jobs/{id}/log from them, followed too. When the
// job has ended, its record goes to pv_job_history, the journal every
// leader reads.
//
// The chunks of a job have one writer, the node that runs it, and are only
// ever appended: they need no fence. An append that is retried after a lost
// answer finds its chunk there and changes nothing.
//
// One connection per object, made on first use and again after it was
// lost; every call is thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/thread_annotations.h"
#include "coordination/pg_connection.h"

namespace provisioner::coordination {

struct JobLogChunk {
  int64_t seq = 0;
  std::string bytes;
  bool final = false;  // the job has ended: no chunk follows
};

class PgJobLogs {
 public:
  PgJobLogs(PgOptions options, std::string node);

  // Writes chunk `seq` of job `job_id` as this node's; a chunk already
  // there is left as it is.
  Status Append(const std::string& job_id, const std::string& workspace, int64_t seq,
                const std::string& bytes, bool final) EXCLUDES(mu_);
  // The chunks of `job_id` from `from_seq` on, in order, at most `limit`.
  Result<std::vector<JobLogChunk>> Read(const std::string& job_id, int64_t from_seq, int limit)
      EXCLUDES(mu_);
  // Whether the job may still add to its log: it holds a running claim
  // (pg_job_claims.h), or it has no claim yet and was queued by the live
  // leader in its current term. A job whose node died unclaimed, or whose
  // claim ended, is not live.
  Result<bool> Live(const std::string& job_id) EXCLUDES(mu_);
  // Keeps the record of a finished job (`record` is its journal line,
  // state::JobToJsonLine); a record already there is left as it is.
  Status RecordJob(const std::string& job_id, const std::string& workspace,
                   const std::string& record) EXCLUDES(mu_);
  // The records of `workspace`'s finished jobs, oldest first, as JSON.
  Result<std::vector<std::string>> History(const std::string& workspace) EXCLUDES(mu_);
  // Deletes the logs and records of `workspace` but those of its newest
  // `keep` jobs (job ids sort by their start time); returns how many rows
  // went.
  Result<int64_t> Prune(const std::string& workspace, int keep) EXCLUDES(mu_);

 private:
  Mutex mu_;
  PgSession session_ GUARDED_BY(mu_);
  const std::string node_;
};

}  // namespace provisioner::coordination
