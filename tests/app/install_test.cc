// `cmake --install` of this build into a staging directory (DESTDIR), the
// way a package or an operator installs it: every path of DESIGN.md §12.
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::testing {
namespace {

// Every file under `root`, as absolute paths of the installed system.
std::set<std::string> Tree(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.insert(e.path().string().substr(root.size()));
  }
  return out;
}

ProcessResult Install(const std::string& destdir) {
  return RunProcess({PROVISIONER_CMAKE, "--install", PROVISIONER_BUILD_DIR, "--prefix", "/usr"},
                    {{"PATH", "/usr/bin:/bin"}, {"DESTDIR", destdir}}, destdir,
                    std::chrono::seconds(120));
}

TEST_SUITE("app") {
  TEST_CASE("app: cmake --install puts every file where Debian and systemd expect it") {
    TempDir d;
    ProcessResult r = Install(d.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
    const std::set<std::string> tree = Tree(d.path());
    for (const std::string path : {
             "/usr/bin/provisioner",
             "/usr/lib/systemd/system/provisioner.service",
             "/usr/lib/sysusers.d/provisioner.conf",
             "/usr/lib/tmpfiles.d/provisioner.conf",
             "/etc/provisioner/config.yaml",
             "/usr/share/provisioner/templates/null-example/main.tf",
             "/usr/share/provisioner/monitoring/prometheus/rules/provisioner-alerts.yml",
             "/usr/share/provisioner/monitoring/alertmanager/alertmanager.yml",
             "/usr/share/provisioner/monitoring/grafana/dashboards/provisioner-operations.json",
             "/usr/share/provisioner/runbooks/README.md",
             "/usr/share/provisioner/runbooks/SchedulerDown.md",
             "/usr/share/doc/provisioner/README.md",
             "/usr/share/doc/provisioner/operations.md",
             "/usr/share/doc/provisioner/copyright",
             "/usr/share/doc/provisioner/changelog.Debian.gz",
             "/usr/share/man/man1/provisioner.1.gz",
             "/usr/share/lintian/overrides/provisioner",
         }) {
      CHECK_MESSAGE(tree.count(path) == 1, path << " is missing");
    }
    // Nothing of the build's tests or tools, and no test data of the kit.
    for (const std::string& path : tree) {
      CAPTURE(path);
      CHECK(path.find("provisioner_tests") == std::string::npos);
      CHECK(path.find("fake_tofu") == std::string::npos);
      CHECK(path.find("/monitoring/tests/") == std::string::npos);
      const bool known_root = path.starts_with("/usr/") || path.starts_with("/etc/provisioner/");
      CHECK(known_root);
    }
    struct stat st {};
    REQUIRE(::stat(d.Join("usr/bin/provisioner").c_str(), &st) == 0);
    CHECK((st.st_mode & 0111) != 0);
    // The installed unit runs the installed binary on the installed config.
    const std::string unit = ReadFileOrDie(d.Join("usr/lib/systemd/system/provisioner.service"));
    CHECK(unit.find("\nExecStart=/usr/bin/provisioner serve --config "
                    "/etc/provisioner/config.yaml\n") != std::string::npos);
    CHECK(unit.find("@PROVISIONER_") == std::string::npos);  // every @VARIABLE@ replaced
    // The default config is valid, and schedules nothing yet.
    ProcessResult v = RunProcess(
        {PROVISIONER_BINARY, "validate", "--config", d.Join("etc/provisioner/config.yaml")},
        {{"PATH", "/usr/bin:/bin"}}, d.path());
    CHECK_MESSAGE(v.exit_code == 0, v.out << v.err);
    CHECK(v.out.find("0 workspaces") != std::string::npos);
  }

  TEST_CASE("app: cmake --install keeps a config the operator changed") {
    // Given an installed tree whose config the operator edited,
    TempDir d;
    REQUIRE(Install(d.path()).exit_code == 0);
    const std::string config = d.Join("etc/provisioner/config.yaml");
    WriteFileOrDie(config, "# mine\nworkspaces: []\n");
    // when the same build is installed again,
    ProcessResult r = Install(d.path());
    REQUIRE_MESSAGE(r.exit_code == 0, r.out << r.err);
    // then the edit stays and the new default lands beside it.
    CHECK(ReadFileOrDie(config) == "# mine\nworkspaces: []\n");
    CHECK(ReadFileOrDie(config + ".default") ==
          ReadFileOrDie(std::string(PROVISIONER_SOURCE_DIR) + "/packaging/config.yaml"));
    CHECK(r.out.find("Keeping: " + config) != std::string::npos);
  }
}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
