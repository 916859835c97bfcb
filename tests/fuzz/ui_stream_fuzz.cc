// tofu's `-json` UI stream: the first byte picks where the input is cut
// into pieces, as pipe reads cut it; the rest is the stream. The summary
// must not depend on the cuts, and one line parsed alone must not crash.
#include <cstdint>
#include <string_view>

#include "tofu/ui_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 64;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)provisioner::tofu::ParseUiLine(text);

  provisioner::tofu::UiStreamParser whole;
  whole.Feed(text);
  whole.Finish();
  provisioner::tofu::UiStreamParser pieces;
  for (size_t at = 0; at < text.size(); at += piece) pieces.Feed(text.substr(at, piece));
  pieces.Finish();
  const auto& a = whole.summary();
  const auto& b = pieces.summary();
  if (a.lines != b.lines || a.resources.size() != b.resources.size() ||
      a.error_count != b.error_count || a.malformed_lines != b.malformed_lines ||
      a.ErrorSummary() != b.ErrorSummary()) {
    __builtin_trap();
  }
  return 0;
}
