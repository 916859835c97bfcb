// ResolveTofuBinary: the tofu it returns is started later, by a runner that
// changes into the workspace first, so the path must be absolute whichever
// way it was found.
#include "scheduler/job_spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include "platform/http_client.h"
#include "platform/posix_file_system.h"
#include "platform/process_info.h"
#include "platform/sha256.h"
#include "support/fake_clock.h"
#include "support/fake_process_runner.h"
#include "support/test_util.h"

namespace provisioner::scheduler {
namespace {

using testing::TempDir;

// Runs the rest of a test in `dir` and goes back afterwards. The daemon never
// changes directory; these tests do, because relative paths mean something
// only against a working directory.
class ScopedChdir {
 public:
  explicit ScopedChdir(const std::string& dir) : old_(*platform::CurrentDirectory()) {
    REQUIRE(::chdir(dir.c_str()) == 0);
  }
  // CHECK, not REQUIRE: a destructor must not throw.
  ~ScopedChdir() { CHECK(::chdir(old_.c_str()) == 0); }
  ScopedChdir(const ScopedChdir&) = delete;
  ScopedChdir& operator=(const ScopedChdir&) = delete;

 private:
  std::string old_;
};

// The installer must not download anything in these tests.
class NoNetwork final : public platform::HttpClient {
 public:
  Result<platform::HttpResponse> Get(const platform::HttpRequest& r) override {
    return Status::Unavailable("GET " + r.url, "no network in this test");
  }
  Result<platform::HttpResponse> Post(const platform::HttpRequest& r) override {
    return Status::Unavailable("POST " + r.url, "no network in this test");
  }
};

constexpr char kBinary[] = "#!/bin/sh\nexit 0\n";

void WriteExecutable(const std::string& path) {
  testing::WriteFileOrDie(path, kBinary);
  REQUIRE(::chmod(path.c_str(), 0755) == 0);
}

struct Fixture {
  TempDir tmp;
  testing::FakeClock clock;
  platform::PosixFileSystem fs;
  NoNetwork http;
  testing::FakeProcessRunner runner{clock};
  tofu::Installer installer{http, fs, runner};
  config::Config config;
};

TEST_SUITE("scheduler") {
  TEST_CASE("scheduler: ResolveTofuBinary ignores a tofu reachable only relatively") {
    // Given `tofu` in the working directory and in "rel" under it, When
    // PATH has only an empty and a relative entry, Then there is no tofu.
    Fixture f;
    REQUIRE(::mkdir(f.tmp.Join("rel").c_str(), 0755) == 0);
    WriteExecutable(f.tmp.Join("tofu"));
    WriteExecutable(f.tmp.Join("rel/tofu"));
    ScopedChdir in(f.tmp.path());

    auto r = ResolveTofuBinary(f.config, {{"PATH", ":rel"}}, nullptr, "amd64");
    CHECK(r.status().IsNotFound());
  }

  TEST_CASE("scheduler: ResolveTofuBinary returns an absolute path however tofu is found") {
    Fixture f;
    REQUIRE(::mkdir(f.tmp.Join("bin").c_str(), 0755) == 0);
    WriteExecutable(f.tmp.Join("bin/tofu"));
    ScopedChdir in(f.tmp.path());
    const std::string cwd = *platform::CurrentDirectory();

    SUBCASE("a bare name on an absolute PATH entry") {
      auto r = ResolveTofuBinary(f.config, {{"PATH", "rel:" + f.tmp.Join("bin")}}, nullptr, "");
      REQUIRE_OK(r);
      CHECK(r->path == f.tmp.Join("bin/tofu"));
      CHECK_FALSE(r->installed_now);
    }
    SUBCASE("a relative path, as a config parsed without a base directory holds it") {
      f.config.opentofu.binary = "bin/tofu";
      auto r = ResolveTofuBinary(f.config, {{"PATH", "/nonexistent"}}, nullptr, "");
      REQUIRE_OK(r);
      CHECK(r->path == cwd + "/bin/tofu");
    }
    SUBCASE("the installer's copy under a relative state.dir") {
      // Given an intact install of 1.12.6 under "state/tofu" (so no download).
      REQUIRE_OK(f.fs.CreateDirs("state/tofu/1.12.6"));
      WriteExecutable(f.tmp.Join("state/tofu/1.12.6/tofu"));
      testing::WriteFileOrDie(f.tmp.Join("state/tofu/1.12.6/tofu.sha256"),
                              platform::Sha256Hex(kBinary) + "\n");
      f.config.state.dir = "state";
      f.config.opentofu.version = "1.12.6";
      auto r = ResolveTofuBinary(f.config, {{"PATH", "/nonexistent"}}, &f.installer, "amd64");
      REQUIRE_OK(r);
      CHECK(r->path == cwd + "/state/tofu/1.12.6/tofu");
      CHECK_FALSE(r->installed_now);
    }
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::scheduler
