#include "base/status.h"

#include <cerrno>
#include <cstring>

namespace provisioner {

Status::Status(Code code, std::string_view msg, std::string_view detail) : code_(code) {
  message_.reserve(msg.size() + detail.size() + 2);
  message_.append(msg);
  if (!detail.empty()) {
    message_.append(": ");
    message_.append(detail);
  }
}

Status Status::FromErrno(int err, std::string_view context) {
  // strerror_r has two incompatible signatures; strerrordesc_np (glibc 2.32+)
  // is thread-safe and returns null for unknown values.
  const char* text = strerrordesc_np(err);
  std::string reason = text != nullptr ? text : "errno " + std::to_string(err);
  switch (err) {
    case ENOENT:
    case ESRCH:  // a process that is gone
      return NotFound(context, reason);
    case EACCES:
    case EPERM:
      return PermissionDenied(context, reason);
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return ResourceExhausted(context, reason);
    case EEXIST:
      return AlreadyExists(context, reason);
    case ETIMEDOUT:
      return DeadlineExceeded(context, reason);
    case ECONNREFUSED:
    case ECONNRESET:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EAGAIN:
      return Unavailable(context, reason);
    default:
      return IoError(context, reason);
  }
}

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kInvalidArgument:
      return "InvalidArgument";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kAlreadyExists:
      return "AlreadyExists";
    case Status::Code::kPermissionDenied:
      return "PermissionDenied";
    case Status::Code::kFailedPrecondition:
      return "FailedPrecondition";
    case Status::Code::kResourceExhausted:
      return "ResourceExhausted";
    case Status::Code::kUnavailable:
      return "Unavailable";
    case Status::Code::kDeadlineExceeded:
      return "DeadlineExceeded";
    case Status::Code::kCancelled:
      return "Cancelled";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kIoError:
      return "IoError";
    case Status::Code::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  out.append(": ");
  out.append(message_);
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_.insert(0, ": ");
  s.message_.insert(0, context);
  return s;
}

}  // namespace provisioner
