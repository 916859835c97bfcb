// One line of a workspace's history.jsonl, as JobHistory::Load reads each:
// what parses must write back to a line that parses to the same record.
#include <cstdint>
#include <string_view>

#include "state/state_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto job = provisioner::state::JobFromJson(text);
  if (!job.ok()) return 0;
  auto again = provisioner::state::JobFromJson(provisioner::state::JobToJsonLine(*job));
  if (!again.ok() || !(*again == *job)) __builtin_trap();
  return 0;
}
