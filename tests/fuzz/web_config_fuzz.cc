// The exporter-toolkit web config (TLS, mTLS, basic auth users). Files it
// names resolve under a directory that does not exist.
#include <cstdint>
#include <string_view>

#include "config/web_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)provisioner::config::ParseWebConfig(text, "web.yml", "/nonexistent-fuzz");
  return 0;
}
