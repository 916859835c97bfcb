#include "telemetry/process_collector.h"

#include <chrono>
#include <string>
#include <utility>

namespace provisioner::telemetry {
namespace {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

ProcessCollector::ProcessCollector(Reader read) : read_(std::move(read)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  if (!read_) return {};
  Result<platform::ProcessStats> stats = read_();
  if (!stats.ok()) return {};
  using prometheus::MetricType;
  // Whole seconds and the fraction apart: a double of all the nanoseconds
  // since 1970 would round the fraction.
  const auto since_epoch = stats->start_time.time_since_epoch();
  const auto whole = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const double start = static_cast<double>(whole.count()) +
                       std::chrono::duration<double>(since_epoch - whole).count();
  std::vector<prometheus::MetricFamily> out;
  out.push_back(Family("process_cpu_seconds_total",
                       "Total user and system CPU time spent in seconds.", MetricType::Counter,
                       stats->cpu.count()));
  out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                       MetricType::Gauge, static_cast<double>(stats->max_fds)));
  out.push_back(Family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                       static_cast<double>(stats->open_fds)));
  out.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.",
                       MetricType::Gauge, static_cast<double>(stats->resident_bytes)));
  out.push_back(Family("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                       start));
  out.push_back(Family("process_threads", "Number of OS threads in the process.", MetricType::Gauge,
                       static_cast<double>(stats->threads)));
  out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                       MetricType::Gauge, static_cast<double>(stats->virtual_bytes)));
  return out;
}

}  // namespace provisioner::telemetry
