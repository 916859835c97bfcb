#include "http/handlers_api.h"

#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/time_format.h"
#include "platform/posix_file_system.h"
#include "state/state_json.h"
#include "support/faulty_file_system.h"
#include "support/test_util.h"

namespace provisioner::http {
namespace {

using scheduler::CommandResult;
using testing::TempDir;

SystemTime T(const char* s) { return *ParseRfc3339(s); }

state::JobRecord Job(const std::string& id, const char* result) {
  state::JobRecord j;
  j.id = id;
  j.workspace = scheduler::WorkspaceOfJobId(id);
  j.operation = state::Operation::kDeploy;
  j.trigger = state::Trigger::kSchedule;
  j.started_at = T("2026-11-24T07:00:01Z");
  if (result != nullptr) {
    j.finished_at = T("2026-11-24T07:02:00Z");
    j.result = *state::ParseJobResult(result);
  }
  j.changes = {3, 0, 0};
  return j;
}

// An API over a hand-built snapshot; commands are recorded and answered
// with `answer`.
struct Fixture {
  TempDir tmp;
  platform::PosixFileSystem fs;
  std::shared_ptr<scheduler::StatusSnapshot> snap = std::make_shared<scheduler::StatusSnapshot>();
  std::vector<scheduler::Command> posted;
  CommandResult answer;
  scheduler::ReloadReport reload_answer;
  Notification stopping;
  ApiContext ctx;

  Fixture() {
    ::mkdir(tmp.Join("jobs").c_str(), 0755);
    ctx.snapshot = [this] { return std::shared_ptr<const scheduler::StatusSnapshot>(snap); };
    ctx.post = [this](scheduler::Command c) {
      posted.push_back(c);
      std::promise<CommandResult> p;
      p.set_value(answer);
      return p.get_future();
    };
    ctx.reload = [this](const std::string&) { return reload_answer; };
    ctx.fs = &fs;
    ctx.state_dir = tmp.path();
    ctx.stopping = &stopping;
    ctx.follow_poll = std::chrono::milliseconds(1);
  }

  scheduler::WorkspaceView& AddWorkspace(const std::string& name) {
    auto v = std::make_shared<scheduler::WorkspaceView>();
    v->name = name;
    v->template_name = "t";
    v->timezone = "UTC";
    v->status = scheduler::WorkspaceStatus::kDeployed;
    v->actual = state::Actual::kDeployed;
    snap->workspaces.push_back(v);
    std::sort(snap->workspaces.begin(), snap->workspaces.end(),
              [](const auto& a, const auto& b) { return a->name < b->name; });
    return *v;
  }

