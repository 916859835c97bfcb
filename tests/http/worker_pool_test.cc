#include "http/worker_pool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace provisioner::http {
namespace {

using namespace std::chrono_literals;

// Tasks that block until the test opens the gate, counting who started.
class Gate {
 public:
  std::function<void()> Task() {
    return [this] {
      std::unique_lock<std::mutex> lock(mu_);
      ++started_;
      cv_.notify_all();
      cv_.wait(lock, [this] { return open_; });
      ++finished_;
      cv_.notify_all();
    };
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until `n` tasks have started (or finished); false at the deadline.
  bool WaitStarted(int n, std::chrono::milliseconds deadline = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return started_ >= n; });
  }
  bool WaitFinished(int n, std::chrono::milliseconds deadline = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return finished_ >= n; });
  }
  int started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int started_ = 0;
  int finished_ = 0;
};

// Polls `f` until it holds or the deadline passes (thread exits are not
// signalled to the test).
template <typename F>
bool Eventually(F f, std::chrono::milliseconds deadline = 10s) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!f()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST_SUITE("http") {
  TEST_CASE("http: the worker pool grows while every worker is busy") {
    // Given 2 workers at least and 16 at most, When 10 tasks block at
    // once, Then all 10 run at the same time.
    WorkerPool pool(2, 16, 10s);
    CHECK(pool.threads() == 2);
    Gate gate;
    for (int i = 0; i < 10; ++i) pool.Enqueue(gate.Task());
    CHECK(gate.WaitStarted(10));
    CHECK(pool.threads() >= 10);
    gate.Open();
    CHECK(gate.WaitFinished(10));
  }

  TEST_CASE("http: past max_threads tasks wait their turn") {
    WorkerPool pool(1, 3, 10s);
    Gate gate;
    for (int i = 0; i < 5; ++i) pool.Enqueue(gate.Task());
    CHECK(gate.WaitStarted(3));
    // The other two stay queued while the three block.
    CHECK_FALSE(gate.WaitStarted(4, 200ms));
    CHECK(pool.peak_threads() == 3);
    gate.Open();
    CHECK(gate.WaitFinished(5));
    CHECK(pool.peak_threads() == 3);
  }

  TEST_CASE("http: workers above the minimum exit when idle") {
    WorkerPool pool(2, 8, 50ms);
    Gate gate;
    for (int i = 0; i < 6; ++i) pool.Enqueue(gate.Task());
    CHECK(gate.WaitStarted(6));
    gate.Open();
    CHECK(gate.WaitFinished(6));
    CHECK(Eventually([&] { return pool.threads() == 2; }));
    // The pool still works, and grows again.
    Gate again;
    for (int i = 0; i < 4; ++i) pool.Enqueue(again.Task());
    CHECK(again.WaitStarted(4));
    again.Open();
    CHECK(again.WaitFinished(4));
  }

  TEST_CASE("http: shutdown runs the queued tasks, then drops new ones") {
    std::atomic<int> ran{0};
    {
      WorkerPool pool(1, 1, 10s);
      Gate gate;
      pool.Enqueue(gate.Task());
      CHECK(gate.WaitStarted(1));
      for (int i = 0; i < 3; ++i) pool.Enqueue([&ran] { ++ran; });
      gate.Open();
      pool.Shutdown();
      CHECK(ran == 3);
      pool.Enqueue([&ran] { ++ran; });
      CHECK(pool.threads() == 0);
    }
    CHECK(ran == 3);
  }
}

}  // namespace
}  // namespace provisioner::http
