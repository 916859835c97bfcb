// Status: the one error convention of the codebase.
//
// A Status is either OK or a code plus a human-readable message. Functions that
// can fail return Status (or Result<T>, see result.h); nothing throws across a
// module boundary. Messages are written for the operator who will read them in
// a log line or on a terminal: they say what failed and where, e.g.
//   Status::NotFound("state file", "/var/lib/provisioner/state.json")
//   -> "state file: /var/lib/provisioner/state.json".
#pragma once

#include <string>
#include <string_view>

namespace provisioner {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,     // bad input: config, API body, CLI argument
    kNotFound,            // a file, workspace, job or binary that does not exist
    kAlreadyExists,       // e.g. a job is already running for the workspace
    kPermissionDenied,    // EACCES/EPERM, or an auth decision
    kFailedPrecondition,  // the operation is not allowed in the current state
    kResourceExhausted,   // disk full, output or size caps
    kUnavailable,         // transient: network down, state lock held; retryable
    kDeadlineExceeded,    // a timeout
    kCancelled,           // stopped on request
    kCorruption,          // a file exists but cannot be parsed
    kIoError,             // any other errno from the operating system
    kInternal,            // a bug: an invariant did not hold
  };

  // OK.
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kInvalidArgument, msg, detail);
  }
  static Status NotFound(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kNotFound, msg, detail);
  }
  static Status AlreadyExists(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kAlreadyExists, msg, detail);
  }
  static Status PermissionDenied(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kPermissionDenied, msg, detail);
  }
  static Status FailedPrecondition(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kFailedPrecondition, msg, detail);
  }
  static Status ResourceExhausted(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kResourceExhausted, msg, detail);
  }
  static Status Unavailable(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kUnavailable, msg, detail);
  }
  static Status DeadlineExceeded(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kDeadlineExceeded, msg, detail);
  }
  static Status Cancelled(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kCancelled, msg, detail);
  }
  static Status Corruption(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kCorruption, msg, detail);
  }
  static Status IoError(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kIoError, msg, detail);
  }
  static Status Internal(std::string_view msg, std::string_view detail = {}) {
    return Status(Code::kInternal, msg, detail);
  }

  // An errno from a failed system call, mapped to the closest code:
  // ENOENT -> kNotFound, EACCES/EPERM -> kPermissionDenied, ENOSPC/EDQUOT ->
  // kResourceExhausted, anything else -> kIoError. The message reads
  // "<context>: <strerror>".
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }

  // "NotFound: state file: /var/lib/provisioner/state.json", or "OK".
  std::string ToString() const;

  // The same status with "<context>: " put in front of the message. OK stays OK.
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Status(Code code, std::string_view msg, std::string_view detail);

  Code code_ = Code::kOk;
  std::string message_;
};

// "InvalidArgument", "NotFound", ...
std::string_view CodeName(Status::Code code);

}  // namespace provisioner

// Returns early from the enclosing function when `expr` yields a non-OK Status.
#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::provisioner::Status prov_status_ = (expr); \
    if (!prov_status_.ok()) return prov_status_; \
  } while (0)
