// Runs the CLI in-process (app::RunCli) on the real file system, with a
// fake clock at `now`, and keeps what it printed.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "app/cli.h"
#include "platform/posix_file_system.h"
#include "support/fake_clock.h"

namespace provisioner::testing {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

inline CliRun RunCliInProcess(const std::vector<std::string>& args, SystemTime now) {
  FakeClock clock(now);
  platform::PosixFileSystem fs;
  std::ostringstream out, err;
  app::CliEnv env{clock, fs, out, err, {}, "/"};
  std::vector<const char*> argv = {"provisioner"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  CliRun r;
  r.code = app::RunCli(static_cast<int>(argv.size()), argv.data(), env);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace provisioner::testing
