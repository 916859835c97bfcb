#include <nlohmann/json.hpp>
#include <set>

#include "base/time_format.h"
#include "state/history.h"
#include "state/state_json.h"
#include "state/state_store.h"
#include "support/fake_clock.h"
#include "support/faulty_file_system.h"
#include "support/memory_file_system.h"
#include "support/test_util.h"

namespace provisioner::state {
namespace {

using testing::FakeClock;
using testing::FaultyFileSystem;
using testing::MemoryFileSystem;
using Op = FaultyFileSystem::Op;

SystemTime T(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

JobRecord SampleJob(const std::string& id) {
  JobRecord j;
  j.id = id;
  j.workspace = "dev-env";
  j.operation = Operation::kDestroy;
  j.trigger = Trigger::kCatchUp;
  j.scheduled_for = T("2026-11-23T18:00:00Z");
  j.started_at = T("2026-11-23T18:00:01.250Z");
  j.finished_at = T("2026-11-23T18:02:00Z");
  j.result = JobResult::kSucceeded;
  j.exit_code = 0;
  j.attempt = 2;
  j.changes = {0, 1, 5};
  j.error = "";
  j.log_path = "/var/lib/provisioner/jobs/dev-env/" + id + ".log";
  j.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  return j;
}

State SampleState() {
  State s;
  s.last_seen = T("2026-11-23T18:05:00Z");
  WorkspaceState& a = s.workspaces["dev-env"];
  a.actual = Actual::kDestroyed;
  a.actual_since = T("2026-11-23T18:02:00Z");
  a.last_fire = T("2026-11-23T18:00:00Z");
  a.manual.push_back(
      {Operation::kDeploy, T("2026-11-23T20:00:00Z"), T("2026-11-23T22:00:00Z"), "alice"});
  a.pause = PauseWindow{T("2026-11-24T00:00:00Z"), std::nullopt, "bob"};
  a.last_job = SampleJob("20261123T180000Z-a1b2c3");
  a.retry = RetryState{Operation::kDeploy, 2, T("2026-11-23T18:10:00Z")};
  a.drift = true;
  a.saved_seconds = 45000.5;
  WorkspaceState& b = s.workspaces["qa"];
  b.actual = Actual::kUnknown;
  b.orphaned = true;
  JobRecord running = SampleJob("20261123T190000Z-ffffff");
  running.finished_at.reset();
  running.result.reset();
  running.exit_code.reset();
  running.process =
      platform::ProcessIdentity{31337, 1234567890123, "9f1c2a4e-6b1d-4b1e-9a53-0c5d8f2e7a10"};
  b.running = running;
  b.gave_up_for = T("2026-11-23T08:00:00Z");
  return s;
}

TEST_SUITE("state") {
  TEST_CASE("state: JSON round trip keeps every field") {
    State s = SampleState();
    std::string json = StateToJson(s);
    auto back = StateFromJson(json);
    REQUIRE_OK(back);
    CHECK(*back == s);
    CHECK(StateToJson(*back) == json);  // stable output
    CHECK(json.starts_with("{\"version\":1,"));
  }

  TEST_CASE("state: unknown fields are ignored, missing optional fields default") {
    auto s = StateFromJson(R"({"version": 1, "future": {"x": 1},
    "workspaces": {"a": {"actual": "deployed", "new_field": [1, 2]}}})");
    REQUIRE_OK(s);
    CHECK(s->workspaces.at("a").actual == Actual::kDeployed);
    CHECK_FALSE(s->workspaces.at("a").running.has_value());
    CHECK(s->workspaces.at("a").manual.empty());
  }

  TEST_CASE("state: saved time in hours from before the rename carries over as seconds") {
    // Given a state written when the savings counter was in hours, When it
    // is loaded, Then the count is kept, in seconds; a state with both fields
    // (written by this binary, for downgrades) is read from saved_seconds.
    auto old = StateFromJson(R"({"version": 1,
    "workspaces": {"a": {"actual": "destroyed", "saved_hours": 12.5}}})");
    REQUIRE_OK(old);
    CHECK(old->workspaces.at("a").saved_seconds == 45000.0);

    auto both = StateFromJson(R"({"version": 1, "workspaces": {"a": {"actual": "destroyed",
    "saved_seconds": 7200.25, "saved_hours": 99}}})");
    REQUIRE_OK(both);
    CHECK(both->workspaces.at("a").saved_seconds == 7200.25);

    // What this binary writes keeps hours too, so that an older binary keeps
    // counting from the same value after a downgrade.
    State s;
    s.workspaces["a"].saved_seconds = 5400;
    const nlohmann::json written = nlohmann::json::parse(StateToJson(s));
    CHECK(written["workspaces"]["a"]["saved_seconds"] == 5400.0);
    CHECK(written["workspaces"]["a"]["saved_hours"] == 1.5);

    auto bad = StateFromJson(R"({"version": 1, "workspaces": {"a": {"saved_hours": "x"}}})");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find("saved_hours") != std::string::npos);
  }

  TEST_CASE("state: times finer than a millisecond load cut to it, and round-trip") {
    // A fuzzer input: 0.8 ms in a hand-edited `until` came back as .000 after
    // a save, so the loaded and the reloaded states differed.
    auto s = StateFromJson(R"({"version": 1, "workspaces": {"w": {"manual": [
      {"operation": "deploy", "at": "2026-11-24T20:00:00Z",
       "until": "2026-11-24T22:00:00.0008Z"}],
      "last_fire": "1969-12-31T23:59:59.9999Z"}}})");
    REQUIRE_OK(s);
    CHECK(s->workspaces.at("w").manual[0].until == T("2026-11-24T22:00:00Z"));
    CHECK(s->workspaces.at("w").last_fire == T("1969-12-31T23:59:59.999Z"));
    auto again = StateFromJson(StateToJson(*s));
    REQUIRE_OK(again);
    CHECK(*again == *s);
  }

  TEST_CASE("state: a running job's process is written only when known, and checked") {
    const nlohmann::json written = nlohmann::json::parse(StateToJson(SampleState()));
    CHECK(written["workspaces"]["qa"]["running"]["process"] ==
          nlohmann::json::parse(R"({"pid":31337,"start_ticks":1234567890123,
                                   "boot_id":"9f1c2a4e-6b1d-4b1e-9a53-0c5d8f2e7a10"})"));
    CHECK_FALSE(written["workspaces"]["dev-env"]["last_job"].contains("process"));
    auto bad = StateFromJson(R"({"version": 1, "workspaces": {"a": {"running":
      {"id": "j", "process": {"pid": -3, "start_ticks": 1, "boot_id": "b"}}}}})");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find("workspaces.a.running.process.pid") != std::string::npos);
  }

  TEST_CASE("state: corrupt input is Corruption with the place named") {
    struct Case {
      const char* text;
      const char* message;
    };
    const Case cases[] = {
        {"", "not valid JSON"},
        {"{\"version\": 1,", "not valid JSON"},
        {"[]", "expected a JSON object at the top"},
        {"{}", "version: missing or not an integer"},
        {"{\"version\": \"1\"}", "version: missing or not an integer"},
        {R"({"version": 1, "workspaces": []})", "workspaces: expected an object"},
        {R"({"version": 1, "workspaces": {"a": {"actual": "up"}}})",
         "workspaces.a.actual: \"up\" is not one of unknown, deployed, destroyed"},
        {R"({"version": 1, "workspaces": {"a": {"last_fire": "yesterday"}}})",
         "workspaces.a.last_fire: time \"yesterday\": bad year: expected RFC 3339, e.g. "
         "2026-03-29T03:00:00+02:00"},
        {R"({"version": 1, "workspaces": {"a": {"manual": [{"operation": "deploy"}]}}})",
         "workspaces.a.manual[0].at: missing"},
        {R"({"version": 1, "workspaces": {"a": {"running": {"id": "x", "attempt": "two"}}}})",
         "workspaces.a.running.attempt: expected an integer"},
    };
    for (const Case& c : cases) {
      CAPTURE(c.text);
      auto s = StateFromJson(c.text);
      REQUIRE_FALSE(s.ok());
      CHECK(s.status().IsCorruption());
      CHECK(s.status().message().starts_with(c.message));
    }
    std::string deep = "{\"version\":1,\"x\":" + std::string(100000, '[') + "}";
    CHECK(StateFromJson(deep).status().message() == "not valid JSON: nested deeper than 16 levels");
  }

  TEST_CASE("state: a newer version is refused, not treated as corrupt") {
    auto s = StateFromJson(R"({"version": 2, "workspaces": {}})");
    CHECK(s.status().code() == Status::Code::kFailedPrecondition);
    CHECK(s.status().message() ==
          "state version 2 is newer than this provisioner reads (1); upgrade provisioner or "
          "restore a backup");
  }

  TEST_CASE("state: job records round trip as one JSON line") {
    JobRecord j = SampleJob("20261123T180000Z-a1b2c3");
    std::string line = JobToJsonLine(j);
    CHECK(line.find('\n') == std::string::npos);
    auto back = JobFromJson(line);
    REQUIRE_OK(back);
    CHECK(*back == j);
    CHECK(JobFromJson("{\"id\": \"\"}").status().message() == "job.id: missing");
  }

  TEST_CASE("state: StateStore saves, keeps a backup, and loads") {
    MemoryFileSystem fs;
    FakeClock clock;
    REQUIRE_OK(fs.CreateDirs("/var/lib/provisioner"));
    JsonStateStore store(fs, clock, "/var/lib/provisioner");
    auto first = store.Load();
    REQUIRE_OK(first);
    CHECK(first->fresh);

    State a = SampleState();
    REQUIRE_OK(store.Save(a));
    State b = a;
    b.workspaces["dev-env"].actual = Actual::kDeployed;
    REQUIRE_OK(store.Save(b));
    auto loaded = store.Load();
    REQUIRE_OK(loaded);
    CHECK_FALSE(loaded->fresh);
    CHECK_FALSE(loaded->from_backup);
    CHECK(loaded->state == b);
    auto backup = fs.ReadFile("/var/lib/provisioner/state.json.bak", platform::kNoSizeLimit);
    REQUIRE_OK(backup);
    CHECK(*StateFromJson(*backup) == a);
  }

  TEST_CASE("state: a corrupt state.json is moved aside and the backup loaded") {
    MemoryFileSystem fs;
    FakeClock clock(T("2026-11-23T10:30:00Z"));
    REQUIRE_OK(fs.CreateDirs("/s"));
    JsonStateStore store(fs, clock, "/s");
    State a = SampleState();
    REQUIRE_OK(store.Save(a));
    State b = a;
    b.workspaces.erase("qa");
    REQUIRE_OK(store.Save(b));
    REQUIRE_OK(fs.WriteFile("/s/state.json", "{\"version\": 1, \"workspaces\": {\"a\": tru"));
    auto loaded = store.Load();
    REQUIRE_OK(loaded);
    CHECK(loaded->from_backup);
    CHECK(loaded->state == a);
    CHECK(loaded->moved_aside == "/s/state.json.corrupt-2026-11-23T10-30-00Z");
    CHECK(loaded->problem.starts_with("not valid JSON"));
    // Nothing is lost: the corrupt bytes are still there for the operator.
    CHECK(*fs.ReadFile(loaded->moved_aside, platform::kNoSizeLimit) ==
          "{\"version\": 1, \"workspaces\": {\"a\": tru");
    CHECK(fs.Stat("/s/state.json").status().IsNotFound());
  }

  TEST_CASE("state: both copies corrupt: refuse to start, touch nothing") {
    MemoryFileSystem fs;
    FakeClock clock;
    REQUIRE_OK(fs.CreateDirs("/s"));
    REQUIRE_OK(fs.WriteFile("/s/state.json", "garbage"));
    REQUIRE_OK(fs.WriteFile("/s/state.json.bak", "more garbage"));
    JsonStateStore store(fs, clock, "/s");
    auto loaded = store.Load();
    CHECK(loaded.status().IsCorruption());
    CHECK(loaded.status().message().find("nothing was changed on disk") != std::string::npos);
    CHECK(*fs.ReadFile("/s/state.json", platform::kNoSizeLimit) == "garbage");
  }

  TEST_CASE("state: a failure or crash at any step of a save leaves the old or new state") {
    // Given a saved state A, when saving B fails at step N (and, in a second
    // run, the machine also loses power right then), then the next load gives
    // exactly A or exactly B.
    State a = SampleState();
    State b = a;
    b.workspaces["dev-env"].actual = Actual::kDeployed;
    b.workspaces["new"].actual = Actual::kDestroyed;

    // Find out how many calls of each kind one save makes.
    std::vector<std::string> steps;
    {
      MemoryFileSystem mem;
      FaultyFileSystem probe(mem);
      FakeClock clock;
      REQUIRE_OK(mem.CreateDirs("/s"));
      JsonStateStore store(probe, clock, "/s");
      REQUIRE_OK(store.Save(a));
      steps = probe.calls();
    }
    REQUIRE(steps == std::vector<std::string>{"write state.json.tmp", "fsync state.json.tmp",
                                              "rename state.json", "rename state.json.tmp",
                                              "fsync-dir s"});
    const std::pair<Op, int> faults[] = {
        {Op::kWrite, 1}, {Op::kSyncFile, 1}, {Op::kRename, 1}, {Op::kRename, 2}, {Op::kSyncDir, 1}};
    for (bool crash : {false, true}) {
      for (const auto& fault : faults) {
        // Not a structured binding: clang 14 cannot capture one (CAPTURE).
        const Op op = fault.first;
        const int nth = fault.second;
        CAPTURE(crash);
        CAPTURE(static_cast<int>(op));
        CAPTURE(nth);
        MemoryFileSystem mem;
        FaultyFileSystem faulty(mem);
        FakeClock clock;
        REQUIRE_OK(mem.CreateDirs("/s"));
        JsonStateStore store(faulty, clock, "/s");
        REQUIRE_OK(store.Save(a));
        faulty.FailOn(op, nth);
        CHECK_FALSE(store.Save(b).ok());
        CHECK(faulty.fired());
        if (crash) mem.SimulateCrash();
        JsonStateStore reader(mem, clock, "/s");
        auto loaded = reader.Load();
        REQUIRE_OK(loaded);
        CHECK_FALSE(loaded->fresh);
        bool is_a = loaded->state == a;
        bool is_b = loaded->state == b;
        CHECK_MESSAGE((is_a || is_b), "loaded a state that is neither the old nor the new one");
      }
    }
  }

  TEST_CASE("state: a crash after each completed step of a save still loads") {
    State a = SampleState();
    State b = a;
    b.workspaces.erase("qa");
    for (int completed = 0; completed <= 5; ++completed) {
      CAPTURE(completed);
      MemoryFileSystem mem;
      FaultyFileSystem faulty(mem);
      FakeClock clock;
      REQUIRE_OK(mem.CreateDirs("/s"));
      JsonStateStore store(faulty, clock, "/s");
      REQUIRE_OK(store.Save(a));
      // Stop the save after `completed` steps by failing the next one.
      const std::pair<Op, int> next_step[] = {{Op::kWrite, 1},
                                              {Op::kSyncFile, 1},
                                              {Op::kRename, 1},
                                              {Op::kRename, 2},
                                              {Op::kSyncDir, 1}};
      if (completed < 5) {
        faulty.FailOn(next_step[completed].first, next_step[completed].second);
        CHECK_FALSE(store.Save(b).ok());
      } else {
        REQUIRE_OK(store.Save(b));
      }
      mem.SimulateCrash();
      JsonStateStore reader(mem, clock, "/s");
      auto loaded = reader.Load();
      REQUIRE_OK(loaded);
      CHECK((loaded->state == a || loaded->state == b));
      if (completed == 5) CHECK(loaded->state == b);  // a finished save is durable
    }
  }

  TEST_CASE(
      "state: a full disk at each step of a save: the error comes back, the old state "
      "stays loadable, and the next save after the fault succeeds") {
    // Given a saved state A, when the disk is full (ENOSPC) at step N of
    // saving B, then Save returns that error; the files on disk load as A
    // (or, once both renames are done or B's temp copy is complete and
    // state.json is gone, as B); and when space is back, saving C succeeds
    // and leaves C in state.json with a good backup.
    State a = SampleState();
    State b = a;
    b.workspaces["dev-env"].actual = Actual::kDeployed;
    State c = b;
    c.workspaces.erase("qa");
    const Status enospc = Status::ResourceExhausted("write", "No space left on device");
    const std::pair<Op, int> steps[] = {
        {Op::kWrite, 1}, {Op::kSyncFile, 1}, {Op::kRename, 1}, {Op::kRename, 2}, {Op::kSyncDir, 1}};
    for (size_t i = 0; i < std::size(steps); ++i) {
      CAPTURE(i);
      MemoryFileSystem mem;
      FaultyFileSystem faulty(mem);
      FakeClock clock;
      REQUIRE_OK(mem.CreateDirs("/s"));
      JsonStateStore store(faulty, clock, "/s");
      REQUIRE_OK(store.Save(a));
      faulty.FailOn(steps[i].first, steps[i].second, enospc);
      Status failed = store.Save(b);
      REQUIRE(faulty.fired());
      CHECK(failed.code() == Status::Code::kResourceExhausted);
      CHECK(failed.message().find("No space left on device") != std::string::npos);

      JsonStateStore reader(mem, clock, "/s");
      auto loaded = reader.Load();
      REQUIRE_OK(loaded);
      CHECK_FALSE(loaded->fresh);
      if (i < 3) {
        CHECK(loaded->state == a);  // nothing was replaced yet
        CHECK_FALSE(loaded->from_backup);
      } else {
        CHECK(loaded->state == b);  // B was complete on disk
      }

      // The same store goes on once there is space again.
      REQUIRE_OK(store.Save(c));
      auto after = reader.Load();
      REQUIRE_OK(after);
      CHECK(after->state == c);
      CHECK_FALSE(after->from_backup);
      CHECK_FALSE(after->from_temp);
      auto backup = mem.ReadFile("/s/state.json.bak", platform::kNoSizeLimit);
      REQUIRE_OK(backup);
      auto backup_state = StateFromJson(*backup);
      REQUIRE_OK(backup_state);
      CHECK((*backup_state == a || *backup_state == b));
    }
  }

  TEST_CASE("state: saves that keep failing never lose the last good state") {
    // Given a saved state A, when three saves in a row fail at different
    // steps (write, then the second rename, then the write again), then the
    // state on disk still loads, as A or as the complete B, never as
    // nothing; and a crash right then changes nothing.
    State a = SampleState();
    State b = a;
    b.workspaces["dev-env"].actual = Actual::kDeployed;
    State c = b;
    c.workspaces.erase("qa");
    MemoryFileSystem mem;
    FaultyFileSystem faulty(mem);
    FakeClock clock;
    REQUIRE_OK(mem.CreateDirs("/s"));
    JsonStateStore store(faulty, clock, "/s");
    REQUIRE_OK(store.Save(a));
    faulty.FailOn(Op::kWrite, 1);
    CHECK_FALSE(store.Save(b).ok());
    faulty.FailOn(Op::kRename, 2);
    CHECK_FALSE(store.Save(b).ok());
    faulty.FailOn(Op::kWrite, 1);
    CHECK_FALSE(store.Save(c).ok());
    for (bool crash : {false, true}) {
      CAPTURE(crash);
      if (crash) mem.SimulateCrash();
      JsonStateStore reader(mem, clock, "/s");
      auto loaded = reader.Load();
      REQUIRE_OK(loaded);
      CHECK_FALSE(loaded->fresh);
      CHECK((loaded->state == a || loaded->state == b));
    }
  }

  TEST_CASE("state: JobHistory appends, prunes to the limit and deletes old logs") {
    MemoryFileSystem fs;
    JobHistory history(fs, "/s", 3);
    for (int i = 0; i < 5; ++i) {
      JobRecord j = SampleJob("job-" + std::to_string(i));
      REQUIRE_OK(fs.CreateDirs("/s/jobs/dev-env"));
      REQUIRE_OK(fs.WriteFile(history.LogPath("dev-env", j.id), "log " + std::to_string(i)));
      REQUIRE_OK(history.Append(j));
    }
    std::vector<std::string> warnings;
    auto jobs = history.Load("dev-env", &warnings);
    REQUIRE_OK(jobs);
    CHECK(warnings.empty());
    REQUIRE(jobs->size() == 3);
    CHECK((*jobs)[0].id == "job-2");
    CHECK((*jobs)[2].id == "job-4");
    CHECK(fs.Stat("/s/jobs/dev-env/job-0.log").status().IsNotFound());
    CHECK(fs.Stat("/s/jobs/dev-env/job-1.log").status().IsNotFound());
    CHECK_OK(fs.Stat("/s/jobs/dev-env/job-2.log"));
    CHECK(history.LogPath("dev-env", "job-2") == "/s/jobs/dev-env/job-2.log");
    CHECK(history.Append(SampleJob("../../etc/passwd")).IsInvalidArgument());
  }

  TEST_CASE("state: a torn last line is skipped with a warning and repaired") {
    MemoryFileSystem fs;
    REQUIRE_OK(fs.CreateDirs("/s/jobs/dev-env"));
    std::string good = JobToJsonLine(SampleJob("job-1")) + "\n";
    REQUIRE_OK(fs.WriteFile("/s/jobs/dev-env/history.jsonl",
                            good + "not json\n" + JobToJsonLine(SampleJob("job-3")).substr(0, 40)));
    JobHistory history(fs, "/s", 50);
    std::vector<std::string> warnings;
    auto jobs = history.Load("dev-env", &warnings);
    REQUIRE_OK(jobs);
    REQUIRE(jobs->size() == 1);
    CHECK((*jobs)[0].id == "job-1");
    REQUIRE(warnings.size() == 2);
    CHECK(warnings[0] ==
          "/s/jobs/dev-env/history.jsonl: skipped a torn last line (40 bytes, the daemon stopped "
          "while writing it)");
    CHECK(warnings[1].starts_with("/s/jobs/dev-env/history.jsonl:2: skipped: not valid JSON"));
    // The next append starts on a clean line.
    REQUIRE_OK(history.Append(SampleJob("job-4")));
    warnings.clear();
    auto again = history.Load("dev-env", &warnings);
    REQUIRE_OK(again);
    CHECK(warnings.empty());
    REQUIRE(again->size() == 2);
    CHECK((*again)[1].id == "job-4");
  }

  TEST_CASE("state: a journal survives a crash right after Append returns") {
    MemoryFileSystem fs;
    JobHistory history(fs, "/s", 50);
    REQUIRE_OK(history.Append(SampleJob("job-1")));
    fs.SimulateCrash();
    JobHistory reader(fs, "/s", 50);
    std::vector<std::string> warnings;
    auto jobs = reader.Load("dev-env", &warnings);
    REQUIRE_OK(jobs);
    REQUIRE(jobs->size() == 1);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::state
