#include "support/otlp_validator.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string_view>

#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::testing {
namespace {

// Debian's interpreter, not whatever python3 PATH finds first: a pyenv or
// venv python3 has no python3-protobuf.
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kProtoc = "/usr/bin/protoc";
constexpr const char* kScript = PROVISIONER_SOURCE_DIR "/tests/support/otlp_validate.py";

std::map<std::string, std::string> ValidatorEnv() {
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/bin:/bin"}, {"PROTOC", kProtoc}, {"LC_ALL", "C.UTF-8"}};
  // The script's own scratch directory goes where the tests' TempDirs go.
  if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0') env["TMPDIR"] = tmp;
  return env;
}

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

bool OtlpValidatorAvailable(std::string* why) {
  const std::string schema =
      std::string(kOtlpFixturesDir) + "/opentelemetry/proto/collector/trace/v1/trace_service.proto";
  if (!IsFile(schema)) {
    *why = std::string("the OTLP schema fixtures are absent (") + kOtlpFixturesDir + ")";
    return false;
  }
  for (const char* tool : {kProtoc, kPython}) {
    if (::access(tool, X_OK) != 0) {
      *why = std::string(tool) + " is not installed (scripts/install-deps.sh installs it)";
      return false;
    }
  }
  const ProcessResult r = RunProcess({kPython, "-c", "import google.protobuf"}, ValidatorEnv(), "");
  if (r.exit_code != 0) {
    *why = std::string(kPython) +
           " cannot import google.protobuf: python3-protobuf is not installed "
           "(scripts/install-deps.sh installs it)";
    return false;
  }
  return true;
}

std::string ValidateOtlpJson(const std::string& body) {
  TempDir dir;
  const std::string file = dir.Join("request.json");
  WriteFileOrDie(file, body);
  const ProcessResult r = RunProcess({kPython, kScript, kOtlpFixturesDir, file}, ValidatorEnv(),
                                     dir.path(), std::chrono::seconds(60));
  if (r.exit_code == 0) return "";
  if (r.timed_out) return "otlp_validate.py timed out after 60 s";
  if (r.exit_code != 1 || r.out.empty()) {
    return "otlp_validate.py failed (exit " + std::to_string(r.exit_code) + ", signal " +
           std::to_string(r.term_signal) + "): " + r.err + r.out;
  }
  // Each line is "<file>: <path>: <reason>"; the file is ours, so drop it.
  const std::string prefix = file + ": ";
  std::string problems;
  std::string_view out = r.out;
  while (!out.empty()) {
    const size_t nl = out.find('\n');
    std::string_view line = out.substr(0, nl);
    out = nl == std::string_view::npos ? std::string_view() : out.substr(nl + 1);
    if (line.starts_with(prefix)) line.remove_prefix(prefix.size());
    if (!problems.empty()) problems += '\n';
    problems += line;
  }
  return problems;
}

}  // namespace provisioner::testing
