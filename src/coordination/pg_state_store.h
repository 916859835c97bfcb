// The StateStore of HA mode: the daemon's State in PostgreSQL
// (shared/reference/ha-postgresql.md §6.2, §6.4, §6.5), one row per
// workspace holding the same record state.json has for it
// (docs/state-format.md), as jsonb:
//
//   pv_schema(id = 1, schema_version)                 what MigrateStateSchema made
//   pv_state_meta(id = 1, state_version, last_seen, written_term, updated_at)
//   pv_workspaces(name, record jsonb, written_term, updated_at)
//   pv_jobs(id, workspace, ..., claim_epoch, claim_expires_at)  the job claims
//                                                     (pg_job_claims.h)
//   pv_api_requests(id, node, method, route, ...)     the API relay (pg_api_relay.h)
//   pv_job_logs(job_id, seq, workspace, node, chunk)  job logs and history
//   pv_job_history(job_id, workspace, node, record)   (pg_job_logs.h)
//
// Every save is one transaction that begins with CheckFence (pg_lease_db.h):
// a node that no longer holds the lease under the term it writes with
// changes nothing. A save writes only the workspaces whose record changed
// since this store last wrote or loaded them, so a tick that touched one
// workspace out of 10,000 writes one row.
//
// Loads need no lease: followers read.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "coordination/coordinator.h"
#include "coordination/pg_connection.h"
#include "state/state_store.h"

namespace provisioner::coordination {

// The schema version this build writes; pv_schema holds the database's.
inline constexpr int kSchemaVersion = 4;

// Creates or migrates the state tables up to kSchemaVersion, in one
// transaction that begins with CheckFence(conn, node, term), so only the
// leader migrates, and that holds the advisory lock EnsureLeaseTable takes
// (kSchemaLockKey). A no-op when the schema is current.
// Errors: FailedPrecondition "ownership lost: ..." from the fence, as it
// is; FailedPrecondition when the database's schema is newer than this
// build understands; the connection's errors otherwise.
Status MigrateStateSchema(PgConnection& conn, const std::string& node, int64_t term);

class PgStateStore final : public state::StateStore {
 public:
  // `coordinator` gives the term writes are fenced with and must outlive
  // the store; `node` is this node's name, the lease's holder.
  PgStateStore(PgOptions options, std::string node, const Coordinator& coordinator);
  PgStateStore(const PgStateStore&) = delete;
  PgStateStore& operator=(const PgStateStore&) = delete;

  // Reads the whole state in one REPEATABLE READ READ ONLY transaction.
  // Made as leader, it pins the term later saves are fenced with.
  // fresh when nothing was ever saved (no tables yet, or no pv_state_meta
  // row). Errors: FailedPrecondition for a schema or state version newer
  // than this build understands; Corruption naming the workspace for a row
  // that does not parse; Unavailable and the like when the database cannot
  // be reached.
  Result<state::LoadReport> Load() override;

  // One fenced transaction, tried again once on a new connection when the
  // old one turns out to be gone: migrates the schema first on each new
  // connection (MigrateStateSchema), then upserts the changed workspaces,
  // deletes the removed ones and writes pv_state_meta. Errors:
  // FailedPrecondition "ownership lost: ..." (the message exactly so, with
  // no context in front) when this node is not the leader, or the lease
  // moved to another term or holder; the rest carry context.
  Status Save(const state::State& state) override;

  std::string Describe() const override { return "PostgreSQL"; }

  // Saves refused for ownership lost, for the metric
  // provisioner_fenced_writes_rejected_total. Thread-safe.
  uint64_t fenced_rejections() const { return fenced_rejections_.load(); }

  // The session's server process, 0 when not connected (for tests).
  int backend_pid() const { return session_.backend_pid(); }

 private:
  // One try of Save().
  Status SaveOnce(const state::State& state);
  // session_.Check(s), counting an ownership lost; returns `s`.
  Status Check(const Status& s);
  // Forgets what the database holds: the next save writes every workspace.
  void ForgetWritten();
  // The statements of a save, inside its transaction: fills `texts` with
  // every workspace's record and `meta_xmin` with the new meta row's xmin.
  Status Write(PgConnection& conn, const state::State& state, int64_t term,
               std::map<std::string, std::string>* texts, std::string* meta_xmin);

  PgSession session_;  // schema_ready: MigrateStateSchema succeeded on it
  const std::string node_;
  const Coordinator& coordinator_;

  // What pv_workspaces holds as this store last committed or loaded it:
  // name -> the record as WorkspaceToJson wrote it (never jsonb's text,
  // which is normalized). Valid only while pv_state_meta's row is still
  // the version it was then (its xmin, or "" for no row): a save that finds
  // another one, written by another leader since, writes every workspace.
  std::map<std::string, std::string> written_;
  std::optional<std::string> written_meta_xmin_;  // nullopt: written_ is unknown

  // The term of the last Load() made as leader: saves are fenced with it,
  // not with the keeper's current term. Unset: the current term (a store
  // that writes without having loaded, as `state import` does).
  std::optional<int64_t> loaded_term_;
  std::atomic<uint64_t> fenced_rejections_{0};
};

}  // namespace provisioner::coordination
