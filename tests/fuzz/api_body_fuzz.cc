// Request bodies of the mutating API routes ({"until": "<RFC 3339>"}).
#include <cstdint>
#include <string_view>

#include "http/api_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)provisioner::http::ParseUntilBody(text);
  return 0;
}
