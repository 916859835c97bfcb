// The provisioner binary: everything lives in app::RunCli. The process
// environment and working directory are read here, once.
#include <iostream>

#include "app/cli.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "platform/process_info.h"

int main(int argc, char** argv) {
  // A peer that closes a socket (a TLS server refusing our certificate, a
  // client gone mid-reply) must give EPIPE, not kill the process. Children
  // get the default disposition back (platform/posix_process_runner.h).
  provisioner::platform::IgnoreSigpipe();
  provisioner::platform::PosixClock clock;
  provisioner::platform::PosixFileSystem fs;
  provisioner::app::CliEnv env{clock,
                               fs,
                               std::cout,
                               std::cerr,
                               provisioner::platform::EnvironmentVariables(),
                               provisioner::platform::CurrentDirectory().value_or("/")};
  return provisioner::app::RunCli(argc, argv, env);
}
