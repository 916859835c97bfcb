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

// `name` when it contains a '/', else the first executable file called
// `name` in the ':'-separated `path_var`. NotFound names what was searched.
Result<std::string> FindExecutable(const std::string& name, const std::string& path_var);

// The machine's architecture in Go's naming, as OpenTofu release files use
// it: "amd64", "arm64", "386", "arm"; uname's value when unknown.
std::string GoArch();

}  // namespace provisioner::platform
