// The JSON form of `provisioner report --json` (docs/operations.md).
#include <nlohmann/json.hpp>

#include "app/report.h"
#include "base/time_format.h"

namespace provisioner::app {
namespace {

nlohmann::ordered_json RowJson(const ReportRow& r) {
  nlohmann::ordered_json o;
  if (!r.workspace.empty()) o["workspace"] = r.workspace;
  o["deploys"] = r.deploys;
  o["destroys"] = r.destroys;
  o["failures"] = r.failures;
  auto rate = r.success_rate();
  o["success_rate"] = rate ? nlohmann::ordered_json(*rate) : nullptr;
  o["p95_duration_seconds"] = r.p95_seconds ? nlohmann::ordered_json(*r.p95_seconds) : nullptr;
  o["saved_seconds"] = r.saved_seconds;
  o["saved_cost"] = r.saved_cost ? nlohmann::ordered_json(*r.saved_cost) : nullptr;
  return o;
}

}  // namespace

std::string ReportJson(const Report& report) {
  nlohmann::ordered_json o;
  o["since"] = FormatUtc(report.since);
  o["until"] = FormatUtc(report.until);
  o["workspaces"] = nlohmann::ordered_json::array();
  for (const ReportRow& r : report.workspaces) o["workspaces"].push_back(RowJson(r));
  o["total"] = RowJson(report.total);
  return o.dump();
}

}  // namespace provisioner::app
