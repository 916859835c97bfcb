#include "coordination/pg_state_store.h"

#include <charconv>
#include <iterator>
#include <span>
#include <utility>
#include <vector>

#include "base/strings.h"
#include "base/time_format.h"
#include "coordination/pg_lease_db.h"
#include "state/state_json.h"

namespace provisioner::coordination {
namespace {

// Schema version 1 (shared/reference/ha-postgresql.md §6.2): the State of
// state.json, with a row per workspace. last_seen is the RFC 3339 text
// state.json has, so that it round-trips to the millisecond.
constexpr const char* kVersion1[] = {
    "CREATE TABLE IF NOT EXISTS pv_state_meta ("
    " id integer PRIMARY KEY CHECK (id = 1),"
    " state_version integer NOT NULL,"
    " last_seen text,"
    " written_term bigint NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    "CREATE TABLE IF NOT EXISTS pv_workspaces ("
    " name text PRIMARY KEY,"
    " record jsonb NOT NULL,"
    " written_term bigint NOT NULL,"
    " updated_at timestamptz NOT NULL DEFAULT clock_timestamp())",
};
// Schema version 2: job claims (coordination/pg_job_claims.h). pv_jobs
// keeps each workspace's running claim and its last ended one; the partial
// unique index forbids a second running claim for a workspace.
constexpr const char* kVersion2[] = {
    "CREATE TABLE IF NOT EXISTS pv_jobs ("
    " id text PRIMARY KEY,"
    " workspace text NOT NULL,"
    " operation text NOT NULL,"
    " state text NOT NULL CHECK (state IN ('running', 'finished', 'interrupted')),"
    " owner_node text NOT NULL,"
    " claim_epoch bigint NOT NULL,"
    " claim_expires_at timestamptz NOT NULL,"
    " started_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " finished_at timestamptz,"
    " result text,"
    " written_term bigint NOT NULL)",
    ("CREATE UNIQUE INDEX IF NOT EXISTS pv_jobs_one_running ON pv_jobs (workspace)"
     " WHERE state = 'running'"),
    "CREATE INDEX IF NOT EXISTS pv_jobs_workspace ON pv_jobs (workspace)",
};
// Schema version 3: the API relay (coordination/pg_api_relay.h). A request
// a standby took waits in pv_api_requests until the leader answers it.
constexpr const char* kVersion3[] = {
    "CREATE TABLE IF NOT EXISTS pv_api_requests ("
    " id bigserial PRIMARY KEY,"
    " node text NOT NULL,"
    " method text NOT NULL,"
    " route text NOT NULL,"
    " path text NOT NULL,"
    " params jsonb NOT NULL,"
    " query jsonb NOT NULL,"
    " body text NOT NULL,"
    " user_name text NOT NULL,"
    " traceparent text NOT NULL,"
    " mutating boolean NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " answered_at timestamptz,"
    " answered_by text,"
    " answered_term bigint,"
    " status integer,"
    " content_type text,"
    " reply text)",
    ("CREATE INDEX IF NOT EXISTS pv_api_requests_pending ON pv_api_requests (id)"
     " WHERE answered_at IS NULL"),
};
// Schema version 4: job logs and history (coordination/pg_job_logs.h):
// logs in chunks of at most 256 KiB, numbered from 0 per job, and the
// record of each finished job, as the node's journal has it.
constexpr const char* kVersion4[] = {
    "CREATE TABLE IF NOT EXISTS pv_job_logs ("
    " job_id text NOT NULL,"
    " seq integer NOT NULL,"
    " workspace text NOT NULL,"
    " node text NOT NULL,"
    " chunk bytea NOT NULL,"
    " final boolean NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " PRIMARY KEY (job_id, seq))",
    "CREATE INDEX IF NOT EXISTS pv_job_logs_workspace ON pv_job_logs (workspace, job_id)",
    "CREATE TABLE IF NOT EXISTS pv_job_history ("
    " job_id text PRIMARY KEY,"
    " workspace text NOT NULL,"
    " node text NOT NULL,"
    " record jsonb NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    "CREATE INDEX IF NOT EXISTS pv_job_history_workspace ON pv_job_history (workspace, job_id)",
};
// kMigrations[v] takes the schema from version v to v + 1.
constexpr std::span<const char* const> kMigrations[] = {kVersion1, kVersion2, kVersion3, kVersion4};
static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

// Workspaces per upsert: one statement for a typical save, and a bounded
// one for a save that writes all 10,000 (a record is about 600 bytes).
constexpr size_t kUpsertBatch = 500;

// $1: a JSON object {name: record, ...}; $2: the term.
constexpr const char* kUpsertWorkspaces =
    "INSERT INTO pv_workspaces (name, record, written_term)"
    " SELECT key, value, $2::bigint FROM jsonb_each($1::jsonb)"
    " ON CONFLICT (name) DO UPDATE SET record = excluded.record,"
    " written_term = excluded.written_term, updated_at = clock_timestamp()";

constexpr const char* kSaving = "saving the state to PostgreSQL";
constexpr const char* kLoading = "loading the state from PostgreSQL";

bool IsOwnershipLost(const Status& s) {
  return s.code() == Status::Code::kFailedPrecondition && s.message().starts_with("ownership lost");
}

Result<int64_t> ParseInt(const std::optional<std::string>& text, const char* what) {
  int64_t v = 0;
  if (text) {
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec == std::errc() && ptr == text->data() + text->size()) return v;
  }
  return Status::Corruption(std::string(what) + " is not a number", text.value_or("NULL"));
}

Status NewerSchema(int64_t version) {
  return Status::FailedPrecondition(StringPrintf(
      "the database's schema is version %lld; this provisioner understands up to %d: upgrade it",
      static_cast<long long>(version), kSchemaVersion));
}

// pv_schema's version, 0 when it has no row.
Result<int64_t> SchemaVersion(PgConnection& conn) {
  auto rows = conn.Exec("SELECT schema_version FROM pv_schema WHERE id = 1");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return int64_t{0};
  return ParseInt((*rows)[0][0], "pv_schema.schema_version");
}

Status MigrateInTransaction(PgConnection& conn, const std::string& node, int64_t term) {
  RETURN_IF_ERROR(CheckFence(conn, node, term));
  // The same lock as EnsureLeaseTable: concurrent DDL can collide in the
  // catalog even with IF NOT EXISTS.
  RETURN_IF_ERROR(conn.Run("SELECT pg_advisory_xact_lock($1::bigint)", {kSchemaLockKey}));
  RETURN_IF_ERROR(
      conn.Run("CREATE TABLE IF NOT EXISTS pv_schema ("
               " id integer PRIMARY KEY CHECK (id = 1),"
               " schema_version integer NOT NULL)"));
  ASSIGN_OR_RETURN(int64_t version, SchemaVersion(conn));
  if (version > kSchemaVersion) return NewerSchema(version);
  if (version < 0) return Status::Corruption("pv_schema.schema_version", std::to_string(version));
  if (version == kSchemaVersion) return Status::Ok();
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    for (const char* sql : kMigrations[v]) {
      Status s = conn.Run(sql);
      if (!s.ok()) return s.WithContext("to version " + std::to_string(v + 1));
    }
  }
  return conn.Run(
      "INSERT INTO pv_schema (id, schema_version) VALUES (1, $1::integer)"
      " ON CONFLICT (id) DO UPDATE SET schema_version = excluded.schema_version",
      {std::to_string(kSchemaVersion)});
}

