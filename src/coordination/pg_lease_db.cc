#include "coordination/pg_lease_db.h"

#include <charconv>
#include <random>
#include <utility>
#include <vector>

#include "base/strings.h"

namespace provisioner::coordination {
namespace {

Result<int64_t> ParseTerm(const std::optional<std::string>& text) {
  int64_t v = 0;
  if (text) {
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec == std::errc() && ptr == text->data() + text->size()) return v;
  }
  return Status::Corruption("pv_leader.term is not a number", text.value_or("NULL"));
}

Result<LeaseRow> RowOf(const std::vector<PgRow>& rows) {
  if (rows.size() != 1 || rows[0].size() != 2) {
    return Status::Corruption(
        "pv_leader: expected its one row (id = 1); run the daemon once to create it");
  }
  LeaseRow row;
  row.holder = rows[0][0].value_or("");
  auto term = ParseTerm(rows[0][1]);
  if (!term.ok()) return term.status();
  row.term = *term;
  return row;
}

// 16 hex digits, new at every process start.
std::string RandomInstance() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return StringPrintf("%016llx", static_cast<unsigned long long>(v));
}

}  // namespace

Status EnsureLeaseTable(PgConnection& conn) {
  // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog;
  // the advisory lock makes the nodes take turns.
  Status s = conn.Run("BEGIN");
  if (!s.ok()) return s;
  const std::pair<const char*, std::vector<PgParam>> statements[] = {
      {"SELECT pg_advisory_xact_lock($1::bigint)", {kSchemaLockKey}},
      {"CREATE TABLE IF NOT EXISTS pv_leader ("
       " id integer PRIMARY KEY CHECK (id = 1),"
       " holder text NOT NULL DEFAULT '',"
       " term bigint NOT NULL DEFAULT 0,"
       " acquired_at timestamptz,"
       " expires_at timestamptz NOT NULL DEFAULT '-infinity')",
       {}},
      {"INSERT INTO pv_leader (id) VALUES (1) ON CONFLICT (id) DO NOTHING", {}},
      {"CREATE TABLE IF NOT EXISTS pv_nodes ("
       " name text PRIMARY KEY,"
       " instance text NOT NULL,"
       " started_at timestamptz NOT NULL,"
       " heartbeat_at timestamptz NOT NULL,"
       " version text NOT NULL DEFAULT '',"
       " config_hash text NOT NULL DEFAULT '')",
       {}},
  };
  for (const auto& [sql, params] : statements) {
    s = conn.Run(sql, params);
    if (!s.ok()) break;
  }
  // Added after the first HA version; its nodes leave it '{}'. ALTER TABLE
  // locks pv_nodes ACCESS EXCLUSIVE even when the column exists, and this
  // runs on every new lease connection: look first.
  if (s.ok()) {
    auto has = conn.Exec(
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'pv_nodes'::regclass"
        " AND attname = 'workspace_hashes' AND NOT attisdropped");
    s = has.status();
    if (has.ok() && has->empty()) {
      s = conn.Run(
          "ALTER TABLE pv_nodes ADD COLUMN IF NOT EXISTS"
          " workspace_hashes jsonb NOT NULL DEFAULT '{}'");
    }
  }
  if (!s.ok()) {
    (void)conn.Run("ROLLBACK");
    return s.WithContext("creating pv_leader and pv_nodes");
  }
  return conn.Run("COMMIT");
}

Result<LeaseRow> AcquireOrRenew(PgConnection& conn, const std::string& node,
                                std::optional<int64_t> renewing_term,
                                std::chrono::milliseconds ttl) {
  // One statement: the UPDATE takes or renews the row; when it did not (the
  // row is someone else's and live), the SELECT reports who holds it. Both
  // read the same snapshot, so exactly one of them returns the row.
  static const std::string kSql =
      "WITH taken AS ("
      " UPDATE pv_leader SET"
      "  term = CASE WHEN holder = $1 AND term = $2::bigint AND expires_at > clock_timestamp()"
      "         THEN term ELSE term + 1 END,"
      "  acquired_at = CASE WHEN holder = $1 AND term = $2::bigint"
      "                AND expires_at > clock_timestamp() THEN acquired_at"
      "                ELSE clock_timestamp() END,"
      "  holder = $1,"
      "  expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond'"
      " WHERE id = 1 AND (expires_at <= clock_timestamp() OR holder = '' OR holder = $1)"
      " RETURNING holder, term)"
      " SELECT holder, term FROM taken"
      " UNION ALL"
      " SELECT holder, term FROM pv_leader WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM taken)";
  PgParam renewing;
  if (renewing_term) renewing = std::to_string(*renewing_term);
  auto rows = conn.Exec(kSql, {node, renewing, std::to_string(ttl.count())});
  if (!rows.ok()) return rows.status();
  return RowOf(*rows);
}

