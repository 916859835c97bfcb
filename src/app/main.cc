// The provisioner binary: everything lives in app::RunCli.
#include <iostream>

#include "app/cli.h"
#include "platform/posix_clock.h"

extern char** environ;

int main(int argc, char** argv) {
  provisioner::platform::PosixClock clock;
  provisioner::app::CliEnv env{clock, std::cout, std::cerr, {}};
  // The environment is read here, once; modules never call getenv.
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.environ.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return provisioner::app::RunCli(argc, argv, env);
}