// The version of pv_state_meta's row (its xmin), "" when there is none.
// Every save rewrites the row, so a different one means another save.
Result<std::string> MetaXmin(PgConnection& conn) {
  auto rows = conn.Exec("SELECT xmin::text FROM pv_state_meta WHERE id = 1");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::string();
  return (*rows)[0][0].value_or("");
}

// What a load read, before it is handed out.
struct Loaded {
  state::LoadReport report;
  std::map<std::string, std::string> written;
  std::string meta_xmin;  // "" when pv_state_meta has no row
};

Result<Loaded> LoadInTransaction(PgConnection& conn) {
  Loaded out;
  auto tables = conn.Exec(
      "SELECT to_regclass('pv_schema') IS NOT NULL, to_regclass('pv_state_meta') IS NOT NULL");
  if (!tables.ok()) return tables.status();
  const bool has_schema = (*tables)[0][0] == "t";
  const bool has_meta = (*tables)[0][1] == "t";
  if (has_schema) {
    ASSIGN_OR_RETURN(int64_t version, SchemaVersion(conn));
    if (version > kSchemaVersion) return NewerSchema(version);
  }
  if (!has_meta) {  // never migrated: nothing was ever saved
    out.report.fresh = true;
    return out;
  }
  auto meta =
      conn.Exec("SELECT state_version, last_seen, xmin::text FROM pv_state_meta WHERE id = 1");
  if (!meta.ok()) return meta.status();
  auto rows = conn.Exec("SELECT name, record::text FROM pv_workspaces");
  if (!rows.ok()) return rows.status();
  if (meta->empty()) {
    // Saves write the meta row and the workspaces together: rows without
    // it were not written by provisioner, and starting empty would delete
    // them at the first save.
    if (!rows->empty()) {
      return Status::Corruption(
          StringPrintf("pv_workspaces has %zu rows but pv_state_meta has none; nothing was changed",
                       rows->size()));
    }
    out.report.fresh = true;
    return out;
  }

  const PgRow& m = (*meta)[0];
  ASSIGN_OR_RETURN(int64_t version, ParseInt(m[0], "pv_state_meta.state_version"));
  if (version > state::kStateVersion) {
    return Status::FailedPrecondition(StringPrintf(
        "state version %lld is newer than this provisioner reads (%d); upgrade provisioner",
        static_cast<long long>(version), state::kStateVersion));
  }
  if (version < 1) return Status::Corruption("pv_state_meta.state_version", *m[0]);
  state::State& s = out.report.state;
  s.version = static_cast<int>(version);
  if (m[1]) {
    auto t = ParseRfc3339(*m[1]);
    if (!t.ok()) return Status::Corruption("pv_state_meta.last_seen", t.status().message());
    // Milliseconds, as StateFromJson reads state.json's times.
    s.last_seen = std::chrono::floor<std::chrono::milliseconds>(*t);
  }
  out.meta_xmin = m[2].value_or("");
  for (PgRow& row : *rows) {
    const std::string name = row[0].value_or("");
    auto ws = state::WorkspaceFromJson(row[1].value_or(""), name);
    if (!ws.ok()) return ws.status().WithContext("pv_workspaces");
    // Re-serialized, not jsonb's text: the next save compares with what it
    // would write.
    out.written.emplace(name, state::WorkspaceToJson(*ws));
    s.workspaces.emplace(name, std::move(*ws));
  }
  return out;
}

