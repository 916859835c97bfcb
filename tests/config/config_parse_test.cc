#include "config/config_parse.h"

#include <algorithm>

#include "base/strings.h"
#include "config/yaml_tree.h"
#include "support/test_util.h"

namespace provisioner::config {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// The example of DESIGN.md §3, verbatim but for comments.
constexpr const char* kDesignExample = R"(server:
  listen: "127.0.0.1:9090"
  web_config_file: ""
  read_only: false
opentofu:
  binary: tofu
  version: ""
  download_base_url: https://github.com/opentofu/opentofu/releases/download
  plugin_cache_dir: /var/cache/provisioner/plugin-cache
  lock_timeout: 5m
  pass_env: ["AWS_*", "GOOGLE_*", "ARM_*"]
  env: {}
scheduler:
  timezone: UTC
  max_concurrent_jobs: 4
  job_timeout: 1h
  kill_grace: 2m
  retry: {max_attempts: 3, backoff: 1m, max_backoff: 30m}
  catch_up: true
  jitter: 0s
state:
  dir: /var/lib/provisioner
  history_limit: 50
logging: {level: info, format: json}
tracing:
  enabled: false
  endpoint: http://localhost:4318/v1/traces
  sampling_ratio: 0.1
  service_name: provisioner
ha:
  enabled: false
  dsn_file: /etc/provisioner/ha.dsn
  node_name: ""
  runs_jobs: true
templates_dir: /etc/provisioner/templates
workspaces:
  - name: dev-env
    template: web-stack
    variables: {instance_type: t3.small}
    backend_config: {}
    env: {}
    schedule: {deploy: "0 8 * * MON-FRI", destroy: "0 19 * * MON-FRI", timezone: Europe/Berlin}
    enabled: true
    protected: false
    timeout: 30m
    cost_per_hour: 1.20
    labels: {team: web}
)";

ParseResult Parse(std::string_view text, ParseOptions options = {}) {
  return ParseConfig(text, "config.yaml", options);
}

std::vector<std::string> Errors(const ParseResult& r) {
  std::vector<std::string> out;
  for (const Diagnostic& d : r.errors) out.push_back(d.ToString());
  return out;
}

std::vector<std::string> Warnings(const ParseResult& r) {
  std::vector<std::string> out;
  for (const Diagnostic& d : r.warnings) out.push_back(d.ToString());
  return out;
}

// The single error of `r`, as text.
std::string OnlyError(const ParseResult& r) {
  REQUIRE_MESSAGE(r.errors.size() == 1, "errors: " << Join(Errors(r), " | "));
  return r.errors[0].ToString();
}

