// systemd/provisioner.service checked by the real systemd-analyze.
#include <regex>

#include "base/duration.h"
#include "base/strings.h"
#include "config/config.h"
#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::testing {
namespace {

std::string UnitText() {
  return ReadFileOrDie(std::string(PROVISIONER_SOURCE_DIR) + "/systemd/provisioner.service");
}

// The value of `key=` in the unit ("" when absent; the last one wins).
std::string Directive(const std::string& unit, const std::string& key) {
  std::string value;
  for (std::string_view line : Split(unit, '\n')) {
    if (line.starts_with(key + "=")) value = std::string(line.substr(key.size() + 1));
  }
  return value;
}

TEST_SUITE("app") {
  TEST_CASE("app: systemd unit passes systemd-analyze verify") {
    const char* analyze = "/usr/bin/systemd-analyze";
    if (ExecutableMissing(analyze)) return;
    // verify insists that ExecStart exists: point it at the binary just built.
    TempDir dir;
    std::string unit = UnitText();
    unit = std::regex_replace(unit, std::regex("/usr/bin/provisioner"), PROVISIONER_BINARY);
    WriteFileOrDie(dir.Join("provisioner.service"), unit);
    ProcessResult r =
        RunProcess({analyze, "verify", dir.Join("provisioner.service")},
                   {{"PATH", "/usr/bin:/bin"}, {"SYSTEMD_LOG_LEVEL", "notice"}}, dir.path());
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(r.err.empty(), "systemd-analyze warned: " << r.err);
  }

  TEST_CASE("app: systemd unit has the directives the daemon relies on") {
    const std::string unit = UnitText();
    CHECK(Directive(unit, "Type") == "notify");
    CHECK(Directive(unit, "NotifyAccess") == "main");
    CHECK(Directive(unit, "ExecStart") ==
          "/usr/bin/provisioner serve --config /etc/provisioner/config.yaml");
    CHECK(Directive(unit, "ExecReload") == "/bin/kill -HUP $MAINPID");
    CHECK(Directive(unit, "KillMode") == "mixed");
    CHECK(Directive(unit, "User") == "provisioner");
    CHECK(Directive(unit, "StateDirectory") == "provisioner");
    CHECK(Directive(unit, "ConfigurationDirectory") == "provisioner");
    CHECK_FALSE(Directive(unit, "WatchdogSec").empty());
    // TimeoutStopSec must leave the daemon its kill_grace plus the margin it
    // waits for exits (10 s) before systemd sends SIGKILL.
    auto stop = ParseDuration(Directive(unit, "TimeoutStopSec"));
    REQUIRE_OK(stop);
    CHECK(*stop > config::SchedulerConfig().kill_grace + std::chrono::seconds(10));
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
