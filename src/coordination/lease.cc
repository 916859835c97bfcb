#include "coordination/lease.h"

#include <algorithm>
#include <utility>

#include "base/duration.h"
#include "base/strings.h"

namespace provisioner::coordination {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

const char* RoleName(Role r) { return r == Role::kLeader ? "leader" : "follower"; }

LeaseState::LeaseState(std::string node, LeaseTimings timings)
    : node_(std::move(node)), timings_(timings) {}

std::optional<int64_t> LeaseState::renewing_term() const {
  return leader() ? std::optional<int64_t>(term_) : std::nullopt;
}

std::optional<MonotonicTime> LeaseState::deadline() const {
  if (!leader()) return std::nullopt;
  return last_good_send_ + timings_.renew_deadline;
}

LeaseChange LeaseState::Become(Role role, std::string why) {
  role_ = role;
  ++transitions_;
  return LeaseChange{true, role_, term_, std::move(why)};
}

LeaseChange LeaseState::OnAttempt(MonotonicTime sent_at, const Result<LeaseRow>& outcome,
                                  double jitter) {
  const auto retry = duration_cast<MonotonicTime::duration>(
      timings_.retry_interval *
      (1.0 + std::clamp(jitter, 0.0, 1.0) * (timings_.retry_jitter - 1.0)));
  if (!outcome.ok()) {
    // The database did not answer: a leader keeps its role until its local
    // deadline (OnTime), and everyone tries again soon.
    ++attempt_failures_;
    next_attempt_ = sent_at + retry;
    return LeaseChange{false, role_, term_, ""};
  }
  const LeaseRow& row = *outcome;
  holder_seen_ = row.holder;
  if (row.holder != node_) {
    next_attempt_ = sent_at + retry;
    const int64_t old = term_;
    term_ = std::max(term_, row.term);
    if (!leader()) return LeaseChange{false, role_, term_, ""};
    return Become(Role::kFollower,
                  StringPrintf("lost the lease of term %lld: \"%s\" holds term %lld",
                               static_cast<long long>(old), row.holder.c_str(),
                               static_cast<long long>(row.term)));
  }
  // The row is ours, from `sent_at` on: the database set its expiry after it
  // received the statement.
  last_good_send_ = sent_at;
  next_attempt_ = sent_at + timings_.renew_interval;
  if (leader() && row.term == term_) return LeaseChange{false, role_, term_, ""};
  const int64_t old = term_;
  const bool was_leader = leader();
  term_ = row.term;
  if (was_leader) {
    // Our term lapsed in the database and the row came back to us under a
    // new one: the old term's writes are fenced out, so this is a new
    // leadership (counted as one transition).
    ++transitions_;
    return LeaseChange{true, role_, term_,
                       StringPrintf("the lease of term %lld had lapsed; leading again as term %lld",
                                    static_cast<long long>(old), static_cast<long long>(term_))};
  }
  return Become(Role::kLeader,
                StringPrintf("acquired the lease as term %lld", static_cast<long long>(term_)));
}

LeaseChange LeaseState::OnTime(MonotonicTime now) {
  if (!leader() || now < *deadline()) return LeaseChange{false, role_, term_, ""};
  // Try to get it back at once: the database may just have been slow.
  next_attempt_ = now;
  return Become(Role::kFollower,
                "no successful renewal for " + FormatDuration(timings_.renew_deadline) +
                    StringPrintf(" (term %lld): demoted before the lease can expire",
                                 static_cast<long long>(term_)));
}

LeaseChange LeaseState::OnReleased() {
  if (!leader()) return LeaseChange{false, role_, term_, ""};
  return Become(Role::kFollower,
                StringPrintf("released the lease of term %lld", static_cast<long long>(term_)));
}

}  // namespace provisioner::coordination
