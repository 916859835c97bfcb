// CheckLockingBackend (tofu_client.h): reads the backend record of tofu init.
#include <nlohmann/json.hpp>

#include "tofu/tofu_client.h"

namespace provisioner::tofu {

Status CheckLockingBackend(platform::FileSystem& fs, const std::string& workspace_dir,
                           const std::map<std::string, std::string>& env) {
  static constexpr std::string_view kWhy =
      ": HA mode runs a workspace on whichever node leads, so its state must be in a remote "
      "backend that locks (docs/ha.md)";
  auto data_dir = env.find("TF_DATA_DIR");
  std::string dir =
      data_dir != env.end() && !data_dir->second.empty() ? data_dir->second : ".terraform";
  if (dir.front() != '/') dir = platform::JoinPath(workspace_dir, dir);
  const std::string path = platform::JoinPath(dir, "terraform.tfstate");
  // The file is a few hundred bytes; 1 MiB is not one.
  auto text = fs.ReadFile(path, 1 << 20);
  if (!text.ok()) {
    if (text.status().IsNotFound()) {
      return Status::FailedPrecondition(
          "the workspace has no backend block: its state would be local to this node" +
          std::string(kWhy));
    }
    return text.status().WithContext("reading the backend init recorded");
  }
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("backend") ||
      !doc["backend"].is_object() || !doc["backend"].contains("type") ||
      !doc["backend"]["type"].is_string()) {
    return Status::Corruption(path + " is not the backend record tofu init writes");
  }
  const std::string type = doc["backend"]["type"].get<std::string>();
  const nlohmann::json& config =
      doc["backend"].contains("config") ? doc["backend"]["config"] : nlohmann::json::object();
  auto set = [&config](const char* key) {
    if (!config.is_object() || !config.contains(key)) return false;
    const nlohmann::json& v = config[key];
    return !v.is_null() &&
           !(v.is_string() && (v.get<std::string>().empty() || v.get<std::string>() == "false")) &&
           !(v.is_boolean() && !v.get<bool>());
  };
  if (type == "local") {
    return Status::FailedPrecondition("the workspace's backend is \"local\"" + std::string(kWhy));
  }
  if (type == "s3" && !set("dynamodb_table") && !set("use_lockfile")) {
    return Status::FailedPrecondition(
        "the workspace's s3 backend does not lock (set use_lockfile = true or dynamodb_table)" +
        std::string(kWhy));
  }
  if (type == "http" && !set("lock_address")) {
    return Status::FailedPrecondition(
        "the workspace's http backend does not lock (set lock_address)" + std::string(kWhy));
  }
  return Status::Ok();
}

}  // namespace provisioner::tofu
