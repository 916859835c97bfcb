#include "platform/inotify_watcher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>

#include "support/test_util.h"

namespace provisioner::platform {
namespace {

using std::chrono::milliseconds;
using testing::TempDir;
using testing::WriteFileOrDie;
using Content = std::optional<std::string>;  // nullopt: the file is absent

constexpr milliseconds kDebounce{100};
constexpr milliseconds kLimit{10000};  // how long a test waits for anything

Content ReadContent(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records, on every on_change, what the file holds at that moment.
class Recorder {
 public:
  explicit Recorder(std::string path) : path_(std::move(path)) {}

  std::function<void()> OnChange() {
    return [this] {
      Content now = ReadContent(path_);
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(std::move(now));
      cv_.notify_all();
    };
  }
  std::function<void(const Status&)> OnError() {
    return [this](const Status& s) {
      std::lock_guard<std::mutex> lock(mu_);
      errors_.push_back(s);
      cv_.notify_all();
    };
  }

  // Waits until the last callback saw `content`; then returns every content
  // seen so far. Since callbacks arrive in order, a final, known change makes
  // "nothing else happened before it" checkable without sleeping.
  std::vector<Content> WaitForLast(const Content& content) {
    std::unique_lock<std::mutex> lock(mu_);
    bool ok = cv_.wait_for(lock, kLimit, [&] { return !seen_.empty() && seen_.back() == content; });
    CHECK_MESSAGE(ok, "no callback saw " << content.value_or("<absent>"));
    return seen_;
  }
  std::vector<Status> WaitForError() {
    std::unique_lock<std::mutex> lock(mu_);
    CHECK(cv_.wait_for(lock, kLimit, [&] { return !errors_.empty(); }));
    return errors_;
  }
  std::vector<Content> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  const std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Content> seen_;
  std::vector<Status> errors_;
};

// A config file, a recorder (declared first: it must outlive the watcher's
// thread) and a started watcher.
struct Fixture {
  explicit Fixture(Content initial = std::string("v1"), milliseconds debounce = kDebounce)
      : path(dir.Join("config.yaml")), recorder(path) {
    if (initial) WriteFileOrDie(path, *initial);
    REQUIRE_OK(watcher.Start(path, debounce, recorder.OnChange(), recorder.OnError()));
  }

  void Rename(const std::string& from, const std::string& to) {
    REQUIRE(std::rename(dir.Join(from).c_str(), dir.Join(to).c_str()) == 0);
  }
  void Remove(const std::string& name) { REQUIRE(std::remove(dir.Join(name).c_str()) == 0); }
  // Waits until the watcher has done at least `n` debounced reads.
  void WaitForChecks(uint64_t n) {
    REQUIRE(watcher.WaitForStatsForTesting(
        [&](const InotifyWatcher::Stats& s) { return s.checks >= n; }, kLimit));
  }

  TempDir dir;
  std::string path;
  Recorder recorder;
  InotifyWatcher watcher;
};

std::vector<Content> Seen(std::initializer_list<const char*> contents) {
  std::vector<Content> out;
  for (const char* c : contents) {
    out.push_back(c == nullptr ? Content() : Content(c));
  }
  return out;
}

TEST_SUITE("platform") {
  TEST_CASE("platform: InotifyWatcher sees an in-place write") {
    // Given a watched file
    Fixture f;
    // When it is truncated and rewritten in place
    WriteFileOrDie(f.path, "v2");
    // Then one callback sees the new content
    CHECK(f.recorder.WaitForLast("v2") == Seen({"v2"}));
    // And a final change is the only other callback
    WriteFileOrDie(f.path, "v3");
    CHECK(f.recorder.WaitForLast("v3") == Seen({"v2", "v3"}));
  }

  TEST_CASE("platform: InotifyWatcher sees a vim-style save") {
    // Given a watched file open in vim (with its swap file)
    Fixture f;
    WriteFileOrDie(f.dir.Join(".config.yaml.swp"), "swap");
    // When vim probes the directory, renames the original to a backup, writes
    // a new file and drops the backup
    WriteFileOrDie(f.dir.Join("4913"), "");
    f.Remove("4913");
    f.Rename("config.yaml", "config.yaml~");
    WriteFileOrDie(f.path, "from vim");
    f.Remove("config.yaml~");
    WriteFileOrDie(f.dir.Join(".config.yaml.swp"), "swap 2");
    // Then exactly one callback sees the new file
    CHECK(f.recorder.WaitForLast("from vim") == Seen({"from vim"}));
    WriteFileOrDie(f.path, "final");
    CHECK(f.recorder.WaitForLast("final") == Seen({"from vim", "final"}));
  }

  TEST_CASE("platform: InotifyWatcher sees a sed -i rename") {
    Fixture f;
    // sed -i writes ./sedXXXXXX next to the file and renames it over
    WriteFileOrDie(f.dir.Join("sedAb12Cd"), "from sed");
    f.Rename("sedAb12Cd", "config.yaml");
    CHECK(f.recorder.WaitForLast("from sed") == Seen({"from sed"}));
    WriteFileOrDie(f.path, "final");
    CHECK(f.recorder.WaitForLast("final") == Seen({"from sed", "final"}));
  }

  TEST_CASE("platform: InotifyWatcher sees an Ansible or Salt atomic rename") {
    Fixture f;
    WriteFileOrDie(f.dir.Join(".ansible_tmp1x2y3zconfig.yaml"), "from ansible");
    REQUIRE(::chmod(f.dir.Join(".ansible_tmp1x2y3zconfig.yaml").c_str(), 0640) == 0);
    f.Rename(".ansible_tmp1x2y3zconfig.yaml", "config.yaml");
    CHECK(f.recorder.WaitForLast("from ansible") == Seen({"from ansible"}));
    // One relevant event (the IN_MOVED_TO), one read
    f.WaitForChecks(1);
    CHECK(f.watcher.GetStatsForTesting().relevant_events == 1);
  }

  TEST_CASE("platform: InotifyWatcher sees a Kubernetes ConfigMap ..data swap") {
    // Given a ConfigMap volume: config.yaml -> ..data/config.yaml,
    // ..data -> ..<timestamp>
    TempDir dir;
    const std::string old_version = "..2026_11_23_10_00_00.123";
    const std::string new_version = "..2026_11_23_10_05_00.456";
    std::filesystem::create_directory(dir.Join(old_version));
    WriteFileOrDie(dir.Join(old_version + "/config.yaml"), "v1");
    std::filesystem::create_directory_symlink(old_version, dir.Join("..data"));
    std::filesystem::create_symlink("..data/config.yaml", dir.Join("config.yaml"));
    const std::string path = dir.Join("config.yaml");
    Recorder recorder(path);
    InotifyWatcher watcher;
    REQUIRE_OK(watcher.Start(path, kDebounce, recorder.OnChange(), recorder.OnError()));

    // When the kubelet publishes a new version: a new timestamped directory,
    // a ..data_tmp symlink renamed over ..data, the old directory removed
    std::filesystem::create_directory(dir.Join(new_version));
    WriteFileOrDie(dir.Join(new_version + "/config.yaml"), "v2");
    std::filesystem::create_directory_symlink(new_version, dir.Join("..data_tmp"));
    REQUIRE(std::rename(dir.Join("..data_tmp").c_str(), dir.Join("..data").c_str()) == 0);
    std::filesystem::remove_all(dir.Join(old_version));

    // Then one callback sees the new content through the symlinks
    CHECK(recorder.WaitForLast("v2") == Seen({"v2"}));
    REQUIRE(watcher.WaitForStatsForTesting(
        [](const InotifyWatcher::Stats& s) { return s.checks >= 1; }, kLimit));
    CHECK(watcher.GetStatsForTesting().relevant_events == 1);
    watcher.Stop();
  }

  TEST_CASE("platform: InotifyWatcher debounces a burst into one callback") {
    // Given a watched file and a debounce much longer than the burst
    Fixture f(std::string("v0"), milliseconds(300));
    // When it is rewritten 50 times in a row
    for (int i = 1; i <= 50; ++i) {
      WriteFileOrDie(f.path, std::string("v").append(std::to_string(i)));
    }
    // Then one callback sees the last version, and nothing came before it
    CHECK(f.recorder.WaitForLast("v50") == Seen({"v50"}));
    WriteFileOrDie(f.path, "final");
    CHECK(f.recorder.WaitForLast("final") == Seen({"v50", "final"}));
  }

  TEST_CASE("platform: InotifyWatcher ignores a touch that changes nothing") {
    Fixture f;
    // When the file is touched (IN_ATTRIB) and the watcher has read it
    REQUIRE(::utimensat(AT_FDCWD, f.path.c_str(), nullptr, 0) == 0);
    f.WaitForChecks(1);
    // Then no callback ran
    CHECK(f.recorder.seen().empty());
    // And the same holds for a rewrite with the same bytes
    WriteFileOrDie(f.path, "v1");
    f.WaitForChecks(2);
    CHECK(f.recorder.seen().empty());
    WriteFileOrDie(f.path, "final");
    CHECK(f.recorder.WaitForLast("final") == Seen({"final"}));
  }

  TEST_CASE("platform: InotifyWatcher sees a delete and a re-create") {
    Fixture f;
    // A delete is a change (existence), and so is the file coming back
    f.Remove("config.yaml");
    CHECK(f.recorder.WaitForLast(std::nullopt) == Seen({nullptr}));
    WriteFileOrDie(f.path, "back");
    CHECK(f.recorder.WaitForLast("back") == Seen({nullptr, "back"}));
    // A delete and re-create with the same bytes within the debounce is not
    f.Remove("config.yaml");
    WriteFileOrDie(f.path, "back");
    f.WaitForChecks(3);
    CHECK(f.recorder.seen() == Seen({nullptr, "back"}));
  }

  TEST_CASE("platform: InotifyWatcher watches a file that does not exist yet") {
    Fixture f(std::nullopt);
    WriteFileOrDie(f.path, "created");
    CHECK(f.recorder.WaitForLast("created") == Seen({"created"}));
  }

  TEST_CASE("platform: InotifyWatcher ignores other files in the directory") {
    // Given a watched file among others
    Fixture f;
    // When other files are created, written, renamed, touched and deleted
    WriteFileOrDie(f.dir.Join("other.yaml"), "x");
    WriteFileOrDie(f.dir.Join("config.yaml.bak"), "x");
    WriteFileOrDie(f.dir.Join("config.yam"), "x");
    f.Rename("other.yaml", "other2.yaml");
    REQUIRE(::utimensat(AT_FDCWD, f.dir.Join("other2.yaml").c_str(), nullptr, 0) == 0);
    f.Remove("other2.yaml");
    std::filesystem::create_directory(f.dir.Join("sub"));
    // And then the file is replaced by a rename (one relevant IN_MOVED_TO)
    WriteFileOrDie(f.dir.Join("x.tmp"), "final");
    f.Rename("x.tmp", "config.yaml");
    // Then only that rename counted, and one read followed it
    CHECK(f.recorder.WaitForLast("final") == Seen({"final"}));
    f.WaitForChecks(1);  // counted just after the callback
    InotifyWatcher::Stats stats = f.watcher.GetStatsForTesting();
    CHECK(stats.relevant_events == 1);
    CHECK(stats.checks == 1);
    CHECK(stats.events > 10);
  }

  TEST_CASE("platform: InotifyWatcher reports a removed directory") {
    Fixture f;
    std::filesystem::remove_all(f.dir.path());
    std::vector<Status> errors = f.recorder.WaitForError();
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].IsNotFound());
    CHECK(errors[0].message().find(f.dir.path()) != std::string::npos);
    CHECK(f.recorder.seen() == Seen({nullptr}));
  }

