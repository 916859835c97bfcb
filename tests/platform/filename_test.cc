// The on-disk layout under state.dir, as a table [leveldb filename_test.cc].
#include "platform/filename.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

namespace provisioner::platform {
namespace {

TEST_SUITE("platform") {
  TEST_CASE("platform: filename: every name under state.dir") {
    const std::vector<std::pair<std::string, std::string>> table = {
        {StateFileName("/var/lib/provisioner"), "/var/lib/provisioner/state.json"},
        {StateTempFileName("/var/lib/provisioner"), "/var/lib/provisioner/state.json.tmp"},
        {StateBackupFileName("/var/lib/provisioner"), "/var/lib/provisioner/state.json.bak"},
        {CorruptStateFileName("/s", "20261124T190000Z"), "/s/state.json.corrupt-20261124T190000Z"},
        {DaemonLockFileName("/s"), "/s/daemon.lock"},
        {WriteTestFileName("/s"), "/s/.write-test"},
        {WorkspacesDirName("/s"), "/s/workspaces"},
        {WorkspaceDirName("/s", "dev-env"), "/s/workspaces/dev-env"},
        {WorkspaceLockFileName("/s/workspaces/dev-env"), "/s/workspaces/dev-env/.provisioner.lock"},
        {JobsDirName("/s"), "/s/jobs"},
        {WorkspaceJobsDirName("/s", "dev-env"), "/s/jobs/dev-env"},
        {HistoryFileName("/s", "dev-env"), "/s/jobs/dev-env/history.jsonl"},
        {JobLogFileName("/s", "dev-env", "20261124T190000Z-0a1b2c-dev-env"),
         "/s/jobs/dev-env/20261124T190000Z-0a1b2c-dev-env.log"},
        {TofuInstallRootName("/s"), "/s/tofu"},
        // A trailing slash, and a relative dir, as a config may give them.
        {StateFileName("/s/"), "/s/state.json"},
        {JobLogFileName("state", "w", "id"), "state/jobs/w/id.log"},
    };
    for (const auto& [got, want] : table) CHECK(got == want);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::platform
