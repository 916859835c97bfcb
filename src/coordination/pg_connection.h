// One libpq connection, with parameterized statements only (HA mode).
//
// Text in, text out: every parameter is sent as text with its type left to
// the server (or cast in the SQL), every value comes back as text, and a NULL
// is std::nullopt. No statement is ever built by pasting values into SQL.
//
// Connections are dedicated, never pooled (shared/reference/ha-postgresql.md
// §2.1): the session settings below hold for the connection's whole life.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/status.h"

struct pg_conn;

namespace provisioner::coordination {

struct PgOptions {
  // A libpq connection string or URI (the contents of ha.dsn_file). It may
  // hold a password: it is never logged nor put in an error.
  std::string dsn;
  std::string application_name = "provisioner";
  // Server-side bounds on a session that stalls (ha-postgresql.md §6.3):
  // statement_timeout, lock_timeout and idle_in_transaction_session_timeout.
  std::chrono::milliseconds statement_timeout{5'000};
  // connect_timeout, and TCP keepalives and tcp_user_timeout, so that a
  // server that vanished is noticed in seconds, not hours (§2.1).
  std::chrono::seconds connect_timeout{5};
  std::chrono::seconds keepalive_idle{4};
  std::chrono::seconds keepalive_interval{2};
  int keepalive_count = 3;
  std::chrono::milliseconds tcp_user_timeout{10'000};
  // How long a statement may go without its answer before the connection is
  // taken for dead and dropped (Unavailable): past the server's own
  // timeouts, so that their errors come first.
  std::chrono::milliseconds answer_timeout{8'000};
};

using PgParam = std::optional<std::string>;  // nullopt is SQL NULL
using PgRow = std::vector<std::optional<std::string>>;

// An integer column's value; 0 for NULL or for text that is not a number
// (for columns the schema makes integers).
int64_t PgInt(const std::optional<std::string>& value);

class PgConnection {
 public:
  // Connects; the error says what libpq said (never the DSN).
  static Result<PgConnection> Connect(const PgOptions& options);

  PgConnection(PgConnection&& other) noexcept;
  PgConnection& operator=(PgConnection&& other) noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;
  ~PgConnection();

  // Runs one statement. Rows for a statement that returns them, none
  // otherwise. Errors: Unavailable when the connection is gone, or gave no
  // answer within answer_timeout (it is dropped then; the caller
  // reconnects), DeadlineExceeded for a timeout or lock timeout the server
  // reported, FailedPrecondition for a serialization or unique-index
  // conflict, Internal for the rest; the message carries the server's
  // SQLSTATE and text.
  Result<std::vector<PgRow>> Exec(const std::string& sql, const std::vector<PgParam>& params = {});

  // Exec for statements without rows.
  Status Run(const std::string& sql, const std::vector<PgParam>& params = {});

  // Waits up to `timeout` for a NOTIFY on a channel this session LISTENs
  // to; true when one or more came (all are consumed), false on timeout.
  // Unavailable when the connection is gone (it is dropped then).
  Result<bool> AwaitNotification(std::chrono::milliseconds timeout);

  bool ok() const;
  // The server process of this session (for pg_terminate_backend in tests).
  int backend_pid() const;

 private:
  PgConnection(pg_conn* conn, std::chrono::milliseconds answer_timeout)
      : conn_(conn), answer_timeout_(answer_timeout) {}
  pg_conn* conn_ = nullptr;
  std::chrono::milliseconds answer_timeout_;
};

// A dedicated connection made on first use, and again after it was lost:
// what each HA component keeps for itself.
class PgSession {
 public:
  explicit PgSession(PgOptions options) : options_(std::move(options)) {}

  // The connection, made now if there is none or it broke.
  Result<PgConnection*> Get();
  // Drops the connection when `s` says it is gone (Unavailable), so that
  // the next Get() makes a new one; returns `s`.
  Status Check(const Status& s);
  // The server process of the session, 0 when not connected.
  int backend_pid() const { return conn_ ? conn_->backend_pid() : 0; }

  // For the owner: set once the schema is checked on this connection;
  // false again with every new one.
  bool schema_ready = false;

 private:
  const PgOptions options_;
  std::optional<PgConnection> conn_;
};

}  // namespace provisioner::coordination
