// The leader lease's row in PostgreSQL (DESIGN.md §11,
// shared/reference/ha-postgresql.md §6.3-§6.4), on the lease holder's own
// dedicated connection.
//
//   pv_leader(id = 1, holder, term, acquired_at, expires_at)
//
// Every time is the database's clock_timestamp(): nodes never compare their
// own clocks with a time another node wrote.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "base/thread_annotations.h"
#include "coordination/lease.h"
#include "coordination/lease_keeper.h"
#include "coordination/pg_connection.h"

namespace provisioner::coordination {

// The pg_advisory_xact_lock key that every schema change takes (pv_leader
// here, the state tables in pg_state_store.h): "pvschema" in ASCII.
inline constexpr const char* kSchemaLockKey = "8103791450290220385";

// Creates pv_leader and its one row, and pv_nodes, if they are missing.
// Safe to run from several nodes at once (it serializes on an advisory
// transaction lock).
//
//   pv_nodes(name, instance, started_at, heartbeat_at, version, config_hash,
//            workspace_hashes jsonb)
//
// holds one row per node name: the process that uses it now (`instance`,
// drawn at random when the process starts) and its last heartbeat.
Status EnsureLeaseTable(PgConnection& conn);

// What a node publishes of its config with each heartbeat: the hash of its
// whole workspace config, and one per workspace (name -> hex SHA-256), so
// that the leader can tell which workspaces another node defines otherwise.
struct ConfigHashes {
  std::string config;
  std::map<std::string, std::string> workspaces;
  std::string WorkspacesJson() const;  // {"name": "hash", ...}
};

// The heartbeat of `node` as process `instance`: claims the name when it is
// free, already this instance's, or its holder's heartbeat is older than
// `ttl` on the database's clock. FailedPrecondition "node name X is in use
// by another running provisioner ..." otherwise: two processes under one
// name would both pass for the lease's holder.
// `workspace_hashes` (ConfigHashes::WorkspacesJson) replaces the ones in
// the row; nullopt keeps them, unless the name passes to a new instance.
Status HeartbeatNode(PgConnection& conn, const std::string& node, const std::string& instance,
                     const std::string& version, const std::string& config_hash,
                     const std::optional<std::string>& workspace_hashes,
                     std::chrono::milliseconds ttl);

// The config hash the lease's holder last published in pv_nodes, "" when it
// published none (or nobody holds the lease).
Result<std::string> LeaderConfigHash(PgConnection& conn);

// The workspaces `node` published that another live node (a heartbeat
// within `ttl`) defines otherwise, or lacks: name -> the first such node.
// Nodes that publish no workspace hashes are left out.
Result<std::map<std::string, std::string>> DifferingWorkspaces(PgConnection& conn,
                                                               const std::string& node,
                                                               std::chrono::milliseconds ttl);

// A clean exit frees the name at once (only if it is still `instance`'s).
Status LeaveNode(PgConnection& conn, const std::string& node, const std::string& instance);

// The acquire-or-renew statement: takes the row when it is free, expired or
// already `node`'s, in one conditional UPDATE. The term stays only when
// `renewing_term` is the row's term and the lease has not expired; any other
// taking moves it up by one. Returns the row as the statement left it (the
// other holder's, when the row was not taken).
Result<LeaseRow> AcquireOrRenew(PgConnection& conn, const std::string& node,
                                std::optional<int64_t> renewing_term,
                                std::chrono::milliseconds ttl);

// A clean shutdown's release: the lease expires now, if it is still ours.
// Returns whether it was.
Result<bool> ReleaseLease(PgConnection& conn, const std::string& node, int64_t term);

// The fence: inside a transaction, before any state write. Locks the lease
// row FOR SHARE (a takeover then waits for this transaction, and is ordered
// after it) and fails with FailedPrecondition "ownership lost: ..." unless
// (term, holder) is still (term, node).
Status CheckFence(PgConnection& conn, const std::string& node, int64_t term);

// The LeaseDb of the daemon: one dedicated connection, made on first use and
// again after it was lost, with pv_leader ensured on each new one.
// Each attempt first sends the node's heartbeat (HeartbeatNode), so that a
// second process under a name in use never stands for the lease.
class PgLeaseDb final : public LeaseDb {
 public:
  // `version` goes to pv_nodes. The instance is drawn at random here.
  explicit PgLeaseDb(PgOptions options, std::string version = "");

  Result<LeaseRow> AcquireOrRenew(const std::string& node, std::optional<int64_t> renewing_term,
                                  std::chrono::milliseconds ttl) override;
  Result<bool> Release(const std::string& node, int64_t term) override;
  Status Leave(const std::string& node) override;

  const std::string& instance() const { return instance_; }

  // Thread-safe. The hashes of this node's workspace config, sent with
  // every heartbeat; the whole config's, and the one the leader published
  // as of the last attempt ("" when unknown).
  void SetConfigHashes(ConfigHashes hashes);
  std::string config_hash() const;
  std::string leader_config_hash() const;
  // While this node leads: the workspaces another node defines otherwise,
  // as of the last attempt (DifferingWorkspaces).
  std::map<std::string, std::string> DifferingWorkspaces() const override;
  // Called (on the keeper's thread) when they change, so that the
  // scheduler looks at once.
  void SetOnDifferingChange(std::function<void()> callback);

  // The session's server process, 0 when not connected (for tests).
  int backend_pid() const { return session_.backend_pid(); }

 private:
  Result<PgConnection*> Connection();
  // Drops the connection when `s` says it is gone; returns `s`.
  Status Check(const Status& s);

  PgSession session_;  // schema_ready: EnsureLeaseTable succeeded on it
  const std::string version_;
  const std::string instance_;
  mutable Mutex mu_;
  ConfigHashes hashes_ GUARDED_BY(mu_);
  uint64_t hashes_generation_ GUARDED_BY(mu_) = 1;
  uint64_t published_generation_ GUARDED_BY(mu_) = 0;  // the last one a heartbeat sent
  std::string leader_config_hash_ GUARDED_BY(mu_);
  std::map<std::string, std::string> differing_ GUARDED_BY(mu_);
  std::function<void()> on_differing_change_ GUARDED_BY(mu_);
};

}  // namespace provisioner::coordination
