// The job claims on PostgreSQL (job_claims.h): pv_jobs, made by
// MigrateStateSchema (pg_state_store.h), schema version 2.
//
// A claim is a row with state 'running'; the partial unique index
// pv_jobs_one_running allows one per workspace. Making one is fenced by the
// leader's (term, holder), as every decision is; renewing and finishing one
// are fenced by the row's own (owner_node, claim_epoch), so that they need
// no lease. Ending another node's claim is a leader's decision, fenced by
// the term, and only once the claim's expiry plus a grace has passed on the
// database's clock. Each workspace keeps its running claim and its last
// ended one; older rows are deleted as claims end.
//
// One connection per object, made on first use and again after it was
// lost: the scheduler and the ClaimKeeper each have their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "coordination/job_claims.h"
#include "coordination/pg_connection.h"

namespace provisioner::coordination {

class PgJobClaims final : public JobClaims, public ClaimRenewer {
 public:
  // `node` owns the claims this object makes and renews; `ttl` is
  // ha.claim_ttl.
  PgJobClaims(PgOptions options, std::string node, std::chrono::milliseconds ttl);

  Result<int64_t> Claim(const std::string& job_id, const std::string& workspace,
                        const std::string& operation, int64_t term) override;
  Result<bool> Finish(const std::string& job_id, int64_t epoch, const std::string& result) override;
  Result<std::vector<RunningClaim>> Running(std::chrono::milliseconds grace) override;
  Result<std::optional<std::chrono::milliseconds>> Interrupt(const std::string& job_id,
                                                             std::chrono::milliseconds grace,
                                                             int64_t term) override;
  Result<std::vector<std::string>> Renew(const std::map<std::string, int64_t>& claims) override;

 private:
  // The calls above but Renew, which the keeper repeats anyway: one try
  // each, and Retrying() that tries once more after a lost connection.
  Result<int64_t> ClaimOnce(const std::string& job_id, const std::string& workspace,
                            const std::string& operation, int64_t term);
  Result<bool> FinishOnce(const std::string& job_id, int64_t epoch, const std::string& result);
  Result<std::vector<RunningClaim>> RunningOnce(std::chrono::milliseconds grace);
  Result<std::optional<std::chrono::milliseconds>> InterruptOnce(const std::string& job_id,
                                                                 std::chrono::milliseconds grace,
                                                                 int64_t term);
  template <typename F>
  auto Retrying(F f) -> decltype(f());

  // Runs `body` in a transaction: BEGIN, body, COMMIT, or ROLLBACK on error.
  template <typename Body>
  Status InTransaction(PgConnection& conn, Body body);

  PgSession session_;  // schema_ready: MigrateStateSchema succeeded on it
  const std::string node_;
  const std::chrono::milliseconds ttl_;
};

}  // namespace provisioner::coordination
