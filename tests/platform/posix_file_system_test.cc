#include "platform/posix_file_system.h"

#include <sys/stat.h>
#include <unistd.h>

#include "support/test_util.h"

namespace provisioner::platform {
namespace {

using testing::TempDir;

TEST_SUITE("platform") {
  TEST_CASE("platform: PosixFileSystem write, read, atomic replace, list") {
    TempDir dir;
    PosixFileSystem fs;
    const std::string path = dir.Join("state.json");
    CHECK(fs.ReadFile(path, kNoSizeLimit).status().IsNotFound());
    REQUIRE_OK(WriteFileAtomic(fs, path, "{\"version\":1}"));
    CHECK(*fs.ReadFile(path, kNoSizeLimit) == "{\"version\":1}");
    REQUIRE_OK(WriteFileAtomic(fs, path, "{\"version\":2}"));
    CHECK(*fs.ReadFile(path, kNoSizeLimit) == "{\"version\":2}");
    CHECK(fs.Stat(path + ".tmp").status().IsNotFound());  // temp file renamed away

    auto big = fs.ReadFile(path, 4);
    CHECK(big.status().code() == Status::Code::kResourceExhausted);

    REQUIRE_OK(fs.AppendFile(dir.Join("h.jsonl"), "a\n", true));
    REQUIRE_OK(fs.AppendFile(dir.Join("h.jsonl"), "b\n", false));
    CHECK(*fs.ReadFile(dir.Join("h.jsonl"), kNoSizeLimit) == "a\nb\n");

    REQUIRE_OK(fs.CreateDirs(dir.Join("x/y/z")));
    REQUIRE_OK(fs.CreateDirs(dir.Join("x/y/z")));  // idempotent
    REQUIRE_OK(fs.WriteFile(dir.Join("x/y/z/f"), "1"));
    auto entries = fs.ListDir(dir.path());
    REQUIRE_OK(entries);
    REQUIRE(entries->size() == 3);
    CHECK((*entries)[0].name == "h.jsonl");
    CHECK((*entries)[1].name == "state.json");
    CHECK((*entries)[2].name == "x");
    CHECK((*entries)[2].type == FileType::kDirectory);

    REQUIRE_OK(fs.RemoveAll(dir.Join("x")));
    CHECK(fs.Stat(dir.Join("x")).status().IsNotFound());
    CHECK_OK(fs.RemoveAll(dir.Join("x")));  // absent is fine
    CHECK(fs.Remove(dir.Join("nope")).IsNotFound());
    CHECK(*fs.FreeSpace(dir.path()) > 0);
  }

  TEST_CASE("platform: PosixFileSystem errors name the path") {
    TempDir dir;
    PosixFileSystem fs;
    REQUIRE_OK(fs.WriteFile(dir.Join("file"), "x"));
    Status s = fs.CreateDirs(dir.Join("file/sub"));
    CHECK_FALSE(s.ok());
    CHECK(s.message().find(dir.Join("file")) != std::string::npos);
    auto r = fs.ReadFile(dir.path(), kNoSizeLimit);
    CHECK(r.status().message() == "read " + dir.path() + ": is a directory");
    if (::geteuid() != 0) {  // root ignores permission bits
      REQUIRE(::chmod(dir.path().c_str(), 0500) == 0);
      CHECK(fs.WriteFile(dir.Join("new"), "x").code() == Status::Code::kPermissionDenied);
      ::chmod(dir.path().c_str(), 0700);
    }
  }

  TEST_CASE("platform: symlinks are reported, read and never followed by RemoveAll") {
    TempDir dir;
    PosixFileSystem fs;
    REQUIRE_OK(fs.CreateDirs(dir.Join("target")));
    REQUIRE_OK(fs.WriteFile(dir.Join("target/keep"), "precious"));
    REQUIRE(::symlink(dir.Join("target").c_str(), dir.Join("link").c_str()) == 0);
    CHECK(fs.Stat(dir.Join("link"))->type == FileType::kSymlink);
    CHECK(*fs.ReadLink(dir.Join("link")) == dir.Join("target"));
    REQUIRE_OK(fs.RemoveAll(dir.Join("link")));
    CHECK(fs.Stat(dir.Join("link")).status().IsNotFound());
    CHECK(*fs.ReadFile(dir.Join("target/keep"), kNoSizeLimit) == "precious");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::platform
