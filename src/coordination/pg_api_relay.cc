#include "coordination/pg_api_relay.h"

#include <tuple>
#include <utility>

#include "coordination/pg_lease_db.h"
#include "coordination/pg_state_store.h"
#include "coordination/relay_json.h"

namespace provisioner::coordination {

using std::chrono::milliseconds;

PgApiRelay::PgApiRelay(PgOptions options, std::string node)
    : session_(std::move(options)), node_(std::move(node)) {}

Result<int64_t> PgApiRelay::Submit(const RelayedRequest& req) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  // pg_notify in the INSERT's own statement: the notification goes out
  // when the row commits, and never without it.
  auto rows = conn->Exec(
      "WITH r AS (INSERT INTO pv_api_requests"
      " (node, method, route, path, params, query, body, user_name, traceparent, mutating)"
      " VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10::boolean) RETURNING id)"
      " SELECT id, pg_notify($11, '') FROM r",
      {node_, req.method, req.route, req.path, StringMapToJson(req.params),
       StringMapToJson(req.query), req.body, req.user, req.traceparent,
       req.mutating ? "true" : "false", kApiRelayChannel});
  if (!rows.ok()) return session_.Check(rows.status());
  if (rows->size() != 1) return Status::Internal("pv_api_requests: the insert returned no id");
  return PgInt((*rows)[0][0]);
}

Result<std::optional<RelayedAnswer>> PgApiRelay::Answer(int64_t id) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  auto rows = conn->Exec(
      "DELETE FROM pv_api_requests WHERE id = $1::bigint AND answered_at IS NOT NULL"
      " RETURNING status, content_type, reply, answered_by, answered_term",
      {std::to_string(id)});
  if (!rows.ok()) return session_.Check(rows.status());
  if (rows->empty()) return std::optional<RelayedAnswer>();
  const PgRow& row = (*rows)[0];
  RelayedAnswer a;
  a.status = static_cast<int>(PgInt(row[0]));
  a.content_type = row[1].value_or("");
  a.body = row[2].value_or("");
  a.answered_by = row[3].value_or("");
  a.term = PgInt(row[4]);
  return std::optional<RelayedAnswer>(std::move(a));
}

Result<bool> PgApiRelay::Withdraw(int64_t id) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  auto rows = conn->Exec(
      "DELETE FROM pv_api_requests WHERE id = $1::bigint AND answered_at IS NULL RETURNING id",
      {std::to_string(id)});
  if (!rows.ok()) return session_.Check(rows.status());
  return !rows->empty();
}

Result<bool> PgApiRelay::AwaitRequests(milliseconds timeout) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  if (!session_.schema_ready) {
    // The channel is an identifier, not a value: it cannot be a parameter.
    RETURN_IF_ERROR(session_.Check(conn->Run(std::string("LISTEN ") + kApiRelayChannel)));
    session_.schema_ready = true;
    return true;  // requests may have come while no one listened: look
  }
  auto woke = conn->AwaitNotification(timeout);
  if (!woke.ok()) return session_.Check(woke.status());
  return *woke;
}

Result<std::vector<RelayedRequest>> PgApiRelay::Pending(int64_t term, size_t limit) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  if (!migrated_) {
    RETURN_IF_ERROR(session_.Check(MigrateStateSchema(*conn, node_, term)));
    migrated_ = true;
  }
  auto rows = conn->Exec(
      "SELECT id, node, method, route, path, params::text, query::text, body, user_name,"
      " traceparent, mutating FROM pv_api_requests WHERE answered_at IS NULL"
      " ORDER BY id LIMIT $1::integer",
      {std::to_string(limit)});
  if (!rows.ok()) return session_.Check(rows.status());
  std::vector<RelayedRequest> out;
  out.reserve(rows->size());
  for (const PgRow& row : *rows) {
    RelayedRequest r;
    r.id = PgInt(row[0]);
    r.node = row[1].value_or("");
    r.method = row[2].value_or("");
    r.route = row[3].value_or("");
    r.path = row[4].value_or("");
    for (auto [column, field, map] :
         {std::tuple{5, "params", &r.params}, std::tuple{6, "query", &r.query}}) {
      auto parsed =
          StringMapFromJson(row[column].value_or(""), std::string("pv_api_requests.") + field);
      if (parsed.ok()) {
        *map = std::move(*parsed);
      } else if (r.problem.empty()) {
        r.problem = parsed.status().ToString();
      }
    }
    r.body = row[7].value_or("");
    r.user = row[8].value_or("");
    r.traceparent = row[9].value_or("");
    r.mutating = row[10].value_or("") == "t";
    out.push_back(std::move(r));
  }
  return out;
}

Result<bool> PgApiRelay::Reply(int64_t id, int64_t term, const RelayedAnswer& answer) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  bool written = false;
  Status s = conn->Run("BEGIN");
  if (s.ok()) s = CheckFence(*conn, node_, term);
  if (s.ok()) {
    auto rows = conn->Exec(
        "UPDATE pv_api_requests SET answered_at = clock_timestamp(), answered_by = $2,"
        " answered_term = $3::bigint, status = $4::integer, content_type = $5, reply = $6"
        " WHERE id = $1::bigint AND answered_at IS NULL RETURNING id",
        {std::to_string(id), node_, std::to_string(term), std::to_string(answer.status),
         answer.content_type, answer.body});
    s = rows.status();
    written = rows.ok() && !rows->empty();
  }
  if (s.ok()) s = conn->Run("COMMIT");
  if (!s.ok()) (void)conn->Run("ROLLBACK");
  RETURN_IF_ERROR(session_.Check(s));
  return written;
}

Result<int64_t> PgApiRelay::Prune(std::chrono::seconds age) {
  MutexLock lock(mu_);
  ASSIGN_OR_RETURN(PgConnection * conn, session_.Get());
  auto rows = conn->Exec(
      "WITH gone AS (DELETE FROM pv_api_requests"
      " WHERE (answered_at IS NOT NULL OR NOT mutating)"
      " AND created_at < clock_timestamp() - $1::bigint * interval '1 second' RETURNING 1)"
      " SELECT count(*) FROM gone",
      {std::to_string(age.count())});
  if (!rows.ok()) return session_.Check(rows.status());
  return rows->empty() ? 0 : PgInt((*rows)[0][0]);
}

}  // namespace provisioner::coordination
