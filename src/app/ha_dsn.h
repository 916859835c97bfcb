// HA mode's connection string, read from ha.dsn_file: shared by the daemon
// and `provisioner state export|import`.
#pragma once

#include <string>

#include "base/result.h"
#include "platform/file_system.h"

namespace provisioner::app {

// The libpq connection string `path` holds, trimmed. It may carry a
// password: errors name the file, never its content. FailedPrecondition
// "ha.dsn_file <path>: ..." when the file cannot be read or is larger than a
// connection string could be, or "... is empty" when it holds only blanks.
Result<std::string> ReadDsnFile(platform::FileSystem& fs, const std::string& path);

}  // namespace provisioner::app
