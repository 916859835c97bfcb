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

// One compact line without the newline, for history.jsonl.
std::string JobToJsonLine(const JobRecord& job);
Result<JobRecord> JobFromJson(std::string_view text);

}  // namespace provisioner::state
