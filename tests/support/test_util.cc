#include "support/test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace provisioner::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base ? base : "/tmp") + "/provisioner-test-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  REQUIRE_MESSAGE(made != nullptr, "mkdtemp failed");
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Join(std::string_view name) const {
  std::string out = path_;
  out.push_back('/');
  out.append(name);
  return out;
}

std::string FixturesDir() {
  const char* dir = PROVISIONER_FIXTURES_DIR;
  struct stat st;
  if (::stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return dir;
  return "";
}

MissingTool MissingToolAction(const char* require_tools) {
  if (require_tools == nullptr) return MissingTool::kSkip;
  const std::string_view value = require_tools;
  return value.empty() || value == "0" ? MissingTool::kSkip : MissingTool::kFail;
}

bool ToolMissing(std::string_view what) {
  if (MissingToolAction(std::getenv("PROVISIONER_REQUIRE_TOOLS")) == MissingTool::kFail) {
    FAIL_CHECK(what, " (PROVISIONER_REQUIRE_TOOLS is set: this test fails instead of skipping)");
  } else {
    MESSAGE("skipped: ", what);
  }
  return true;
}

bool ExecutableMissing(const std::string& path) {
  if (::access(path.c_str(), X_OK) == 0) return false;
  return ToolMissing(path + " is not installed (scripts/install-deps.sh installs it)");
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  REQUIRE(out.good());
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace provisioner::testing
