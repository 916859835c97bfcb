// Job history: finished job records appended to
// state.dir/jobs/<workspace>/history.jsonl (one JSON object per line),
// pruned to the newest `limit` records. Each job's combined tofu output sits
// next to it as <job-id>.log.
//
// A crash can tear the last line of a journal. Loading skips such a line
// with a warning and rewrites the journal without it, so that the next
// append starts on a clean line. Not thread-safe: one owner (the scheduler).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "platform/file_system.h"
#include "state/state.h"

namespace provisioner::state {

class JobHistory {
 public:
  // Journals live under state_dir/jobs (platform/filename.h).
  JobHistory(platform::FileSystem& fs, std::string state_dir, int limit);
  JobHistory(const JobHistory&) = delete;
  JobHistory& operator=(const JobHistory&) = delete;

  // state.dir/jobs/<workspace>
  std::string WorkspaceDir(const std::string& workspace) const;
  // state.dir/jobs/<workspace>/<job-id>.log
  std::string LogPath(const std::string& workspace, const std::string& job_id) const;

  // Appends and fsyncs one finished record, then prunes when over the limit.
  // Pruning also deletes the log files of the records it drops.
  Status Append(const JobRecord& job);

  // The journal of one workspace, oldest first. Lines that cannot be parsed
  // are skipped and described in `warnings`; a torn last line is removed
  // from the file. A missing journal is an empty history.
  Result<std::vector<JobRecord>> Load(const std::string& workspace,
                                      std::vector<std::string>* warnings);

  void set_limit(int limit) { limit_ = limit; }

 private:
  Status Prune(const std::string& workspace);

  platform::FileSystem& fs_;
  const std::string state_dir_;
  int limit_;
  // Lines per journal as far as this process knows; -1 = unknown (load it).
  std::unordered_map<std::string, int> lines_;
};

}  // namespace provisioner::state
