// Facts about the running process that main() reads once.
#pragma once

#include <map>
#include <string>

#include "base/result.h"

namespace provisioner::platform {

// The working directory (getcwd).
Result<std::string> CurrentDirectory();

// The whole environment, as a map.
std::map<std::string, std::string> EnvironmentVariables();

// The host name, for lock owners and logs ("" when unknown).
std::string HostName();

}  // namespace provisioner::platform
