#include "state/state_store.h"

#include "base/time_format.h"
#include "platform/filename.h"
#include "state/state_json.h"

namespace provisioner::state {
namespace {

// state.json is small (one record per workspace); 256 MiB would be a
// million workspaces. Anything bigger is not ours.
constexpr uint64_t kMaxStateBytes = 256ull << 20;

}  // namespace

JsonStateStore::JsonStateStore(platform::FileSystem& fs, Clock& clock, std::string dir)
    : fs_(fs), clock_(clock), dir_(std::move(dir)), path_(platform::StateFileName(dir_)) {}

// Reads and parses one file. Returns the I/O error as the Result's status;
// a parse failure is OK-with-no-value reported through `parse_error`.
Result<State> JsonStateStore::ReadAndParse(const std::string& path, Status* parse_error) {
  auto text = fs_.ReadFile(path, kMaxStateBytes);
  if (!text.ok()) return text.status();
  auto state = StateFromJson(*text);
  if (!state.ok()) {
    *parse_error = state.status();
    return state.status();
  }
  return state;
}

Result<LoadReport> JsonStateStore::Load() {
  LoadReport report;
  const std::string tmp = platform::StateTempFileName(dir_);
  const std::string bak = platform::StateBackupFileName(dir_);

  Status parse_error;
  auto main = ReadAndParse(path_, &parse_error);
  if (main.ok()) {
    report.state = std::move(main).value();
    return report;
  }
  if (main.status().code() == Status::Code::kFailedPrecondition) return main.status();

  if (main.status().IsNotFound()) {
    // A save cut short between its two renames leaves no state.json but a
    // complete, synced .tmp (newer) and the .bak (older).
    Status tmp_error;
    auto from_tmp = ReadAndParse(tmp, &tmp_error);
    if (from_tmp.ok()) {
      report.state = std::move(from_tmp).value();
      report.from_temp = true;
      return report;
    }
    Status bak_error;
    auto from_bak = ReadAndParse(bak, &bak_error);
    if (from_bak.ok()) {
      report.state = std::move(from_bak).value();
      report.from_backup = true;
      report.problem = "state.json was missing";
      return report;
    }
    if (from_bak.status().IsNotFound()) {
      report.fresh = true;
      return report;
    }
    return from_bak.status().WithContext(bak);
  }

  if (parse_error.ok()) return main.status().WithContext(path_);  // an I/O error

  // Corrupt: keep it for the operator, and fall back to the backup.
  Status bak_error;
  auto from_bak = ReadAndParse(bak, &bak_error);
  if (!from_bak.ok()) {
    return Status::Corruption(path_ + " is corrupt (" + parse_error.message() +
                              ") and its backup cannot be used (" + from_bak.status().message() +
                              "); nothing was changed on disk");
  }
  std::string stamp = FormatUtc(clock_.Now());
  for (char& c : stamp) {
    if (c == ':') c = '-';  // keep the name friendly to every tool
  }
  report.moved_aside = platform::CorruptStateFileName(dir_, stamp);
  RETURN_IF_ERROR(fs_.Rename(path_, report.moved_aside));
  RETURN_IF_ERROR(fs_.SyncDir(dir_));
  report.state = std::move(from_bak).value();
  report.from_backup = true;
  report.problem = parse_error.message();
  return report;
}

Status JsonStateStore::Save(const State& state) {
  const std::string tmp = platform::StateTempFileName(dir_);
  const std::string bak = platform::StateBackupFileName(dir_);
  RETURN_IF_ERROR(fs_.WriteFile(tmp, StateToJson(state)));
  RETURN_IF_ERROR(fs_.SyncFile(tmp));
  Status kept = fs_.Rename(path_, bak);
  if (!kept.ok() && !kept.IsNotFound()) return kept;  // NotFound: the first save
  RETURN_IF_ERROR(fs_.Rename(tmp, path_));
  return fs_.SyncDir(dir_);
}

}  // namespace provisioner::state
