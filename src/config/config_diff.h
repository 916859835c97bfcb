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

// What decides what each workspace does, as one canonical text (HA mode
// hashes it to compare nodes, docs/ha.md): every workspace's name,
// template, variables, backend_config, env, schedule, enabled, protected
// and timeout, sorted by name, and scheduler.catch_up. Labels, costs and
// the settings of the node itself (listen address, state dir, ha) are left
// out: they may differ between nodes. Holds env values: hash it, never log
// it.
std::string WorkspacesFingerprint(const Config& config);
// The part of it that is about workspace `ws` (with scheduler.catch_up),
// so that nodes can tell which workspaces differ.
std::string WorkspaceFingerprint(const Config& config, const WorkspaceConfig& ws);

}  // namespace provisioner::config