// A JSON array of strings, for jsonb_array_elements_text.
std::string JsonArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& item : items) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(&out, item);
  }
  out.push_back(']');
  return out;
}

}  // namespace

Status MigrateStateSchema(PgConnection& conn, const std::string& node, int64_t term) {
  RETURN_IF_ERROR(conn.Run("BEGIN").WithContext("migrating the state schema"));
  Status s = MigrateInTransaction(conn, node, term);
  if (s.ok()) s = conn.Run("COMMIT");
  if (s.ok()) return s;
  (void)conn.Run("ROLLBACK");
  // Ownership lost, or a newer schema: they say what they are.
  if (s.code() == Status::Code::kFailedPrecondition) return s;
  return s.WithContext("migrating the state schema");
}

PgStateStore::PgStateStore(PgOptions options, std::string node, const Coordinator& coordinator)
    : session_(std::move(options)), node_(std::move(node)), coordinator_(coordinator) {}

Status PgStateStore::Check(const Status& s) {
  if (IsOwnershipLost(s)) fenced_rejections_.fetch_add(1);
  return session_.Check(s);
}

void PgStateStore::ForgetWritten() {
  written_.clear();
  written_meta_xmin_.reset();
}

Result<state::LoadReport> PgStateStore::Load() {
  // Whatever happens, what the database holds is read afresh: another
  // leader may have written since this store last did.
  ForgetWritten();
  // A leader's load pins the term its saves are fenced with (the term first:
  // if it moves before IsLeader answers, the fence refuses the saves).
  const int64_t term = coordinator_.term();
  loaded_term_.reset();
  if (coordinator_.IsLeader()) loaded_term_ = term;
  auto conn = session_.Get();
  if (!conn.ok()) return conn.status().WithContext(kLoading);
  PgConnection& c = **conn;
  if (Status s = c.Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); !s.ok()) {
    return Check(s).WithContext(kLoading);
  }
  Result<Loaded> loaded = LoadInTransaction(c);
  Status s = loaded.ok() ? c.Run("COMMIT") : loaded.status();
  if (!s.ok()) {
    (void)c.Run("ROLLBACK");
    (void)Check(s);
    // A newer version is not an error of this load: it reads as it is.
    return s.code() == Status::Code::kFailedPrecondition ? s : s.WithContext(kLoading);
  }
  written_ = std::move(loaded->written);
  written_meta_xmin_ = std::move(loaded->meta_xmin);
  return std::move(loaded->report);
}

Status PgStateStore::Save(const state::State& state) {
  Status s = SaveOnce(state);
  // A session that died since the last save (a server restart, a
  // pg_terminate_backend, an idle timeout) is noticed only now: one more
  // try on a new connection, rather than failing a command for it. The
  // first try was rolled back, or its commit's outcome forgotten.
  if (s.code() == Status::Code::kUnavailable) s = SaveOnce(state);
  return s;
}

