// FindExecutable and AbsolutePath against real files: the binary they find
// must be the one that runs, whatever directory the child starts in.
#include "platform/process_info.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "platform/file_system.h"
#include "support/test_util.h"

namespace provisioner::platform {
namespace {

using testing::TempDir;

// Runs the rest of a test in `dir` and goes back afterwards. The daemon never
// changes directory; these tests do, because relative PATH entries and
// relative names mean something only against a working directory.
class ScopedChdir {
 public:
  explicit ScopedChdir(const std::string& dir) : old_(*CurrentDirectory()) {
    REQUIRE(::chdir(dir.c_str()) == 0);
  }
  // CHECK, not REQUIRE: a destructor must not throw.
  ~ScopedChdir() { CHECK(::chdir(old_.c_str()) == 0); }
  ScopedChdir(const ScopedChdir&) = delete;
  ScopedChdir& operator=(const ScopedChdir&) = delete;

 private:
  std::string old_;
};

void WriteExecutable(const std::string& path) {
  testing::WriteFileOrDie(path, "#!/bin/sh\nexit 0\n");
  REQUIRE(::chmod(path.c_str(), 0755) == 0);
}

TEST_SUITE("platform") {
  TEST_CASE("platform: FindExecutable skips empty and relative PATH entries") {
    // Given `tofu` only in the working directory and in its "rel" and
    // "./rel2" subdirectories, When PATH names those relatively (an empty
    // entry is the working directory), Then it is not found: a child that
    // starts in a workspace would resolve them against a different directory.
    TempDir tmp;
    REQUIRE(::mkdir(tmp.Join("rel").c_str(), 0755) == 0);
    REQUIRE(::mkdir(tmp.Join("rel2").c_str(), 0755) == 0);
    WriteExecutable(tmp.Join("tofu"));
    WriteExecutable(tmp.Join("rel/tofu"));
    WriteExecutable(tmp.Join("rel2/tofu"));
    ScopedChdir in(tmp.path());

    for (const std::string path_var : {"", ":", ":rel", "rel:", ".", "./rel2:rel::"}) {
      CAPTURE(path_var);
      auto found = FindExecutable("tofu", path_var);
      CHECK(found.status().IsNotFound());
    }
    CHECK(FindExecutable("tofu", ":rel:/nonexistent").status().message() ==
          "tofu: not found on PATH (:rel:/nonexistent): its empty and relative entries are not "
          "searched");
    CHECK(FindExecutable("tofu", "/nonexistent").status().message() ==
          "tofu: not found on PATH (/nonexistent)");
  }

  TEST_CASE("platform: FindExecutable returns the absolute path from an absolute entry") {
    // Given `tofu` relative to the working directory and in an absolute
    // directory later on PATH, Then the absolute one is found.
    TempDir tmp;
    REQUIRE(::mkdir(tmp.Join("rel").c_str(), 0755) == 0);
    REQUIRE(::mkdir(tmp.Join("abs").c_str(), 0755) == 0);
    REQUIRE(::mkdir(tmp.Join("empty").c_str(), 0755) == 0);
    WriteExecutable(tmp.Join("tofu"));
    WriteExecutable(tmp.Join("rel/tofu"));
    WriteExecutable(tmp.Join("abs/tofu"));
    testing::WriteFileOrDie(tmp.Join("empty/tofu"), "not executable");
    ScopedChdir in(tmp.path());

    auto found = FindExecutable("tofu", ":rel:" + tmp.Join("empty") + ":" + tmp.Join("abs"));
    REQUIRE_OK(found);
    CHECK(*found == tmp.Join("abs/tofu"));
    // A trailing slash on the entry does not double up.
    CHECK(*FindExecutable("tofu", tmp.Join("abs") + "/") == tmp.Join("abs/tofu"));
  }

  TEST_CASE("platform: FindExecutable makes a relative name with a slash absolute") {
    // Given a configured "rel/tofu" or "./tofu", Then the result is that
    // file's absolute path at the time of the call, which stays right after
    // the child changes into its workspace.
    TempDir tmp;
    REQUIRE(::mkdir(tmp.Join("rel").c_str(), 0755) == 0);
    WriteExecutable(tmp.Join("tofu"));
    WriteExecutable(tmp.Join("rel/tofu"));
    ScopedChdir in(tmp.path());
    const std::string cwd = *CurrentDirectory();

    CHECK(*FindExecutable("rel/tofu", "/usr/bin") == cwd + "/rel/tofu");
    CHECK(*FindExecutable("./tofu", "/usr/bin") == cwd + "/tofu");
    CHECK(*FindExecutable(tmp.Join("rel/tofu"), "") == tmp.Join("rel/tofu"));
    CHECK(FindExecutable("rel/nope", "/usr/bin").status().IsNotFound());
    CHECK(FindExecutable("", "/usr/bin").status().code() == Status::Code::kInvalidArgument);
  }

  TEST_CASE("platform: AbsolutePath resolves against the working directory") {
    TempDir tmp;
    ScopedChdir in(tmp.path());
    const std::string cwd = *CurrentDirectory();
    CHECK(*AbsolutePath("/srv/./x") == "/srv/./x");  // absolute: as written
    CHECK(*AbsolutePath("state/tofu") == cwd + "/state/tofu");
    CHECK(*AbsolutePath("./state//tofu/.") == cwd + "/state/tofu");
    CHECK(*AbsolutePath("../up") == cwd + "/../up");  // ".." may cross a symlink: kept
    CHECK(*AbsolutePath(".") == cwd);
    CHECK(AbsolutePath("").status().code() == Status::Code::kInvalidArgument);
  }

  TEST_CASE("platform: ScopedSigpipeBlock turns a write to a closed pipe into EPIPE") {
    // Given SIGPIPE at its default action (which would end this process),
    // When a write to a pipe without a reader runs under the block, Then
    // it fails with EPIPE; after the block no SIGPIPE is pending and the
    // signal mask is what it was.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    struct sigaction old_action {};
    REQUIRE(::sigaction(SIGPIPE, &default_action, &old_action) == 0);
    sigset_t before;
    REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &before) == 0);
    REQUIRE_FALSE(sigismember(&before, SIGPIPE));
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[0]);
    {
      ScopedSigpipeBlock block;
      errno = 0;
      CHECK(::write(fds[1], "x", 1) == -1);
      CHECK(errno == EPIPE);
    }
    sigset_t pending;
    REQUIRE(::sigpending(&pending) == 0);
    CHECK_FALSE(sigismember(&pending, SIGPIPE));
    sigset_t after;
    REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &after) == 0);
    CHECK_FALSE(sigismember(&after, SIGPIPE));
    ::close(fds[1]);
    ::sigaction(SIGPIPE, &old_action, nullptr);
  }

  TEST_CASE("platform: ScopedSigpipeBlock leaves a caller's own pending SIGPIPE alone") {
    // Given a caller that blocks SIGPIPE itself, When a write raises one under
    // a nested block, Then the signal is still pending for the caller after
    // the block ends.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t old_mask;
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask) == 0);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[0]);
    {
      ScopedSigpipeBlock block;
      CHECK(::write(fds[1], "x", 1) == -1);
    }
    sigset_t pending;
    REQUIRE(::sigpending(&pending) == 0);
    CHECK(sigismember(&pending, SIGPIPE));
    const timespec now{};
    CHECK(::sigtimedwait(&pipe_set, nullptr, &now) == SIGPIPE);
    ::close(fds[1]);
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::platform
