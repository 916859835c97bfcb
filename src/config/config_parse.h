// Loading a Config from YAML or JSON text, with complete validation.
//
// ParseConfig reports every problem at once, each with file:line:col and the
// key path, e.g.
//   config.yaml:14:16: workspaces[1].schedule.deploy: field 1 (minute): value 61 out of range 0-59
// Warnings (a deploy schedule without a destroy schedule, say) never fail a
// load. A hostile or broken file cannot take the caller down: anchors and
// aliases, oversized files, deep nesting, empty and binary files are refused.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace provisioner::config {

struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;      // 1-based; 0 when the problem has no position
  int column = 0;    // 1-based
  std::string path;  // "workspaces[1].schedule.deploy"; "" for the file as a whole
  std::string message;

  // "config.yaml:14:16: workspaces[1].schedule.deploy: <message>"
  std::string ToString() const;
};

struct ParseOptions {
  // Checks that `templates_dir`/`template_name` is a usable template and
  // returns "" or the reason it is not. Unset: templates are not checked
  // (the check needs the disk, and this module does no I/O).
  std::function<std::string(const std::string& templates_dir, const std::string& template_name)>
      check_template;
  // Relative paths in the file (state.dir, templates_dir, plugin_cache_dir,
  // web_config_file, a binary given with a '/') are resolved against this
  // directory, normally the config file's own. Empty: left as written.
  std::string base_dir;
  // Larger files are refused before parsing.
  size_t max_bytes = 16 << 20;
  // Deeper documents are refused.
  size_t max_depth = 32;
  // The service manager's stop timeout (the unit's TimeoutStopSec; 0: none
  // known) and how long past kill_grace the daemon may take to stop. A
  // kill_grace that does not fit is a warning: systemd would SIGKILL the
  // daemon before its jobs are stopped and the state is saved.
  std::chrono::seconds stop_timeout{0};
  std::chrono::seconds stop_margin{0};
  std::string stop_timeout_source;  // named in the warning
};

struct ParseResult {
  // Set when there are no errors.
  std::shared_ptr<const Config> config;
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;

  bool ok() const { return errors.empty() && config != nullptr; }
};

// `path` made absolute against `base` and lexically normalized ("a/../b" ->
// "b"): how relative paths in config files are resolved. Absolute paths and
// an empty base are left as written.
std::string ResolvePath(const std::string& base, const std::string& path);

// Parses and validates `text`, read from `file_name` (used in messages and
// kept as Config::source_path). YAML and JSON are both accepted.
ParseResult ParseConfig(std::string_view text, std::string_view file_name,
                        const ParseOptions& options = {});

}  // namespace provisioner::config