  void WriteJournal(const std::string& ws, const std::vector<state::JobRecord>& jobs) {
    ::mkdir(tmp.Join("jobs/" + ws).c_str(), 0755);
    std::string text;
    for (const auto& j : jobs) text += state::JobToJsonLine(j) + "\n";
    testing::WriteFileOrDie(tmp.Join("jobs/" + ws + "/history.jsonl"), text);
  }
};

Request Req(std::map<std::string, std::string> params, std::string body = "",
            std::map<std::string, std::string> query = {}) {
  Request r;
  r.params = std::move(params);
  r.body = std::move(body);
  r.query = std::move(query);
  r.user = "alice";
  return r;
}

TEST_SUITE("http") {
  TEST_CASE("http: workspaces are listed and fetched from the snapshot") {
    Fixture f;
    f.AddWorkspace("b");
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    a.desired = scheduler::Action::kDestroy;
    a.desired_since = T("2026-11-23T18:00:00Z");
    a.labels = {{"team", "web"}};
    Response list = ListWorkspaces(f.ctx, Req({}));
    CHECK(list.status == 200);
    CHECK(list.body.find("\"workspaces\":[{\"name\":\"a\"") != std::string::npos);
    Response one = GetWorkspace(f.ctx, Req({{"name", "a"}}));
    CHECK(one.status == 200);
    CHECK(one.body.find("\"desired\":{\"state\":\"destroyed\",\"since\":\"2026-11-23T18:00:00Z\","
                        "\"source\":\"schedule\"}") != std::string::npos);
    CHECK(one.body.find("\"labels\":{\"team\":\"web\"}") != std::string::npos);
    Response missing = GetWorkspace(f.ctx, Req({{"name", "zzz"}}));
    CHECK(missing.status == 404);
    CHECK(missing.body ==
          "{\"error\":{\"code\":\"not_found\",\"message\":\"no workspace \\\"zzz\\\"\"}}");
  }

  TEST_CASE("http: deploy posts a manual command with until and replies 202 with the job id") {
    Fixture f;
    f.AddWorkspace("w");
    f.answer.job_id = "20261124T070000Z-abcdef-w";
    Response r =
        DeployWorkspace(f.ctx, Req({{"name", "w"}}, R"({"until": "2026-11-24T22:00:00+01:00"})"));
    CHECK(r.status == 202);
    CHECK(
        r.body ==
        R"({"job_id":"20261124T070000Z-abcdef-w","workspace":"w","operation":"deploy","until":"2026-11-24T21:00:00Z"})");
    REQUIRE(f.posted.size() == 1);
    auto& cmd = std::get<scheduler::ManualCommand>(f.posted[0]);
    CHECK(cmd.workspace == "w");
    CHECK(cmd.operation == state::Operation::kDeploy);
    CHECK(cmd.until == T("2026-11-24T21:00:00Z"));
    CHECK(cmd.user == "alice");
    // An empty body is fine too.
    CHECK(DestroyWorkspace(f.ctx, Req({{"name", "w"}}, "")).status == 202);
  }

  TEST_CASE("http: bad bodies are 400 with the problem named") {
    Fixture f;
    f.AddWorkspace("w");
    struct Case {
      const char* body;
      const char* message;
    };
    const Case cases[] = {
        {"{", "body: not valid JSON"},
        {"[]", "body: expected a JSON object"},
        {R"({"untill": "x"})", "body: unknown field \"untill\" (allowed: until)"},
        {R"({"until": 5})", "body: \"until\" must be an RFC 3339 time string"},
        {R"({"until": "tomorrow"})", "body: \"until\": time \"tomorrow\": bad year"},
        {R"({"until": {"a": {"b": {"c": {"d": 1}}}}})", "body: nested too deeply"},
    };
    for (const Case& c : cases) {
      CAPTURE(std::string(c.body));
      Response r = DeployWorkspace(f.ctx, Req({{"name", "w"}}, c.body));
      CHECK(r.status == 400);
      auto body = nlohmann::json::parse(r.body, nullptr, false);
      REQUIRE(body.is_object());
      CHECK(body["error"]["code"] == "bad_request");
      CHECK(body["error"]["message"].get<std::string>().find(c.message) != std::string::npos);
    }
    CHECK(f.posted.empty());
  }

  TEST_CASE("http: scheduler errors map to HTTP statuses") {
    Fixture f;
    f.AddWorkspace("w");
    f.answer.status = Status::NotFound("no workspace \"x\"");
    CHECK(DeployWorkspace(f.ctx, Req({{"name", "x"}})).status == 404);
    f.answer.status = Status::FailedPrecondition("job j already finished");
    Response conflict = CancelJob(f.ctx, Req({{"id", "j"}}));
    CHECK(conflict.status == 409);
    CHECK(conflict.body.find("\"code\":\"conflict\"") != std::string::npos);
    f.answer.status = Status::Unavailable("the daemon is shutting down");
    CHECK(PauseWorkspace(f.ctx, Req({{"name", "w"}})).status == 503);
    f.answer.status = Status::InvalidArgument("until ... is in the past");
    CHECK(PauseWorkspace(f.ctx, Req({{"name", "w"}})).status == 400);
    CHECK(CancelJob(f.ctx, Req({{"id", "../etc"}})).status == 404);
  }

  TEST_CASE("http: pause and resume") {
    Fixture f;
    f.AddWorkspace("w");
    Response p = PauseWorkspace(f.ctx, Req({{"name", "w"}}, R"({"until":"2026-11-25T00:00:00Z"})"));
    CHECK(p.status == 200);
    CHECK(p.body == R"({"workspace":"w","paused":true,"until":"2026-11-25T00:00:00Z"})");
    CHECK(std::get<scheduler::PauseCommand>(f.posted[0]).until == T("2026-11-25T00:00:00Z"));
    Response r = ResumeWorkspace(f.ctx, Req({{"name", "w"}}));
    CHECK(r.status == 200);
    CHECK(r.body == R"({"workspace":"w","paused":false})");
    CHECK(ResumeWorkspace(f.ctx, Req({{"name", "w"}}, R"({"until":"2026-11-25T00:00:00Z"})"))
              .status == 400);
  }

  TEST_CASE("http: jobs are listed newest first with filters and paging") {
    Fixture f;
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    f.AddWorkspace("b");
    a.running = Job("20261124T090000Z-000003-a", nullptr);
    f.WriteJournal("a", {Job("20261124T070000Z-000001-a", "succeeded"),
                         Job("20261124T080000Z-000002-a", "failed")});
    f.WriteJournal("b", {Job("20261124T073000Z-000004-b", "succeeded")});
    Response all = ListJobs(f.ctx, Req({}, "", {}));
    REQUIRE(all.status == 200);
    size_t p3 = all.body.find("000003-a"), p2 = all.body.find("000002-a"),
           p4 = all.body.find("000004-b"), p1 = all.body.find("000001-a");
    CHECK(p3 < p2);
    CHECK(p2 < p4);
    CHECK(p4 < p1);
    CHECK(all.body.find("\"status\":\"running\"") != std::string::npos);

    Response page = ListJobs(f.ctx, Req({}, "", {{"limit", "2"}}));
    CHECK(page.body.find("\"next_before\":\"20261124T080000Z-000002-a\"") != std::string::npos);
    Response next =
        ListJobs(f.ctx, Req({}, "", {{"limit", "2"}, {"before", "20261124T080000Z-000002-a"}}));
    CHECK(next.body.find("000004-b") != std::string::npos);
    CHECK(next.body.find("000001-a") != std::string::npos);
    CHECK(next.body.find("000002-a") == std::string::npos);
    CHECK(next.body.find("\"next_before\":null") != std::string::npos);

    Response failed = ListJobs(f.ctx, Req({}, "", {{"workspace", "a"}, {"result", "failed"}}));
    CHECK(failed.body.find("000002-a") != std::string::npos);
    CHECK(failed.body.find("000001-a") == std::string::npos);

    CHECK(ListJobs(f.ctx, Req({}, "", {{"limit", "0"}})).status == 400);
    CHECK(ListJobs(f.ctx, Req({}, "", {{"limit", "abc"}})).status == 400);
    CHECK(ListJobs(f.ctx, Req({}, "", {{"result", "meh"}})).status == 400);
    CHECK(ListJobs(f.ctx, Req({}, "", {{"workspace", "nope"}})).status == 404);
    Response unknown = ListJobs(f.ctx, Req({}, "", {{"sort", "asc"}}));
    CHECK(unknown.status == 400);
    CHECK(unknown.body.find("unknown query parameter \\\"sort\\\"") != std::string::npos);
  }

  TEST_CASE("http: a job is found live or in its workspace journal") {
    Fixture f;
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    a.queued = Job("20261124T100000Z-000009-a", nullptr);
    f.WriteJournal("a", {Job("20261124T070000Z-000001-a", "no_changes")});
    Response queued = GetJob(f.ctx, Req({{"id", "20261124T100000Z-000009-a"}}));
    CHECK(queued.status == 200);
    CHECK(queued.body.find("\"status\":\"queued\"") != std::string::npos);
    Response done = GetJob(f.ctx, Req({{"id", "20261124T070000Z-000001-a"}}));
    CHECK(done.status == 200);
    CHECK(done.body.find("\"result\":\"no_changes\"") != std::string::npos);
    CHECK(done.body.find("\"log\":\"/api/v1/jobs/20261124T070000Z-000001-a/log\"") !=
          std::string::npos);
    CHECK(GetJob(f.ctx, Req({{"id", "20261124T070000Z-999999-a"}})).status == 404);
    CHECK(GetJob(f.ctx, Req({{"id", "nonsense"}})).status == 404);
  }

  TEST_CASE("http: a finished job missing from its journal (a full disk) is still found") {
    // Given a workspace whose last job finished while its journal line could
    // not be written (the disk was full), When it is asked for, alone or in
    // a list, Then it comes from the state's last job, once.
    Fixture f;
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    f.WriteJournal("a", {Job("20261124T070000Z-000001-a", "succeeded")});
    a.last_job = Job("20261124T080000Z-000002-a", "succeeded");
    Response done = GetJob(f.ctx, Req({{"id", "20261124T080000Z-000002-a"}}));
    CHECK(done.status == 200);
    CHECK(done.body.find("\"status\":\"finished\"") != std::string::npos);
    CHECK(done.body.find("\"result\":\"succeeded\"") != std::string::npos);
    auto ids = [&] {
      Response list = ListJobs(f.ctx, Req({}, "", {{"workspace", "a"}}));
      REQUIRE(list.status == 200);
      const nlohmann::json reply = nlohmann::json::parse(list.body);
      std::vector<std::string> out;
      for (const auto& j : reply["jobs"]) {
        out.push_back(j["id"].get<std::string>());
      }
      return out;
    };
    CHECK(ids() ==
          std::vector<std::string>{"20261124T080000Z-000002-a", "20261124T070000Z-000001-a"});
    // A last job that is in the journal is listed once.
    a.last_job = Job("20261124T070000Z-000001-a", "succeeded");
    CHECK(ids() == std::vector<std::string>{"20261124T070000Z-000001-a"});
  }

  TEST_CASE("http: job logs are served whole, or followed until the job ends") {
    Fixture f;
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    const std::string id = "20261124T070000Z-000001-a";
    ::mkdir(f.tmp.Join("jobs/a").c_str(), 0755);
    testing::WriteFileOrDie(f.tmp.Join("jobs/a/" + id + ".log"), "line 1\n");
    Response whole = GetJobLog(f.ctx, Req({{"id", id}}));
    CHECK(whole.status == 200);
    CHECK(whole.content_type == "text/plain; charset=utf-8");
    CHECK(whole.body == "line 1\n");
    CHECK(GetJobLog(f.ctx, Req({{"id", "20261124T070000Z-000002-a"}})).status == 404);
    CHECK(GetJobLog(f.ctx, Req({{"id", "x/../../etc"}})).status == 404);

    // Following: the job runs, the log grows, then the job ends.
    a.running = Job(id, nullptr);
    Response follow = GetJobLog(f.ctx, Req({{"id", id}}, "", {{"follow", "1"}}));
    REQUIRE(follow.stream);
    std::string chunk;
    REQUIRE(follow.stream(&chunk));
    CHECK(chunk == "line 1\n");
    testing::WriteFileOrDie(f.tmp.Join("jobs/a/" + id + ".log"), "line 1\nline 2\n");
    chunk.clear();
    REQUIRE(follow.stream(&chunk));
    CHECK(chunk == "line 2\n");
    // The job finishes: a new snapshot without it; the stream drains and ends.
    auto next = std::make_shared<scheduler::StatusSnapshot>(*f.snap);
    auto view = std::make_shared<scheduler::WorkspaceView>(a);
    view->running.reset();
    next->workspaces = {view};
    f.snap = next;
    testing::WriteFileOrDie(f.tmp.Join("jobs/a/" + id + ".log"), "line 1\nline 2\ndone\n");
    chunk.clear();
    REQUIRE(follow.stream(&chunk));
    CHECK(chunk == "done\n");
    chunk.clear();
    CHECK_FALSE(follow.stream(&chunk));
    CHECK(GetJobLog(f.ctx, Req({{"id", id}}, "", {{"follow", "maybe"}})).status == 400);
  }

  TEST_CASE(
      "http: HA: a log this node does not have is read from the shared logs, followed until its "
      "final chunk or until its job is no longer live") {
    // In memory, as pv_job_logs holds them.
    struct MemoryLogs final : SharedJobs {
      std::mutex mu;
      std::map<std::string, std::vector<Chunk>> chunks;
      std::map<std::string, bool> live;
      int reads = 0;
      int late_reads = 0;
      void Add(const std::string& id, std::string bytes, bool final = false) {
        std::lock_guard<std::mutex> lock(mu);
        auto& v = chunks[id];
        v.push_back({static_cast<int64_t>(v.size()), std::move(bytes), final});
      }
      // A job whose chunk 0 appears at the third read of it.
      std::string late;
      Result<std::vector<Chunk>> Read(const std::string& id, int64_t from, int limit) override {
        std::lock_guard<std::mutex> lock(mu);
        ++reads;
        if (id == late && ++late_reads == 3) chunks[id].push_back({0, "", false});
        std::vector<Chunk> out;
        for (const Chunk& c : chunks[id]) {
          if (c.seq >= from && static_cast<int>(out.size()) < limit) out.push_back(c);
        }
        return out;
      }
      Result<bool> Live(const std::string& id) override {
        std::lock_guard<std::mutex> lock(mu);
        return live[id];
      }
      Result<std::vector<state::JobRecord>> History(const std::string&) override {
        return std::vector<state::JobRecord>{};
      }
    };
    Fixture f;
    MemoryLogs logs;
    f.ctx.shared_jobs = &logs;
    auto drain = [](Response& r) {
      std::string all;
      std::string chunk;
      for (int i = 0; i < 100; ++i) {
        chunk.clear();
        const bool more = r.stream(&chunk);
        all += chunk;
        if (!more) return all;
      }
      return all + "<no end>";
    };

    const std::string done = "20261124T070000Z-000001-a";
    logs.Add(done, "");
    logs.Add(done, "line 1\n");
    logs.Add(done, "line 2\n");
    logs.Add(done, "", true);
    Response whole = GetJobLog(f.ctx, Req({{"id", done}}));
    CHECK(whole.status == 200);
    CHECK(whole.content_type == "text/plain; charset=utf-8");
    REQUIRE(whole.stream);
    CHECK(drain(whole) == "line 1\nline 2\n");
    // Unknown everywhere: 404 at once without follow.
    const int before = logs.reads;
    CHECK(GetJobLog(f.ctx, Req({{"id", "20261124T070000Z-000009-a"}})).status == 404);
    CHECK(logs.reads == before + 1);

    // A job running on another node: followed as it grows, to its final chunk.
    const std::string running = "20261124T070000Z-000002-a";
    logs.Add(running, "");
    logs.Add(running, "start\n");
    logs.live[running] = true;
    Response follow = GetJobLog(f.ctx, Req({{"id", running}}, "", {{"follow", "1"}}));
    REQUIRE(follow.stream);
    std::string chunk;
    REQUIRE(follow.stream(&chunk));
    CHECK(chunk == "start\n");
    std::thread writer([&] {
      logs.Add(running, "more\n");
      logs.Add(running, "", true);
    });
    chunk.clear();
    std::string rest;
    while (follow.stream(&chunk)) {
      rest += chunk;
      chunk.clear();
    }
    rest += chunk;
    writer.join();
    CHECK(rest == "more\n");

    // A job whose node died: no final chunk, and it is not live: the stream
    // ends with what there is.
    const std::string orphan = "20261124T070000Z-000003-a";
    logs.Add(orphan, "");
    logs.Add(orphan, "half\n");
    Response cut = GetJobLog(f.ctx, Req({{"id", orphan}}, "", {{"follow", "1"}}));
    REQUIRE(cut.stream);
    CHECK(drain(cut) == "half\n");

    // Following a job whose log is not there yet waits for its chunk 0.
    logs.late = "20261124T070000Z-000004-a";
    Response waited = GetJobLog(f.ctx, Req({{"id", logs.late}}, "", {{"follow", "1"}}));
    CHECK(waited.status == 200);
    CHECK(logs.late_reads >= 3);

    // A local log still wins over the shared one.
    ::mkdir(f.tmp.Join("jobs/a").c_str(), 0755);
    testing::WriteFileOrDie(f.tmp.Join("jobs/a/" + done + ".log"), "local\n");
    CHECK(GetJobLog(f.ctx, Req({{"id", done}})).body == "local\n");
  }

  TEST_CASE("http: HA: job history is the shared journal, or this node's own without it") {
    struct MemoryHistory final : SharedJobs {
      Result<std::vector<state::JobRecord>> records = std::vector<state::JobRecord>{};
      Result<std::vector<Chunk>> Read(const std::string&, int64_t, int) override {
        return std::vector<Chunk>{};
      }
      Result<bool> Live(const std::string&) override { return false; }
      Result<std::vector<state::JobRecord>> History(const std::string&) override { return records; }
    };
    Fixture f;
    MemoryHistory shared;
    f.ctx.shared_jobs = &shared;
    f.AddWorkspace("a");
    // This node ran one job; an earlier leader ran two.
    f.WriteJournal("a", {Job("20261124T090000Z-000003-a", "succeeded")});
    shared.records = std::vector<state::JobRecord>{Job("20261124T070000Z-000001-a", "failed"),
                                                   Job("20261124T080000Z-000002-a", "succeeded")};
    auto ids = [&] {
      Response r = ListJobs(f.ctx, Req({}, "", {{"workspace", "a"}}));
      REQUIRE(r.status == 200);
      std::string out;
      const nlohmann::json list = nlohmann::json::parse(r.body);
      for (const auto& j : list["jobs"]) {
        out += j["id"].get<std::string>().substr(17, 6) + " ";
      }
      return out;
    };
    CHECK(ids() == "000002 000001 ");
    CHECK(GetJob(f.ctx, Req({{"id", "20261124T070000Z-000001-a"}})).status == 200);
    CHECK(GetJob(f.ctx, Req({{"id", "20261124T090000Z-000003-a"}})).status == 404);
    // The database away: this node's journal.
    shared.records = Status::Unavailable("postgresql: connection lost");
    CHECK(ids() == "000003 ");
  }

  TEST_CASE("http: a log over 64 MiB is served whole, in pieces") {
    // Given a finished job whose log is 65 MiB (sparse, with a marker at the end),
    Fixture f;
    f.AddWorkspace("a");
    const std::string id = "20261124T070000Z-000001-a";
    ::mkdir(f.tmp.Join("jobs/a").c_str(), 0755);
    const std::string path = f.tmp.Join("jobs/a/" + id + ".log");
    constexpr uint64_t kSize = 65ull << 20;
    testing::WriteFileOrDie(path, "");
    REQUIRE(::truncate(path.c_str(), static_cast<off_t>(kSize - 4)) == 0);
    REQUIRE_OK(f.fs.AppendFile(path, "end\n", false));
    // when it is fetched without follow,
    Response r = GetJobLog(f.ctx, Req({{"id", id}}));
    // then it is a 200 whose stream yields every byte, in bounded pieces.
    REQUIRE(r.status == 200);
    REQUIRE(r.stream);
    uint64_t total = 0;
    size_t largest = 0;
    std::string last;
    bool more = true;
    while (more) {
      std::string chunk;
      more = r.stream(&chunk);
      total += chunk.size();
      largest = std::max(largest, chunk.size());
      if (!chunk.empty()) last = chunk;
    }
    CHECK(total == kSize);
    CHECK(largest <= (1u << 20));
    CHECK(last.ends_with("end\n"));
  }

  TEST_CASE("http: a followed log is read from where the last piece ended, never whole") {
    // Given a follower of a running job whose log grows twice,
    Fixture f;
    testing::FaultyFileSystem recording(f.fs);
    f.ctx.fs = &recording;
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    const std::string id = "20261124T070000Z-000001-a";
    const std::string path = f.tmp.Join("jobs/a/" + id + ".log");
    ::mkdir(f.tmp.Join("jobs/a").c_str(), 0755);
    testing::WriteFileOrDie(path, "line 1\n");
    a.running = Job(id, nullptr);
    Response follow = GetJobLog(f.ctx, Req({{"id", id}}, "", {{"follow", "1"}}));
    REQUIRE(follow.stream);
    std::string all;
    for (const char* more : {"line 2\n", "line 3\n"}) {
      std::string chunk;
      REQUIRE(follow.stream(&chunk));
      all += chunk;
      REQUIRE_OK(f.fs.AppendFile(path, more, false));
    }
    std::string chunk;
    REQUIRE(follow.stream(&chunk));
    all += chunk;
    // then every byte arrived once, and each read was a ranged one (the
    // old handler re-read the whole file, up to 64 MiB, at each growth).
    CHECK(all == "line 1\nline 2\nline 3\n");
    const std::vector<std::string> calls = recording.calls();
    for (const std::string& call : calls) {
      CAPTURE(call);
      CHECK_FALSE(call.starts_with("read " + id));
    }
    CHECK(std::count(calls.begin(), calls.end(), "read-from " + id + ".log") == 3);
  }

  TEST_CASE("http: a followed log ends with a last line when the daemon stops") {
    // Given a follower of a running job,
    Fixture f;
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    const std::string id = "20261124T070000Z-000001-a";
    ::mkdir(f.tmp.Join("jobs/a").c_str(), 0755);
    testing::WriteFileOrDie(f.tmp.Join("jobs/a/" + id + ".log"), "line 1\n");
    a.running = Job(id, nullptr);
    f.ctx.follow_poll = std::chrono::hours(1);  // only the stop can end the wait
    Response follow = GetJobLog(f.ctx, Req({{"id", id}}, "", {{"follow", "1"}}));
    REQUIRE(follow.stream);
    std::string chunk;
    REQUIRE(follow.stream(&chunk));
    CHECK(chunk == "line 1\n");
    // when the daemon stops while the job still runs (another thread, as
    // the daemon does; the stream is blocked in its wait meanwhile),
    std::thread stopper([&f] { f.stopping.Notify(); });
    chunk.clear();
    const bool more = follow.stream(&chunk);
    stopper.join();
    // then the stream ends at once with the reason.
    CHECK_FALSE(more);
    CHECK(chunk == std::string(kDaemonStoppingLine) + "; job " + id +
                       " did not finish (it is reconciled again at the next start)\n");
  }

  TEST_CASE("http: a followed queued job that the shutdown cancelled says so and ends") {
    // Given a follower of a queued job (no log yet),
    Fixture f;
    scheduler::WorkspaceView& a = f.AddWorkspace("a");
    const std::string id = "20261124T070000Z-000001-a";
    a.queued = Job(id, nullptr);
    Response follow = GetJobLog(f.ctx, Req({{"id", id}}, "", {{"follow", "1"}}));
    REQUIRE(follow.stream);
    // when the shutdown cancels it (the snapshot says so),
    auto next = std::make_shared<scheduler::StatusSnapshot>(*f.snap);
    auto view = std::make_shared<scheduler::WorkspaceView>(a);
    view->queued.reset();
    view->last_job = Job(id, "cancelled");
    view->last_job->error = "cancelled before it started: the daemon is shutting down";
    next->workspaces = {view};
    next->shutting_down = true;
    f.snap = next;
    // then the stream ends with a line that names the outcome.
    std::string chunk;
    CHECK_FALSE(follow.stream(&chunk));
    CHECK(chunk == std::string(kDaemonStoppingLine) + "; job " + id +
                       " ended cancelled: cancelled before it started: the daemon is shutting "
                       "down\n");
  }

  TEST_CASE("http: reload reports the diff, or 409 with every error") {
    Fixture f;
    f.reload_answer.ok = true;
    f.reload_answer.diff.added = {"c"};
    Response ok = Reload(f.ctx, Req({}));
    CHECK(ok.status == 200);
    CHECK(ok.body.find("\"added\":[\"c\"]") != std::string::npos);
    CHECK(ok.body.find("\"summary\":\"1 added (c)\"") != std::string::npos);
    f.reload_answer = {};
    f.reload_answer.errors = {"config.yaml:3:5: workspaces[0].name: bad", "config.yaml:9:1: x"};
    Response bad = Reload(f.ctx, Req({}));
    CHECK(bad.status == 409);
    CHECK(bad.body.find("\"code\":\"invalid_config\"") != std::string::npos);
    CHECK(
        bad.body.find(
            "\"details\":[\"config.yaml:3:5: workspaces[0].name: bad\",\"config.yaml:9:1: x\"]") !=
        std::string::npos);
  }

}  // TEST_SUITE

}  // namespace
}  // namespace provisioner::http
