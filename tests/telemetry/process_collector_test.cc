#include "telemetry/process_collector.h"

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "support/test_util.h"

namespace provisioner::telemetry {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

const MetricFamily* Find(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const MetricFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST_SUITE("telemetry") {
  TEST_CASE("telemetry: ProcessCollector turns process statistics into process_* families") {
    // Given canned statistics,
    platform::ProcessStats stats;
    stats.cpu = std::chrono::milliseconds(12'340);
    stats.resident_bytes = 50 << 20;
    stats.virtual_bytes = 900 << 20;
    stats.start_time = SystemTime(std::chrono::milliseconds(1'767'225'600'250));
    stats.open_fds = 17;
    stats.max_fds = 1024;
    stats.threads = 23;
    int reads = 0;
    ProcessCollector collector([&]() -> Result<platform::ProcessStats> {
      ++reads;
      return stats;
    });
    // when collected,
    const std::vector<MetricFamily> families = collector.Collect();
    // then there is one family per metric, in name order, with the values.
    CHECK(reads == 1);
    REQUIRE(families.size() == 7);
    std::vector<std::string> names;
    for (const MetricFamily& f : families) {
      names.push_back(f.name);
      CHECK(!f.help.empty());
      REQUIRE(f.metric.size() == 1);
      CHECK(f.metric[0].label.empty());
    }
    CHECK(names == std::vector<std::string>{"process_cpu_seconds_total", "process_max_fds",
                                            "process_open_fds", "process_resident_memory_bytes",
                                            "process_start_time_seconds", "process_threads",
                                            "process_virtual_memory_bytes"});
    const MetricFamily* cpu = Find(families, "process_cpu_seconds_total");
    CHECK(cpu->type == MetricType::Counter);
    CHECK(cpu->metric[0].counter.value == doctest::Approx(12.34));
    auto gauge = [&](const char* name) {
      const MetricFamily* f = Find(families, name);
      REQUIRE(f != nullptr);
      CHECK(f->type == MetricType::Gauge);
      return f->metric[0].gauge.value;
    };
    CHECK(gauge("process_resident_memory_bytes") == 50 << 20);
    CHECK(gauge("process_virtual_memory_bytes") == 900 << 20);
    CHECK(gauge("process_start_time_seconds") == 1'767'225'600.25);
    CHECK(gauge("process_open_fds") == 17);
    CHECK(gauge("process_max_fds") == 1024);
    CHECK(gauge("process_threads") == 23);
  }

  TEST_CASE("telemetry: ProcessCollector writes nothing when the statistics are unreadable") {
    ProcessCollector collector(
        []() -> Result<platform::ProcessStats> { return Status::IoError("open /proc/self/stat"); });
    CHECK(collector.Collect().empty());
  }

  TEST_CASE("telemetry: ProcessCollector reads this process by default") {
    const std::vector<MetricFamily> families = ProcessCollector().Collect();
    REQUIRE(families.size() == 7);
    const MetricFamily* rss = Find(families, "process_resident_memory_bytes");
    REQUIRE(rss != nullptr);
    CHECK(rss->metric[0].gauge.value > 0);
    // The test runner has at least its main thread.
    const MetricFamily* threads = Find(families, "process_threads");
    REQUIRE(threads != nullptr);
    CHECK(threads->metric[0].gauge.value >= 1);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::telemetry
