// provisioner validate --config FILE
// provisioner next --config FILE [--count N] [--from T] [--workspace NAME] [--json]
#include <algorithm>
#include <memory>
#include <ostream>
#include <set>

#include "app/cli_commands.h"
#include "app/config_file.h"
#include "base/strings.h"
#include "base/time_format.h"
#include "scheduler/planner.h"

namespace provisioner::app {
namespace {

using config::Diagnostic;
using scheduler::Action;
using scheduler::ScheduledFire;

std::string Plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

void PrintDiagnostics(CliEnv& env, const config::ParseResult& r) {
  for (const Diagnostic& d : r.errors) env.err << d.ToString() << "\n";
  for (const Diagnostic& d : r.warnings) env.err << d.ToString() << "\n";
}

int RunValidate(CliEnv& env, const std::string& path) {
  ConfigLoad load = LoadConfigFile(env.fs, path, env.cwd);
  if (!load.read_status.ok()) return UsageError(env, load.read_status.message());
  const config::ParseResult& r = load.parse;
  PrintDiagnostics(env, r);
  if (!r.ok()) {
    env.err << path << ": " << Plural(r.errors.size(), "error") << ", "
            << Plural(r.warnings.size(), "warning") << "\n";
    return kExitFailure;
  }
  const config::Config& c = *r.config;
  size_t scheduled = 0;
  std::set<std::string> templates;
  for (const auto& ws : c.workspaces) {
    if (ws.schedule.deploy_expr || ws.schedule.destroy_expr) ++scheduled;
    templates.insert(ws.template_name);
  }
  env.out << path << ": OK: " << Plural(c.workspaces.size(), "workspace") << " (" << scheduled
          << " scheduled), " << Plural(templates.size(), "template") << ", "
          << Plural(r.warnings.size(), "warning") << "\n";
  return kExitOk;
}

struct NextOptions {
  std::string config;
  int count = 3;
  std::string from;
  std::string workspace;
  bool json = false;
};

// "2026-03-29" and "02:30" (":SS" only when not zero) of a local wall time.
std::pair<std::string, std::string> LocalDateAndTime(cron::LocalSeconds nominal) {
  std::string text = FormatRfc3339(SystemTime(nominal), std::chrono::seconds(0));
  std::string date = text.substr(0, 10);
  std::string time = text.substr(11, 8);
  if (time.ends_with(":00")) time.resize(5);
  return {date, time};
}

// The DST or suppression note of a fire, or "".
std::string NoteFor(const ScheduledFire& f, const cron::TimeZone& zone) {
  std::string note;
  auto [date, time] = LocalDateAndTime(f.fire.nominal);
  auto local_time = [&zone](SystemTime t) {
    return FormatRfc3339(t, zone.OffsetAt(t)).substr(11, 5);
  };
  switch (f.fire.note) {
    case cron::DstNote::kNone:
      break;
    case cron::DstNote::kShiftedFromGap:
      note = time + " does not exist on " + date + " in " + zone.name() + "; fires at " +
             local_time(f.fire.at);
      break;
    case cron::DstNote::kFirstOfRepeated:
      note = time + " occurs twice on " + date + " in " + zone.name() +
             "; fires once, at the first (UTC" +
             FormatRfc3339(f.fire.at, zone.OffsetAt(f.fire.at)).substr(19) + ")";
      break;
    case cron::DstNote::kRepeatedEach:
      note = time + " occurs twice on " + date + " in " + zone.name() +
             "; an every-hour schedule fires at both (this is UTC" +
             FormatRfc3339(f.fire.at, zone.OffsetAt(f.fire.at)).substr(19) + ")";
      break;
  }
  std::string refused;
  switch (f.suppressed) {
    case scheduler::Suppression::kNone:
    case scheduler::Suppression::kMissed:
      break;
    case scheduler::Suppression::kPaused:
      refused = "skipped: paused";
      break;
    case scheduler::Suppression::kDisabled:
      refused = "skipped: workspace disabled";
      break;
    case scheduler::Suppression::kProtected:
      refused = "refused: workspace is protected";
      break;
  }
  if (!refused.empty()) note = note.empty() ? refused : note + "; " + refused;
  return note;
}

std::string DesiredText(const scheduler::Plan& plan) {
  if (!plan.desired) return "none (no schedule has fired yet)";
  return std::string(*plan.desired == Action::kDeploy ? "deployed" : "destroyed");
}

int RunNext(CliEnv& env, const NextOptions& opts) {
  if (opts.count < 1 || opts.count > 1000) {
    return UsageError(env, "--count: " + std::to_string(opts.count) + " is out of range 1-1000");
  }
  SystemTime from = env.clock.Now();
  if (!opts.from.empty()) {
    auto parsed = ParseRfc3339(opts.from);
    if (!parsed.ok()) return UsageError(env, "--from: " + parsed.status().message());
    from = *parsed;
  }
  ConfigLoad load = LoadConfigFile(env.fs, opts.config, env.cwd);
  if (!load.read_status.ok()) return UsageError(env, load.read_status.message());
  if (!load.parse.ok()) {
    PrintDiagnostics(env, load.parse);
    return UsageError(
        env, opts.config + ": invalid config (" + Plural(load.parse.errors.size(), "error") + ")");
  }
  const config::Config& c = *load.parse.config;
  if (!opts.workspace.empty() && c.FindWorkspace(opts.workspace) == nullptr) {
    return UsageError(env,
                      "--workspace: no workspace \"" + opts.workspace + "\" in " + opts.config);
  }

  scheduler::Planner planner(c);
  const scheduler::Overrides none;
  std::string json = "{\"from\":";
  AppendJsonString(&json, FormatUtc(from));
  json += ",\"workspaces\":[";
  bool first_ws = true;
  for (const config::WorkspaceConfig& ws : c.workspaces) {
    if (!opts.workspace.empty() && ws.name != opts.workspace) continue;
    const cron::TimeZone& zone = *ws.schedule.zone;
    scheduler::Plan plan = planner.DesiredAt(ws, none, from);
    std::vector<ScheduledFire> fires;
    for (Action a : {Action::kDeploy, Action::kDestroy}) {
      auto next = planner.NextFires(ws, none, a, from, static_cast<size_t>(opts.count));
      fires.insert(fires.end(), next.begin(), next.end());
    }
    std::stable_sort(fires.begin(), fires.end(),
                     [](const ScheduledFire& a, const ScheduledFire& b) { return a.at < b.at; });
    const auto jitter = scheduler::JitterFor(ws.name, c.scheduler.jitter);
    auto local = [&zone](SystemTime t) { return FormatRfc3339(t, zone.OffsetAt(t)); };

    if (opts.json) {
      if (!first_ws) json += ",";
      first_ws = false;
      json += "{\"name\":";
      AppendJsonString(&json, ws.name);
      json += ",\"template\":";
      AppendJsonString(&json, ws.template_name);
      json += ",\"timezone\":";
      AppendJsonString(&json, zone.name());
      json += ",\"jitter_seconds\":" + std::to_string(jitter.count());
      json += ",\"enabled\":";
      json += ws.enabled ? "true" : "false";
      json += ",\"protected\":";
      json += ws.is_protected ? "true" : "false";
      json += ",\"desired\":";
      if (plan.desired) {
        json += "{\"state\":";
        AppendJsonString(&json, *plan.desired == Action::kDeploy ? "deployed" : "destroyed");
        json += ",\"since\":";
        AppendJsonString(&json, local(*plan.since));
        json += ",\"since_utc\":";
        AppendJsonString(&json, FormatUtc(*plan.since));
        json += "}";
      } else {
        json += "null";
      }
      json += ",\"actions\":[";
      for (size_t i = 0; i < fires.size(); ++i) {
        const ScheduledFire& f = fires[i];
        if (i > 0) json += ",";
        json += "{\"action\":";
        AppendJsonString(&json, scheduler::ActionName(f.action));
        json += ",\"at\":";
        AppendJsonString(&json, local(f.at));
        json += ",\"at_utc\":";
        AppendJsonString(&json, FormatUtc(f.at));
        json += ",\"suppressed\":";
        AppendJsonString(&json, scheduler::SuppressionName(f.suppressed));
        std::string note = NoteFor(f, zone);
        json += ",\"note\":";
        if (note.empty()) {
          json += "null";
        } else {
          AppendJsonString(&json, note);
        }
        json += "}";
      }
      json += "]}";
      continue;
    }

    env.out << ws.name << " (template " << ws.template_name << ", " << zone.name();
    if (jitter.count() > 0) env.out << ", jitter +" << jitter.count() << "s";
    if (!ws.enabled) env.out << ", disabled";
    if (ws.is_protected) env.out << ", protected";
    env.out << ")\n  desired now: " << DesiredText(plan);
    if (plan.since)
      env.out << " since " << local(*plan.since) << " (" << FormatUtc(*plan.since) << ")";
    env.out << "\n";
    if (fires.empty()) env.out << "  no scheduled actions\n";
    for (const ScheduledFire& f : fires) {
      std::string action(scheduler::ActionName(f.action));
      action.resize(8, ' ');
      env.out << "  " << action << local(f.at) << "  " << FormatUtc(f.at);
      std::string note = NoteFor(f, zone);
      if (!note.empty()) env.out << "  [" << note << "]";
      env.out << "\n";
    }
  }
  if (opts.json) env.out << json << "]}\n";
  return kExitOk;
}

}  // namespace

void RegisterConfigCommands(CLI::App& app, CliEnv& env, int* exit_code) {
  auto* validate = app.add_subcommand(
      "validate", "Check a config file; exit 0, or 1 listing every error with file:line:col");
  auto config_path = std::make_shared<std::string>();
  validate->add_option("--config", *config_path, "Config file (YAML or JSON)")->required();
  validate->callback(
      [&env, exit_code, config_path] { *exit_code = RunValidate(env, *config_path); });

  auto* next = app.add_subcommand(
      "next", "Desired state now and the next deploy and destroy actions, with DST notes");
  auto opts = std::make_shared<NextOptions>();
  next->add_option("--config", opts->config, "Config file (YAML or JSON)")->required();
  next->add_option("--count", opts->count, "Actions of each kind per workspace")
      ->capture_default_str();
  next->add_option("--from", opts->from, "RFC 3339 time to look from (default: now)");
  next->add_option("--workspace", opts->workspace, "Only this workspace");
  next->add_flag("--json", opts->json, "JSON for scripts");
  next->callback([&env, exit_code, opts] { *exit_code = RunNext(env, *opts); });
}

}  // namespace provisioner::app
