// HA mode: the API on every node (DESIGN.md §11, docs/ha.md). The
// database side is coordination/pg_api_relay.h; this is the HTTP side.
//
// A standby hands each API request that needs the leader to RelayToLeader:
// it commits the request to PostgreSQL, waits for the leader's answer and
// replies with it. The leader's ApiInbox thread, woken by the NOTIFY, runs
// those requests through the same handlers as its own (DispatchRelayed)
// and writes the answers back.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "base/notification.h"
#include "base/status.h"
#include "coordination/pg_api_relay.h"
#include "http/server.h"

namespace provisioner::app {

// The standby's side.
struct RelayOptions {
  // How long the standby waits for the leader's answer: a command as long
  // as the leader's own API waits for its scheduler (command_timeout) and
  // a margin, a read less.
  std::chrono::milliseconds command_wait{std::chrono::seconds(35)};
  std::chrono::milliseconds read_wait{std::chrono::seconds(10)};
  // Polls for the answer: the first after `first_poll`, doubling up to
  // `max_poll`.
  std::chrono::milliseconds first_poll{2};
  std::chrono::milliseconds max_poll{200};
  // Notified when the daemon stops: the wait ends at once. May be null.
  const Notification* stopping = nullptr;
};

// Relays `req` to the leader and returns its answer, with a
// `Provisioner-Leader` header naming the node that answered. `why` is the
// standby's not_leader text; `leader_seen` says whether a leader is known
// (without one, a read answers 503 at once, and a command is committed and
// answered 202 `pending` at once).
//
// A command that got no answer in time stays committed for the next leader:
// 202 {"request_id": N, "state": "pending", ...}. A read that got none is
// withdrawn: 503 not_leader. 503 `database_unavailable` when the request
// could not be committed.
http::Response RelayToLeader(coordination::PgApiRelay& relay, const http::Request& req,
                             bool mutating, const std::string& why, bool leader_seen,
                             const RelayOptions& options);

// The leader's side: a thread that answers relayed requests while this node
// leads.
class ApiInbox {
 public:
  struct Options {
    // The term while this node leads, nullopt otherwise. Thread-safe.
    std::function<std::optional<int64_t>()> leading_term;
    // Answers one request (DispatchRelayed).
    std::function<http::Response(const http::Request&)> dispatch;
    // Told of each answered request, and of each error (both may be null);
    // an error that repeats is told again only after a success.
    std::function<void(const coordination::RelayedRequest&, const http::Response&)> on_answered;
    std::function<void(const Status&)> on_error;
    // Looks for requests this often even without a NOTIFY (one sent while
    // the connection was being remade is lost).
    std::chrono::milliseconds scan_interval{std::chrono::seconds(5)};
    // One wait for a NOTIFY; bounds how long Stop() takes.
    std::chrono::milliseconds wait{500};
    // Answered requests are deleted after this long (their node gave up).
    std::chrono::seconds keep_answers{600};
    // A streamed reply (none is relayed today) is cut at this size.
    size_t max_reply_bytes = 8u << 20;
  };

  ApiInbox(coordination::PgApiRelay& db, Options options);
  ~ApiInbox();  // Stop()
  ApiInbox(const ApiInbox&) = delete;
  ApiInbox& operator=(const ApiInbox&) = delete;

  void Start();
  // Thread-safe: answers no further request, without waiting. A request
  // being answered finishes.
  void BeginStop();
  // BeginStop(), then joins the thread.
  void Stop();

 private:
  void Run();
  // Answers the pending requests under `term`.
  void Drain(int64_t term);
  void Error(const Status& s);

  coordination::PgApiRelay& db_;
  const Options options_;
  Notification stop_;
  // The thread's own: the last error told, and whether waiting for a
  // NOTIFY failed with it (a good wait clears it), or reading or answering
  // the requests (a good read clears it).
  std::string last_error_;
  bool last_error_from_wait_ = false;
  std::thread thread_;
};

// The body of `response`, with a stream drained into it, at most `max`
// bytes (a note line says where it was cut).
std::string DrainBody(http::Response& response, size_t max);

}  // namespace provisioner::app
