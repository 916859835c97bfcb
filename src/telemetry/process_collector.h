// The process_* series of the Prometheus client conventions, which
// prometheus-cpp 1.0.1 does not provide (reference/debian-libraries.md §2.4):
// process_cpu_seconds_total (counter), process_resident_memory_bytes,
// process_virtual_memory_bytes, process_start_time_seconds, process_open_fds
// and process_max_fds (gauges).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <vector>

#include "base/result.h"
#include "platform/process_stats.h"

namespace provisioner::telemetry {

class ProcessCollector final : public prometheus::Collectable {
 public:
  using Reader = std::function<Result<platform::ProcessStats>()>;

  // `read` is called once per Collect(); tests pass canned statistics.
  explicit ProcessCollector(Reader read = platform::ReadProcessStats);

  // One family per metric, in name order. When the statistics cannot be
  // read, nothing: a scrape without process_* is better than one with made-up
  // values, and Prometheus keeps scraping everything else. Thread-safe if
  // `read` is.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Reader read_;
};

}  // namespace provisioner::telemetry
