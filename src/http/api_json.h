// The JSON documents of the REST API (docs/api.md), built from the
// scheduler's snapshot and job records, and the request bodies it accepts.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "config/config_diff.h"
#include "scheduler/snapshot.h"
#include "state/state.h"

namespace provisioner::http {

std::string WorkspaceJson(const scheduler::WorkspaceView& view);
std::string WorkspaceListJson(const scheduler::StatusSnapshot& snapshot);
std::string JobJson(const state::JobRecord& job, std::string_view status);
// {"jobs":[...],"next_before":"<id>"|null}
std::string JobListJson(const std::vector<std::pair<state::JobRecord, std::string>>& jobs,
                        const std::optional<std::string>& next_before);
std::string DiffJson(const config::ConfigDiff& diff);

// A request body of the form {"until": "<RFC 3339>"}, every key optional.
// An empty body is the same as {}. Errors are InvalidArgument with the
// place named (`body: "until": time "x": ...`).
struct UntilBody {
  std::optional<SystemTime> until;
};
Result<UntilBody> ParseUntilBody(std::string_view body);

}  // namespace provisioner::http
