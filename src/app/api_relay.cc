#include "app/api_relay.h"

#include <algorithm>
#include <utility>

#include "base/duration.h"
#include "base/strings.h"
#include "base/trace_context.h"
#include "platform/boot_clock.h"

namespace provisioner::app {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kLeaderHeader = "Provisioner-Leader";

http::Response Pending(int64_t id, const http::Request& req, const std::string& why) {
  std::string body =
      "{\"request_id\":" + std::to_string(id) + ",\"state\":\"pending\",\"message\":";
  AppendJsonString(&body,
                   "committed to PostgreSQL; the leader applies it when it answers (" + why + ")");
  body += ",\"path\":";
  AppendJsonString(&body, req.path);
  body += "}";
  return http::Response::Json(202, std::move(body));
}

}  // namespace

http::Response RelayToLeader(coordination::PgApiRelay& relay, const http::Request& req,
                             bool mutating, const std::string& why, bool leader_seen,
                             const RelayOptions& options) {
  if (!leader_seen && !mutating) return http::Response::Error(503, "not_leader", why);

  coordination::RelayedRequest r;
  r.method = std::string(http::MethodName(req.method));
  r.route = req.route;
  r.path = req.path;
  r.params = req.params;
  r.query = req.query;
  r.body = req.body;
  r.user = req.user;
  if (req.trace.valid()) r.traceparent = req.trace.Traceparent();
  r.mutating = mutating;
  auto id = relay.Submit(r);
  if (!id.ok()) {
    return http::Response::Error(
        503, "database_unavailable",
        "cannot relay the request to the leader through PostgreSQL: " + id.status().ToString());
  }
  if (!leader_seen) return Pending(*id, req, why);

  const milliseconds wait = mutating ? options.command_wait : options.read_wait;
  const MonotonicTime deadline = platform::BootTimeNow() + wait;
  milliseconds poll = options.first_poll;
  auto answered = [&](const coordination::RelayedAnswer& a) {
    http::Response resp;
    resp.status = a.status;
    resp.content_type = a.content_type;
    resp.body = a.body;
    resp.headers.emplace_back(kLeaderHeader, a.answered_by);
    return resp;
  };
  while (true) {
    // A database blip while waiting is retried until the deadline.
    auto answer = relay.Answer(*id);
    if (answer.ok() && answer->has_value()) return answered(**answer);
    const MonotonicTime now = platform::BootTimeNow();
    if (now >= deadline) break;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
    const milliseconds step = std::min(poll, left);
    if (options.stopping != nullptr ? options.stopping->WaitFor(step)
                                    : (std::this_thread::sleep_for(step), false)) {
      break;
    }
    poll = std::min(poll * 2, options.max_poll);
  }
  if (mutating) return Pending(*id, req, "no leader answered within " + FormatDuration(wait));
  // A read nobody answered is withdrawn, unless the answer came just now.
  auto withdrawn = relay.Withdraw(*id);
  if (withdrawn.ok() && !*withdrawn) {
    auto answer = relay.Answer(*id);
    if (answer.ok() && answer->has_value()) return answered(**answer);
  }
  return http::Response::Error(503, "not_leader",
                               why + "; no leader answered within " + FormatDuration(wait));
}

std::string DrainBody(http::Response& response, size_t max) {
  if (!response.stream) return std::move(response.body);
  std::string out;
  std::string chunk;
  while (out.size() < max) {
    chunk.clear();
    const bool more = response.stream(&chunk);
    out += chunk;
    if (!more) return out;
  }
  out.resize(max);
  if (const size_t nl = out.rfind('\n'); nl != std::string::npos) out.resize(nl + 1);
  out += "# provisioner: the relayed reply ends here (" + std::to_string(max) + " bytes)\n";
  return out;
}

ApiInbox::ApiInbox(coordination::PgApiRelay& db, Options options)
    : db_(db), options_(std::move(options)) {}

ApiInbox::~ApiInbox() { Stop(); }

void ApiInbox::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ApiInbox::BeginStop() { stop_.Notify(); }

void ApiInbox::Stop() {
  BeginStop();
  if (thread_.joinable()) thread_.join();
}

void ApiInbox::Error(const Status& s) {
  if (s.ToString() == last_error_) return;
  last_error_ = s.ToString();
  if (options_.on_error) options_.on_error(s);
}

void ApiInbox::Run() {
  MonotonicTime last_scan{};
  MonotonicTime last_prune = platform::BootTimeNow();
  bool scanned = false;
  while (!stop_.HasBeenNotified()) {
    auto woke = db_.AwaitRequests(options_.wait);
    if (!woke.ok()) {
      Error(woke.status());
      last_error_from_wait_ = true;
      stop_.WaitFor(seconds(1));  // the database is away: do not spin
      continue;
    }
    if (last_error_from_wait_) last_error_.clear();
    const std::optional<int64_t> term = options_.leading_term();
    if (!term) {
      scanned = false;  // the next leadership starts with a scan
      continue;
    }
    const MonotonicTime now = platform::BootTimeNow();
    if (!*woke && scanned && now - last_scan < options_.scan_interval) continue;
    last_scan = now;
    scanned = true;
    Drain(*term);
    if (now - last_prune >= std::chrono::minutes(1)) {
      last_prune = now;
      if (auto pruned = db_.Prune(options_.keep_answers); !pruned.ok()) Error(pruned.status());
    }
  }
}

void ApiInbox::Drain(int64_t term) {
  auto pending = db_.Pending(term, 32);
  if (!pending.ok()) {
    Error(pending.status());
    last_error_from_wait_ = false;
    return;
  }
  if (!last_error_from_wait_) last_error_.clear();
  for (const coordination::RelayedRequest& r : *pending) {
    if (stop_.HasBeenNotified() || options_.leading_term() != term) return;
    http::Request req;
    req.method = r.method == "POST" ? http::Method::kPost : http::Method::kGet;
    req.route = r.route;
    req.path = r.path;
    req.params = r.params;
    req.query = r.query;
    req.body = r.body;
    req.user = r.user;
    req.remote_addr = "relay:" + r.node;
    if (auto trace = ParseTraceparent(r.traceparent)) req.trace = *trace;
    http::Response resp =
        r.problem.empty() ? options_.dispatch(req)
                          : http::Response::Error(400, "bad_request",
                                                  "the relayed request is corrupt: " + r.problem);
    // A command the scheduler could not take (it is stopping, or lost the
    // lease meanwhile) stays for the next leader.
    if (r.mutating && resp.status == 503) continue;
    coordination::RelayedAnswer answer;
    answer.status = resp.status;
    answer.content_type = resp.content_type;
    answer.body = DrainBody(resp, options_.max_reply_bytes);
    auto replied = db_.Reply(r.id, term, answer);
    if (!replied.ok()) {
      Error(replied.status());
      last_error_from_wait_ = false;
      return;
    }
    if (options_.on_answered) options_.on_answered(r, resp);
  }
}

}  // namespace provisioner::app
