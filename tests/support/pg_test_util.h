// Helpers for tests against the PostgreSQL of postgres_server.h: a
// connection, one value of a query, and the lease taken by a node.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "coordination/pg_connection.h"
#include "coordination/pg_lease_db.h"
#include "support/postgres_server.h"
#include "support/test_util.h"

namespace provisioner::testing {

inline coordination::PgOptions PgTestOptions(const PostgresServer& server) {
  coordination::PgOptions o;
  o.dsn = server.dsn();
  return o;
}

inline coordination::PgConnection ConnectOrDie(const PostgresServer& server) {
  auto conn = coordination::PgConnection::Connect(PgTestOptions(server));
  REQUIRE_OK(conn);
  return std::move(*conn);
}

// The one value `sql` returns; "NULL" for a NULL.
inline std::string Scalar(coordination::PgConnection& conn, const std::string& sql,
                          const std::vector<coordination::PgParam>& params = {}) {
  auto rows = conn.Exec(sql, params);
  REQUIRE_OK(rows);
  REQUIRE(rows->size() == 1);
  return (*rows)[0][0].value_or("NULL");
}

// `node` takes the lease, which must be free; returns its term.
inline int64_t Lead(coordination::PgConnection& conn, const std::string& node,
                    std::chrono::milliseconds ttl = std::chrono::seconds(60)) {
  REQUIRE_OK(coordination::EnsureLeaseTable(conn));
  auto row = coordination::AcquireOrRenew(conn, node, std::nullopt, ttl);
  REQUIRE_OK(row);
  REQUIRE(row->holder == node);
  return row->term;
}

}  // namespace provisioner::testing
