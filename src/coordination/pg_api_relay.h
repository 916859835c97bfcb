// The API relay of HA mode (DESIGN.md §11, docs/ha.md "The API on every
// node"): pv_api_requests, made by MigrateStateSchema (pg_state_store.h),
// schema version 3.
//
// Every node serves the API, and the leader answers it. A standby commits
// each request it cannot answer itself as a row, and NOTIFYs
// pv_api_requests in the same statement; the leader LISTENs, runs the
// request through the handlers its own requests take, and writes the
// answer into the row, fenced by its term; the standby reads the answer,
// replies with it and deletes the row. A command is therefore committed in
// PostgreSQL before any node replies 202, and a command that no leader
// answered in time stays in the table for the next one.
//
//   standby                       pv_api_requests                 leader
//   Submit ----------- INSERT + NOTIFY ------->  row  ---- AwaitRequests, Pending
//   Answer (polls) <--------- answered row  <-----------------  Reply (fenced)
//   Forget / Withdraw  ---- DELETE
//
// Both sides keep one connection each, made on first use and again after it
// was lost; every call is thread-safe (the standby side is called from the
// HTTP server's threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/thread_annotations.h"
#include "coordination/pg_connection.h"

namespace provisioner::coordination {

// The NOTIFY channel the leader listens on.
inline constexpr const char* kApiRelayChannel = "pv_api_requests";

struct RelayedRequest {
  int64_t id = 0;    // the row's; set by Submit, read by Pending
  std::string node;  // the node that took the request (Submit sets it)
  std::string method;
  std::string route;  // the route template, e.g. /api/v1/workspaces/:name/deploy
  std::string path;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> query;
  std::string body;
  std::string user;         // who the node authenticated ("" without authentication)
  std::string traceparent;  // the request's span, "" when none
  bool mutating = false;    // a command; kept for the next leader when unanswered
  // Pending: why the row cannot be read back (its params or query are not
  // an object of strings), "" when it can. Such a request is answered with
  // the error, so that it does not block the ones behind it.
  std::string problem;

  friend bool operator==(const RelayedRequest&, const RelayedRequest&) = default;
};

struct RelayedAnswer {
  int status = 0;
  std::string content_type;
  std::string body;
  std::string answered_by;  // the leader's node name (Answer sets it)
  int64_t term = 0;         // the leader's term (Answer sets it)
};

class PgApiRelay {
 public:
  PgApiRelay(PgOptions options, std::string node);

  // ---- the side of the node that took a request ----

  // Commits `req` (its id and node are ignored) and wakes the leader;
  // returns the row's id.
  Result<int64_t> Submit(const RelayedRequest& req) EXCLUDES(mu_);
  // The answer, once the leader wrote it; the row is deleted then.
  // nullopt while it is unanswered.
  Result<std::optional<RelayedAnswer>> Answer(int64_t id) EXCLUDES(mu_);
  // Deletes the request unless it was answered meanwhile: true when it was
  // withdrawn, false when an answer is there (read it with Answer).
  Result<bool> Withdraw(int64_t id) EXCLUDES(mu_);

  // ---- the leader's side ----

  // Listens on kApiRelayChannel (again after a reconnect) and waits up to
  // `timeout` for a notification: true when one came.
  Result<bool> AwaitRequests(std::chrono::milliseconds timeout) EXCLUDES(mu_);
  // The unanswered requests, oldest first, at most `limit`. Migrates the
  // schema first, under `term` (MigrateStateSchema), once.
  Result<std::vector<RelayedRequest>> Pending(int64_t term, size_t limit) EXCLUDES(mu_);
  // Writes the answer, fenced by (term, this node) (CheckFence): false when
  // the request was answered or withdrawn meanwhile. FailedPrecondition
  // "ownership lost: ..." when the node no longer leads under `term`.
  Result<bool> Reply(int64_t id, int64_t term, const RelayedAnswer& answer) EXCLUDES(mu_);
  // Deletes answered requests, and withdrawn-too-late reads, older than
  // `age` on the database's clock (their node gave up on them); returns how
  // many. Unanswered commands stay for the next leader.
  Result<int64_t> Prune(std::chrono::seconds age) EXCLUDES(mu_);

 private:
  Mutex mu_;
  PgSession session_ GUARDED_BY(mu_);  // schema_ready: LISTEN was sent on it
  bool migrated_ GUARDED_BY(mu_) = false;
  const std::string node_;
};

}  // namespace provisioner::coordination
