// state.json as the daemon loads it at start-up. What loads must write back
// to a text that loads to the same state (the save path is the load path's
// inverse).
#include <cstdint>
#include <string_view>

#include "state/state_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto state = provisioner::state::StateFromJson(text);
  if (!state.ok()) return 0;
  auto again = provisioner::state::StateFromJson(provisioner::state::StateToJson(*state));
  if (!again.ok() || !(*again == *state)) __builtin_trap();
  return 0;
}
