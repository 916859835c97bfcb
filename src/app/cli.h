// The command line (DESIGN.md §2), on CLI11.
//
// Exit codes: 0 ok, 1 the operation failed, 2 usage or input error. Every
// error is one line on stderr that says what is wrong and where.
#pragma once

#include <iosfwd>
#include <map>
#include <string>

#include "base/clock.h"
#include "platform/file_system.h"

namespace provisioner::app {

// What a command may take from the process; main() fills it once, tests fill
// it with fakes.
struct CliEnv {
  Clock& clock;
  platform::FileSystem& fs;
  std::ostream& out;
  std::ostream& err;
  // The process environment, read once in main.
  std::map<std::string, std::string> environ;
  // The working directory, for making relative paths absolute.
  std::string cwd;
};

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int RunCli(int argc, const char* const* argv, CliEnv& env);

}  // namespace provisioner::app
