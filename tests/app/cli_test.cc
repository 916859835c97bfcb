// The CLI in-process: exit codes, one-line errors, output formats.
#include "app/cli.h"

#include <sys/stat.h>

#include <sstream>

#include "base/time_format.h"
#include "platform/posix_file_system.h"
#include "support/cli_run.h"
#include "support/fake_clock.h"
#include "support/test_util.h"

namespace provisioner::app {
namespace {

using Run = testing::CliRun;

Run Cli(std::vector<std::string> args, SystemTime now = *ParseRfc3339("2026-03-27T12:00:00Z")) {
  return testing::RunCliInProcess(args, now);
}

// A temp dir with templates/t and a config file.
struct ConfigDir {
  testing::TempDir tmp;
  explicit ConfigDir(const std::string& workspaces) {
    ::mkdir(tmp.Join("templates").c_str(), 0755);
    ::mkdir(tmp.Join("templates/t").c_str(), 0755);
    testing::WriteFileOrDie(tmp.Join("templates/t/main.tf"), "# t\n");
    testing::WriteFileOrDie(path(), "templates_dir: templates\nworkspaces:\n" + workspaces);
  }
  std::string path() const { return tmp.Join("config.yaml"); }
};

TEST_SUITE("app") {
  TEST_CASE("app: version, plain and JSON") {
    Run plain = Cli({"version"});
    CHECK(plain.code == 0);
    CHECK(plain.out.starts_with("provisioner 0.1.0 (commit "));
    Run json = Cli({"version", "--json"});
    CHECK(json.code == 0);
    CHECK(json.out.starts_with("{\"version\":\"0.1.0\",\"commit\":\""));
    CHECK(json.out.find("\"compiler\":\"") != std::string::npos);
    CHECK(Cli({"--version"}).out == plain.out);
  }

  TEST_CASE("app: cron next and prev print RFC 3339 in the zone") {
    Run next = Cli({"cron", "next", "30 2 * * *", "--tz", "Europe/Berlin", "--from",
                    "2026-03-28T12:00:00+01:00", "--count", "3"});
    CHECK(next.code == 0);
    CHECK(next.out ==
          "2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n2026-03-31T02:30:00+02:00\n");
    // --from is exclusive for next, inclusive for prev.
    CHECK(Cli({"cron", "next", "0 8 * * *", "--from", "2026-03-27T08:00:00Z"}).out ==
          "2026-03-28T08:00:00+00:00\n");
    CHECK(
        Cli({"cron", "prev", "0 8 * * *", "--from", "2026-03-27T08:00:00Z", "--count", "2"}).out ==
        "2026-03-27T08:00:00+00:00\n2026-03-26T08:00:00+00:00\n");
    // Default --from is now (the clock): 2026-03-27T12:00:00Z.
    CHECK(Cli({"cron", "next", "@daily"}).out == "2026-03-28T00:00:00+00:00\n");
  }

  TEST_CASE("app: cron bad input exits 2 with one clear line") {
    struct Case {
      std::vector<std::string> args;
      std::string err;
    };
    const Case cases[] = {
        {{"cron", "next", "61 * * * *"},
         "provisioner: cron expression \"61 * * * *\": field 1 (minute): value 61 out of range "
         "0-59\n"},
        {{"cron", "next", "* * * * *", "--tz", "Mars/Olympus"},
         "provisioner: --tz: unknown time zone \"Mars/Olympus\"\n"},
        {{"cron", "next", "* * * * *", "--from", "yesterday"},
         "provisioner: --from: time \"yesterday\": bad year: expected RFC 3339, e.g. "
         "2026-03-29T03:00:00+02:00\n"},
        {{"cron", "next", "* * * * *", "--count", "0"},
         "provisioner: --count: 0 is out of range 1-10000\n"},
    };
    for (const Case& c : cases) {
      Run r = Cli(c.args);
      CHECK(r.code == 2);
      CHECK(r.err == c.err);
      CHECK(r.out.empty());
    }
    Run missing = Cli({"cron", "next"});
    CHECK(missing.code == 2);
    CHECK(missing.err.find('\n') == missing.err.size() - 1);  // one line
    Run unknown = Cli({"frobnicate"});
    CHECK(unknown.code == 2);
    CHECK(unknown.err.starts_with("provisioner: "));
  }

  TEST_CASE(
      "app: validate exits 0 with a summary, 1 listing every error, 2 on an unreadable file") {
    ConfigDir ok(
        "  - {name: a, template: t, schedule: {deploy: \"0 8 * * *\", destroy: \"0 19 * * *\"}}\n");
    Run good = Cli({"validate", "--config", ok.path()});
    CHECK(good.code == 0);
    CHECK(good.out == ok.path() + ": OK: 1 workspace (1 scheduled), 1 template, 0 warnings\n");

    ConfigDir bad(
        "  - {name: a, template: nope}\n"
        "  - {name: a, template: t, schedule: {deploy: \"0 0 30 FEB *\"}}\n");
    Run invalid = Cli({"validate", "--config", bad.path()});
    CHECK(invalid.code == 1);
    CHECK(invalid.err.find(bad.path() +
                           ":3:25: workspaces[0].template: template \"nope\" not found in " +
                           bad.tmp.Join("templates")) != std::string::npos);
    CHECK(invalid.err.find("never fires: day 30 does not exist in FEB") != std::string::npos);
    CHECK(invalid.err.find("duplicate workspace name \"a\" (first at line 3)") !=
          std::string::npos);
    CHECK(invalid.err.ends_with(bad.path() + ": 3 errors, 2 warnings\n"));

    Run unreadable = Cli({"validate", "--config", "/nonexistent/config.yaml"});
    CHECK(unreadable.code == 2);
    CHECK(unreadable.err ==
          "provisioner: open /nonexistent/config.yaml: No such file or directory\n");
  }

  TEST_CASE("app: next shows the desired state, local and UTC times, and DST notes") {
    ConfigDir dir(
        "  - {name: night, template: t, schedule: {deploy: \"30 2 * * *\", destroy: \"0 5 * * *\", "
        "timezone: Europe/Berlin}}\n");
    Run r = Cli({"next", "--config", dir.path(), "--count", "1", "--from", "2026-03-28T12:00:00Z"});
    CHECK(r.code == 0);
    CHECK(r.out ==
          "night (template t, Europe/Berlin)\n"
          "  desired now: destroyed since 2026-03-28T05:00:00+01:00 (2026-03-28T04:00:00Z)\n"
          "  deploy  2026-03-29T03:00:00+02:00  2026-03-29T01:00:00Z  [02:30 does not exist on "
          "2026-03-29 in Europe/Berlin; fires at 03:00]\n"
          "  destroy 2026-03-29T05:00:00+02:00  2026-03-29T03:00:00Z\n");
    Run json = Cli({"next", "--config", dir.path(), "--count", "1", "--from",
                    "2026-03-28T12:00:00Z", "--json"});
    CHECK(json.code == 0);
    CHECK(json.out.find(
              "\"note\":\"02:30 does not exist on 2026-03-29 in Europe/Berlin; fires at 03:00\"") !=
          std::string::npos);
    CHECK(json.out.find("\"at_utc\":\"2026-03-29T01:00:00Z\"") != std::string::npos);

    Run fall =
        Cli({"next", "--config", dir.path(), "--count", "1", "--from", "2026-10-24T12:00:00Z"});
    CHECK(fall.out.find(
              "[02:30 occurs twice on 2026-10-25 in Europe/Berlin; fires once, at the first "
              "(UTC+02:00)]") != std::string::npos);

    CHECK(Cli({"next", "--config", dir.path(), "--workspace", "nope"}).code == 2);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::app
