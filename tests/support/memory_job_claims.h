// MemoryJobClaims: the job claims of pg_job_claims.h in memory, on a test
// clock's Monotonic() as the database's clock, for the scheduler's and the
// claim keeper's unit tests. The real one is tested against PostgreSQL in
// tests/coordination/pg_job_claims_test.cc, with the same expectations.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "coordination/job_claims.h"

namespace provisioner::testing {

class MemoryJobClaims final : public coordination::JobClaims, public coordination::ClaimRenewer {
 public:
  struct Row {
    std::string workspace;
    std::string owner;
    std::string state;  // running, finished, interrupted
    int64_t epoch = 1;
    MonotonicTime expires;
    std::string result;
  };

  MemoryJobClaims(Clock& clock, std::string node, std::chrono::milliseconds ttl)
      : clock_(clock), node_(std::move(node)), ttl_(ttl) {}

  Result<int64_t> Claim(const std::string& job_id, const std::string& workspace,
                        const std::string& /*operation*/, int64_t term) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail.ok()) return fail;
    if (term != leader_term) return Status::FailedPrecondition("ownership lost: test");
    for (const auto& [id, row] : rows) {
      if (row.workspace == workspace && row.state == "running") {
        return Status::AlreadyExists("workspace " + workspace + " is claimed by job " + id);
      }
    }
    rows[job_id] = Row{workspace, node_, "running", 1, clock_.Monotonic() + ttl_, ""};
    return int64_t{1};
  }

  Result<bool> Finish(const std::string& job_id, int64_t epoch,
                      const std::string& result) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++finishes;
    if (!fail.ok()) return fail;
    auto it = rows.find(job_id);
    if (it == rows.end() || it->second.state != "running" || it->second.epoch != epoch ||
        it->second.owner != node_) {
      return false;
    }
    it->second.state = "finished";
    it->second.result = result;
    return true;
  }

  Result<std::vector<coordination::RunningClaim>> Running(
      std::chrono::milliseconds grace) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail.ok()) return fail;
    std::vector<coordination::RunningClaim> out;
    for (const auto& [id, row] : rows) {
      if (row.state == "running")
        out.push_back({id, row.workspace, row.owner, HeldFor(row, grace)});
    }
    return out;
  }

  Result<std::optional<std::chrono::milliseconds>> Interrupt(const std::string& job_id,
                                                             std::chrono::milliseconds grace,
                                                             int64_t term) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail.ok()) return fail;
    if (term != leader_term) return Status::FailedPrecondition("ownership lost: test");
    auto it = rows.find(job_id);
    if (it == rows.end() || it->second.state != "running") return std::nullopt;
    const std::chrono::milliseconds held = HeldFor(it->second, grace);
    if (held > std::chrono::milliseconds(0)) return held;
    it->second.state = "interrupted";
    it->second.result = "interrupted";
    return std::nullopt;
  }

  Result<std::vector<std::string>> Renew(const std::map<std::string, int64_t>& claims) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++renewals;
    if (!fail.ok()) return fail;
    std::vector<std::string> renewed;
    for (const auto& [id, epoch] : claims) {
      auto it = rows.find(id);
      if (it == rows.end() || it->second.state != "running" || it->second.epoch != epoch ||
          it->second.owner != node_) {
        continue;
      }
      it->second.expires = clock_.Monotonic() + ttl_;
      renewed.push_back(id);
    }
    return renewed;
  }

  // All public, for tests to set and read (under no lock: single-threaded
  // tests only, or after the keeper's thread has stopped).
  std::map<std::string, Row> rows;  // by job id
  Status fail;                      // when not OK, every call fails with it
  int64_t leader_term = 0;          // the term Claim and Interrupt are fenced with
  int renewals = 0;
  int finishes = 0;  // Finish() calls, failed or not

 private:
  std::chrono::milliseconds HeldFor(const Row& row, std::chrono::milliseconds grace) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(row.expires + grace -
                                                                 clock_.Monotonic());
  }

  Clock& clock_;
  const std::string node_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
};

}  // namespace provisioner::testing
