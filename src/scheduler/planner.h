// The Planner: what state a workspace should be in, and when that changes.
//
// Pure functions of the config, the overrides an operator set through the
// API, and an instant (DESIGN.md §4). No clock, no I/O, no locks.
//
// Desired state is level-triggered. Each workspace has a timeline of events:
// scheduled deploy fires, scheduled destroy fires (each delayed by the
// workspace's stable jitter), and manual deploys and destroys, which may
// carry an `until` after which they stop counting. At any instant the
// desired state is the action of the latest event at or before it.
//
// Scheduled fires are suppressed (they are not events) while:
//  - the workspace is paused (a pause window, possibly open-ended);
//  - the workspace is disabled (`enabled: false`, a permanent pause);
//  - the daemon was down and catch_up is false (the downtime window);
//  - it is a destroy and the workspace is protected (refused and reported).
// Manual events are never suppressed.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "config/config.h"
#include "cron/cron_expr.h"

namespace provisioner::scheduler {

enum class Action : uint8_t { kDeploy, kDestroy };
std::string_view ActionName(Action action);  // "deploy", "destroy"

struct ManualEvent {
  Action action = Action::kDeploy;
  SystemTime at;
  // Stops counting at this instant; the schedule takes over again.
  std::optional<SystemTime> until;
};

// A half-open window [from, until); no `until` means it never ends.
struct Window {
  SystemTime from;
  std::optional<SystemTime> until;
  bool Contains(SystemTime t) const { return t >= from && (!until || t < *until); }
};

// What an operator (or downtime) has said about one workspace.
struct Overrides {
  // Manual events still in force, in time order.
  std::vector<ManualEvent> manual;
  std::optional<Window> pause;
  // When catch_up is false: the time the daemon was down, whose scheduled
  // fires are skipped.
  std::optional<Window> downtime;
};

enum class Source : uint8_t { kNone, kSchedule, kManual };

// Why a scheduled fire did not count as an event.
enum class Suppression : uint8_t { kNone, kPaused, kDisabled, kProtected, kMissed };
std::string_view SuppressionName(Suppression s);  // "none", "paused", ...

struct ScheduledFire {
  Action action = Action::kDeploy;
  SystemTime at;    // the effective instant, jitter included
  cron::Fire fire;  // the cron fire it comes from (DST notes, nominal time)
  Suppression suppressed = Suppression::kNone;
};

struct Plan {
  // nullopt when no event has happened yet: the planner has no opinion.
  std::optional<Action> desired;
  // The instant of the event that decided `desired`.
  std::optional<SystemTime> since;
  Source source = Source::kNone;
  // The next instant at which `desired` may change: a scheduled fire that
  // counts, the end of a manual event or of a pause. nullopt: never.
  std::optional<SystemTime> next_change;
  bool paused = false;
  bool disabled = false;
};

// The stable per-workspace delay in [0, jitter): a hash of the name, so every
// daemon and every restart agrees on it. Whole seconds.
std::chrono::seconds JitterFor(std::string_view workspace, std::chrono::milliseconds jitter);

class Planner {
 public:
  // `config` must outlive the Planner; a reload makes a new Planner.
  explicit Planner(const config::Config& config) : config_(config) {}

  // The desired state of `ws` at `now`.
  Plan DesiredAt(const config::WorkspaceConfig& ws, const Overrides& overrides,
                 SystemTime now) const;

  // The scheduled fires of `ws` in (after, until], in time order, each with
  // its suppression. At most `limit` of them.
  std::vector<ScheduledFire> FiresBetween(const config::WorkspaceConfig& ws,
                                          const Overrides& overrides, SystemTime after,
                                          SystemTime until, size_t limit) const;

  // The next `count` fires of one action strictly after `after`, whether or
  // not they are suppressed.
  std::vector<ScheduledFire> NextFires(const config::WorkspaceConfig& ws,
                                       const Overrides& overrides, Action action, SystemTime after,
                                       size_t count) const;

 private:
  std::optional<ScheduledFire> NextFire(const config::WorkspaceConfig& ws,
                                        const Overrides& overrides, Action action,
                                        SystemTime after) const;
  std::optional<ScheduledFire> PreviousFire(const config::WorkspaceConfig& ws,
                                            const Overrides& overrides, Action action,
                                            SystemTime at_or_before) const;
  Suppression SuppressionAt(const config::WorkspaceConfig& ws, const Overrides& overrides,
                            Action action, SystemTime at) const;

  const config::Config& config_;
};

}  // namespace provisioner::scheduler
