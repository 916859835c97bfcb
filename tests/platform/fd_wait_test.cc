#include "platform/fd_wait.h"

#include <unistd.h>

#include "support/test_util.h"

namespace provisioner::platform {
namespace {

TEST_SUITE("platform") {
  TEST_CASE("platform: WaitReadable: data, a hang-up, or the timeout") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    // Nothing written: the timeout (short: nothing can arrive).
    CHECK_FALSE(WaitReadable(fds[0], std::chrono::milliseconds(20)));
    REQUIRE(::write(fds[1], "x", 1) == 1);
    CHECK(WaitReadable(fds[0], std::chrono::seconds(10)));
    char c = 0;
    REQUIRE(::read(fds[0], &c, 1) == 1);
    ::close(fds[1]);
    CHECK(WaitReadable(fds[0], std::chrono::seconds(10)));  // end of file
    ::close(fds[0]);
  }
}

}  // namespace
}  // namespace provisioner::platform
