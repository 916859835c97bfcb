#include "http/http_client.h"

#include <httplib.h>

#include "base/strings.h"
#include "platform/process_info.h"

namespace provisioner::http {
namespace {

using platform::HttpRequest;
using platform::HttpResponse;

struct Target {
  std::string origin;  // scheme://host[:port]
  std::string path;    // /path?query
};

Result<Target> SplitUrl(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return Status::InvalidArgument("URL \"" + url + "\"", "must start with http:// or https://");
  }
  size_t path_start = url.find('/', scheme_end + 3);
  Target t;
  t.origin = url.substr(0, path_start);
  t.path = path_start == std::string::npos ? "/" : url.substr(path_start);
  if (t.origin.size() <= scheme_end + 3)
    return Status::InvalidArgument("URL \"" + url + "\"", "no host");
  return t;
}

// `what` names the request, "POST https://host/path", so that a log line
// says which call failed.
Status TransportError(httplib::Error e, const std::string& what) {
  switch (e) {
    case httplib::Error::ConnectionTimeout:
      return Status::DeadlineExceeded(what, "connection timed out");
    default:
      // httplib reports a read that timed out as a failed read, like a reset.
      return Status::Unavailable(what, httplib::to_string(e));
  }
}

Result<HttpResponse> Send(const HttpRequest& req, bool post) {
  ASSIGN_OR_RETURN(Target t, SplitUrl(req.url));
  httplib::Client client = req.cert_file.empty()
                               ? httplib::Client(t.origin)
                               : httplib::Client(t.origin, req.cert_file, req.key_file);
  if (!req.ca_file.empty()) client.set_ca_cert_path(req.ca_file.c_str());
  if (!req.user.empty()) client.set_basic_auth(req.user.c_str(), req.password.c_str());
  client.set_connection_timeout(
      std::chrono::duration_cast<std::chrono::microseconds>(req.connect_timeout));
  client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(req.timeout));
  client.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(req.timeout));
  client.set_follow_location(req.follow_redirects);
  client.set_keep_alive(false);
  httplib::Headers headers;
  for (const auto& [k, v] : req.headers) headers.emplace(k, v);

  const std::string what = (post ? "POST " : "GET ") + req.url;
  HttpResponse out;
  uint64_t received = 0;
  bool over_limit = false;
  bool stopped_by_caller = false;
  // Returning false cancels the transfer; httplib then reports
  // Error::Canceled whoever stopped it, so each cause sets its own flag.
  auto receiver = [&](const char* data, size_t len) {
    if (req.on_body) {
      if (req.on_body(std::string_view(data, len))) return true;
      stopped_by_caller = true;
      return false;
    }
    received += len;
    if (received > req.max_body_bytes) {
      over_limit = true;
      return false;
    }
    out.body.append(data, len);
    return true;
  };
  // ClientImpl::stop() shuts the socket down under httplib's own lock, which
  // wakes a read blocked on a silent peer; Disarm() returns only once no
  // Cancel() can still reach `client`.
  if (req.cancel != nullptr && !req.cancel->Arm([&client] { client.stop(); })) {
    return Status::Cancelled(what, "cancelled before it started");
  }
  // httplib 0.11.4 sends without MSG_NOSIGNAL, so a peer that closes while
  // a body is going out (or a Cancel() shutting the socket mid-write) would
  // raise SIGPIPE in a process that has not ignored it.
  platform::ScopedSigpipeBlock no_sigpipe;
  // Bodies we send are built by us and bounded by the caller.
  httplib::Result res = post ? client.Post(t.path, headers, req.body, req.content_type)
                             : client.Get(t.path, headers, receiver);
  if (req.cancel != nullptr) {
    req.cancel->Disarm();
    if (req.cancel->cancelled() && !res) return Status::Cancelled(what, "cancelled by the caller");
  }
  if (post && res) {
    if (res->body.size() > req.max_body_bytes) over_limit = true;
    out.body = res->body;
  }
  if (over_limit) {
    return Status::ResourceExhausted(
        what, "response body over " + std::to_string(req.max_body_bytes) + " bytes");
  }
  if (stopped_by_caller) return Status::Cancelled(what, "transfer stopped by the caller");
  if (!res) return TransportError(res.error(), what);
  out.status = res->status;
  for (const auto& [k, v] : res->headers) out.headers[AsciiLower(k)] = v;
  return out;
}

}  // namespace

Result<HttpResponse> HttplibClient::Get(const HttpRequest& request) { return Send(request, false); }

Result<HttpResponse> HttplibClient::Post(const HttpRequest& request) { return Send(request, true); }

}  // namespace provisioner::http
