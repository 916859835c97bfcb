#include "coordination/pg_job_logs.h"

#include <utility>

#include "base/strings.h"

namespace provisioner::coordination {
namespace {

// bytea travels as text in its hex form: \x followed by two hex digits a byte.
std::string ToByteaHex(const std::string& bytes) { return "\\x" + HexEncode(bytes); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> FromByteaHex(const std::string& text) {
  if (!text.starts_with("\\x") || text.size() % 2 != 0) {
    return Status::Corruption("pv_job_logs.chunk is not hex bytea");
  }
  std::string out;
  out.reserve((text.size() - 2) / 2);
  for (size_t i = 2; i < text.size(); i += 2) {
    const int hi = HexValue(text[i]);
    const int lo = HexValue(text[i + 1]);
    if (hi < 0 || lo < 0) return Status::Corruption("pv_job_logs.chunk is not hex bytea");
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace

PgJobLogs::PgJobLogs(PgOptions options, std::string node)
    : session_(std::move(options)), node_(std::move(node)) {}

Status PgJobLogs::Append(const std::string& job_id, const std::string& workspace, int64_t seq,
                         const std::string& bytes, bool final) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  return session_.Check(
      conn->Run("INSERT INTO pv_job_logs (job_id, seq, workspace, node, chunk, final)"
                " VALUES ($1, $2::integer, $3, $4, $5::bytea, $6::boolean)"
                " ON CONFLICT (job_id, seq) DO NOTHING",
                {job_id, std::to_string(seq), workspace, node_, ToByteaHex(bytes),
                 final ? "true" : "false"}));
}

Result<std::vector<JobLogChunk>> PgJobLogs::Read(const std::string& job_id, int64_t from_seq,
                                                 int limit) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  // bytea_output is 'hex' unless someone changed it: ask for it.
  auto rows = conn->Exec(
      "SELECT seq, '\\x' || encode(chunk, 'hex'), final FROM pv_job_logs"
      " WHERE job_id = $1 AND seq >= $2::integer ORDER BY seq LIMIT $3::integer",
      {job_id, std::to_string(from_seq), std::to_string(limit)});
  if (!rows.ok()) return session_.Check(rows.status());
  std::vector<JobLogChunk> out;
  out.reserve(rows->size());
  for (const PgRow& row : *rows) {
    JobLogChunk c;
    c.seq = PgInt(row[0]);
    ASSIGN_OR_RETURN(c.bytes, FromByteaHex(row[1].value_or("")));
    c.final = row[2].value_or("") == "t";
    out.push_back(std::move(c));
  }
  return out;
}

Result<bool> PgJobLogs::Live(const std::string& job_id) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  auto rows = conn->Exec(
      "SELECT EXISTS (SELECT 1 FROM pv_jobs WHERE id = $1 AND state = 'running')"
      " OR (NOT EXISTS (SELECT 1 FROM pv_jobs WHERE id = $1)"
      "     AND EXISTS (SELECT 1 FROM pv_leader l JOIN pv_job_logs g"
      "                 ON g.job_id = $1 AND g.seq = 0 AND g.node = l.holder"
      "                 WHERE l.id = 1 AND l.expires_at > clock_timestamp()"
      "                 AND g.created_at >= l.acquired_at))",
      {job_id});
  if (!rows.ok()) return session_.Check(rows.status());
  return !rows->empty() && (*rows)[0][0].value_or("") == "t";
}

Status PgJobLogs::RecordJob(const std::string& job_id, const std::string& workspace,
                            const std::string& record) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  return session_.Check(
      conn->Run("INSERT INTO pv_job_history (job_id, workspace, node, record)"
                " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (job_id) DO NOTHING",
                {job_id, workspace, node_, record}));
}

Result<std::vector<std::string>> PgJobLogs::History(const std::string& workspace) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  auto rows = conn->Exec(
      "SELECT record::text FROM pv_job_history WHERE workspace = $1 ORDER BY job_id", {workspace});
  if (!rows.ok()) return session_.Check(rows.status());
  std::vector<std::string> out;
  out.reserve(rows->size());
  for (PgRow& row : *rows) out.push_back(std::move(row[0]).value_or(""));
  return out;
}

Result<int64_t> PgJobLogs::Prune(const std::string& workspace, int keep) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  // The oldest job id kept: the keep-th newest among both tables' jobs.
  auto rows = conn->Exec(
      "WITH newest AS (SELECT job_id FROM (SELECT job_id FROM pv_job_logs WHERE workspace = $1"
      "  UNION SELECT job_id FROM pv_job_history WHERE workspace = $1) j"
      "  ORDER BY job_id DESC LIMIT $2::integer),"
      " logs AS (DELETE FROM pv_job_logs WHERE workspace = $1"
      "  AND job_id < (SELECT min(job_id) FROM newest) RETURNING 1),"
      " records AS (DELETE FROM pv_job_history WHERE workspace = $1"
      "  AND job_id < (SELECT min(job_id) FROM newest) RETURNING 1)"
      " SELECT (SELECT count(*) FROM logs) + (SELECT count(*) FROM records)",
      {workspace, std::to_string(keep)});
  if (!rows.ok()) return session_.Check(rows.status());
  return rows->empty() ? 0 : PgInt((*rows)[0][0]);
}

}  // namespace provisioner::coordination
