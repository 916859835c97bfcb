#include "platform/process_info.h"

#include <limits.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace provisioner::platform {

Result<std::string> CurrentDirectory() {
  std::string buf(PATH_MAX, '\0');
  if (::getcwd(buf.data(), buf.size()) == nullptr) {
    return Status::FromErrno(errno, "getcwd");
  }
  buf.resize(std::char_traits<char>::length(buf.c_str()));
  return buf;
}

std::map<std::string, std::string> EnvironmentVariables() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace provisioner::platform
