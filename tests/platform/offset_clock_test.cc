#include "platform/offset_clock.h"

#include <cstdio>

#include "support/test_util.h"

namespace provisioner::platform {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using testing::TempDir;
using testing::WriteFileOrDie;

// Writes `text` to a temp file and renames it over `path`, as a test that
// steps the clock does.
void Replace(const TempDir& dir, const std::string& path, std::string_view text) {
  const std::string tmp = dir.Join(".offset.tmp");
  WriteFileOrDie(tmp, text);
  REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
}

TEST_SUITE("platform") {
  TEST_CASE("platform: ParseClockOffset takes signed milliseconds and nothing else") {
    Result<milliseconds> ok = ParseClockOffset(" -90000000\n");
    REQUIRE_OK(ok);
    CHECK(*ok == milliseconds(-90'000'000));
    CHECK(*ParseClockOffset("0") == milliseconds(0));
    for (const char* bad : {"", "\n", "1.5", "1h", "+-1", "12 34", "99999999999999999999"}) {
      CAPTURE(bad);
      Result<milliseconds> r = ParseClockOffset(bad);
      REQUIRE(!r.ok());
      CHECK(r.status().IsInvalidArgument());
    }
  }

  TEST_CASE(
      "platform: OffsetClock follows its file through renames and keeps the last good offset") {
    TempDir dir;
    const std::string path = dir.Join("offset");
    WriteFileOrDie(path, "3600000\n");
    auto opened = OffsetClock::Open(path);
    REQUIRE_OK(opened);
    OffsetClock& clock = **opened;
    CHECK(clock.offset() == hours(1));
    // Bounds from the real clock around the call: the offset is added once.
    SystemTime before = std::chrono::system_clock::now();
    SystemTime now = clock.Now();
    SystemTime after = std::chrono::system_clock::now();
    CHECK(now >= before + hours(1));
    CHECK(now <= after + hours(1));

    Replace(dir, path, "-90000000");  // 25 h back
    before = std::chrono::system_clock::now();
    now = clock.Now();
    after = std::chrono::system_clock::now();
    CHECK(now >= before - hours(25));
    CHECK(now <= after - hours(25));

    // Text that does not parse, or no file at all, keeps the offset in force.
    Replace(dir, path, "soon");
    CHECK(clock.offset() == hours(-25));
    REQUIRE(std::remove(path.c_str()) == 0);
    CHECK(clock.offset() == hours(-25));
    Replace(dir, path, "0");
    CHECK(clock.offset() == milliseconds(0));
  }

  TEST_CASE("platform: OffsetClock::Open names a missing or bad file") {
    TempDir dir;
    auto missing = OffsetClock::Open(dir.Join("nope"));
    REQUIRE(!missing.ok());
    CHECK(missing.status().IsNotFound());
    CHECK(missing.status().message().find(dir.Join("nope")) != std::string::npos);

    WriteFileOrDie(dir.Join("bad"), "10 minutes");
    auto bad = OffsetClock::Open(dir.Join("bad"));
    REQUIRE(!bad.ok());
    CHECK(bad.status().IsInvalidArgument());
    CHECK(bad.status().message().find(dir.Join("bad")) != std::string::npos);
    CHECK(bad.status().message().find("10 minutes") != std::string::npos);
  }
}

}  // namespace
}  // namespace provisioner::platform
