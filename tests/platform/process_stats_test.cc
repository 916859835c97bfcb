#include "platform/process_stats.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "support/test_util.h"

namespace provisioner::platform {
namespace {

using std::chrono::seconds;

TEST_SUITE("platform") {
  TEST_CASE("platform: ParseProcStat counts fields from the last parenthesis") {
    // A command name with spaces and parentheses, as a process may set it.
    const char* text =
        "4242 (tofu (x) y) S 77 4242 4242 0 -1 4194560 1234 0 5 0 "
        "250 75 3 4 20 0 9 0 987654 123456789 4321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 "
        "17 1 0 0 0 0 0\n";
    Result<ProcStatFields> f = ParseProcStat(text);
    REQUIRE_OK(f);
    CHECK(f->utime_ticks == 250);
    CHECK(f->stime_ticks == 75);
    CHECK(f->num_threads == 9);
    CHECK(f->starttime_ticks == 987654);
    CHECK(f->vsize_bytes == 123456789);
    CHECK(f->rss_pages == 4321);
    CHECK(f->state == 'S');
    CHECK(f->ppid == 77);
  }

  TEST_CASE("platform: ParseProcStat rejects what is not a stat line") {
    CHECK(ParseProcStat("").status().IsCorruption());
    CHECK(ParseProcStat("4242 (tofu) S 1 2 3").status().IsCorruption());
    Result<ProcStatFields> bad =
        ParseProcStat("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 0 0 0 20 0 1 0 5 6 7\n");
    CHECK(bad.status().IsCorruption());
    CHECK(bad.status().message().find("field 14") != std::string::npos);
  }

  TEST_CASE("platform: ParseBootTime reads the btime line of /proc/stat") {
    Result<int64_t> t = ParseBootTime("cpu  1 2 3\nintr 5\nbtime 1767225600\nprocesses 9\n");
    REQUIRE_OK(t);
    CHECK(*t == 1767225600);
    CHECK(ParseBootTime("cpu 1 2 3\n").status().IsCorruption());
    CHECK(ParseBootTime("btime soon\n").status().IsCorruption());
  }

  TEST_CASE("platform: ReadProcessStats describes this process") {
    Result<ProcessStats> before = ReadProcessStats();
    REQUIRE_OK(before);
    CHECK(before->resident_bytes > 0);
    CHECK(before->virtual_bytes >= before->resident_bytes);
    // The test binary started after boot and before now.
    const SystemTime now = std::chrono::system_clock::now();
    CHECK(before->start_time <= now);
    CHECK(before->start_time > now - std::chrono::hours(24));
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    CHECK(before->max_fds == (limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : limit.rlim_cur));

    // Ten more descriptors are ten more open fds.
    std::vector<int> fds;
    for (int i = 0; i < 10; ++i) {
      fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      REQUIRE(fds.back() >= 0);
    }
    Result<ProcessStats> opened = ReadProcessStats();
    for (int fd : fds) ::close(fd);
    REQUIRE_OK(opened);
    CHECK(opened->open_fds == before->open_fds + 10);

    // CPU time grows with work (ticks are 10 ms; the deadline is generous).
    const auto deadline = std::chrono::steady_clock::now() + seconds(30);
    volatile uint64_t sink = 0;
    Result<ProcessStats> later = ReadProcessStats();
    while (later.ok() && later->cpu <= before->cpu && std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < 1'000'000; ++i) sink = sink + static_cast<uint64_t>(i);
      later = ReadProcessStats();
    }
    REQUIRE_OK(later);
    CHECK(later->cpu > before->cpu);
    CHECK(later->start_time == before->start_time);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::platform
