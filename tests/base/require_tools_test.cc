// The skip-or-fail policy of tests/support/test_util.h. The test helpers
// have no src/ folder to mirror; this one sits beside base, which it builds on.
#include "support/test_util.h"

namespace provisioner::testing {
namespace {

TEST_SUITE("base") {
  TEST_CASE("base: PROVISIONER_REQUIRE_TOOLS decides whether a missing tool skips or fails") {
    // Given each value the variable may hold, When a test finds its tool
    // missing, Then only an unset, empty or "0" variable lets it skip.
    struct Row {
      const char* value;
      MissingTool want;
    };
    const Row rows[] = {
        {nullptr, MissingTool::kSkip}, {"", MissingTool::kSkip},    {"0", MissingTool::kSkip},
        {"1", MissingTool::kFail},     {"yes", MissingTool::kFail}, {"00", MissingTool::kFail},
    };
    for (const Row& row : rows) {
      CAPTURE(row.value == nullptr ? "(unset)" : row.value);
      CHECK(MissingToolAction(row.value) == row.want);
    }
  }
}

}  // namespace
}  // namespace provisioner::testing
