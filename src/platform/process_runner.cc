#include "platform/process_runner.h"

namespace provisioner::platform {

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return "none";
    case StopReason::kTimeout:
      return "timeout";
    case StopReason::kCancelled:
      return "cancelled";
    case StopReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

}  // namespace provisioner::platform
