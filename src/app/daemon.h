// The daemon: `provisioner serve`. The composition root, the one place that
// knows concrete types: it builds the real process runner, HTTP client,
// watcher and systemd notifier, hands them to the Reconciler, and runs the
// loop
//
//   while (!stopping) { next = reconciler.Tick(); wait until next or an event; }
//
// in phases: load (config, logging, state dir, state), start (metrics, tofu,
// reconciler, probes, API, listener, watcher), serve (the loop), drain (the
// shutdown sequence of docs/operations.md), stop (destruction). Events that
// wake the loop: a posted command, a finished process, a reload request
// (inotify, SIGHUP, the API), SIGTERM/SIGINT. Only the loop thread reloads
// and ticks.
#pragma once

#include <functional>
#include <string>

#include "app/cli.h"
#include "scheduler/observer.h"

namespace provisioner::app {

// Seams for tests that run the daemon inside the test process.
struct DaemonTestHooks {
  // Gets every scheduler event after the daemon's own observers. Not owned.
  scheduler::Observer* observer = nullptr;
  // Called once the listener is up, with its port.
  std::function<void(int port)> on_listening;
};

// Runs until SIGTERM or SIGINT. Exit codes: 0 after a clean shutdown (the
// state saved), 1 when start-up fails (unusable state dir, a second daemon on
// the same dir, a taken port) or the final save fails, 2 when the config
// cannot be read or is invalid.
int RunDaemon(CliEnv& env, const std::string& config_path, const DaemonTestHooks& hooks = {});

}  // namespace provisioner::app
