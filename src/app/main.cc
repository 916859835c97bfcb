// The provisioner binary: everything lives in app::RunCli. The process
// environment and working directory are read here, once.
#include <iostream>
#include <memory>

#include "app/cli.h"
#include "platform/offset_clock.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "platform/process_info.h"

int main(int argc, char** argv) {
  namespace platform = provisioner::platform;
  // A peer that closes a socket (a TLS server refusing our certificate, a
  // client gone mid-reply) must give EPIPE, not kill the process. Children
  // get the default disposition back (platform/posix_process_runner.h).
  platform::IgnoreSigpipe();
  std::map<std::string, std::string> vars = platform::EnvironmentVariables();
  platform::PosixClock posix_clock;
  provisioner::Clock* clock = &posix_clock;
  // The crash campaign's wall-clock steps (platform/offset_clock.h). Said on
  // stderr, so that a hook left on by mistake shows in the journal.
  std::unique_ptr<platform::OffsetClock> offset_clock;
  if (auto it = vars.find(platform::kTestClockOffsetFileEnv); it != vars.end()) {
    auto opened = platform::OffsetClock::Open(it->second);
    if (!opened.ok()) {
      std::cerr << "provisioner: " << platform::kTestClockOffsetFileEnv << ": "
                << opened.status().message() << "\n";
      return provisioner::app::kExitUsage;
    }
    offset_clock = std::move(*opened);
    clock = offset_clock.get();
    std::cerr << "provisioner: test hook " << platform::kTestClockOffsetFileEnv << "=" << it->second
              << ": the wall clock is offset by " << offset_clock->offset().count()
              << " ms and follows that file\n";
  }
  platform::PosixFileSystem fs;
  provisioner::app::CliEnv env{*clock,          fs,
                               std::cout,       std::cerr,
                               std::move(vars), platform::CurrentDirectory().value_or("/")};
  return provisioner::app::RunCli(argc, argv, env);
}
