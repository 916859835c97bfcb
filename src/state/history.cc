#include "state/history.h"

#include "base/strings.h"
#include "platform/filename.h"
#include "state/state_json.h"

namespace provisioner::state {
namespace {

constexpr uint64_t kMaxJournalBytes = 64ull << 20;

// Job ids become file names; refuse anything that could leave the directory.
bool IsSafeId(std::string_view id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

JobHistory::JobHistory(platform::FileSystem& fs, std::string state_dir, int limit)
    : fs_(fs), state_dir_(std::move(state_dir)), limit_(limit) {}

std::string JobHistory::WorkspaceDir(const std::string& workspace) const {
  return platform::WorkspaceJobsDirName(state_dir_, workspace);
}

std::string JobHistory::LogPath(const std::string& workspace, const std::string& job_id) const {
  return platform::JobLogFileName(state_dir_, workspace, job_id);
}

Status JobHistory::Append(const JobRecord& job) {
  if (!IsSafeId(job.id)) return Status::InvalidArgument("job id \"" + job.id + "\"", "unsafe");
  const std::string dir = WorkspaceDir(job.workspace);
  RETURN_IF_ERROR(fs_.CreateDirs(dir));
  auto known = lines_.find(job.workspace);
  if (known == lines_.end()) {
    std::vector<std::string> ignored;
    auto existing = Load(job.workspace, &ignored);  // counts lines, repairs a torn tail
    if (!existing.ok()) return existing.status();
  }
  int& lines = lines_[job.workspace];
  const bool new_journal = lines == 0;
  RETURN_IF_ERROR(fs_.AppendFile(platform::HistoryFileName(state_dir_, job.workspace),
                                 JobToJsonLine(job) + "\n", /*sync=*/true));
  // The data is synced; a new file's directory entry needs its own fsync.
  if (new_journal) RETURN_IF_ERROR(fs_.SyncDir(dir));
  ++lines;
  if (lines > limit_) return Prune(job.workspace);
  return Status::Ok();
}

Result<std::vector<JobRecord>> JobHistory::Load(const std::string& workspace,
                                                std::vector<std::string>* warnings) {
  const std::string path = platform::HistoryFileName(state_dir_, workspace);
  std::vector<JobRecord> out;
  auto text = fs_.ReadFile(path, kMaxJournalBytes);
  if (!text.ok()) {
    if (text.status().IsNotFound()) {
      lines_[workspace] = 0;
      return out;
    }
    return text.status();
  }
  std::vector<std::string_view> lines = Split(*text, '\n');
  // Split leaves "" after a final newline; anything else there is a torn line.
  std::string_view tail = lines.back();
  lines.pop_back();
  bool torn = !tail.empty();
  if (torn) {
    warnings->push_back(path + ": skipped a torn last line (" + std::to_string(tail.size()) +
                        " bytes, the daemon stopped while writing it)");
  }
  std::string kept;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    auto job = JobFromJson(lines[i]);
    if (!job.ok()) {
      warnings->push_back(path + ":" + std::to_string(i + 1) +
                          ": skipped: " + job.status().message());
      continue;
    }
    out.push_back(std::move(job).value());
    kept.append(lines[i]);
    kept.push_back('\n');
  }
  if (torn) RETURN_IF_ERROR(platform::WriteFileAtomic(fs_, path, kept));
  lines_[workspace] = static_cast<int>(out.size());
  return out;
}

Status JobHistory::Prune(const std::string& workspace) {
  std::vector<std::string> warnings;
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, Load(workspace, &warnings));
  if (static_cast<int>(jobs.size()) <= limit_) return Status::Ok();
  const size_t drop = jobs.size() - static_cast<size_t>(limit_);
  std::string kept;
  for (size_t i = drop; i < jobs.size(); ++i) kept += JobToJsonLine(jobs[i]) + "\n";
  RETURN_IF_ERROR(
      platform::WriteFileAtomic(fs_, platform::HistoryFileName(state_dir_, workspace), kept));
  lines_[workspace] = limit_;
  for (size_t i = 0; i < drop; ++i) {
    if (!IsSafeId(jobs[i].id)) continue;
    Status s = fs_.Remove(LogPath(workspace, jobs[i].id));
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  return Status::Ok();
}

}  // namespace provisioner::state
