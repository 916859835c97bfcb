#include "app/ha_dsn.h"

#include "base/strings.h"

namespace provisioner::app {

Result<std::string> ReadDsnFile(platform::FileSystem& fs, const std::string& path) {
  // A connection string is a few hundred bytes; 64 KiB is not one.
  auto text = fs.ReadFile(path, 64 << 10);
  if (!text.ok()) {
    return Status::FailedPrecondition("ha.dsn_file " + path + ": " + text.status().message());
  }
  std::string dsn(Trim(*text));
  if (dsn.empty()) {
    return Status::FailedPrecondition("ha.dsn_file " + path +
                                      " is empty: it must hold a libpq connection string");
  }
  return dsn;
}

}  // namespace provisioner::app
