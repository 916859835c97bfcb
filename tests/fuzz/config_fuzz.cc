// The YAML (or JSON) config through the whole validator, as `validate` and
// every reload see it. Any input must give a config or a list of errors;
// never a crash, a hang or unbounded memory.
#include <cstdint>
#include <string_view>

#include "config/config_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  provisioner::config::ParseOptions options;
  options.base_dir = "/nonexistent-fuzz";
  auto result = provisioner::config::ParseConfig(text, "fuzz.yaml", options);
  // A result is a config or errors, never both nor neither.
  if (result.ok() == !result.errors.empty()) __builtin_trap();
  return 0;
}