  TEST_CASE("platform: InotifyWatcher Start and Stop") {
    TempDir dir;
    Recorder recorder(dir.Join("config.yaml"));
    InotifyWatcher watcher;
    SUBCASE("a directory that does not exist cannot be watched") {
      Status s = watcher.Start(dir.Join("missing/config.yaml"), kDebounce, recorder.OnChange(),
                               recorder.OnError());
      CHECK(s.IsNotFound());
      CHECK(s.message().find(dir.Join("missing")) != std::string::npos);
    }
    SUBCASE("a file that cannot be read fails Start") {
      std::filesystem::create_directory(dir.Join("config.yaml"));
      Status s = watcher.Start(dir.Join("config.yaml"), kDebounce, recorder.OnChange(),
                               recorder.OnError());
      CHECK(s.IsInvalidArgument());  // a directory
    }
    SUBCASE("twice fails; Stop is idempotent; Start works again after Stop") {
      REQUIRE_OK(watcher.Start(dir.Join("config.yaml"), kDebounce, recorder.OnChange(),
                               recorder.OnError()));
      CHECK(
          watcher.Start(dir.Join("config.yaml"), kDebounce, recorder.OnChange(), recorder.OnError())
              .code() == Status::Code::kFailedPrecondition);
      watcher.Stop();
      watcher.Stop();
      REQUIRE_OK(watcher.Start(dir.Join("config.yaml"), kDebounce, recorder.OnChange(),
                               recorder.OnError()));
      WriteFileOrDie(dir.Join("config.yaml"), "again");
      CHECK(recorder.WaitForLast("again") == Seen({"again"}));
    }
    SUBCASE("Stop from inside the callback") {
      REQUIRE_OK(watcher.Start(
          dir.Join("config.yaml"), kDebounce,
          [&] {
            recorder.OnChange()();
            watcher.Stop();
          },
          recorder.OnError()));
      WriteFileOrDie(dir.Join("config.yaml"), "once");
      CHECK(recorder.WaitForLast("once") == Seen({"once"}));
      watcher.Stop();  // joins the thread that returned from the callback
    }
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::platform
