// The JSON form of State and JobRecord (docs/state-format.md).
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "state/state.h"

namespace provisioner::state {

// Keys in a stable order, one workspace per line, ending with a newline.
std::string StateToJson(const State& state);

// Errors: Corruption naming what is wrong and where (e.g.
// `workspaces.dev-env.actual: "up" is not one of unknown, deployed, destroyed`);
// FailedPrecondition for a version newer than this build understands, which
// must not be treated as corruption (a downgrade would otherwise lose it).
// Unknown fields are ignored, so that older builds read newer files of the
// same version.
Result<State> StateFromJson(std::string_view text);

// One workspace's record, exactly as it appears inside StateToJson's
// "workspaces" object: one compact JSON object, no newline. For stores that
// keep a row per workspace (coordination/pg_state_store.h).
std::string WorkspaceToJson(const WorkspaceState& ws);
// Errors are Corruption naming the place as StateFromJson does, under
// `workspaces.<name>` (e.g. `workspaces.dev-env.actual: ...`).
Result<WorkspaceState> WorkspaceFromJson(std::string_view text, std::string_view name);

// One compact line without the newline, for history.jsonl.
std::string JobToJsonLine(const JobRecord& job);
Result<JobRecord> JobFromJson(std::string_view text);

}  // namespace provisioner::state