TEST_SUITE("config") {
  TEST_CASE("config: the DESIGN.md example parses into typed fields") {
    ParseResult r = Parse(kDesignExample);
    REQUIRE_MESSAGE(r.ok(), Join(Errors(r), "\n"));
    const Config& c = *r.config;
    CHECK(c.server.listen == "127.0.0.1:9090");
    CHECK(c.opentofu.lock_timeout == minutes(5));
    CHECK(c.opentofu.pass_env == std::vector<std::string>{"AWS_*", "GOOGLE_*", "ARM_*"});
    CHECK(c.scheduler.max_concurrent_jobs == 4);
    CHECK(c.scheduler.job_timeout == hours(1));
    CHECK(c.scheduler.kill_grace == minutes(2));
    CHECK(c.scheduler.retry.max_attempts == 3);
    CHECK(c.scheduler.retry.backoff == minutes(1));
    CHECK(c.scheduler.retry.max_backoff == minutes(30));
    CHECK(c.scheduler.catch_up);
    CHECK(c.state.history_limit == 50);
    CHECK(c.logging.level == log::Level::kInfo);
    CHECK(c.tracing.sampling_ratio == doctest::Approx(0.1));
    REQUIRE(c.workspaces.size() == 1);
    const WorkspaceConfig& ws = c.workspaces[0];
    CHECK(ws.name == "dev-env");
    CHECK(ws.template_name == "web-stack");
    CHECK(ws.variables_json == R"({"instance_type":"t3.small"})");
    CHECK(ws.schedule.deploy == "0 8 * * MON-FRI");
    CHECK(ws.schedule.destroy_expr.has_value());
    CHECK(ws.schedule.timezone == "Europe/Berlin");
    REQUIRE(ws.schedule.zone != nullptr);
    CHECK(ws.schedule.zone->name() == "Europe/Berlin");
    CHECK(ws.timeout == minutes(30));
    CHECK(c.JobTimeout(ws) == minutes(30));
    CHECK(ws.cost_per_hour == doctest::Approx(1.2));
    CHECK(ws.labels.at("team") == "web");
    CHECK(c.FindWorkspace("dev-env") == &ws);
    CHECK(c.FindWorkspace("nope") == nullptr);
    CHECK(Warnings(r).empty());
  }

  TEST_CASE(
      "config: the ha block: its settings, the lease ratios, and runs_jobs false refused for now") {
    ParseOptions options;
    options.base_dir = "/etc/provisioner";
    ParseResult r = Parse(R"(ha:
  dsn_file: ha.dsn
  node_name: node-1.example
  runs_jobs: false
  lease_ttl: 3s
  renew_interval: 500ms
  renew_deadline: 2s
  claim_ttl: 20s
workspaces: []
)",
                          options);
    REQUIRE_MESSAGE(r.ok(), Join(Errors(r), "\n"));
    const HaConfig& ha = r.config->ha;
    CHECK(!ha.enabled);
    CHECK(ha.dsn_file == "/etc/provisioner/ha.dsn");
    CHECK(ha.node_name == "node-1.example");
    CHECK(!ha.runs_jobs);
    CHECK(ha.lease_ttl == seconds(3));
    CHECK(ha.renew_interval == std::chrono::milliseconds(500));
    CHECK(ha.renew_deadline == seconds(2));
    CHECK(ha.claim_ttl == seconds(20));

    CHECK(OnlyError(Parse("ha: {renew_deadline: 15s}\nworkspaces: []\n")) ==
          "config.yaml:1:22: ha.renew_deadline: 15s is not shorter than lease_ttl (15s): a leader "
          "must demote itself before the database lets another node take over");
    CHECK(OnlyError(Parse("ha: {renew_interval: 6s}\nworkspaces: []\n")) ==
          "config.yaml:1:22: ha.renew_interval: 6s is more than half of renew_deadline (10s): one "
          "slow renewal would demote the leader");
    CHECK(OnlyError(Parse("ha: {node_name: \"a b\"}\nworkspaces: []\n")) ==
          "config.yaml:1:17: ha.node_name: \"a b\" is not a node name: 1-63 letters, digits, '.', "
          "'_' or '-', starting with a letter or digit");
    CHECK(OnlyError(Parse("ha: {lease_ttl: 0s}\nworkspaces: []\n"))
              .find("ha.lease_ttl: 0s is out of range") != std::string::npos);
    ParseResult enabled = Parse("ha: {enabled: true}\nworkspaces: []\n");
    REQUIRE_MESSAGE(enabled.ok(), Join(Errors(enabled), "\n"));
    CHECK(enabled.config->ha.enabled);
    CHECK(OnlyError(Parse("ha: {enabled: true, runs_jobs: false}\nworkspaces: []\n")) ==
          "config.yaml:1:32: ha.runs_jobs: false is not supported yet: in this version the "
          "leader runs every job (docs/ha.md); remove it or set it to true");
    CHECK(OnlyError(Parse("ha: {dsn: x}\nworkspaces: []\n")).find("ha: unknown key \"dsn\"") !=
          std::string::npos);
  }

  TEST_CASE("config: defaults apply to a minimal file") {
    ParseResult r = Parse("workspaces:\n  - name: a\n    template: t\n");
    REQUIRE(r.ok());
    const Config& c = *r.config;
    Config defaults;
    CHECK(c.server.listen == defaults.server.listen);
    CHECK(c.scheduler.timezone == "UTC");
    CHECK(c.state.dir == "/var/lib/provisioner");
    CHECK(c.templates_dir == "/etc/provisioner/templates");
    REQUIRE(c.workspaces[0].schedule.zone != nullptr);
    CHECK(c.workspaces[0].schedule.zone->name() == "UTC");
    CHECK(c.JobTimeout(c.workspaces[0]) == hours(1));
    CHECK(c.workspaces[0].variables_json == "{}");
    CHECK(Warnings(r) == std::vector<std::string>{
                             "config.yaml:2:5: workspaces[0].schedule: warning: no schedule: only "
                             "manual deploys and destroys from the API change it"});
  }

  TEST_CASE("config: JSON input gets the same treatment and positions") {
    ParseResult ok = ParseConfig(
        R"({"scheduler": {"timezone": "Europe/Berlin"},
 "workspaces": [{"name": "a", "template": "t", "variables": {"n": 3, "s": "3", "l": [1, "x"]},
                 "schedule": {"deploy": "0 8 * * *", "destroy": "0 19 * * *"}}]})",
        "config.json");
    REQUIRE_MESSAGE(ok.ok(), Join(Errors(ok), "\n"));
    CHECK(ok.config->workspaces[0].variables_json == R"({"l":[1,"x"],"n":3,"s":"3"})");
    CHECK(ok.config->workspaces[0].schedule.zone->name() == "Europe/Berlin");

    ParseResult bad = ParseConfig(R"({"scheduler": {"max_concurrent_jobs": 0}})", "config.json");
    CHECK(OnlyError(bad) ==
          "config.json:1:39: scheduler.max_concurrent_jobs: 0 is out of range 1-1000");
  }

  TEST_CASE("config: every error is reported at once with file:line:col and key path") {
    const char* text = R"(server:
  listen: "127.0.0.1"
  read_only: yes
scheduler:
  max_concurent_jobs: 4
  timezone: Europe/Berln
  job_timeout: 90
  retry: {backoff: 10m, max_backoff: 5m}
state:
  history_limit: -1
logging: {level: verbose}
opentofu:
  pass_env: ["AWS-*"]
  lock_timeout: 1.5h
tracing: {sampling_ratio: 2, endpoint: "localhost:4318"}
workspaces:
  - name: Dev_Env
    template: web
  - name: ok
    template: ../etc
    schedule:
      deploy: "61 8 * * *"
      destroy: "0 0 30 FEB *"
  - name: ok
    template: web
    enabled: maybe
    cost_per_hour: cheap
)";
    ParseResult r = Parse(text);
    CHECK_FALSE(r.ok());
    CHECK(r.config == nullptr);
    std::vector<std::string> errors = Errors(r);
    const std::vector<std::string> expected = {
        "config.yaml:2:11: server.listen: \"127.0.0.1\" needs a port, e.g. \"127.0.0.1:9090\"",
        "config.yaml:3:14: server.read_only: expected true or false, got \"yes\"",
        "config.yaml:13:14: opentofu.pass_env[0]: \"AWS-*\" is not a valid pattern: variable names "
        "use letters, digits and _, with * and ? as wildcards",
        "config.yaml:14:17: opentofu.lock_timeout: duration \"1.5h\": fractions are not supported "
        "(write 1h30m, not 1.5h)",
        "config.yaml:5:3: scheduler: unknown key \"max_concurent_jobs\" (did you mean "
        "\"max_concurrent_jobs\"?)",
        "config.yaml:7:16: scheduler.job_timeout: duration \"90\": missing unit (use ms, s, m or "
        "h, "
        "e.g. 90s)",
        "config.yaml:8:38: scheduler.retry.max_backoff: 5m is shorter than backoff (10m)",
        "config.yaml:6:13: scheduler.timezone: unknown time zone \"Europe/Berln\"",
        "config.yaml:10:18: state.history_limit: -1 is out of range 1-100000",
        "config.yaml:11:18: logging.level: unknown log level \"verbose\": use trace, debug, info, "
        "warn or error",
        "config.yaml:15:27: tracing.sampling_ratio: 2 is out of range 0-1",
        "config.yaml:15:40: tracing.endpoint: \"localhost:4318\" is not an http:// or https:// URL",
        "config.yaml:17:11: workspaces[0].name: \"Dev_Env\" is not a valid name: 1-63 characters, "
        "lowercase letters, digits, _ and -, starting with a letter or digit",
        "config.yaml:20:15: workspaces[1].template: \"../etc\" must be the name of a directory "
        "directly under templates_dir",
        "config.yaml:22:16: workspaces[1].schedule.deploy: field 1 (minute): value 61 out of range "
        "0-59",
        "config.yaml:23:17: workspaces[1].schedule.destroy: never fires: day 30 does not exist in "
        "FEB",
        "config.yaml:26:14: workspaces[2].enabled: expected true or false, got \"maybe\"",
        "config.yaml:27:20: workspaces[2].cost_per_hour: expected a number, got \"cheap\"",
        "config.yaml:24:5: workspaces[2].name: duplicate workspace name \"ok\" (first at line 19)",
    };
    for (const std::string& e : expected) {
      CHECK_MESSAGE(std::find(errors.begin(), errors.end(), e) != errors.end(),
                    "missing: " << e << "\n got:\n  " << Join(errors, "\n  "));
    }
    CHECK_MESSAGE(errors.size() == expected.size(), "got:\n  " << Join(errors, "\n  "));
  }

  TEST_CASE("config: cron error columns point into the expression") {
    // Unquoted: the value starts at column 24 and "61" two bytes later; a
    // quoted value starts at its opening quote, one further.
    ParseResult plain =
        Parse("workspaces:\n  - name: a\n    template: t\n    schedule: {deploy: 0 61 * * *}\n");
    CHECK(OnlyError(plain) ==
          "config.yaml:4:26: workspaces[0].schedule.deploy: field 2 (hour): value 61 out of range "
          "0-23");
    ParseResult quoted = Parse(
        "workspaces:\n  - name: a\n    template: t\n    schedule: {deploy: \"0 61 * * *\"}\n");
    CHECK(OnlyError(quoted) ==
          "config.yaml:4:27: workspaces[0].schedule.deploy: field 2 (hour): value 61 out of range "
          "0-23");
  }

  TEST_CASE("config: duplicate keys, unknown top-level keys and wrong shapes") {
    CHECK(OnlyError(Parse("state:\n  dir: /a\n  dir: /b\n")) ==
          "config.yaml:3:3: state.dir: duplicate key \"dir\" (first at line 2)");
    CHECK(OnlyError(Parse("workspace:\n  - name: a\n")) ==
          "config.yaml:1:1: unknown key \"workspace\" (did you mean \"workspaces\"?)");
    CHECK(OnlyError(Parse("colour: blue\n")) ==
          "config.yaml:1:1: unknown key \"colour\" (allowed: server, opentofu, scheduler, state, "
          "logging, tracing, ha, templates_dir, workspaces)");
    CHECK(OnlyError(Parse("workspaces: {a: 1}\n")) ==
          "config.yaml:1:13: workspaces: expected a list of workspaces, got a mapping");
    CHECK(OnlyError(Parse("workspaces:\n  - just-a-name\n")) ==
          "config.yaml:2:5: workspaces[0]: expected a workspace mapping, got a scalar");
    CHECK(OnlyError(Parse("workspaces:\n  - name: a\n")) ==
          "config.yaml:2:5: workspaces[0]: missing required key \"template\"");
    CHECK(OnlyError(Parse("- a\n- b\n")) == "config.yaml:1:1: expected a mapping, got a list");
    CHECK(OnlyError(Parse("scheduler:\n  max_concurrent_jobs: [4]\n")) ==
          "config.yaml:2:24: scheduler.max_concurrent_jobs: expected a whole number, got a list");
    CHECK(OnlyError(Parse("scheduler:\n  max_concurrent_jobs: \"4\"\n")) ==
          "config.yaml:2:24: scheduler.max_concurrent_jobs: expected a whole number, got \"4\"");
  }

  TEST_CASE("config: env, labels, backend_config and variables names are checked") {
    ParseResult r = Parse(R"(opentofu:
  env: {"BAD-NAME": x, TF_INPUT: "1"}
workspaces:
  - name: a
    template: t
    variables: {"my var": 1}
    labels: {"9team": x}
    backend_config: {"a b": c}
    env: {GOOD: [1, 2]}
)");
    std::vector<std::string> errors = Errors(r);
    CHECK(errors == std::vector<std::string>{
                        "config.yaml:2:9: opentofu.env.BAD-NAME: \"BAD-NAME\" is not a valid name: "
                        "letters, digits and _, not starting with a digit",
                        "config.yaml:6:17: workspaces[0].variables.my var: \"my var\" is not a "
                        "valid OpenTofu variable name (letters, digits, _ and -, starting with a "
                        "letter or _)",
                        "config.yaml:8:22: workspaces[0].backend_config.a b: \"a b\" is not a "
                        "valid name: no spaces or =",
                        "config.yaml:9:17: workspaces[0].env.GOOD: expected a string, got a list",
                        "config.yaml:7:14: workspaces[0].labels.9team: \"9team\" is not a valid "
                        "name: letters, digits and _, not starting with a digit",
                    });
    std::vector<std::string> warnings = Warnings(r);
    CHECK(std::find(warnings.begin(), warnings.end(),
                    "config.yaml:2:8: opentofu.env.TF_INPUT: warning: is set by provisioner for "
                    "every run; this value is ignored") != warnings.end());
  }

  TEST_CASE("config: variables keep YAML types in terraform.tfvars.json") {
    ParseResult r = Parse(R"(workspaces:
  - name: a
    template: t
    variables:
      count: 3
      quoted: "3"
      ratio: 0.5
      on: true
      off: "false"
      nothing: null
      empty:
      list: [a, 2, {k: v}]
      big: 123456789012345678901234567890
      version: 1.10.0
)");
    REQUIRE_MESSAGE(r.ok(), Join(Errors(r), "\n"));
    CHECK(
        r.config->workspaces[0].variables_json ==
        R"({"big":"123456789012345678901234567890","count":3,"empty":null,"list":["a",2,{"k":"v"}],)"
        R"("nothing":null,"off":"false","on":true,"quoted":"3","ratio":0.5,"version":"1.10.0"})");
  }

  TEST_CASE("config: a kill_grace that does not fit the unit's stop timeout is a warning") {
    // Given the unit's TimeoutStopSec=150s and a daemon that stops within
    // kill_grace + 20 s,
    ParseOptions options;
    options.stop_timeout = std::chrono::seconds(150);
    options.stop_margin = std::chrono::seconds(20);
    options.stop_timeout_source = "/usr/lib/systemd/system/provisioner.service";
    const std::string workspaces =
        "workspaces: [{name: w, template: t, schedule: {deploy: \"0 8 * * *\", destroy: \"0 19 * "
        "* *\"}}]\n";
    // when kill_grace leaves the margin, nothing is said;
    ParseResult fits = Parse("scheduler: {kill_grace: 130s}\n" + workspaces, options);
    REQUIRE(fits.ok());
    CHECK_MESSAGE(Warnings(fits).empty(), Join(Warnings(fits), "\n"));
    // when it does not, the warning names the key, both values and the fix,
    ParseResult late = Parse("scheduler:\n  kill_grace: 5m\n" + workspaces, options);
    REQUIRE(late.ok());
    CHECK(Warnings(late) ==
          std::vector<std::string>{
              "config.yaml:2:15: scheduler.kill_grace: warning: 5m plus the daemon's 20s to stop "
              "exceeds TimeoutStopSec=2m30s (/usr/lib/systemd/system/provisioner.service): "
              "systemd would SIGKILL the daemon before its jobs stop and the state is saved; raise "
              "it with `systemctl edit provisioner`"});
    // and without a known stop timeout (0: none), nothing is checked.
    options.stop_timeout = std::chrono::seconds(0);
    CHECK(Warnings(Parse("scheduler:\n  kill_grace: 5m\n" + workspaces, options)).empty());
  }

  TEST_CASE("config: warnings do not fail validation") {
    ParseResult r = Parse(R"(server: {listen: "0.0.0.0:9090"}
opentofu: {pass_env: ["*"]}
workspaces:
  - name: always-up
    template: t
    schedule: {deploy: "0 8 * * *"}
  - name: guarded
    template: t
    protected: true
    schedule: {deploy: "0 8 * * *", destroy: "0 19 * * *"}
)");
    REQUIRE_MESSAGE(r.ok(), Join(Errors(r), "\n"));
    CHECK(Warnings(r) ==
          std::vector<std::string>{
              "config.yaml:2:23: opentofu.pass_env[0]: warning: \"*\" passes the daemon's whole "
              "environment to tofu",
              "config.yaml:6:15: workspaces[0].schedule: warning: deploys on a schedule but never "
              "destroys it: add schedule.destroy, or the workspace stays up until someone destroys "
              "it",
              "config.yaml:10:15: workspaces[1].schedule.destroy: warning: the workspace is "
              "protected: scheduled destroys will be refused and reported",
              "config.yaml:1:9: server.listen: warning: listening beyond loopback without "
              "authentication: mutating API calls will be refused (set server.web_config_file)",
          });
  }

  TEST_CASE("config: listen addresses") {
    for (const char* good : {"127.0.0.1:9090", "0.0.0.0:0", ":9090", "[::1]:9090", "[::]:80",
                             "localhost:9090", "metrics.internal:9090", "[2001:db8::1]:443"}) {
      CAPTURE(good);
      ParseResult r = Parse(std::string("server: {listen: \"") + good + "\"}\n");
      CHECK_MESSAGE(r.errors.empty(), Join(Errors(r), "\n"));
    }
    struct Case {
      const char* listen;
      const char* message;
    };
    const Case bad[] = {
        {"9090", "\"9090\" needs a port, e.g. \"127.0.0.1:9090\""},
        {"127.0.0.1:99999", "\"127.0.0.1:99999\": port \"99999\" is not a number in 0-65535"},
        {"127.0.0.1:http", "\"127.0.0.1:http\": port \"http\" is not a number in 0-65535"},
        {"256.1.1.1:80", "\"256.1.1.1:80\": \"256.1.1.1\" is not an IP address or host name"},
        {"::1:9090", "\"::1:9090\": put IPv6 addresses in brackets, e.g. \"[::1]:9090\""},
        {"[::g]:80", "\"[::g]:80\": bad IPv6 address"},
        {"bad_host:80", "\"bad_host:80\": \"bad_host\" is not an IP address or host name"},
    };
    for (const Case& c : bad) {
      CAPTURE(c.listen);
      ParseResult r = Parse(std::string("server: {listen: \"") + c.listen + "\"}\n");
      CHECK(OnlyError(r) == std::string("config.yaml:1:18: server.listen: ") + c.message);
    }
  }

  TEST_CASE("config: opentofu.version and download URL") {
    CHECK(OnlyError(Parse("opentofu: {version: v1.12.6}\n")) ==
          "config.yaml:1:21: opentofu.version: \"v1.12.6\": write the version without \"v\", e.g. "
          "1.12.6");
    CHECK(OnlyError(Parse("opentofu: {version: latest}\n")) ==
          "config.yaml:1:21: opentofu.version: \"latest\" is not a release version like 1.12.6");
    ParseResult r =
        Parse("opentofu: {version: 1.13.0-beta1, download_base_url: \"http://m/r/\"}\n");
    REQUIRE(r.ok());
    CHECK(r.config->opentofu.version == "1.13.0-beta1");
    CHECK(r.config->opentofu.download_base_url == "http://m/r");
  }

  TEST_CASE("config: templates are checked through the callback") {
    ParseOptions options;
    std::vector<std::string> asked;
    options.check_template = [&asked](const std::string& dir, const std::string& name) {
      asked.push_back(dir + "|" + name);
      return name == "missing" ? "no template \"missing\" in " + dir : std::string();
    };
    ParseResult r = Parse(
        "templates_dir: /srv/t\nworkspaces:\n  - {name: a, template: ok}\n  - {name: b, template: "
        "missing}\n",
        options);
    CHECK(OnlyError(r) ==
          "config.yaml:4:25: workspaces[1].template: no template \"missing\" in /srv/t");
    CHECK(asked == std::vector<std::string>{"/srv/t|ok", "/srv/t|missing"});
  }

  TEST_CASE("config: hostile and broken files are refused, never crash") {
    CHECK(OnlyError(Parse("")) == "config.yaml: file is empty");
    CHECK(OnlyError(Parse("  \n\t\n")) == "config.yaml: file is empty");
    CHECK(OnlyError(Parse("# only a comment\n")) ==
          "config.yaml: file holds no settings (only comments?)");
    CHECK(OnlyError(Parse(std::string_view("a: 1\n\0\x01\x02", 8))) ==
          "config.yaml: file is not UTF-8 text (binary data at byte 6)");
    CHECK(OnlyError(Parse("a: caf\xe9\n")) ==
          "config.yaml: file is not UTF-8 text (binary data at byte 7)");

    ParseOptions small;
    small.max_bytes = 16;
    CHECK(OnlyError(Parse("state: {dir: /var/lib/provisioner}\n", small)) ==
          "config.yaml: file is 35 bytes, over the limit of 16");

    // The billion laughs: refused at the first anchor, before any expansion.
    std::string laughs =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
    for (char c = 'b'; c <= 'j'; ++c) {
      std::string prev(1, static_cast<char>(c - 1));
      laughs += std::string(1, c) + ": &" + std::string(1, c) + " [*" + prev + ",*" + prev + ",*" +
                prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n";
    }
    CHECK(OnlyError(Parse(laughs)) ==
          "config.yaml:1:4: YAML anchors (&name) are not allowed; write the value out");
    CHECK(OnlyError(Parse("a: &x 1\nb: *x\n")) ==
          "config.yaml:1:4: YAML anchors (&name) are not allowed; write the value out");
    // An alias to nothing never gets past yaml-cpp itself.
    CHECK(OnlyError(Parse("state: *x\n")) ==
          "config.yaml:1:8: the referenced anchor is not defined");

    std::string deep = "workspaces:\n  - name: a\n    template: t\n    variables:\n      v: ";
    deep += std::string(100, '[') + std::string(100, ']') + "\n";
    CHECK(OnlyError(Parse(deep)).find("nested deeper than 32 levels") != std::string::npos);
    std::string very_deep(100000, '[');  // yaml-cpp's own guard, or ours, must stop it
    CHECK_FALSE(Parse(very_deep).ok());

    CHECK(OnlyError(Parse("a: 1\n---\nb: 2\n")) ==
          "config.yaml:2:1: several YAML documents in one file; keep one (remove the extra '---')");
    CHECK(
        OnlyError(Parse("state: {dir: !!binary aGk=}\n")) ==
        "config.yaml:1:14: YAML tags (tag:yaml.org,2002:binary) are not supported; use quotes for "
        "strings");
    CHECK(OnlyError(Parse("state: {dir: /a\n")) == "config.yaml:2:1: end of map flow not found");
  }

  TEST_CASE("config: random garbage never crashes the loader") {
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    auto next = [&seed] {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      return seed;
    };
    const char* tokens[] = {
        "workspaces:", "\n",        "  ",        "- ",          "name: ",    "{",
        "}",           "[",         "]",         ",",           ": ",        "\"",
        "'",           "&a ",       "*a",        "#",           "|",         ">",
        "!!str ",      "---",       "0 8 * * *", "template: t", "schedule:", "deploy: ",
        "\t",          "%YAML 1.2", "~",         "null",        "true",      "9999999999999999999"};
    for (int i = 0; i < 3000; ++i) {
      std::string text;
      int n = static_cast<int>(next() % 40);
      for (int k = 0; k < n; ++k) {
        if (next() % 10 == 0) {
          text.push_back(static_cast<char>(next() % 256));
        } else {
          text += tokens[next() % (sizeof tokens / sizeof tokens[0])];
        }
      }
      ParseResult r = Parse(text);
      CHECK((r.ok() || !r.errors.empty()));
    }
  }

  TEST_CASE("config: ParseYaml keeps positions and quoting") {
    YamlError err;
    auto root = ParseYaml("a: 'x'\nb:\n  - 1\n  - \"2\"\n", YamlLimits{}, &err);
    REQUIRE_OK(root);
    REQUIRE(root->IsMap());
    REQUIRE(root->entries.size() == 2);
    CHECK(root->entries[0].second.quoted);
    CHECK(root->entries[0].second.mark.line == 1);
    CHECK(root->entries[0].second.mark.column == 4);
    const YamlNode& list = root->entries[1].second;
    REQUIRE(list.IsSequence());
    CHECK_FALSE(list.items[0].quoted);
    CHECK(list.items[1].quoted);
    CHECK(list.items[1].mark.line == 4);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::config
