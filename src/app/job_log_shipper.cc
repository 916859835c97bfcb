#include "app/job_log_shipper.h"

#include <algorithm>
#include <utility>

#include "state/state_json.h"

namespace provisioner::app {

JobLogShipper::JobLogShipper(coordination::PgJobLogs& db, platform::FileSystem& fs, Options options)
    : db_(db), fs_(fs), options_(std::move(options)) {}

JobLogShipper::~JobLogShipper() { Stop(); }

void JobLogShipper::Start() {
  thread_ = std::thread([this] { Run(); });
}

void JobLogShipper::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobLogShipper::Post(Event e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

void JobLogShipper::OnJobQueued(const state::JobRecord& job, const scheduler::JobTrace&) {
  Post({Event::kQueued, job.id, job.workspace, "", ""});
}

void JobLogShipper::OnJobStarted(const state::JobRecord& job, std::chrono::milliseconds) {
  Post({Event::kStarted, job.id, job.workspace, job.log_path, ""});
}

void JobLogShipper::OnJobFinished(const state::JobRecord& job, const tofu::JobOutcome&) {
  Post({Event::kFinished, job.id, job.workspace, job.log_path, state::JobToJsonLine(job)});
}

void JobLogShipper::Error(const Status& s) {
  if (s.ToString() == last_error_) return;
  last_error_ = s.ToString();
  if (options_.on_error) options_.on_error(s);
}

void JobLogShipper::Run() {
  bool stopping = false;
  while (!stopping) {
    std::vector<Event> events;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // A job's end is shipped at once, so that followers end with it.
      cv_.wait_for(lock, options_.interval, [this] {
        return stop_ || std::any_of(events_.begin(), events_.end(),
                                    [](const Event& e) { return e.kind == Event::kFinished; });
      });
      events.swap(events_);
      stopping = stop_;
    }
    for (Event& e : events) {
      Job& job = jobs_[e.job_id];
      job.workspace = e.workspace;
      if (!e.log_path.empty()) job.log_path = e.log_path;
      if (e.kind == Event::kFinished) {
        job.finished = true;
        job.record = std::move(e.record);
      }
    }
    if (Pass()) last_error_.clear();
  }
}

bool JobLogShipper::Pass() {
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (!Ship(it->first, it->second)) return false;  // the database is away: next pass
    if (it->second.finished && it->second.next_seq < 0) {
      const std::string workspace = it->second.workspace;
      it = jobs_.erase(it);
      const int keep = options_.keep ? options_.keep() : 50;
      if (auto pruned = db_.Prune(workspace, keep); !pruned.ok()) Error(pruned.status());
    } else {
      ++it;
    }
  }
  return true;
}

// Ships `job` as far as it can; next_seq becomes -1 once its final chunk is
// written.
bool JobLogShipper::Ship(const std::string& id, Job& job) {
  if (job.next_seq == 0) {
    // Chunk 0: the log exists from the queueing on.
    if (Status s = db_.Append(id, job.workspace, 0, "", false); !s.ok()) {
      Error(s);
      return false;
    }
    job.next_seq = 1;
  }
  if (!job.log_path.empty()) {
    auto info = fs_.Stat(job.log_path);
    const uint64_t size = info.ok() ? info->size : 0;  // no file: no output yet
    while (job.offset < size && !job.capped) {
      const uint64_t room = options_.max_bytes - std::min(options_.max_bytes, job.offset);
      std::string bytes;
      if (room == 0) {
        job.capped = true;
        bytes = std::string(job.ended_with_newline ? "" : "\n") +
                "# provisioner: the log kept in PostgreSQL ends here, at " +
                std::to_string(options_.max_bytes) + " bytes; node " + options_.node +
                " has all of it in " + job.log_path + "\n";
      } else {
        auto text =
            fs_.ReadFileFrom(job.log_path, job.offset,
                             std::min<uint64_t>({room, size - job.offset, options_.chunk_bytes}));
        if (!text.ok() || text->empty()) break;  // the file went away: ship what there was
        bytes = std::move(*text);
      }
      if (Status s = db_.Append(id, job.workspace, job.next_seq, bytes, false); !s.ok()) {
        if (job.capped) job.capped = false;  // write the note again next time
        Error(s);
        return false;
      }
      ++job.next_seq;
      if (!job.capped) {
        job.offset += bytes.size();
        job.ended_with_newline = bytes.back() == '\n';
      }
    }
  }
  if (job.finished) {
    // The record before the final chunk: a follower that saw the end finds
    // the job's result.
    if (!job.record.empty()) {
      if (Status s = db_.RecordJob(id, job.workspace, job.record); !s.ok()) {
        Error(s);
        return false;
      }
      job.record.clear();
    }
    if (Status s = db_.Append(id, job.workspace, job.next_seq, "", true); !s.ok()) {
      Error(s);
      return false;
    }
    job.next_seq = -1;
  }
  return true;
}

Result<std::vector<http::SharedJobs::Chunk>> SharedJobsOnPg::Read(const std::string& id,
                                                                  int64_t from_seq, int limit) {
  auto chunks = db_.Read(id, from_seq, limit);
  if (!chunks.ok()) return chunks.status();
  std::vector<Chunk> out;
  out.reserve(chunks->size());
  for (coordination::JobLogChunk& c : *chunks) out.push_back({c.seq, std::move(c.bytes), c.final});
  return out;
}

Result<std::vector<state::JobRecord>> SharedJobsOnPg::History(const std::string& workspace) {
  auto lines = db_.History(workspace);
  if (!lines.ok()) return lines.status();
  std::vector<state::JobRecord> out;
  out.reserve(lines->size());
  for (const std::string& line : *lines) {
    auto job = state::JobFromJson(line);
    if (!job.ok()) return job.status().WithContext("pv_job_history of workspace " + workspace);
    out.push_back(std::move(job).value());
  }
  return out;
}

}  // namespace provisioner::app
