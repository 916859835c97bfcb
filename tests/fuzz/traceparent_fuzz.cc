// W3C traceparent and tracestate headers (the first line is traceparent,
// the rest tracestate). A context that parses must format back to a header
// that parses to the same ids.
#include <cstdint>
#include <string_view>

#include "base/trace_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t eol = text.find('\n');
  const std::string_view parent = text.substr(0, eol);
  const std::string_view state =
      eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
  (void)provisioner::ValidTracestate(state);
  auto context = provisioner::ParseTraceparent(parent, state);
  if (!context) return 0;
  auto again = provisioner::ParseTraceparent(context->Traceparent());
  if (!again || again->trace_id != context->trace_id || again->span_id != context->span_id) {
    __builtin_trap();
  }
  return 0;
}
