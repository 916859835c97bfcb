#include "platform/posix_file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include "support/faulty_file_system.h"
#include "support/memory_file_system.h"
#include "support/test_util.h"

namespace provisioner::platform {
namespace {

using testing::TempDir;

// Bytes that differ from their neighbours, so that a read from the wrong
// offset cannot pass by accident.
std::string Pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return out;
}

// The bytes this process has read through read(2) and its kin so far
// (rchar of /proc/self/io), or nullopt without I/O accounting.
std::optional<uint64_t> BytesReadByProcess(FileSystem& fs) {
  auto io = fs.ReadFile("/proc/self/io", 4096);
  if (!io.ok() || !io->starts_with("rchar: ")) return std::nullopt;
  return std::strtoull(io->c_str() + 7, nullptr, 10);
}

// The ReadFileFrom contract, for every FileSystem: `dir` exists and is empty.
void CheckReadFileFrom(FileSystem& fs, const std::string& dir) {
  const std::string path = JoinPath(dir, "job.log");
  CHECK(fs.ReadFileFrom(path, 0, 10).status().IsNotFound());

  // Given a file of several read chunks (64 KiB) and an odd tail.
  const std::string data = Pattern((3 << 16) + 1234);
  const uint64_t size = data.size();
  REQUIRE_OK(fs.WriteFile(path, data));

  CHECK(*fs.ReadFileFrom(path, 0, kNoSizeLimit) == data);
  CHECK(*fs.ReadFileFrom(path, 0, 10) == data.substr(0, 10));
  // Across chunk boundaries, from an offset inside a chunk.
  CHECK(*fs.ReadFileFrom(path, (1 << 16) - 3, 10) == data.substr((1 << 16) - 3, 10));
  CHECK(*fs.ReadFileFrom(path, 100, 150000) == data.substr(100, 150000));
  CHECK(*fs.ReadFileFrom(path, 100, kNoSizeLimit) == data.substr(100));
  // The end comes before max_bytes.
  CHECK(*fs.ReadFileFrom(path, size - 5, 100) == data.substr(size - 5));
  // At and past the end: nothing, not an error.
  CHECK(*fs.ReadFileFrom(path, size, 10) == "");
  CHECK(*fs.ReadFileFrom(path, size + 1000, 10) == "");
  CHECK(*fs.ReadFileFrom(path, 0, 0) == "");

  // A followed log: each read from where the last one ended sees only what
  // was appended in between.
  uint64_t offset = size;
  REQUIRE_OK(fs.AppendFile(path, "line 1\n", false));
  auto got = fs.ReadFileFrom(path, offset, kNoSizeLimit);
  REQUIRE_OK(got);
  CHECK(*got == "line 1\n");
  offset += got->size();
  CHECK(*fs.ReadFileFrom(path, offset, kNoSizeLimit) == "");
  REQUIRE_OK(fs.AppendFile(path, "line 2\nline 3\n", false));
  CHECK(*fs.ReadFileFrom(path, offset, 7) == "line 2\n");
  CHECK(*fs.ReadFileFrom(path, offset + 7, kNoSizeLimit) == "line 3\n");

  CHECK(fs.ReadFileFrom(dir, 0, 10).status().code() == Status::Code::kInvalidArgument);
}

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

  TEST_CASE("platform: ReadFileFrom pages through a file, PosixFileSystem") {
    TempDir dir;
    PosixFileSystem fs;
    CheckReadFileFrom(fs, dir.path());
  }

  TEST_CASE("platform: ReadFileFrom pages through a file, MemoryFileSystem") {
    testing::MemoryFileSystem fs;
    REQUIRE_OK(fs.CreateDirs("/logs"));
    CheckReadFileFrom(fs, "/logs");
  }

  TEST_CASE("platform: ReadFileFrom reads the tail of a huge log without reading the rest") {
    // Given a (sparse) log of 1 GiB, far over the 64 MiB a whole-file read
    // of a log was capped at.
    TempDir dir;
    PosixFileSystem fs;
    const std::string path = dir.Join("big.log");
    const uint64_t size = uint64_t{1} << 30;
    {
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      REQUIRE(fd >= 0);
      REQUIRE(::pwrite(fd, "end\n", 4, static_cast<off_t>(size - 4)) == 4);
      ::close(fd);
    }
    CHECK(fs.ReadFile(path, 64 << 20).status().code() == Status::Code::kResourceExhausted);

    // When its tail is asked for, Then the tail comes back and the process
    // has read about that much, not the gigabyte before it.
    auto rchar = BytesReadByProcess(fs);
    CHECK(*fs.ReadFileFrom(path, size - 4, 64 << 20) == "end\n");
    CHECK(*fs.ReadFileFrom(path, size - 6, 3) == std::string("\0\0e", 3));
    if (rchar.has_value()) {
      auto after = BytesReadByProcess(fs);
      REQUIRE(after.has_value());
      CHECK(*after - *rchar < (1u << 20));
    } else {
      MESSAGE("no /proc/self/io: the bytes read are not checked");
    }
  }

  TEST_CASE("platform: FaultyFileSystem forwards ReadFileFrom and fails it on a read fault") {
    testing::MemoryFileSystem mem;
    testing::FaultyFileSystem fs(mem);
    REQUIRE_OK(fs.WriteFile("/job.log", "0123456789"));
    CHECK(*fs.ReadFileFrom("/job.log", 4, 3) == "456");
    fs.FailOn(testing::FaultyFileSystem::Op::kRead);
    CHECK(fs.ReadFileFrom("/job.log", 4, 3).status().code() == Status::Code::kIoError);
    CHECK(fs.fired());
    CHECK(*fs.ReadFileFrom("/job.log", 8, 3) == "89");
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::platform
