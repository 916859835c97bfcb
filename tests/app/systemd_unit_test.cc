// The systemd unit as this build configures it (systemd/provisioner.service.in)
// and its sysusers and tmpfiles snippets, checked by the real systemd tools.
#include "app/systemd_unit.h"

#include <sys/stat.h>

#include "base/duration.h"
#include "base/strings.h"
#include "config/config.h"
#include "support/fake_tofu_env.h"
#include "support/memory_file_system.h"
#include "support/test_util.h"

namespace provisioner::testing {
namespace {

// The value of `key=` in the unit ("" when absent; the last one wins).
std::string Directive(const std::string& unit, const std::string& key) {
  std::string value;
  for (std::string_view line : Split(unit, '\n')) {
    if (line.starts_with(key + "=")) value = std::string(line.substr(key.size() + 1));
  }
  return value;
}

// `text` with every `from` replaced by `to`.
std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// What follows the first `marker` in `text`, up to the end of its line (nullopt: no marker).
// No std::regex in the test binary: docs/reliability.md, "ThreadSanitizer".
std::optional<std::string> AfterOnLine(const std::string& text, std::string_view marker) {
  const size_t at = text.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const size_t from = at + marker.size();
  return text.substr(from, text.find('\n', from) - from);
}

std::string UnitText() {
  return ReadFileOrDie(std::string(PROVISIONER_BUILD_DIR) + "/provisioner.service");
}

// The unit in `dir`, with ExecStart= and ExecReload= pointing at the binary
// just built: systemd-analyze insists that they exist.
std::string WriteTestUnit(const TempDir& dir) {
  std::string unit = UnitText();
  const std::string installed = Directive(unit, "ExecStart");
  const std::string binary = installed.substr(0, installed.find(' '));
  unit = ReplaceAll(unit, binary, PROVISIONER_BINARY);
  WriteFileOrDie(dir.Join("provisioner.service"), unit);
  return dir.Join("provisioner.service");
}

const std::map<std::string, std::string> kToolEnv = {{"PATH", "/usr/bin:/bin"},
                                                     {"SYSTEMD_LOG_LEVEL", "notice"}};

TEST_SUITE("app") {
  TEST_CASE("app: systemd unit passes systemd-analyze verify") {
    const char* analyze = "/usr/bin/systemd-analyze";
    if (ExecutableMissing(analyze)) return;
    TempDir dir;
    ProcessResult r =
        RunProcess({analyze, "verify", "--man=no", WriteTestUnit(dir)}, kToolEnv, dir.path());
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    // verify exits 0 on an unknown or misspelt key: it only warns.
    CHECK_MESSAGE(r.err.find("Unknown key") == std::string::npos, r.err);
    CHECK_MESSAGE(r.err.empty(), "systemd-analyze warned: " << r.err);
  }

  TEST_CASE("app: systemd unit's sandbox scores an exposure of at most 2.0") {
    const char* analyze = "/usr/bin/systemd-analyze";
    if (ExecutableMissing(analyze)) return;
    TempDir dir;
    ProcessResult r =
        RunProcess({analyze, "security", "--offline=true", "--no-pager", WriteTestUnit(dir)},
                   kToolEnv, dir.path());
    // "→ Overall exposure level for provisioner.service: 1.9 OK 🙂"
    const auto level = AfterOnLine(r.out, "Overall exposure level for provisioner.service: ");
    REQUIRE_MESSAGE(level.has_value(), r.out << r.err);
    const std::vector<std::string_view> words = Split(*level, ' ');
    REQUIRE_MESSAGE(words.size() >= 2, *level);
    const double exposure = std::stod(std::string(words[0]));  // throws on no number
    MESSAGE("exposure " << exposure << " " << words[1]);
    CHECK(exposure <= 2.0);
    CHECK(exposure > 0.0);
    // --threshold is exposure x 10: the analyzer itself fails above 2.0.
    ProcessResult gate = RunProcess(
        {analyze, "security", "--offline=true", "--threshold=20", "--no-pager", WriteTestUnit(dir)},
        kToolEnv, dir.path());
    CHECK_MESSAGE(gate.exit_code == 0, gate.out);
  }

  TEST_CASE("app: sysusers and tmpfiles snippets make the account and the directories") {
    // Given an empty root, when the snippets run there in the order of the
    // package's postinst (the account first: tmpfiles needs it),
    const char* sysusers = "/usr/bin/systemd-sysusers";
    const char* tmpfiles = "/usr/bin/systemd-tmpfiles";
    if (ExecutableMissing(sysusers) || ExecutableMissing(tmpfiles)) return;
    TempDir root;
    REQUIRE(::mkdir(root.Join("etc").c_str(), 0755) == 0);
    const std::string src = std::string(PROVISIONER_SOURCE_DIR) + "/systemd/";
    ProcessResult u = RunProcess({sysusers, "--root=" + root.path(), src + "provisioner.sysusers"},
                                 kToolEnv, root.path());
    REQUIRE_MESSAGE(u.exit_code == 0, u.err);
    ProcessResult t =
        RunProcess({tmpfiles, "--root=" + root.path(), "--create", src + "provisioner.tmpfiles"},
                   kToolEnv, root.path());
    REQUIRE_MESSAGE(t.exit_code == 0, t.err);
    // then the account is a system account with the state dir as home,
    const std::string passwd = ReadFileOrDie(root.Join("etc/passwd"));
    const auto entry = AfterOnLine("\n" + passwd, "\nprovisioner:x:");
    REQUIRE_MESSAGE(entry.has_value(), passwd);
    // uid:gid:gecos:home:shell
    const std::vector<std::string_view> fields = Split(*entry, ':');
    REQUIRE_MESSAGE(fields.size() == 5, *entry);
    CHECK(ParseUint(fields[1]).has_value());
    CHECK(fields[3] == "/var/lib/provisioner");
    CHECK(fields[4] == "/usr/sbin/nologin");
    const std::optional<uint64_t> parsed_uid = ParseUint(fields[0]);
    REQUIRE_MESSAGE(parsed_uid.has_value(), *entry);
    const uint64_t uid = *parsed_uid;
    CHECK(uid > 0);
    CHECK(uid < 1000);
    // and each directory has its owner and mode.
    struct Want {
      const char* path;
      bool service_owned;
      mode_t mode;
    };
    for (const Want& w :
         {Want{"var/lib/provisioner", true, 0750}, Want{"var/cache/provisioner", true, 0750},
          Want{"var/cache/provisioner/plugin-cache", true, 0750},
          Want{"etc/provisioner/templates", false, 0755}}) {
      CAPTURE(w.path);
      struct stat st {};
      REQUIRE(::stat(root.Join(w.path).c_str(), &st) == 0);
      CHECK(S_ISDIR(st.st_mode));
      CHECK((st.st_mode & 07777) == w.mode);
      CHECK(st.st_uid == (w.service_owned ? static_cast<uid_t>(uid) : 0));
    }
  }

  TEST_CASE("app: systemd unit has the directives the daemon relies on") {
    const std::string unit = UnitText();
    CHECK(Directive(unit, "Type") == "notify");
    CHECK(Directive(unit, "NotifyAccess") == "main");
    const std::string exec_start = Directive(unit, "ExecStart");
    CHECK(exec_start.starts_with("/"));
    CHECK(exec_start.find("/provisioner serve --config /") != std::string::npos);
    CHECK(exec_start.ends_with("/provisioner/config.yaml"));
    CHECK(Directive(unit, "ExecReload") == "/bin/kill -HUP $MAINPID");
    // What tofu and its providers need through the sandbox.
    CHECK(Directive(unit, "RestrictAddressFamilies") == "AF_UNIX AF_INET AF_INET6");
    CHECK(Directive(unit, "PrivateTmp") == "yes");
    CHECK(Directive(unit, "CacheDirectory") == "provisioner");
    CHECK(Directive(unit, "SystemCallErrorNumber") == "EPERM");
    CHECK(Directive(unit, "KillMode") == "mixed");
    CHECK(Directive(unit, "User") == "provisioner");
    CHECK(Directive(unit, "StateDirectory") == "provisioner");
    CHECK(Directive(unit, "ConfigurationDirectory") == "provisioner");
    CHECK_FALSE(Directive(unit, "WatchdogSec").empty());
    // TimeoutStopSec must leave the daemon the default kill_grace plus the
    // time it takes to stop after it, before systemd sends SIGKILL; and it
    // is the value `validate` holds kill_grace against.
    auto stop = app::ParseSystemdTimespan(Directive(unit, "TimeoutStopSec"));
    REQUIRE(stop.has_value());
    CHECK(*stop >= config::SchedulerConfig().kill_grace + app::kStopMargin);
    CHECK(stop->count() == PROVISIONER_UNIT_TIMEOUT_STOP_SEC);
  }

  TEST_CASE("app: systemd time spans") {
    using std::chrono::seconds;
    CHECK(app::ParseSystemdTimespan("150s") == seconds(150));
    CHECK(app::ParseSystemdTimespan("150") == seconds(150));
    CHECK(app::ParseSystemdTimespan("5min") == seconds(300));
    CHECK(app::ParseSystemdTimespan("2min 30s") == seconds(150));
    CHECK(app::ParseSystemdTimespan("1h30m") == seconds(5400));
    CHECK(app::ParseSystemdTimespan(" 1.5h ") == seconds(5400));
    CHECK(app::ParseSystemdTimespan("500ms") == seconds(1));  // rounded up
    CHECK(app::ParseSystemdTimespan("infinity") == seconds(0));
    CHECK(app::ParseSystemdTimespan("") == std::nullopt);
    CHECK(app::ParseSystemdTimespan("5 parsecs") == std::nullopt);
    CHECK(app::ParseSystemdTimespan("1..5s") == std::nullopt);
    CHECK(app::ParseSystemdTimespan("s") == std::nullopt);
    CHECK(app::ParseSystemdTimespan(".s") == std::nullopt);
    CHECK(app::ParseSystemdTimespan("1e3s") == std::nullopt);
  }

  TEST_CASE("app: the unit's stop timeout comes from the winning unit file and its drop-ins") {
    using std::chrono::seconds;
    MemoryFileSystem fs;
    // No unit installed (a development machine): the value built in.
    app::UnitStopTimeout none = app::FindUnitStopTimeout(fs, seconds(150), "/r");
    CHECK(none.value == seconds(150));
    CHECK(none.source == "the unit as built");
    // The package's unit.
    REQUIRE_OK(fs.CreateDirs("/r/usr/lib/systemd/system/provisioner.service.d"));
    REQUIRE_OK(fs.WriteFile("/r/usr/lib/systemd/system/provisioner.service",
                            "[Unit]\nTimeoutStopSec=1s\n[Service]\nTimeoutStopSec=150s\n"));
    CHECK(app::FindUnitStopTimeout(fs, seconds(1), "/r").value == seconds(150));
    // An operator's drop-ins, applied in file name order across the
    // directories; /etc wins over /usr/lib for the same name.
    REQUIRE_OK(fs.CreateDirs("/r/etc/systemd/system/provisioner.service.d"));
    REQUIRE_OK(fs.WriteFile("/r/usr/lib/systemd/system/provisioner.service.d/20-late.conf",
                            "[Service]\nTimeoutStopSec=10min\n"));
    REQUIRE_OK(fs.WriteFile("/r/etc/systemd/system/provisioner.service.d/10-stop.conf",
                            "[Service]\n# a comment\nTimeoutSec=7min\n"));
    app::UnitStopTimeout late = app::FindUnitStopTimeout(fs, seconds(1), "/r");
    CHECK(late.value == seconds(600));
    CHECK(late.source == "/usr/lib/systemd/system/provisioner.service.d/20-late.conf");
    REQUIRE_OK(fs.WriteFile("/r/etc/systemd/system/provisioner.service.d/20-late.conf",
                            "[Service]\nTimeoutStopSec=infinity\n"));
    CHECK(app::FindUnitStopTimeout(fs, seconds(1), "/r").value == seconds(0));
    // A full copy in /etc replaces the package's unit; saying nothing, it
    // gets systemd's default.
    REQUIRE_OK(fs.RemoveAll("/r/etc/systemd/system/provisioner.service.d"));
    REQUIRE_OK(fs.RemoveAll("/r/usr/lib/systemd/system/provisioner.service.d"));
    REQUIRE_OK(fs.WriteFile("/r/etc/systemd/system/provisioner.service", "[Service]\n"));
    app::UnitStopTimeout copy = app::FindUnitStopTimeout(fs, seconds(1), "/r");
    CHECK(copy.value == seconds(90));
    CHECK(copy.source == "/etc/systemd/system/provisioner.service (DefaultTimeoutStopSec)");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::testing
