// Observer: how the scheduler reports what happens, to logs, metrics and
// traces alike [ninja status.h]. The scheduler never includes prometheus or
// httplib; those modules implement this interface instead.
//
// Calls come from the scheduler thread, except OnJobProgress, which comes
// from the process runner's I/O thread while a job runs. Implementations
// must be quick and must not call back into the scheduler.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "config/config_diff.h"
#include "scheduler/job_trace.h"
#include "scheduler/planner.h"
#include "state/state.h"
#include "tofu/tofu_client.h"

namespace provisioner::scheduler {

// What became of a scheduled fire (provisioner_schedule_fires_total{outcome}).
enum class FireOutcome : uint8_t {
  kRan,               // it started (or queued) a job
  kCoalesced,         // folded into a job already queued or running, or a later fire
  kSkippedPaused,     // the workspace was paused or disabled
  kSkippedProtected,  // a destroy of a protected workspace: refused
  kMissed,            // the daemon was down and catch_up is false
};
std::string_view FireOutcomeName(FireOutcome o);  // "ran", "coalesced", ...

struct FireReport {
  std::string workspace;
  Action action = Action::kDeploy;
  SystemTime due;  // the effective fire time, jitter included
  FireOutcome outcome = FireOutcome::kRan;
  std::string job_id;  // for kRan and kCoalesced, the job that serves it
};

struct ReloadReport {
  bool ok = false;
  config::ConfigDiff diff;          // when ok
  std::vector<std::string> errors;  // when not ok: file:line:col: path: reason
  std::string source;               // "inotify", "SIGHUP", "api"
};

class Observer {
 public:
  virtual ~Observer() = default;

  virtual void OnScheduleFired(const FireReport&) {}
  // A new job entered the queue (a coalesced request makes none).
  virtual void OnJobQueued(const state::JobRecord&, const JobTrace&) {}
  // `lag` runs from the due time (scheduled_for) to the start.
  virtual void OnJobStarted(const state::JobRecord&, std::chrono::milliseconds /*lag*/) {}
  virtual void OnJobProgress(const state::JobRecord&, tofu::Step, const tofu::UiEvent&) {}
  virtual void OnJobFinished(const state::JobRecord&, const tofu::JobOutcome&) {}
  // The scheduler asked a running job to stop (an operator's cancel, the
  // daemon shutting down): the stop ladder's first signal goes out now.
  virtual void OnJobStopRequested(const state::JobRecord&, platform::StopReason) {}
  // A failed job will be tried again: attempt `next_attempt`, not before
  // `not_before`. Comes before OnJobFinished for the failed attempt.
  virtual void OnJobRetryScheduled(const state::JobRecord&, int /*next_attempt*/,
                                   SystemTime /*not_before*/) {}
  virtual void OnConfigReloaded(const ReloadReport&) {}
  // An operator's manual action was accepted: deploy, destroy, pause,
  // resume or cancel; `user` is "" when the request was anonymous.
  virtual void OnManualAction(std::string_view /*action*/, const std::string& /*user*/) {}
  // After every save of the state file, at `at` (wall clock).
  virtual void OnStateSaved(const Status& /*result*/, SystemTime /*at*/) {}
  // After every Tick: how long it took, and how many workspace schedules it
  // evaluated (each evaluation computes the next and previous fires).
  virtual void OnTick(std::chrono::nanoseconds /*duration*/, uint64_t /*evaluations*/) {}
};

// Hands every call to each of a list of observers, in order.
class ObserverList final : public Observer {
 public:
  void Add(Observer* o) { observers_.push_back(o); }

  void OnScheduleFired(const FireReport& r) override {
    for (Observer* o : observers_) o->OnScheduleFired(r);
  }
  void OnJobQueued(const state::JobRecord& j, const JobTrace& t) override {
    for (Observer* o : observers_) o->OnJobQueued(j, t);
  }
  void OnJobStarted(const state::JobRecord& j, std::chrono::milliseconds lag) override {
    for (Observer* o : observers_) o->OnJobStarted(j, lag);
  }
  void OnJobProgress(const state::JobRecord& j, tofu::Step s, const tofu::UiEvent& e) override {
    for (Observer* o : observers_) o->OnJobProgress(j, s, e);
  }
  void OnJobFinished(const state::JobRecord& j, const tofu::JobOutcome& out) override {
    for (Observer* o : observers_) o->OnJobFinished(j, out);
  }
  void OnJobStopRequested(const state::JobRecord& j, platform::StopReason r) override {
    for (Observer* o : observers_) o->OnJobStopRequested(j, r);
  }
  void OnJobRetryScheduled(const state::JobRecord& j, int next, SystemTime not_before) override {
    for (Observer* o : observers_) o->OnJobRetryScheduled(j, next, not_before);
  }
  void OnConfigReloaded(const ReloadReport& r) override {
    for (Observer* o : observers_) o->OnConfigReloaded(r);
  }
  void OnManualAction(std::string_view action, const std::string& user) override {
    for (Observer* o : observers_) o->OnManualAction(action, user);
  }
  void OnStateSaved(const Status& result, SystemTime at) override {
    for (Observer* o : observers_) o->OnStateSaved(result, at);
  }
  void OnTick(std::chrono::nanoseconds d, uint64_t evaluations) override {
    for (Observer* o : observers_) o->OnTick(d, evaluations);
  }

 private:
  std::vector<Observer*> observers_;
};

}  // namespace provisioner::scheduler