Status HeartbeatNode(PgConnection& conn, const std::string& node, const std::string& instance,
                     const std::string& version, const std::string& config_hash,
                     const std::optional<std::string>& workspace_hashes,
                     std::chrono::milliseconds ttl) {
  static const std::string kSql =
      "INSERT INTO pv_nodes AS n (name, instance, started_at, heartbeat_at, version, config_hash,"
      "  workspace_hashes)"
      " VALUES ($1, $2, clock_timestamp(), clock_timestamp(), $3, $5,"
      "  coalesce($6::jsonb, '{}'::jsonb))"
      " ON CONFLICT (name) DO UPDATE SET"
      "  started_at = CASE WHEN n.instance = EXCLUDED.instance THEN n.started_at"
      "               ELSE EXCLUDED.started_at END,"
      "  instance = EXCLUDED.instance,"
      "  heartbeat_at = clock_timestamp(),"
      "  version = EXCLUDED.version,"
      "  config_hash = EXCLUDED.config_hash,"
      "  workspace_hashes = CASE WHEN $6::jsonb IS NULL AND n.instance = EXCLUDED.instance"
      "                     THEN n.workspace_hashes ELSE EXCLUDED.workspace_hashes END"
      " WHERE n.instance = EXCLUDED.instance"
      "  OR n.heartbeat_at <= clock_timestamp() - $4::bigint * interval '1 millisecond'"
      " RETURNING instance";
  auto rows = conn.Exec(
      kSql, {node, instance, version, std::to_string(ttl.count()), config_hash, workspace_hashes});
  if (!rows.ok()) return rows.status();
  if (!rows->empty()) return Status::Ok();
  auto holder = conn.Exec(
      "SELECT instance, version,"
      " to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
      " round(extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::bigint"
      " FROM pv_nodes WHERE name = $1",
      {node});
  std::string who;
  if (holder.ok() && holder->size() == 1 && (*holder)[0].size() == 4) {
    const PgRow& r = (*holder)[0];
    who = " (instance " + r[0].value_or("?") + ", version " + r[1].value_or("?") + ", started " +
          r[2].value_or("?") + ", last heartbeat " + r[3].value_or("?") + " ms ago)";
  }
  return Status::FailedPrecondition(
      "node name " + node + " is in use by another running provisioner" + who +
      "; this node does not stand for leader until that one has been silent for lease_ttl; "
      "give each node its own ha.node_name");
}

Result<std::string> LeaderConfigHash(PgConnection& conn) {
  auto rows = conn.Exec(
      "SELECT n.config_hash FROM pv_leader l JOIN pv_nodes n ON n.name = l.holder"
      " WHERE l.id = 1 AND l.expires_at > clock_timestamp()");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::string();
  return (*rows)[0][0].value_or("");
}

Result<std::map<std::string, std::string>> DifferingWorkspaces(PgConnection& conn,
                                                               const std::string& node,
                                                               std::chrono::milliseconds ttl) {
  // Nodes with no workspace hashes (an older version) are left out: they
  // cannot say, and counting them would stop every workspace.
  auto rows = conn.Exec(
      "SELECT m.key, min(n.name) FROM pv_nodes n CROSS JOIN"
      "  jsonb_each_text((SELECT workspace_hashes FROM pv_nodes WHERE name = $1)) m"
      " WHERE n.name <> $1"
      "  AND n.heartbeat_at > clock_timestamp() - $2::bigint * interval '1 millisecond'"
      "  AND n.workspace_hashes <> '{}'::jsonb"
      "  AND (n.workspace_hashes ->> m.key) IS DISTINCT FROM m.value"
      " GROUP BY m.key",
      {node, std::to_string(ttl.count())});
  if (!rows.ok()) return rows.status();
  std::map<std::string, std::string> out;
  for (const PgRow& row : *rows) out.emplace(row[0].value_or(""), row[1].value_or(""));
  return out;
}

std::string ConfigHashes::WorkspacesJson() const {
  std::string json = "{";
  for (const auto& [name, hash] : workspaces) {
    if (json.size() > 1) json.push_back(',');
    AppendJsonString(&json, name);
    json.push_back(':');
    AppendJsonString(&json, hash);
  }
  json.push_back('}');
  return json;
}

Status LeaveNode(PgConnection& conn, const std::string& node, const std::string& instance) {
  return conn.Run("DELETE FROM pv_nodes WHERE name = $1 AND instance = $2", {node, instance});
}

