#include "scheduler/planner.h"

#include <algorithm>

namespace provisioner::scheduler {
namespace {

// Suppression windows can hide many fires; skipping a window is one step, and
// a workspace has at most a pause and a downtime window, so a handful of steps
// always suffices. The bound only guards against a bug turning into a hang.
constexpr int kMaxSkips = 16;

const std::optional<cron::CronExpr>& ExprFor(const config::WorkspaceConfig& ws, Action action) {
  return action == Action::kDeploy ? ws.schedule.deploy_expr : ws.schedule.destroy_expr;
}

}  // namespace

std::string_view ActionName(Action action) {
  return action == Action::kDeploy ? "deploy" : "destroy";
}

std::string_view SuppressionName(Suppression s) {
  switch (s) {
    case Suppression::kNone:
      return "none";
    case Suppression::kPaused:
      return "paused";
    case Suppression::kDisabled:
      return "disabled";
    case Suppression::kProtected:
      return "protected";
    case Suppression::kMissed:
      return "missed";
  }
  return "none";
}

std::chrono::seconds JitterFor(std::string_view workspace, std::chrono::milliseconds jitter) {
  const int64_t range = std::chrono::duration_cast<std::chrono::seconds>(jitter).count();
  if (range <= 0) return std::chrono::seconds(0);
  // FNV-1a: stable across builds and platforms, unlike std::hash.
  uint64_t h = 14695981039346656037ull;
  for (char c : workspace) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return std::chrono::seconds(static_cast<int64_t>(h % static_cast<uint64_t>(range)));
}

Suppression Planner::SuppressionAt(const config::WorkspaceConfig& ws, const Overrides& overrides,
                                   Action action, SystemTime at) const {
  if (!ws.enabled) return Suppression::kDisabled;
  if (action == Action::kDestroy && ws.is_protected) return Suppression::kProtected;
  if (overrides.pause && overrides.pause->Contains(at)) return Suppression::kPaused;
  if (overrides.downtime && overrides.downtime->Contains(at)) return Suppression::kMissed;
  return Suppression::kNone;
}

std::optional<ScheduledFire> Planner::NextFire(const config::WorkspaceConfig& ws,
                                               const Overrides& overrides, Action action,
                                               SystemTime after) const {
  const auto& expr = ExprFor(ws, action);
  if (!expr || ws.schedule.zone == nullptr) return std::nullopt;
  const auto jitter = JitterFor(ws.name, config_.scheduler.jitter);
  auto fire = cron::NextFire(*expr, *ws.schedule.zone, after - jitter);
  if (!fire) return std::nullopt;
  ScheduledFire out{action, fire->at + jitter, *fire, Suppression::kNone};
  out.suppressed = SuppressionAt(ws, overrides, action, out.at);
  return out;
}

std::optional<ScheduledFire> Planner::PreviousFire(const config::WorkspaceConfig& ws,
                                                   const Overrides& overrides, Action action,
                                                   SystemTime at_or_before) const {
  const auto& expr = ExprFor(ws, action);
  if (!expr || ws.schedule.zone == nullptr) return std::nullopt;
  const auto jitter = JitterFor(ws.name, config_.scheduler.jitter);
  auto fire = cron::PreviousFire(*expr, *ws.schedule.zone, at_or_before - jitter);
  if (!fire) return std::nullopt;
  ScheduledFire out{action, fire->at + jitter, *fire, Suppression::kNone};
  out.suppressed = SuppressionAt(ws, overrides, action, out.at);
  return out;
}

Plan Planner::DesiredAt(const config::WorkspaceConfig& ws, const Overrides& overrides,
                        SystemTime now) const {
  Plan plan;
  plan.disabled = !ws.enabled;
  plan.paused = overrides.pause && overrides.pause->Contains(now);

  // The latest counting scheduled fire of each action at or before now.
  auto latest_counting = [&](Action action) -> std::optional<ScheduledFire> {
    SystemTime t = now;
    for (int i = 0; i < kMaxSkips; ++i) {
      auto f = PreviousFire(ws, overrides, action, t);
      if (!f) return std::nullopt;
      switch (f->suppressed) {
        case Suppression::kNone:
          return f;
        case Suppression::kPaused:
          t = overrides.pause->from - std::chrono::nanoseconds(1);
          break;
        case Suppression::kMissed:
          t = overrides.downtime->from - std::chrono::nanoseconds(1);
          break;
        case Suppression::kDisabled:
        case Suppression::kProtected:
          return std::nullopt;  // every fire of this action is suppressed
      }
    }
    return std::nullopt;
  };

  auto consider = [&plan](Action action, SystemTime at, Source source) {
    // Later wins. On a tie a manual event beats the schedule (the operator
    // acted at that instant) and a destroy beats a deploy (the cheaper
    // mistake).
    bool better = !plan.since || at > *plan.since;
    if (!better && plan.since && at == *plan.since) {
      better = (source == Source::kManual && plan.source != Source::kManual) ||
               (source == plan.source && action == Action::kDestroy);
    }
    if (better) {
      plan.desired = action;
      plan.since = at;
      plan.source = source;
    }
  };

  for (Action action : {Action::kDeploy, Action::kDestroy}) {
    if (auto f = latest_counting(action)) consider(action, f->at, Source::kSchedule);
  }
  for (const ManualEvent& m : overrides.manual) {
    if (m.at <= now && (!m.until || now < *m.until)) consider(m.action, m.at, Source::kManual);
  }

  // When the answer can next change.
  auto earliest = [&plan](SystemTime t) {
    if (!plan.next_change || t < *plan.next_change) plan.next_change = t;
  };
  for (Action action : {Action::kDeploy, Action::kDestroy}) {
    SystemTime t = now;
    for (int i = 0; i < kMaxSkips; ++i) {
      auto f = NextFire(ws, overrides, action, t);
      if (!f) break;
      if (f->suppressed == Suppression::kNone) {
        earliest(f->at);
        break;
      }
      const std::optional<Window>& window = f->suppressed == Suppression::kPaused ? overrides.pause
                                            : f->suppressed == Suppression::kMissed
                                                ? overrides.downtime
                                                : std::nullopt;
      if (!window || !window->until) break;  // suppressed for good
      t = *window->until - std::chrono::nanoseconds(1);
    }
  }
  for (const ManualEvent& m : overrides.manual) {
    if (m.until && *m.until > now) earliest(*m.until);
  }
  if (plan.paused && overrides.pause->until) earliest(*overrides.pause->until);
  return plan;
}

std::vector<ScheduledFire> Planner::FiresBetween(const config::WorkspaceConfig& ws,
                                                 const Overrides& overrides, SystemTime after,
                                                 SystemTime until, size_t limit) const {
  std::vector<ScheduledFire> out;
  std::optional<ScheduledFire> next[2] = {NextFire(ws, overrides, Action::kDeploy, after),
                                          NextFire(ws, overrides, Action::kDestroy, after)};
  while (out.size() < limit) {
    int pick = -1;
    for (int i = 0; i < 2; ++i) {
      if (next[i] && next[i]->at <= until && (pick < 0 || next[i]->at < next[pick]->at)) pick = i;
    }
    if (pick < 0) break;
    out.push_back(*next[pick]);
    next[pick] = NextFire(ws, overrides, next[pick]->action, next[pick]->at);
  }
  return out;
}

std::vector<ScheduledFire> Planner::NextFires(const config::WorkspaceConfig& ws,
                                              const Overrides& overrides, Action action,
                                              SystemTime after, size_t count) const {
  std::vector<ScheduledFire> out;
  SystemTime t = after;
  while (out.size() < count) {
    auto f = NextFire(ws, overrides, action, t);
    if (!f) break;
    t = f->at;
    out.push_back(*f);
  }
  return out;
}

}  // namespace provisioner::scheduler
