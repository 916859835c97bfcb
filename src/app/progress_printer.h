// Live job progress for a terminal, resource by resource with elapsed times:
//   [00:12] apply: aws_instance.web: Still creating... [10s elapsed]
// Used by `provisioner run` (events from the tofu client) and by
// `provisioner deploy --wait` (lines of the job log streamed by the daemon).
#pragma once

#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "tofu/tofu_client.h"

namespace provisioner::app {

class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, Clock& clock);

  // One parsed event of `step`. Thread-safe.
  void OnEvent(tofu::Step step, const tofu::UiEvent& event);
  // One line of a job log: step headers ("$ tofu plan ...") switch the
  // current step, other lines are parsed as tofu output. Thread-safe.
  void OnLogLine(std::string_view line);

 private:
  std::ostream& out_;
  Clock& clock_;
  const MonotonicTime start_;
  std::mutex mu_;
  tofu::Step step_ = tofu::Step::kInit;
};

}  // namespace provisioner::app
