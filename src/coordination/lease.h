// The leader lease of HA mode (DESIGN.md §11; shared/reference/ha-postgresql.md
// §6.3): the decisions, apart from the database and the clock.
//
// One row in the database says who leads: (holder, term, expires_at). Every
// node tries one conditional statement on it, acquire-or-renew, which the
// database decides on its own clock: the row is taken when it is free, expired
// or already ours, and `term` goes up by one whenever leadership changes hands
// (or lapsed and came back). LeaseState turns the outcomes of those attempts,
// and the passing of local time, into a role:
//
//   - a follower that gets the row becomes leader of the term it read;
//   - a leader whose renewal names someone else, or a newer term, demotes at
//     once: its old term is fenced out in the database anyway;
//   - a leader whose renewals fail (unreachable, timed out) stays leader only
//     until `renew_deadline` after the *send* time of its last good renewal,
//     then demotes without waiting for the database. The database set the
//     expiry from a later instant, `lease_ttl` after it received that
//     statement, so with renew_deadline < lease_ttl the local deadline always
//     falls first (by a margin that tolerates clocks that run at different
//     rates, up to lease_ttl / renew_deadline).
//
// Times are a monotonic clock that keeps counting while the machine sleeps
// (CLOCK_BOOTTIME in the daemon); they are passed in, so tests need no clock.
// Not thread-safe: one owner drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/result.h"

namespace provisioner::coordination {

// From the config's `ha:` block, which checks that renew_interval is at most
// half of renew_deadline and renew_deadline shorter than ttl (config_parse.cc).
struct LeaseTimings {
  std::chrono::milliseconds ttl{15'000};            // expiry, on the database's clock
  std::chrono::milliseconds renew_interval{3'000};  // a leader renews this often
  std::chrono::milliseconds renew_deadline{
      10'000};  // ... and demotes this long after its last good one
  std::chrono::milliseconds retry_interval{2'000};  // a follower tries this often,
  double retry_jitter = 1.2;                        // times a factor drawn from [1, retry_jitter]
};

// The row after one acquire-or-renew statement.
struct LeaseRow {
  std::string holder;  // "" when nobody ever held it
  int64_t term = 0;
};

enum class Role { kFollower, kLeader };
const char* RoleName(Role r);  // "follower", "leader"

// What an event did to the role, for logs and metrics.
struct LeaseChange {
  bool changed = false;
  Role role = Role::kFollower;
  int64_t term = 0;
  std::string why;  // set when changed: "acquired term 4", "renew deadline passed", ...
};

class LeaseState {
 public:
  LeaseState(std::string node, LeaseTimings timings);

  // The outcome of one acquire-or-renew statement sent at `sent_at`: the row
  // it left, or the error that kept it from answering. `jitter` in [0, 1)
  // places the next follower attempt within [retry_interval, retry_interval
  // * retry_jitter].
  LeaseChange OnAttempt(MonotonicTime sent_at, const Result<LeaseRow>& outcome, double jitter);

  // Applies the local deadline at `now`.
  LeaseChange OnTime(MonotonicTime now);

  // After a clean release: leadership is given up at once.
  LeaseChange OnReleased();

  // What the next statement passes as the term it renews: the current term
  // while leading, nullopt otherwise. The statement keeps the term only for a
  // renewal of that very term, and moves it up by one for any other taking
  // of the row, so that a node which demoted (and may have left writes of its
  // old term in flight) never leads under that term again.
  std::optional<int64_t> renewing_term() const;

  // When the next attempt is due; the first is due at once.
  MonotonicTime next_attempt() const { return next_attempt_; }
  // A leader's local deadline; nullopt for a follower.
  std::optional<MonotonicTime> deadline() const;

  Role role() const { return role_; }
  bool leader() const { return role_ == Role::kLeader; }
  // The term of the current leadership, or the newest term seen as follower.
  int64_t term() const { return term_; }
  const std::string& holder_seen() const { return holder_seen_; }
  const std::string& node() const { return node_; }
  const LeaseTimings& timings() const { return timings_; }

  // Counters for metrics: changes of role, and attempts that failed (an error
  // from the database, not a row held by another node).
  uint64_t transitions() const { return transitions_; }
  uint64_t attempt_failures() const { return attempt_failures_; }

 private:
  LeaseChange Become(Role role, std::string why);

  const std::string node_;
  const LeaseTimings timings_;
  Role role_ = Role::kFollower;
  int64_t term_ = 0;
  std::string holder_seen_;
  MonotonicTime last_good_send_{};
  MonotonicTime next_attempt_{};
  uint64_t transitions_ = 0;
  uint64_t attempt_failures_ = 0;
};

}  // namespace provisioner::coordination
