// The daemon's loop, run inside the test process (RunDaemon on a thread of
// its own, with DaemonTestHooks), for what the real binary does not show
// from outside: which thread reaches the observers, and that a reload from
// the API never stalls the loop. Signals are blocked in every thread first,
// so that the daemon's signalfd watcher is the only one to receive the
// SIGHUP and SIGTERM the tests send to the process.
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "app/daemon.h"
#include "platform/posix_clock.h"
#include "platform/posix_file_system.h"
#include "support/fake_tofu_env.h"
#include "support/test_util.h"

namespace provisioner::app {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::TempDir;
using testing::WriteFileOrDie;

// Records the thread of every observer call.
class ThreadRecorder final : public scheduler::Observer {
 public:
  void OnTick(std::chrono::nanoseconds, uint64_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    tick_threads_.insert(std::this_thread::get_id());
  }
  void OnConfigReloaded(const scheduler::ReloadReport& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    reloads_.push_back({std::this_thread::get_id(), r.ok, r.source});
    cv_.notify_all();
  }

  struct Reload {
    std::thread::id thread;
    bool ok;
    std::string source;
  };
  std::vector<Reload> reloads() {
    std::lock_guard<std::mutex> lock(mu_);
    return reloads_;
  }
  std::set<std::thread::id> tick_threads() {
    std::lock_guard<std::mutex> lock(mu_);
    return tick_threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::thread::id> tick_threads_;
  std::vector<Reload> reloads_;
};

// A daemon inside this process, on a config with `workspaces` (YAML list
// entries), stopped with SIGTERM by the destructor if the test did not.
class InProcessDaemon {
 public:
  explicit InProcessDaemon(const std::string& workspaces) {
    sigemptyset(&set_);
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set_, sig);
    REQUIRE(pthread_sigmask(SIG_BLOCK, &set_, &old_mask_) == 0);
    REQUIRE(::mkdir(root_.Join("templates").c_str(), 0755) == 0);
    REQUIRE(::mkdir(root_.Join("templates/t").c_str(), 0755) == 0);
    WriteFileOrDie(root_.Join("templates/t/main.tf"), "# fake tofu ignores HCL\n");
    WriteConfig(workspaces);
    hooks_.observer = &recorder_;
    auto listening = std::make_shared<std::promise<int>>();
    std::future<int> port = listening->get_future();
    hooks_.on_listening = [listening](int p) { listening->set_value(p); };
    env_.environ = fake_.Env();
    env_.cwd = root_.path();
    thread_ = std::thread([this] { exit_code_ = RunDaemon(env_, config_path(), hooks_); });
    if (port.wait_for(seconds(20)) != std::future_status::ready) {
      Stop();
      FAIL("the daemon did not start (exit " << exit_code_ << "): " << err_.str());
    }
    port_ = port.get();
  }
  ~InProcessDaemon() {
    Stop();
    // A signal sent after the daemon stopped reading would hit the test
    // process once unblocked: take any that is still pending first.
    const timespec zero{0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  std::string config_path() const { return root_.Join("config.yaml"); }
  void WriteConfig(const std::string& workspaces) {
    WriteFileOrDie(config_path(),
                   "server: {listen: \"127.0.0.1:0\"}\n"
                   "scheduler: {timezone: UTC}\n"
                   "opentofu: {plugin_cache_dir: cache, pass_env: [\"FAKE_TOFU_*\"]}\n"
                   "state: {dir: state}\n"
                   "logging: {level: error, format: text}\n"
                   "templates_dir: templates\n"
                   "workspaces:\n" +
                       workspaces);
  }
  int port() const { return port_; }
  ThreadRecorder& recorder() { return recorder_; }

  // SIGTERM, then the exit code.
  int Stop() {
    if (thread_.joinable()) {
      ::kill(::getpid(), SIGTERM);
      thread_.join();
    }
    return exit_code_;
  }

 private:
  TempDir root_;
  testing::FakeTofuEnv fake_;
  platform::PosixClock clock_;
  platform::PosixFileSystem fs_;
  std::ostringstream out_;
  std::ostringstream err_;
  CliEnv env_{clock_, fs_, out_, err_, {}, ""};
  ThreadRecorder recorder_;
  DaemonTestHooks hooks_;
  sigset_t set_;
  sigset_t old_mask_;
  std::thread thread_;
  int exit_code_ = -1;
  int port_ = 0;
};

TEST_SUITE("app") {
  TEST_CASE("app: a rejected API reload reaches the observers on the loop thread") {
    // Given a running daemon,
    InProcessDaemon d("  - {name: a, template: t}\n");
    httplib::Client client("127.0.0.1", d.port());
    client.set_read_timeout(seconds(60));
    // when its config breaks and the API asks for a reload,
    d.WriteConfig("  - {name: a, template: missing}\n");
    auto res = client.Post("/api/v1/reload", "{}", "application/json");
    // then the API says 409, and every reload event (the API's and the
    // watcher's) reached the observers on the thread that ticks, never on
    // an HTTP thread (scheduler/observer.h).
    REQUIRE(res);
    CHECK(res->status == 409);
    CHECK(d.Stop() == 0);
    const std::set<std::thread::id> ticks = d.recorder().tick_threads();
    REQUIRE(ticks.size() == 1);
    std::vector<ThreadRecorder::Reload> reloads = d.recorder().reloads();
    REQUIRE_FALSE(reloads.empty());
    bool saw_api = false;
    for (const auto& r : reloads) {
      CAPTURE(r.source);
      CHECK_FALSE(r.ok);
      CHECK(r.thread == *ticks.begin());
      saw_api = saw_api || r.source.find("api") != std::string::npos;
    }
    CHECK(saw_api);
  }

  TEST_CASE("app: API reloads answer promptly while SIGHUP reloads keep coming") {
    // Given a daemon with a config that takes a while to parse (reloads are
    // read and validated on the loop thread),
    std::string workspaces;
    for (int i = 0; i < 1500; ++i) {
      workspaces += "  - {name: w" + std::to_string(i) +
                    ", template: t, enabled: false, schedule: {deploy: \"0 8 * * MON-FRI\", "
                    "destroy: \"0 19 * * MON-FRI\"}}\n";
    }
    InProcessDaemon d(workspaces);
    httplib::Client client("127.0.0.1", d.port());
    // An API reload that hangs shows up as this read timeout (the old
    // daemon held its reload lock while it waited 30 s for a Tick that the
    // loop, blocked on the same lock by a SIGHUP reload, could not run).
    client.set_read_timeout(seconds(20));
    // when SIGHUPs arrive all the time during API reloads,
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread hup([&] {
      std::unique_lock<std::mutex> lock(mu);
      while (!done) {
        ::kill(::getpid(), SIGHUP);
        cv.wait_for(lock, milliseconds(5), [&] { return done; });  // a rate, not a sync
      }
    });
    // then every API reload is answered, with the config in force.
    int answered = 0;
    for (int i = 0; i < 5; ++i) {
      auto res = client.Post("/api/v1/reload", "{}", "application/json");
      if (res && res->status == 200) ++answered;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
    hup.join();
    CHECK(answered == 5);
    CHECK(d.Stop() == 0);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::app