Status PgStateStore::SaveOnce(const state::State& state) {
  // The term first: if leadership moves in between, the fence catches it.
  // A state loaded as leader is only ever written under the term it was
  // loaded under: after the lease lapsed and came back (a new term), it may
  // be stale, and the fence must refuse it.
  const int64_t term = loaded_term_.value_or(coordinator_.term());
  if (!coordinator_.IsLeader()) {
    fenced_rejections_.fetch_add(1);
    return Status::FailedPrecondition("ownership lost: this node is not the leader");
  }
  auto conn = session_.Get();
  if (!conn.ok()) return conn.status().WithContext(kSaving);
  PgConnection& c = **conn;
  // What an error means for the caller: ownership lost as it is, the rest
  // with context.
  auto failed = [&](const Status& s) {
    (void)Check(s);
    return IsOwnershipLost(s) ? s : s.WithContext(kSaving);
  };
  if (!session_.schema_ready) {
    if (Status s = MigrateStateSchema(c, node_, term); !s.ok()) return failed(s);
    session_.schema_ready = true;
  }

  if (Status s = c.Run("BEGIN"); !s.ok()) return failed(s);
  std::map<std::string, std::string> texts;
  std::string meta_xmin;
  if (Status s = Write(c, state, term, &texts, &meta_xmin); !s.ok()) {
    // Nothing was committed: what written_ says still holds.
    (void)c.Run("ROLLBACK");
    return failed(s);
  }
  if (Status s = c.Run("COMMIT"); !s.ok()) {
    // The commit may or may not have happened: the next save writes all.
    ForgetWritten();
    return failed(s.WithContext("COMMIT"));
  }
  written_ = std::move(texts);
  written_meta_xmin_ = std::move(meta_xmin);
  return Status::Ok();
}

Status PgStateStore::Write(PgConnection& c, const state::State& state, int64_t term,
                           std::map<std::string, std::string>* texts, std::string* meta_xmin) {
  // First, always: nothing below happens unless the lease is still ours.
  RETURN_IF_ERROR(CheckFence(c, node_, term));
  // Another save since this store last synced (a leader of another term,
  // or a commit whose outcome was lost): compare with nothing.
  ASSIGN_OR_RETURN(std::string xmin, MetaXmin(c));
  const bool known = written_meta_xmin_ == xmin;
  const std::string term_text = std::to_string(term);

  std::string batch = "{";
  size_t in_batch = 0;
  auto flush = [&]() -> Status {
    if (in_batch == 0) return Status::Ok();
    batch.push_back('}');
    Status st = c.Run(kUpsertWorkspaces, {batch, term_text});
    batch = "{";
    in_batch = 0;
    return st.WithContext("pv_workspaces");
  };
  for (const auto& [name, ws] : state.workspaces) {
    std::string text = state::WorkspaceToJson(ws);
    auto it = written_.find(name);
    if (!known || it == written_.end() || it->second != text) {
      if (in_batch > 0) batch.push_back(',');
      AppendJsonString(&batch, name);
      batch.push_back(':');
      batch.append(text);
      if (++in_batch == kUpsertBatch) RETURN_IF_ERROR(flush());
    }
    texts->emplace_hint(texts->end(), name, std::move(text));
  }
  RETURN_IF_ERROR(flush());

  // Removed workspaces: those this store wrote and the state no longer
  // has, or, when what the table holds is not known, all but the state's.
  std::vector<std::string> names;
  const char* sql = nullptr;
  if (known) {
    for (const auto& [name, text] : written_) {
      if (!state.workspaces.contains(name)) names.push_back(name);
    }
    sql = "DELETE FROM pv_workspaces WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))";
  } else {
    for (const auto& [name, ws] : state.workspaces) names.push_back(name);
    sql =
        "DELETE FROM pv_workspaces"
        " WHERE name NOT IN (SELECT jsonb_array_elements_text($1::jsonb))";
  }
  if (!known || !names.empty()) {
    RETURN_IF_ERROR(c.Run(sql, {JsonArray(names)}).WithContext("pv_workspaces"));
  }

  PgParam last_seen;
  if (state.last_seen) last_seen = FormatUtc(*state.last_seen, 3);
  auto meta = c.Exec(
      "INSERT INTO pv_state_meta (id, state_version, last_seen, written_term)"
      " VALUES (1, $1::integer, $2, $3::bigint)"
      " ON CONFLICT (id) DO UPDATE SET state_version = excluded.state_version,"
      " last_seen = excluded.last_seen, written_term = excluded.written_term,"
      " updated_at = clock_timestamp()"
      " RETURNING xmin::text",
      {std::to_string(state.version), last_seen, term_text});
  if (!meta.ok()) return meta.status().WithContext("pv_state_meta");
  if (meta->size() != 1) return Status::Internal("pv_state_meta: the upsert returned no row");
  *meta_xmin = (*meta)[0][0].value_or("");
  return Status::Ok();
}

}  // namespace provisioner::coordination
