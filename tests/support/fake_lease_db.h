// FakeLeaseDb: the lease row with the semantics of the acquire-or-renew
// statement (coordination/pg_lease_db.cc), on a database clock the test
// moves, plus the fence every state write checks. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "coordination/lease_keeper.h"

namespace provisioner::testing {

class FakeLeaseDb final : public coordination::LeaseDb {
 public:
  Result<coordination::LeaseRow> AcquireOrRenew(const std::string& node,
                                                std::optional<int64_t> renewing,
                                                std::chrono::milliseconds ttl) override {
    ++attempts_;
    if (down_) return Status::Unavailable("postgresql: cannot connect", "connection refused");
    const bool live = now_ < expires_;
    if (holder_ == node && live && renewing == term_) {
      expires_ = now_ + ttl;  // a renewal keeps the term
    } else if (!live || holder_.empty() || holder_ == node) {
      holder_ = node;
      ++term_;
      expires_ = now_ + ttl;
    }
    return coordination::LeaseRow{holder_, term_};
  }

  Result<bool> Release(const std::string& node, int64_t term) override {
    if (down_) return Status::Unavailable("postgresql: cannot connect", "connection refused");
    if (holder_ != node || term_ != term || now_ >= expires_) return false;
    expires_ = now_;
    return true;
  }

  // The check under FOR SHARE that every state write makes first.
  Status FencedWrite(const std::string& node, int64_t term) const {
    if (holder_ != node || term_ != term) {
      return Status::FailedPrecondition("ownership lost: term=" + std::to_string(term_) +
                                        " holder=" + holder_);
    }
    return Status::Ok();
  }

  void Advance(std::chrono::milliseconds d) { now_ += d; }
  void set_down(bool down) { down_ = down; }
  int attempts() const { return attempts_; }
  const std::string& holder() const { return holder_; }

 private:
  std::chrono::milliseconds now_{0};
  std::chrono::milliseconds expires_{0};
  std::string holder_;
  int64_t term_ = 0;
  bool down_ = false;
  int attempts_ = 0;
};

}  // namespace provisioner::testing
