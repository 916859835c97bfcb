// The daemon: `provisioner serve`. The composition root, the one place that
// knows concrete types: it builds the real clock, file system, process
// runner, HTTP client, watcher and systemd notifier, hands them to the
// Reconciler, and runs the loop
//
//   while (!stopping) { next = reconciler.Tick(); wait until next or an event; }
//
// Events that wake it: a posted command, a finished process, a config change
// (inotify, SIGHUP, API), SIGTERM/SIGINT. Shutdown stops new jobs, gives
// running tofu processes the stop ladder, saves the state and exits 0.
#pragma once

#include <string>

#include "app/cli.h"

namespace provisioner::app {

// Runs until SIGTERM or SIGINT. Exit codes: 0 after a clean shutdown, 1 when
// start-up fails (unusable state dir, a second daemon on the same dir), 2
// when the config cannot be read or is invalid.
int RunDaemon(CliEnv& env, const std::string& config_path);

}  // namespace provisioner::app
