// What changed between two configs: the reload log line and the reconciler
// both use it.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace provisioner::config {

struct WorkspaceChange {
  std::string name;
  // Changed keys as they are written in the file, e.g. "schedule.deploy",
  // "variables", "env". Values are never listed: env may hold secrets.
  std::vector<std::string> fields;
};

struct ConfigDiff {
  std::vector<std::string> added;    // workspace names, in new-config order
  std::vector<std::string> removed;  // in old-config order
  std::vector<WorkspaceChange> changed;
  // Changed settings outside `workspaces`, e.g. "scheduler.max_concurrent_jobs".
  std::vector<std::string> settings;

  bool empty() const {
    return added.empty() && removed.empty() && changed.empty() && settings.empty();
  }
  // "2 added (a, b); 1 removed (c); 1 changed (d: schedule.deploy, variables);
  //  settings: scheduler.max_concurrent_jobs", or "no changes". Long name
  // lists are shortened with "and N more".
  std::string Summary() const;
};

// Linear in the number of workspaces.
ConfigDiff Diff(const Config& before, const Config& after);

}  // namespace provisioner::config
