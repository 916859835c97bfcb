// Reading and validating the config file from disk, shared by `validate`,
// `next`, `run` and the daemon's reloads.
#pragma once

#include <string>

#include "config/config_parse.h"
#include "platform/file_system.h"

namespace provisioner::app {

struct ConfigLoad {
  // Not OK when the file could not be read at all (missing, unreadable).
  Status read_status;
  // Meaningful when read_status is OK.
  config::ParseResult parse;
};

// Reads `path` (capped at ParseOptions::max_bytes) and parses it, checking
// each workspace's template against the disk once per template name.
// Relative paths inside the file resolve against the file's directory,
// made absolute with `cwd` when `path` itself is relative.
ConfigLoad LoadConfigFile(platform::FileSystem& fs, const std::string& path,
                          const std::string& cwd);

}  // namespace provisioner::app
