// provisioner cron next|prev EXPR [--tz ZONE] [--from T] [--count N]
#include <memory>
#include <ostream>

#include "app/cli_commands.h"
#include "base/time_format.h"
#include "cron/cron_expr.h"
#include "cron/time_zone.h"

namespace provisioner::app {
namespace {

struct CronOptions {
  std::string expr;
  std::string tz = "UTC";
  std::string from;
  int count = 1;
};

enum class Direction { kNext, kPrev };

int RunCron(CliEnv& env, const CronOptions& opts, Direction dir) {
  auto expr = cron::ParseCron(opts.expr);
  if (!expr.ok())
    return UsageError(env, "cron expression \"" + opts.expr + "\": " + expr.status().message());
  auto zone = cron::TimeZone::Load(opts.tz);
  if (!zone.ok()) return UsageError(env, "--tz: " + zone.status().message());
  if (opts.count < 1 || opts.count > 10000) {
    return UsageError(env, "--count: " + std::to_string(opts.count) + " is out of range 1-10000");
  }
  SystemTime from = env.clock.Now();
  if (!opts.from.empty()) {
    auto parsed = ParseRfc3339(opts.from);
    if (!parsed.ok()) return UsageError(env, "--from: " + parsed.status().message());
    from = *parsed;
  }
  for (int i = 0; i < opts.count; ++i) {
    std::optional<cron::Fire> fire = dir == Direction::kNext
                                         ? cron::NextFire(*expr, *zone, from)
                                         : cron::PreviousFire(*expr, *zone, from);
    if (!fire) {
      // Only at the edges of the supported range (1970-2262): the parser
      // already refused expressions that never fire.
      if (i == 0) return Failure(env, "no fire time within the supported range (1970-2262)");
      break;
    }
    env.out << FormatRfc3339(fire->at, zone->OffsetAt(fire->at)) << "\n";
    // next: --from is exclusive, so the fire itself is the next start.
    // prev: --from is inclusive, so step one second before the fire.
    from = dir == Direction::kNext ? fire->at : fire->at - std::chrono::seconds(1);
  }
  return kExitOk;
}

void AddCronSubcommand(CLI::App& parent, CliEnv& env, int* exit_code, Direction dir) {
  const bool next = dir == Direction::kNext;
  auto* cmd =
      parent.add_subcommand(next ? "next" : "prev",
                            next ? "Fire times after --from (exclusive), one RFC 3339 time per line"
                                 : "Fire times at or before --from (inclusive), latest first");
  auto opts = std::make_shared<CronOptions>();
  cmd->add_option("EXPR", opts->expr, "Cron expression, 5 or 6 fields or a macro (quote it)")
      ->required();
  cmd->add_option("--tz", opts->tz, "IANA time zone of the schedule and of the output")
      ->capture_default_str();
  cmd->add_option("--from", opts->from, "RFC 3339 start time (default: now)");
  cmd->add_option("--count", opts->count, "How many times to print")->capture_default_str();
  cmd->callback([&env, exit_code, opts, dir] { *exit_code = RunCron(env, *opts, dir); });
}

}  // namespace

void RegisterCronCommands(CLI::App& app, CliEnv& env, int* exit_code) {
  auto* cron = app.add_subcommand("cron", "Evaluate a cron expression");
  cron->require_subcommand(1);
  AddCronSubcommand(*cron, env, exit_code, Direction::kNext);
  AddCronSubcommand(*cron, env, exit_code, Direction::kPrev);
}

}  // namespace provisioner::app
