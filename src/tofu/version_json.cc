// `tofu version -json` (reference/opentofu-cli.md §4.1).
#include <nlohmann/json.hpp>

#include "tofu/installer.h"

namespace provisioner::tofu {

Result<std::string> ParseVersionJson(std::string_view text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument("version -json output is not a JSON object");
  }
  // The key really is "terraform_version", for compatibility.
  auto it = doc.find("terraform_version");
  if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Status::InvalidArgument("version -json output has no terraform_version");
  }
  return it->get<std::string>();
}

}  // namespace provisioner::tofu
