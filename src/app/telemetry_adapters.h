// Where scheduler and HTTP events meet telemetry. telemetry/ knows neither
// module (DESIGN.md §1), so the composition root translates: the scheduler's
// Observer and the server's RequestObserver become telemetry::Metrics calls,
// and the scheduler's snapshot becomes the scrape-time gauges.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "http/server.h"
#include "scheduler/observer.h"
#include "scheduler/snapshot.h"
#include "telemetry/metrics.h"

namespace provisioner::app {

class MetricsObserver final : public scheduler::Observer {
 public:
  explicit MetricsObserver(telemetry::Metrics& metrics) : metrics_(metrics) {}

  void OnScheduleFired(const scheduler::FireReport& r) override;
  void OnJobStarted(const state::JobRecord& job, std::chrono::milliseconds lag) override;
  void OnJobFinished(const state::JobRecord& job, const tofu::JobOutcome& outcome) override;
  void OnConfigReloaded(const scheduler::ReloadReport& report) override;
  void OnManualAction(std::string_view action, const std::string& user) override;
  void OnStateSaved(const Status& result, SystemTime at) override;
  void OnTick(std::chrono::nanoseconds duration, uint64_t evaluations) override;

 private:
  telemetry::Metrics& metrics_;
};

class HttpMetricsObserver final : public http::RequestObserver {
 public:
  explicit HttpMetricsObserver(telemetry::Metrics& metrics) : metrics_(metrics) {}
  void OnRequestStarted() override { metrics_.HttpRequestStarted(); }
  void OnRequestFinished(std::string_view method, std::string_view route, int status,
                         std::chrono::nanoseconds duration) override {
    metrics_.HttpRequestFinished(method, route, status, duration);
  }

 private:
  telemetry::Metrics& metrics_;
};

// The scrape-time gauges from a snapshot; `templates` is the number of
// templates found in templates_dir.
// `health_checks`: the last /health/deep result per check (check -> status).
telemetry::GaugeSnapshot GaugesFrom(const scheduler::StatusSnapshot& snapshot, int64_t templates,
                                    std::map<std::string, std::string> health_checks = {});

}  // namespace provisioner::app
