#include "config/config_diff.h"

#include <algorithm>
#include <unordered_map>

#include "base/strings.h"

namespace provisioner::config {
namespace {

std::vector<std::string> ChangedFields(const WorkspaceConfig& a, const WorkspaceConfig& b) {
  std::vector<std::string> out;
  auto check = [&out](bool changed, const char* field) {
    if (changed) out.emplace_back(field);
  };
  check(a.template_name != b.template_name, "template");
  check(a.variables_json != b.variables_json, "variables");
  check(a.backend_config != b.backend_config, "backend_config");
  check(a.env != b.env, "env");
  check(a.schedule.deploy != b.schedule.deploy, "schedule.deploy");
  check(a.schedule.destroy != b.schedule.destroy, "schedule.destroy");
  check(a.schedule.timezone != b.schedule.timezone, "schedule.timezone");
  check(a.enabled != b.enabled, "enabled");
  check(a.is_protected != b.is_protected, "protected");
  check(a.timeout != b.timeout, "timeout");
  check(a.cost_per_hour != b.cost_per_hour, "cost_per_hour");
  check(a.labels != b.labels, "labels");
  return out;
}

std::vector<std::string> ChangedSettings(const Config& a, const Config& b) {
  std::vector<std::string> out;
  auto check = [&out](bool changed, const char* field) {
    if (changed) out.emplace_back(field);
  };
  check(a.server.listen != b.server.listen, "server.listen");
  check(a.server.web_config_file != b.server.web_config_file, "server.web_config_file");
  check(a.server.read_only != b.server.read_only, "server.read_only");
  check(a.server.allow_unauthenticated_writes != b.server.allow_unauthenticated_writes,
        "server.allow_unauthenticated_writes");
  check(a.opentofu.binary != b.opentofu.binary, "opentofu.binary");
  check(a.opentofu.version != b.opentofu.version, "opentofu.version");
  check(a.opentofu.download_base_url != b.opentofu.download_base_url, "opentofu.download_base_url");
  check(a.opentofu.plugin_cache_dir != b.opentofu.plugin_cache_dir, "opentofu.plugin_cache_dir");
  check(a.opentofu.lock_timeout != b.opentofu.lock_timeout, "opentofu.lock_timeout");
  check(a.opentofu.pass_env != b.opentofu.pass_env, "opentofu.pass_env");
  check(a.opentofu.env != b.opentofu.env, "opentofu.env");
  check(a.scheduler.timezone != b.scheduler.timezone, "scheduler.timezone");
  check(a.scheduler.max_concurrent_jobs != b.scheduler.max_concurrent_jobs,
        "scheduler.max_concurrent_jobs");
  check(a.scheduler.job_timeout != b.scheduler.job_timeout, "scheduler.job_timeout");
  check(a.scheduler.kill_grace != b.scheduler.kill_grace, "scheduler.kill_grace");
  check(a.scheduler.retry.max_attempts != b.scheduler.retry.max_attempts,
        "scheduler.retry.max_attempts");
  check(a.scheduler.retry.backoff != b.scheduler.retry.backoff, "scheduler.retry.backoff");
  check(a.scheduler.retry.max_backoff != b.scheduler.retry.max_backoff,
        "scheduler.retry.max_backoff");
  check(a.scheduler.catch_up != b.scheduler.catch_up, "scheduler.catch_up");
  check(a.scheduler.jitter != b.scheduler.jitter, "scheduler.jitter");
  check(a.state.dir != b.state.dir, "state.dir");
  check(a.state.history_limit != b.state.history_limit, "state.history_limit");
  check(a.logging.level != b.logging.level, "logging.level");
  check(a.logging.format != b.logging.format, "logging.format");
  check(a.tracing.enabled != b.tracing.enabled, "tracing.enabled");
  check(a.tracing.endpoint != b.tracing.endpoint, "tracing.endpoint");
  check(a.tracing.sampling_ratio != b.tracing.sampling_ratio, "tracing.sampling_ratio");
  check(a.tracing.service_name != b.tracing.service_name, "tracing.service_name");
  check(a.tracing.headers_file != b.tracing.headers_file, "tracing.headers_file");
  check(a.ha.enabled != b.ha.enabled, "ha.enabled");
  check(a.ha.dsn_file != b.ha.dsn_file, "ha.dsn_file");
  check(a.ha.node_name != b.ha.node_name, "ha.node_name");
  check(a.ha.runs_jobs != b.ha.runs_jobs, "ha.runs_jobs");
  check(a.ha.lease_ttl != b.ha.lease_ttl, "ha.lease_ttl");
  check(a.ha.renew_interval != b.ha.renew_interval, "ha.renew_interval");
  check(a.ha.renew_deadline != b.ha.renew_deadline, "ha.renew_deadline");
  check(a.ha.claim_ttl != b.ha.claim_ttl, "ha.claim_ttl");
  check(a.templates_dir != b.templates_dir, "templates_dir");
  return out;
}

// "a, b, c" with at most `limit` names, then "and N more".
std::string Names(const std::vector<std::string>& names, size_t limit = 10) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  if (names.size() > limit) out += " and " + std::to_string(names.size() - limit) + " more";
  return out;
}

}  // namespace

