// Helpers shared by the tests.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/status.h"

namespace provisioner::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Join(std::string_view name) const;

 private:
  std::string path_;
};

// The directory of the recorded tofu outputs (../shared/fixtures/tofu next to
// the checkout), or "" when it is absent; tests then call ToolMissing.
std::string FixturesDir();

// What a test does when a real tool or fixture it needs is absent. A
// developer without promtool should still get a green suite, but CI must
// never pass a check it did not run: .ci/run sets PROVISIONER_REQUIRE_TOOLS=1.
enum class MissingTool { kSkip, kFail };
// The action for the value of PROVISIONER_REQUIRE_TOOLS (nullptr when
// unset): unset, "" and "0" skip, anything else fails, so that a CI typo
// errs on the side of failing.
MissingTool MissingToolAction(const char* require_tools);

// Reports that `what` (a tool, a fixture or a build target) is absent: prints
// "skipped: <what>", or fails the current test under
// PROVISIONER_REQUIRE_TOOLS. Returns true either way, for
//   if (!found && ToolMissing("/usr/bin/promtool is not installed")) return;
bool ToolMissing(std::string_view what);
// ToolMissing(path + " is not installed ...") unless `path` is executable.
bool ExecutableMissing(const std::string& path);

// Reads a whole file; fails the current test if it cannot.
std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, std::string_view data);

// Polls `condition` every 20 ms until it holds or `timeout` passes. For
// conditions that offer nothing to block on: files written by another
// process, or a thread reaching a wait inside the code under test.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace provisioner::testing

namespace doctest {
template <>
struct StringMaker<provisioner::Status> {
  static String convert(const provisioner::Status& s) { return s.ToString().c_str(); }
};
}  // namespace doctest

// CHECK_OK(expr) / REQUIRE_OK(expr): the Status (or Result) is OK; on failure
// the message is printed.
#define CHECK_OK(expr)                                                      \
  do {                                                                      \
    ::provisioner::Status prov_s_ = ::provisioner::testing::ToStatus(expr); \
    CHECK_MESSAGE(prov_s_.ok(), prov_s_.ToString());                        \
  } while (0)
#define REQUIRE_OK(expr)                                                    \
  do {                                                                      \
    ::provisioner::Status prov_s_ = ::provisioner::testing::ToStatus(expr); \
    REQUIRE_MESSAGE(prov_s_.ok(), prov_s_.ToString());                      \
  } while (0)

namespace provisioner::testing {
inline Status ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace provisioner::testing