Result<bool> ReleaseLease(PgConnection& conn, const std::string& node, int64_t term) {
  auto rows = conn.Exec(
      "UPDATE pv_leader SET expires_at = clock_timestamp()"
      " WHERE id = 1 AND holder = $1 AND term = $2::bigint AND expires_at > clock_timestamp()"
      " RETURNING term",
      {node, std::to_string(term)});
  if (!rows.ok()) return rows.status();
  return !rows->empty();
}

Status CheckFence(PgConnection& conn, const std::string& node, int64_t term) {
  auto rows = conn.Exec("SELECT holder, term FROM pv_leader WHERE id = 1 FOR SHARE");
  if (!rows.ok()) return rows.status();
  auto row = RowOf(*rows);
  if (!row.ok()) return row.status();
  if (row->holder != node || row->term != term) {
    return Status::FailedPrecondition(StringPrintf(
        "ownership lost: term=%lld holder=%s (this node wrote as term %lld)",
        static_cast<long long>(row->term), row->holder.c_str(), static_cast<long long>(term)));
  }
  return Status::Ok();
}

Result<PgConnection*> PgLeaseDb::Connection() {
  auto conn = session_.Get();
  if (!conn.ok() || session_.schema_ready) return conn;
  if (Status s = session_.Check(EnsureLeaseTable(**conn)); !s.ok()) return s;
  session_.schema_ready = true;
  return conn;
}

Status PgLeaseDb::Check(const Status& s) { return session_.Check(s); }

PgLeaseDb::PgLeaseDb(PgOptions options, std::string version)
    : session_(std::move(options)), version_(std::move(version)), instance_(RandomInstance()) {}

Result<LeaseRow> PgLeaseDb::AcquireOrRenew(const std::string& node,
                                           std::optional<int64_t> renewing_term,
                                           std::chrono::milliseconds ttl) {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  // The workspace hashes (up to a megabyte for 10,000 workspaces) only go
  // with the first heartbeat after they changed.
  std::string config_hash;
  std::optional<std::string> workspaces;
  uint64_t generation = 0;
  {
    MutexLock lock(mu_);
    config_hash = hashes_.config;
    generation = hashes_generation_;
    if (published_generation_ != generation) workspaces = hashes_.WorkspacesJson();
  }
  if (Status s = HeartbeatNode(**conn, node, instance_, version_, config_hash, workspaces, ttl);
      !s.ok()) {
    return Check(s);
  }
  {
    MutexLock lock(mu_);
    published_generation_ = generation;
  }
  Result<LeaseRow> row = coordination::AcquireOrRenew(**conn, node, renewing_term, ttl);
  if (!row.ok()) return Check(row.status());
  // The leader does not act on workspaces that another node defines
  // otherwise.
  std::map<std::string, std::string> differing;
  if (row->holder == node) {
    auto found = coordination::DifferingWorkspaces(**conn, node, ttl);
    if (!found.ok()) return Check(found.status());
    differing = std::move(*found);
  }
  // For /health: a standby whose workspaces differ from the leader's would
  // act on another config when it takes over.
  auto leader_hash = LeaderConfigHash(**conn);
  if (!leader_hash.ok()) return Check(leader_hash.status());
  bool changed = false;
  std::function<void()> on_change;
  {
    MutexLock lock(mu_);
    leader_config_hash_ = std::move(*leader_hash);
    changed = differing != differing_;
    differing_ = std::move(differing);
    on_change = on_differing_change_;
  }
  if (changed && on_change) on_change();
  return row;
}

void PgLeaseDb::SetConfigHashes(ConfigHashes hashes) {
  MutexLock lock(mu_);
  hashes_ = std::move(hashes);
  ++hashes_generation_;
}

void PgLeaseDb::SetOnDifferingChange(std::function<void()> callback) {
  MutexLock lock(mu_);
  on_differing_change_ = std::move(callback);
}

std::string PgLeaseDb::config_hash() const {
  MutexLock lock(mu_);
  return hashes_.config;
}

std::map<std::string, std::string> PgLeaseDb::DifferingWorkspaces() const {
  MutexLock lock(mu_);
  return differing_;
}

std::string PgLeaseDb::leader_config_hash() const {
  MutexLock lock(mu_);
  return leader_config_hash_;
}

Result<bool> PgLeaseDb::Release(const std::string& node, int64_t term) {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  Result<bool> released = ReleaseLease(**conn, node, term);
  if (!released.ok()) return Check(released.status());
  return released;
}

Status PgLeaseDb::Leave(const std::string& node) {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  return Check(LeaveNode(**conn, node, instance_));
}

}  // namespace provisioner::coordination
