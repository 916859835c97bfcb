// Every name the daemon keeps on disk under state.dir, built in one place
// [leveldb db/filename.h]. docs/state-format.md describes the same layout:
//
//   state.dir/
//     state.json                      the state (DESIGN.md §6)
//     state.json.tmp                  a save in progress
//     state.json.bak                  the previous good copy
//     state.json.corrupt-<stamp>      a broken state moved aside
//     daemon.lock                     held by the running daemon
//     .write-test                     start-up check that the dir is writable
//     workspaces/<name>/              the materialized workspace tofu runs in
//       .provisioner.lock             held while a job (or `provisioner run`) uses it
//     jobs/<name>/history.jsonl       finished job records (DESIGN.md §5)
//     jobs/<name>/<job-id>.log        one job's combined tofu output
//     tofu/<version>/tofu             a release installed for opentofu.version
//
// Pure string functions: nothing here touches the disk. Workspace names and
// job ids are used as given; callers validate them first
// (config::IsValidWorkspaceName, the API's job id check).
#pragma once

#include <string>
#include <string_view>

namespace provisioner::platform {

std::string StateFileName(std::string_view state_dir);
std::string StateTempFileName(std::string_view state_dir);
std::string StateBackupFileName(std::string_view state_dir);
// `stamp` is a UTC time without separators, e.g. "20261124T190000Z".
std::string CorruptStateFileName(std::string_view state_dir, std::string_view stamp);
std::string DaemonLockFileName(std::string_view state_dir);
std::string WriteTestFileName(std::string_view state_dir);

std::string WorkspacesDirName(std::string_view state_dir);
std::string WorkspaceDirName(std::string_view state_dir, std::string_view workspace);
// Inside a workspace directory.
std::string WorkspaceLockFileName(std::string_view workspace_dir);

std::string JobsDirName(std::string_view state_dir);
std::string WorkspaceJobsDirName(std::string_view state_dir, std::string_view workspace);
std::string HistoryFileName(std::string_view state_dir, std::string_view workspace);
std::string JobLogFileName(std::string_view state_dir, std::string_view workspace,
                           std::string_view job_id);

// Where pinned OpenTofu releases are installed (one folder per version).
std::string TofuInstallRootName(std::string_view state_dir);

}  // namespace provisioner::platform
