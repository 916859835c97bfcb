// HttpClient: outgoing HTTP for the tofu installer and the OTLP exporter.
//
// An interface here, implemented in http/ (the only module that includes
// cpp-httplib), handed down by app/. Small on purpose: GET and POST with a
// deadline and a body cap are all its callers need.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "base/result.h"
#include "base/thread_annotations.h"

namespace provisioner::platform {

// Lets another thread abort a call in flight: the OTLP exporter's shutdown
// must not wait for a collector that accepted the connection and never
// answers. Cancel() makes the call in flight, and any later call with this
// token, fail with Cancelled.
class HttpCancel {
 public:
  void Cancel() {
    // Under the lock, so that the call cannot return (Disarm) and free what
    // `abort_` points at while it runs.
    MutexLock lock(mu_);
    cancelled_ = true;
    if (abort_) abort_();
  }
  bool cancelled() {
    MutexLock lock(mu_);
    return cancelled_;
  }

  // For HttpClient implementations: `abort` stops the transfer in flight
  // (from any thread); it is called by Cancel() until Disarm(). Returns
  // false, arming nothing, when already cancelled.
  bool Arm(std::function<void()> abort) {
    MutexLock lock(mu_);
    if (cancelled_) return false;
    abort_ = std::move(abort);
    return true;
  }
  // After Disarm returns, `abort` is never called again.
  void Disarm() {
    MutexLock lock(mu_);
    abort_ = nullptr;
  }

 private:
  Mutex mu_;
  bool cancelled_ GUARDED_BY(mu_) = false;
  std::function<void()> abort_ GUARDED_BY(mu_);
};

struct HttpRequest {
  std::string url;  // http:// or https://
  std::map<std::string, std::string> headers;
  // POST only.
  std::string body;
  std::string content_type;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};  // read/write, per operation
  // Larger bodies are refused (ResourceExhausted) instead of being buffered.
  // Not applied to a body handed to `on_body`, which is not buffered.
  uint64_t max_body_bytes = 64ull << 20;
  bool follow_redirects = true;
  // TLS: the CA bundle to trust (empty: the system's), and a client
  // certificate and key for mTLS.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Basic auth, when `user` is set.
  std::string user;
  std::string password;
  // GET only: when set, the body is handed over piece by piece as it arrives
  // instead of being collected; return false to stop (the call then fails
  // with Cancelled).
  std::function<bool(std::string_view chunk)> on_body;
  // When set, another thread may abort the call (not owned).
  HttpCancel* cancel = nullptr;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lowercased
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Any status the server sends is a response, not an error. Errors are
  // transport failures, whose messages begin with the method and the URL
  // ("POST https://collector/v1/traces: connection timed out"):
  //   Unavailable: refused, reset, DNS, TLS, or no data within `timeout`
  //     (cpp-httplib does not tell a read timeout from a reset);
  //   DeadlineExceeded: no connection within `connect_timeout`;
  //   ResourceExhausted: a body over `max_body_bytes`;
  //   Cancelled: `on_body` returned false, or `cancel` was cancelled;
  //   InvalidArgument: a bad URL (the message quotes it).
  virtual Result<HttpResponse> Get(const HttpRequest& request) = 0;
  virtual Result<HttpResponse> Post(const HttpRequest& request) = 0;
};

}  // namespace provisioner::platform
