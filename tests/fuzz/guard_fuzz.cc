// The HTTP guard on a raw request head: "METHOD PATH" on the first line,
// then "Name: value" header lines, as cpp-httplib hands them over.
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/guard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  provisioner::http::GuardRequest request;
  size_t eol = text.find('\n');
  std::string_view first = text.substr(0, eol);
  size_t space = first.find(' ');
  request.method = first.substr(0, space);
  request.path = space == std::string_view::npos ? std::string_view() : first.substr(space + 1);
  while (eol != std::string_view::npos) {
    text.remove_prefix(eol + 1);
    eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      request.headers.emplace_back(line, std::string_view());
    } else {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      request.headers.emplace_back(line.substr(0, colon), value);
    }
  }
  const provisioner::http::GuardLimits limits;
  auto rejection = provisioner::http::CheckRequest(request, limits);
  if (rejection && (rejection->status < 400 || rejection->status > 599)) __builtin_trap();
  (void)provisioner::http::CheckBodyType(request, true);
  (void)provisioner::http::ContentLength(request);
  return 0;
}
