#include "coordination/relay_json.h"

#include <nlohmann/json.hpp>

namespace provisioner::coordination {

std::string StringMapToJson(const std::map<std::string, std::string>& m) {
  return nlohmann::json(m).dump();
}

Result<std::map<std::string, std::string>> StringMapFromJson(std::string_view text,
                                                             const std::string& what) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Corruption(what + " is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) return Status::Corruption(what + "." + key + " is not a string");
    out[key] = value.get<std::string>();
  }
  return out;
}

}  // namespace provisioner::coordination
