#include "coordination/job_claims.h"

#include <algorithm>
#include <set>
#include <utility>

#include "base/duration.h"

namespace provisioner::coordination {

ClaimKeeper::ClaimKeeper(ClaimRenewer& db, platform::ProcessRunner& runner, Options options)
    : db_(db), runner_(runner), options_(std::move(options)) {}

ClaimKeeper::~ClaimKeeper() { Stop(); }

void ClaimKeeper::Track(const std::string& job_id, int64_t epoch, platform::RunHandle handle,
                        MonotonicTime sent) {
  {
    MutexLock lock(mu_);
    tracked_[job_id] = Tracked{epoch, handle, sent, std::nullopt};
  }
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    new_claim_ = true;
  }
  stop_cv_.notify_all();
}

bool ClaimKeeper::SetHandle(const std::string& job_id, platform::RunHandle handle) {
  MutexLock lock(mu_);
  auto it = tracked_.find(job_id);
  if (it == tracked_.end()) return true;
  it->second.handle = handle;
  if (!it->second.lost_why) return true;
  runner_.Stop(handle, platform::StopReason::kShutdown);
  return false;
}

void ClaimKeeper::Untrack(const std::string& job_id) {
  MutexLock lock(mu_);
  tracked_.erase(job_id);
}

std::optional<std::string> ClaimKeeper::LostWhy(const std::string& job_id) const {
  MutexLock lock(mu_);
  auto it = tracked_.find(job_id);
  return it == tracked_.end() ? std::nullopt : it->second.lost_why;
}

uint64_t ClaimKeeper::claims_lost() const {
  MutexLock lock(mu_);
  return lost_;
}

void ClaimKeeper::LoseLocked(Tracked& t, std::string why) {
  t.lost_why = std::move(why);
  ++lost_;
  if (t.handle != 0) runner_.Stop(t.handle, platform::StopReason::kShutdown);
}

MonotonicTime ClaimKeeper::RunOnce() {
  CheckDeadlines();
  const MonotonicTime now = options_.now();
  std::map<std::string, int64_t> due;
  {
    MutexLock lock(mu_);
    if (next_renewal_ <= now) {
      for (const auto& [id, t] : tracked_) {
        if (!t.lost_why) due.emplace(id, t.epoch);
      }
      if (due.empty()) next_renewal_ = now + renew_interval();
    }
  }
  if (due.empty()) {
    MutexLock lock(mu_);
    return NextRoundLocked();
  }

  // Not under mu_: the statement may take up to its timeout.
  const MonotonicTime sent = options_.now();
  Result<std::vector<std::string>> renewed = db_.Renew(due);
  std::vector<std::pair<std::string, std::string>> lost;  // job id, why
  MonotonicTime next;
  {
    MutexLock lock(mu_);
    next_renewal_ = sent + renew_interval();
    if (renewed.ok()) {
      const std::set<std::string> ok(renewed->begin(), renewed->end());
      for (const auto& [id, epoch] : due) {
        auto it = tracked_.find(id);
        if (it == tracked_.end() || it->second.epoch != epoch || it->second.lost_why) continue;
        if (ok.count(id) > 0) {
          it->second.renewed = sent;
        } else {
          LoseLocked(it->second, "its claim is no longer this node's: the leader ended it");
          lost.emplace_back(id, *it->second.lost_why);
        }
      }
    }
    next = NextRoundLocked();
  }
  if (options_.on_lost) {
    for (const auto& [id, why] : lost) options_.on_lost(id, why);
  }
  return next;
}

MonotonicTime ClaimKeeper::NextRoundLocked() const {
  MonotonicTime next = next_renewal_;
  for (const auto& [id, t] : tracked_) {
    if (!t.lost_why) next = std::min(next, t.renewed + deadline());
  }
  return next;
}

MonotonicTime ClaimKeeper::CheckDeadlines() {
  std::vector<std::pair<std::string, std::string>> lost;  // job id, why
  MonotonicTime next = MonotonicTime::max();
  {
    MutexLock lock(mu_);
    const MonotonicTime now = options_.now();
    for (auto& [id, t] : tracked_) {
      if (t.lost_why) continue;
      if (now - t.renewed < deadline()) {
        next = std::min(next, t.renewed + deadline());
        continue;
      }
      LoseLocked(t, "its claim was not renewed for " + FormatDuration(deadline()) +
                        " (3/4 of ha.claim_ttl): the database is out of reach");
      lost.emplace_back(id, *t.lost_why);
    }
  }
  if (options_.on_lost) {
    for (const auto& [id, why] : lost) options_.on_lost(id, why);
  }
  return next;
}

void ClaimKeeper::Start() {
  thread_ = std::thread([this] { Run(); });
  watcher_ = std::thread([this] { Watch(); });
}

void ClaimKeeper::Watch() {
  while (true) {
    const MonotonicTime next = CheckDeadlines();
    std::unique_lock<std::mutex> lock(stop_mu_);
    if (next == MonotonicTime::max()) {
      stop_cv_.wait(lock, [this] { return stop_ || new_claim_; });
    } else {
      const auto wait = next - options_.now();
      if (wait > MonotonicTime::duration::zero()) {
        stop_cv_.wait_for(lock, wait, [this] { return stop_ || new_claim_; });
      }
    }
    new_claim_ = false;
    if (stop_) return;
  }
}

void ClaimKeeper::Run() {
  while (true) {
    const MonotonicTime next = RunOnce();
    std::unique_lock<std::mutex> lock(stop_mu_);
    const auto wait = next - options_.now();
    if (wait > MonotonicTime::duration::zero()) {
      stop_cv_.wait_for(lock, wait, [this] { return stop_; });
    }
    if (stop_) return;
  }
}

void ClaimKeeper::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace provisioner::coordination
