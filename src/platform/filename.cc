#include "platform/filename.h"

#include "platform/file_system.h"

namespace provisioner::platform {

std::string StateFileName(std::string_view state_dir) { return JoinPath(state_dir, "state.json"); }

std::string StateTempFileName(std::string_view state_dir) {
  return StateFileName(state_dir) + ".tmp";
}

std::string StateBackupFileName(std::string_view state_dir) {
  return StateFileName(state_dir) + ".bak";
}

std::string CorruptStateFileName(std::string_view state_dir, std::string_view stamp) {
  return StateFileName(state_dir) + ".corrupt-" + std::string(stamp);
}

std::string DaemonLockFileName(std::string_view state_dir) {
  return JoinPath(state_dir, "daemon.lock");
}

std::string WriteTestFileName(std::string_view state_dir) {
  return JoinPath(state_dir, ".write-test");
}

std::string WorkspacesDirName(std::string_view state_dir) {
  return JoinPath(state_dir, "workspaces");
}

std::string WorkspaceDirName(std::string_view state_dir, std::string_view workspace) {
  return JoinPath(WorkspacesDirName(state_dir), workspace);
}

std::string WorkspaceLockFileName(std::string_view workspace_dir) {
  return JoinPath(workspace_dir, ".provisioner.lock");
}

std::string JobsDirName(std::string_view state_dir) { return JoinPath(state_dir, "jobs"); }

std::string WorkspaceJobsDirName(std::string_view state_dir, std::string_view workspace) {
  return JoinPath(JobsDirName(state_dir), workspace);
}

std::string HistoryFileName(std::string_view state_dir, std::string_view workspace) {
  return JoinPath(WorkspaceJobsDirName(state_dir, workspace), "history.jsonl");
}

std::string JobLogFileName(std::string_view state_dir, std::string_view workspace,
                           std::string_view job_id) {
  return JoinPath(WorkspaceJobsDirName(state_dir, workspace), std::string(job_id) + ".log");
}

std::string TofuInstallRootName(std::string_view state_dir) { return JoinPath(state_dir, "tofu"); }

}  // namespace provisioner::platform