ConfigDiff Diff(const Config& before, const Config& after) {
  ConfigDiff diff;
  std::unordered_map<std::string_view, const WorkspaceConfig*> old_by_name;
  old_by_name.reserve(before.workspaces.size());
  for (const WorkspaceConfig& ws : before.workspaces) old_by_name.emplace(ws.name, &ws);
  std::unordered_map<std::string_view, bool> in_new;
  in_new.reserve(after.workspaces.size());
  for (const WorkspaceConfig& ws : after.workspaces) {
    in_new.emplace(ws.name, true);
    auto it = old_by_name.find(ws.name);
    if (it == old_by_name.end()) {
      diff.added.push_back(ws.name);
      continue;
    }
    std::vector<std::string> fields = ChangedFields(*it->second, ws);
    if (!fields.empty()) diff.changed.push_back({ws.name, std::move(fields)});
  }
  for (const WorkspaceConfig& ws : before.workspaces) {
    if (in_new.find(ws.name) == in_new.end()) diff.removed.push_back(ws.name);
  }
  diff.settings = ChangedSettings(before, after);
  return diff;
}

std::string ConfigDiff::Summary() const {
  if (empty()) return "no changes";
  std::vector<std::string> parts;
  if (!added.empty()) {
    parts.push_back(std::to_string(added.size()) + " added (" + Names(added) + ")");
  }
  if (!removed.empty()) {
    parts.push_back(std::to_string(removed.size()) + " removed (" + Names(removed) + ")");
  }
  if (!changed.empty()) {
    std::string text = std::to_string(changed.size()) + " changed (";
    for (size_t i = 0; i < changed.size() && i < 10; ++i) {
      if (i > 0) text += "; ";
      text += changed[i].name + ": " + Join(changed[i].fields, ", ");
    }
    if (changed.size() > 10) text += "; and " + std::to_string(changed.size() - 10) + " more";
    parts.push_back(text + ")");
  }
  if (!settings.empty()) parts.push_back("settings: " + Join(settings, ", "));
  return Join(parts, "; ");
}

std::string WorkspaceFingerprint(const Config& config, const WorkspaceConfig& ws) {
  // Each value is preceded by its length, so no value can pass for another
  // field's.
  std::string out;
  auto put = [&out](std::string_view key, std::string_view value) {
    out.append(key);
    out += '=';
    out.append(std::to_string(value.size()));
    out += ':';
    out.append(value);
    out += '\n';
  };
  put("catch_up", config.scheduler.catch_up ? "true" : "false");
  put("workspace", ws.name);
  put("template", ws.template_name);
  put("variables", ws.variables_json);
  for (const auto& [k, v] : ws.backend_config) put("backend_config." + k, v);
  for (const auto& [k, v] : ws.env) put("env." + k, v);
  put("schedule.deploy", ws.schedule.deploy);
  put("schedule.destroy", ws.schedule.destroy);
  put("schedule.timezone", ws.schedule.timezone);
  put("enabled", ws.enabled ? "true" : "false");
  put("protected", ws.is_protected ? "true" : "false");
  put("timeout", ws.timeout ? std::to_string(ws.timeout->count()) : "");
  return out;
}

std::string WorkspacesFingerprint(const Config& config) {
  std::vector<const WorkspaceConfig*> sorted;
  sorted.reserve(config.workspaces.size());
  for (const WorkspaceConfig& ws : config.workspaces) sorted.push_back(&ws);
  std::sort(sorted.begin(), sorted.end(),
            [](const WorkspaceConfig* a, const WorkspaceConfig* b) { return a->name < b->name; });
  std::string out = "workspaces=" + std::to_string(sorted.size()) + "\n";
  for (const WorkspaceConfig* ws : sorted) out += WorkspaceFingerprint(config, *ws);
  return out;
}

}  // namespace provisioner::config
