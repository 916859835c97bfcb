#include "app/config_file.h"

#include <map>

#include "app/systemd_unit.h"
#include "workspace/template_catalog.h"

namespace provisioner::app {

ConfigLoad LoadConfigFile(platform::FileSystem& fs, const std::string& path,
                          const std::string& cwd) {
  ConfigLoad load;
  config::ParseOptions options;
  std::string dir = platform::DirName(path);
  options.base_dir = !dir.empty() && dir[0] == '/' ? dir : platform::JoinPath(cwd, dir);
  // kill_grace must fit in the unit's stop timeout: the installed unit's,
  // with its drop-ins, or the one this build ships.
  UnitStopTimeout stop =
      FindUnitStopTimeout(fs, std::chrono::seconds(PROVISIONER_UNIT_TIMEOUT_STOP_SEC));
  options.stop_timeout = stop.value;
  options.stop_margin = kStopMargin;
  options.stop_timeout_source = stop.source;
  // Read one byte more than the cap, so that an oversized file reaches the
  // parser and is reported like every other validation error.
  auto text = fs.ReadFile(path, options.max_bytes + 1);
  if (!text.ok() && text.status().code() != Status::Code::kResourceExhausted) {
    load.read_status = text.status();
    return load;
  }
  if (!text.ok()) {
    config::Diagnostic d;
    d.file = path;
    d.message = text.status().message();
    load.parse.errors.push_back(std::move(d));
    return load;
  }
  // Thousands of workspaces share a few templates: check each one once.
  std::map<std::pair<std::string, std::string>, std::string> checked;
  options.check_template = [&fs, &checked](const std::string& dir, const std::string& name) {
    auto key = std::make_pair(dir, name);
    auto it = checked.find(key);
    if (it == checked.end()) {
      it = checked.emplace(key, workspace::CheckTemplate(fs, dir, name)).first;
    }
    return it->second;
  };
  load.parse = config::ParseConfig(*text, path, options);
  return load;
}

}  // namespace provisioner::app
