#include "coordination/pg_job_claims.h"

#include <utility>

#include "base/duration.h"
#include "base/strings.h"
#include "coordination/pg_lease_db.h"
#include "coordination/pg_state_store.h"

namespace provisioner::coordination {
namespace {

using std::chrono::milliseconds;

// The SQL of a RunningClaim's held_for: milliseconds from now on the
// database's clock until claim_expires_at plus `grace` (a parameter).
std::string HeldFor(const char* grace) {
  return std::string("round(extract(epoch FROM claim_expires_at + ") + grace +
         "::bigint * interval '1 millisecond' - clock_timestamp()) * 1000)::bigint";
}

std::string Ms(milliseconds d) { return std::to_string(d.count()); }

bool IsUniqueViolation(const Status& s) {
  return s.code() == Status::Code::kFailedPrecondition &&
         s.message().find("23505") != std::string::npos;
}

}  // namespace

PgJobClaims::PgJobClaims(PgOptions options, std::string node, milliseconds ttl)
    : session_(std::move(options)), node_(std::move(node)), ttl_(ttl) {}

template <typename Body>
Status PgJobClaims::InTransaction(PgConnection& conn, Body body) {
  Status s = conn.Run("BEGIN");
  if (s.ok()) s = body();
  if (s.ok()) s = conn.Run("COMMIT");
  if (!s.ok()) (void)conn.Run("ROLLBACK");
  return session_.Check(s);
}

// A session that died since its last use (a server restart, a
// pg_terminate_backend, an idle timeout) is noticed only by the next
// statement: each call is tried once more on a new connection.
template <typename F>
auto PgJobClaims::Retrying(F f) -> decltype(f()) {
  auto r = f();
  if (r.status().code() == Status::Code::kUnavailable) r = f();
  return r;
}

Result<int64_t> PgJobClaims::Claim(const std::string& job_id, const std::string& workspace,
                                   const std::string& operation, int64_t term) {
  return Retrying([&] { return ClaimOnce(job_id, workspace, operation, term); });
}

Result<bool> PgJobClaims::Finish(const std::string& job_id, int64_t epoch,
                                 const std::string& result) {
  return Retrying([&] { return FinishOnce(job_id, epoch, result); });
}

Result<std::vector<RunningClaim>> PgJobClaims::Running(milliseconds grace) {
  return Retrying([&] { return RunningOnce(grace); });
}

Result<std::optional<milliseconds>> PgJobClaims::Interrupt(const std::string& job_id,
                                                           milliseconds grace, int64_t term) {
  return Retrying([&] { return InterruptOnce(job_id, grace, term); });
}

Result<int64_t> PgJobClaims::ClaimOnce(const std::string& job_id, const std::string& workspace,
                                       const std::string& operation, int64_t term) {
  const std::string context = "claiming job " + job_id + " in PostgreSQL";
  auto conn = session_.Get();
  if (!conn.ok()) return conn.status().WithContext(context);
  PgConnection& c = **conn;
  if (!session_.schema_ready) {
    Status s = session_.Check(MigrateStateSchema(c, node_, term));
    if (!s.ok()) return s;  // ownership lost, a newer schema: they say what they are
    session_.schema_ready = true;
  }
  Status s = InTransaction(c, [&] {
    RETURN_IF_ERROR(CheckFence(c, node_, term));
    return c.Run(
        "INSERT INTO pv_jobs (id, workspace, operation, state, owner_node, claim_epoch,"
        " claim_expires_at, written_term)"
        " VALUES ($1, $2, $3, 'running', $4, 1,"
        " clock_timestamp() + $5::bigint * interval '1 millisecond', $6::bigint)",
        {job_id, workspace, operation, node_, Ms(ttl_), std::to_string(term)});
  });
  if (s.ok()) return int64_t{1};
  if (!IsUniqueViolation(s)) {
    return s.message().starts_with("ownership lost") ? s : s.WithContext(context);
  }
  auto holder = c.Exec("SELECT id, owner_node, " + HeldFor("0") +
                           " FROM pv_jobs WHERE workspace = $1 AND state = 'running'",
                       {workspace});
  if (!holder.ok() || holder->empty()) {
    return Status::AlreadyExists("workspace " + workspace + " has a running claim already");
  }
  const PgRow& row = (*holder)[0];
  // A retry after a commit whose answer was lost finds its own claim.
  if (row[0] == job_id && row[1] == node_) return int64_t{1};
  return Status::AlreadyExists(StringPrintf(
      "workspace %s is claimed by job %s on node %s (the claim expires in %s unless renewed)",
      workspace.c_str(), row[0].value_or("").c_str(), row[1].value_or("").c_str(),
      FormatDuration(milliseconds(std::max<int64_t>(0, PgInt(row[2])))).c_str()));
}

Result<bool> PgJobClaims::FinishOnce(const std::string& job_id, int64_t epoch,
                                     const std::string& result) {
  const std::string context = "releasing the claim of job " + job_id + " in PostgreSQL";
  auto conn = session_.Get();
  if (!conn.ok()) return conn.status().WithContext(context);
  // One statement: the claim ends, and the workspace's older ended rows go.
  auto rows = (*conn)->Exec(
      "WITH done AS ("
      "  UPDATE pv_jobs SET state = 'finished', result = $3, finished_at = clock_timestamp()"
      "  WHERE id = $1 AND claim_epoch = $2::bigint AND owner_node = $4 AND state = 'running'"
      "  RETURNING workspace),"
      " old AS ("
      "  DELETE FROM pv_jobs p USING done"
      "  WHERE p.workspace = done.workspace AND p.state <> 'running' AND p.id <> $1)"
      " SELECT count(*) FROM done",
      {job_id, std::to_string(epoch), result, node_});
  if (!rows.ok()) return session_.Check(rows.status()).WithContext(context);
  return PgInt((*rows)[0][0]) == 1;
}

Result<std::vector<RunningClaim>> PgJobClaims::RunningOnce(milliseconds grace) {
  const char* context = "reading the running job claims from PostgreSQL";
  auto conn = session_.Get();
  if (!conn.ok()) return conn.status().WithContext(context);
  PgConnection& c = **conn;
  auto table = c.Exec("SELECT to_regclass('pv_jobs') IS NOT NULL");
  if (!table.ok()) return session_.Check(table.status()).WithContext(context);
  std::vector<RunningClaim> out;
  if ((*table)[0][0] != "t") return out;  // never migrated: no claim was ever made
  auto rows = c.Exec("SELECT id, workspace, owner_node, " + HeldFor("$1") +
                         " FROM pv_jobs WHERE state = 'running' ORDER BY workspace",
                     {Ms(grace)});
  if (!rows.ok()) return session_.Check(rows.status()).WithContext(context);
  for (const PgRow& row : *rows) {
    out.push_back(RunningClaim{row[0].value_or(""), row[1].value_or(""), row[2].value_or(""),
                               milliseconds(PgInt(row[3]))});
  }
  return out;
}

Result<std::optional<milliseconds>> PgJobClaims::InterruptOnce(const std::string& job_id,
                                                               milliseconds grace, int64_t term) {
  const std::string context = "ending the claim of job " + job_id + " in PostgreSQL";
  auto conn = session_.Get();
  if (!conn.ok()) return conn.status().WithContext(context);
  PgConnection& c = **conn;
  std::optional<milliseconds> held;
  Status s = InTransaction(c, [&] {
    RETURN_IF_ERROR(CheckFence(c, node_, term));
    // The subquery reads the snapshot from before the UPDATE: a claim
    // still running there and not ended by it was renewed meanwhile.
    auto rows = c.Exec(
        "WITH ended AS ("
        "  UPDATE pv_jobs SET state = 'interrupted', result = 'interrupted',"
        "  finished_at = clock_timestamp(), written_term = $3::bigint"
        "  WHERE id = $1 AND state = 'running'"
        "  AND claim_expires_at + $2::bigint * interval '1 millisecond' <= clock_timestamp()"
        "  RETURNING id)"
        " SELECT (SELECT count(*) FROM ended), (SELECT " +
            HeldFor("$2") + " FROM pv_jobs WHERE id = $1 AND state = 'running')",
        {job_id, Ms(grace), std::to_string(term)});
    if (!rows.ok()) return rows.status();
    const PgRow& row = (*rows)[0];
    if (PgInt(row[0]) == 0 && row[1]) held = std::max(milliseconds(PgInt(row[1])), milliseconds(1));
    return Status::Ok();
  });
  if (!s.ok()) return s.message().starts_with("ownership lost") ? s : s.WithContext(context);
  return held;
}

Result<std::vector<std::string>> PgJobClaims::Renew(const std::map<std::string, int64_t>& claims) {
  const char* context = "renewing the job claims in PostgreSQL";
  std::string json = "{";
  for (const auto& [id, epoch] : claims) {
    if (json.size() > 1) json.push_back(',');
    AppendJsonString(&json, id);
    json += ":" + std::to_string(epoch);
  }
  json.push_back('}');
  auto conn = session_.Get();
  if (!conn.ok()) return conn.status().WithContext(context);
  auto rows = (*conn)->Exec(
      "UPDATE pv_jobs j"
      " SET claim_expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond'"
      " FROM jsonb_each_text($1::jsonb) c"
      " WHERE j.id = c.key AND j.claim_epoch = c.value::bigint AND j.owner_node = $2"
      " AND j.state = 'running'"
      " RETURNING j.id",
      {json, node_, Ms(ttl_)});
  if (!rows.ok()) return session_.Check(rows.status()).WithContext(context);
  std::vector<std::string> renewed;
  for (const PgRow& row : *rows) renewed.push_back(row[0].value_or(""));
  return renewed;
}

}  // namespace provisioner::coordination
