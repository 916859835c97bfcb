#include "coordination/pg_connection.h"

#include <libpq-fe.h>

#include <charconv>
#include <string_view>
#include <utility>

#include "platform/boot_clock.h"
#include "platform/fd_wait.h"

namespace provisioner::coordination {
namespace {

// libpq's messages end in a newline, sometimes several lines.
std::string Tidy(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

Status StatusOf(PGconn* conn, PGresult* res) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = state ? state : "";
  std::string message = res != nullptr ? Tidy(PQresultErrorMessage(res)) : "";
  if (message.empty()) message = Tidy(PQerrorMessage(conn));
  if (PQstatus(conn) != CONNECTION_OK || sqlstate.starts_with("08") ||
      sqlstate.starts_with("57P")) {
    return Status::Unavailable("postgresql: connection lost", message);
  }
  const std::string text = "postgresql: " + (sqlstate.empty() ? "" : sqlstate + " ") + message;
  if (sqlstate == "57014" || sqlstate == "55P03" || sqlstate == "25P03") {
    return Status::DeadlineExceeded(text);  // statement, lock or idle-in-transaction timeout
  }
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "23505") {
    return Status::FailedPrecondition(text);  // serialization, deadlock, unique index
  }
  return Status::Internal(text);
}

// Waits for the whole answer to a statement sent, at most `timeout`. False
// when it did not come; a broken connection returns true, and the results
// say what broke.
bool WaitForAnswer(PGconn* conn, std::chrono::milliseconds timeout) {
  const MonotonicTime deadline = platform::BootTimeNow() + timeout;
  while (PQisBusy(conn)) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - platform::BootTimeNow());
    if (left.count() <= 0) return false;
    if (platform::WaitReadable(PQsocket(conn), left) && !PQconsumeInput(conn)) return true;
  }
  return true;
}

}  // namespace

int64_t PgInt(const std::optional<std::string>& value) {
  int64_t v = 0;
  if (value) std::from_chars(value->data(), value->data() + value->size(), v);
  return v;
}

Result<PgConnection> PgConnection::Connect(const PgOptions& o) {
  auto ms = [](auto d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  auto s = [](auto d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  };
  const std::string options = "-c statement_timeout=" + ms(o.statement_timeout) +
                              " -c lock_timeout=" + ms(o.statement_timeout) +
                              " -c idle_in_transaction_session_timeout=" + ms(o.statement_timeout) +
                              " -c TimeZone=UTC";
  // The DSN first, expanded (expand_dbname); the settings after it win.
  const std::string values[] = {o.dsn,
                                o.application_name,
                                options,
                                s(o.connect_timeout),
                                "1",
                                s(o.keepalive_idle),
                                s(o.keepalive_interval),
                                std::to_string(o.keepalive_count),
                                ms(o.tcp_user_timeout)};
  const char* keys[] = {"dbname",
                        "application_name",
                        "options",
                        "connect_timeout",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        nullptr};
  const char* vals[std::size(values) + 1];
  for (size_t i = 0; i < std::size(values); ++i) vals[i] = values[i].c_str();
  vals[std::size(values)] = nullptr;
  PGconn* conn = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (conn == nullptr) return Status::ResourceExhausted("postgresql: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status st = Status::Unavailable("postgresql: cannot connect", Tidy(PQerrorMessage(conn)));
    PQfinish(conn);
    return st;
  }
  // The server's NOTICEs and WARNINGs ("relation already exists, skipping")
  // would go to stderr; the statuses say what matters.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return PgConnection(conn, o.answer_timeout);
}

PgConnection::PgConnection(PgConnection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)), answer_timeout_(other.answer_timeout_) {}

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    answer_timeout_ = other.answer_timeout_;
  }
  return *this;
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Result<bool> PgConnection::AwaitNotification(std::chrono::milliseconds timeout) {
  if (conn_ == nullptr) return Status::Unavailable("postgresql: not connected");
  auto drain = [this] {
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      PQfreemem(n);
      any = true;
    }
    return any;
  };
  // Notifications that came with an earlier statement's answer are
  // already buffered.
  if (drain()) return true;
  if (!platform::WaitReadable(PQsocket(conn_), timeout)) return false;
  if (!PQconsumeInput(conn_)) {
    Status st = Status::Unavailable("postgresql: connection lost", Tidy(PQerrorMessage(conn_)));
    PQfinish(conn_);
    conn_ = nullptr;
    return st;
  }
  return drain();
}

bool PgConnection::ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

int PgConnection::backend_pid() const { return conn_ != nullptr ? PQbackendPID(conn_) : 0; }

Result<std::vector<PgRow>> PgConnection::Exec(const std::string& sql,
                                              const std::vector<PgParam>& params) {
  if (conn_ == nullptr) return Status::Unavailable("postgresql: not connected");
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                         values.data(), nullptr, nullptr, /*resultFormat=*/0)) {
    return StatusOf(conn_, nullptr);
  }
  // The server's own timeouts end a slow statement well within this; an
  // answer that does not come at all is a server or network gone silent
  // (a hung proxy, a half-open connection that the kernel still
  // acknowledges), which TCP settings alone may never notice.
  if (!WaitForAnswer(conn_, answer_timeout_)) {
    PQfinish(conn_);
    conn_ = nullptr;
    return Status::Unavailable(
        "postgresql: connection lost",
        "no answer within " + std::to_string(answer_timeout_.count()) + " ms; dropped it");
  }
  // One statement, one result; the first error wins if there are more.
  PGresult* res = nullptr;
  while (PGresult* next = PQgetResult(conn_)) {
    const ExecStatusType st = PQresultStatus(next);
    const bool failed_before = res != nullptr && PQresultStatus(res) != PGRES_TUPLES_OK &&
                               PQresultStatus(res) != PGRES_COMMAND_OK;
    if (res == nullptr || (!failed_before && st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)) {
      if (res != nullptr) PQclear(res);
      res = next;
    } else {
      PQclear(next);
    }
  }
  const ExecStatusType status = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    Status st = StatusOf(conn_, res);
    PQclear(res);
    return st;
  }
  std::vector<PgRow> rows;
  const int n = PQntuples(res);
  const int fields = PQnfields(res);
  rows.reserve(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    PgRow row;
    row.reserve(static_cast<size_t>(fields));
    for (int f = 0; f < fields; ++f) {
      if (PQgetisnull(res, r, f)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(
            std::string(PQgetvalue(res, r, f), static_cast<size_t>(PQgetlength(res, r, f))));
      }
    }
    rows.push_back(std::move(row));
  }
  PQclear(res);
  return rows;
}

Status PgConnection::Run(const std::string& sql, const std::vector<PgParam>& params) {
  return Exec(sql, params).status();
}

Result<PgConnection*> PgSession::Get() {
  if (conn_ && conn_->ok()) return &*conn_;
  conn_.reset();
  schema_ready = false;
  auto conn = PgConnection::Connect(options_);
  if (!conn.ok()) return conn.status();
  conn_ = std::move(*conn);
  return &*conn_;
}

Status PgSession::Check(const Status& s) {
  if (s.code() == Status::Code::kUnavailable) {
    conn_.reset();
    schema_ready = false;
  }
  return s;
}

}  // namespace provisioner::coordination
