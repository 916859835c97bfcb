// provisioner status|deploy|destroy|pause|resume|cancel|jobs|logs|report
// The CLI client of a running daemon's API (docs/api.md).
#include <map>
#include <memory>
#include <ostream>

#include "app/cli_client_json.h"
#include "app/cli_commands.h"
#include "app/progress_printer.h"
#include "app/report.h"
#include "base/strings.h"
#include "base/time_format.h"
#include "http/handlers_api.h"
#include "http/http_client.h"

namespace provisioner::app {
namespace {

struct ClientOptions {
  std::string server = "http://127.0.0.1:9090";
  std::string user;
  std::string password_file;
  std::string cacert;
  std::string cert;
  std::string key;
  bool json = false;
};

class ApiClient {
 public:
  ApiClient(CliEnv& env, const ClientOptions& opts) : env_(env), opts_(opts) {}

  // Reads the password file once; usage errors are reported by the caller.
  Status Init() {
    if (opts_.server.find("://") == std::string::npos) {
      return Status::InvalidArgument("--server: \"" + opts_.server +
                                     "\" is not a URL (e.g. http://127.0.0.1:9090)");
    }
    while (!opts_.server.empty() && opts_.server.back() == '/') opts_.server.pop_back();
    if (!opts_.password_file.empty()) {
      if (opts_.user.empty()) return Status::InvalidArgument("--password-file needs --user");
      auto text = env_.fs.ReadFile(opts_.password_file, 4096);
      if (!text.ok()) return text.status().WithContext("--password-file");
      password_ = std::string(Trim(*text));
    } else if (!opts_.user.empty()) {
      return Status::InvalidArgument(
          "--user needs --password-file (passwords never go on the "
          "command line, where ps shows them)");
    }
    if (opts_.cert.empty() != opts_.key.empty()) {
      return Status::InvalidArgument("--cert and --key go together");
    }
    return Status::Ok();
  }

  platform::HttpRequest Request(const std::string& path) const {
    platform::HttpRequest r;
    r.url = opts_.server + path;
    r.ca_file = opts_.cacert;
    r.cert_file = opts_.cert;
    r.key_file = opts_.key;
    r.user = opts_.user;
    r.password = password_;
    r.timeout = std::chrono::seconds(60);
    return r;
  }

  // The reply, or an error that says what the server said.
  Result<platform::HttpResponse> Call(bool post, const std::string& path, std::string body = "") {
    platform::HttpRequest r = Request(path);
    if (post) {
      r.body = body.empty() ? "{}" : std::move(body);
      r.content_type = "application/json";
    }
    auto res = post ? client_.Post(r) : client_.Get(r);
    if (!res.ok()) {
      return Status::Unavailable("cannot reach " + opts_.server,
                                 res.status().message() + " (is the daemon running?)");
    }
    if (res->status >= 400) {
      return Status::FailedPrecondition("server answered HTTP " + std::to_string(res->status) +
                                        ": " + ErrorText(res->body));
    }
    return res;
  }

  Status Stream(const std::string& path, const std::function<bool(std::string_view)>& on_body) {
    platform::HttpRequest r = Request(path);
    r.timeout = std::chrono::hours(24);  // a followed log lasts as long as the job
    r.on_body = on_body;
    auto res = client_.Get(r);
    if (!res.ok())
      return Status::Unavailable("cannot reach " + opts_.server, res.status().message());
    if (res->status >= 400) {
      return Status::FailedPrecondition("server answered HTTP " + std::to_string(res->status));
    }
    return Status::Ok();
  }

 private:
  CliEnv& env_;
  ClientOptions opts_;
  std::string password_;
  http::HttplibClient client_;
};

void AddClientOptions(CLI::App* cmd, ClientOptions* o, bool json) {
  cmd->add_option("--server", o->server, "Daemon URL")->capture_default_str();
  cmd->add_option("--user", o->user, "Basic auth user");
  cmd->add_option("--password-file", o->password_file, "File holding the basic auth password");
  cmd->add_option("--cacert", o->cacert, "CA bundle to verify the daemon's TLS certificate");
  cmd->add_option("--cert", o->cert, "Client certificate (mTLS)");
  cmd->add_option("--key", o->key, "Client key (mTLS)");
  if (json) cmd->add_flag("--json", o->json, "Print the API's JSON, for scripts");
}

// Prints rows as left-aligned columns separated by two spaces.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

// Exit codes: a server refusal of a bad request is the caller's input error
// (2); everything else that fails is 1.
int Fail(CliEnv& env, const Status& s) {
  env.err << "provisioner: " << s.message() << "\n";
  if (s.message().find("HTTP 400") != std::string::npos ||
      s.message().find("HTTP 404") != std::string::npos) {
    return kExitUsage;
  }
  return kExitFailure;
}

int Status_(CliEnv& env, const ClientOptions& opts, const std::string& name) {
  ApiClient api(env, opts);
  if (Status s = api.Init(); !s.ok()) return UsageError(env, s.message());
  auto res = api.Call(false, name.empty() ? "/api/v1/workspaces" : "/api/v1/workspaces/" + name);
  if (!res.ok()) return Fail(env, res.status());
  if (opts.json) {
    env.out << res->body << "\n";
    return kExitOk;
  }
  std::vector<WorkspaceRow> rows;
  if (name.empty()) {
    auto list = ParseWorkspaceList(res->body);
    if (!list.ok()) return Fail(env, list.status());
    rows = std::move(list).value();
  } else {
    auto one = ParseWorkspace(res->body);
    if (!one.ok()) return Fail(env, one.status());
    rows.push_back(std::move(one).value());
  }
  std::vector<std::vector<std::string>> table = {
      {"NAME", "STATUS", "ACTUAL", "DESIRED", "NEXT", "LAST JOB", "FLAGS"}};
  for (const WorkspaceRow& r : rows) {
    table.push_back({r.name, r.status, r.actual, r.desired, r.next, r.last_job, r.flags});
  }
  PrintTable(env.out, table);
  return kExitOk;
}

// Follows a job's log until it ends, then returns its outcome as an exit code.
int WaitForJob(CliEnv& env, ApiClient& api, const std::string& job_id) {
  ProgressPrinter printer(env.out, env.clock);
  // The daemon's last line when it stopped while we followed (without "# ").
  std::string stopping;
  auto on_line = [&](std::string_view line) {
    if (line.starts_with(http::kDaemonStoppingLine)) stopping = std::string(line.substr(2));
    printer.OnLogLine(line);
  };
  std::string partial;
  Status s = api.Stream("/api/v1/jobs/" + job_id + "/log?follow=1", [&](std::string_view chunk) {
    partial.append(chunk);
    size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      on_line(std::string_view(partial).substr(0, nl));
      partial.erase(0, nl + 1);
    }
    return true;
  });
  if (!s.ok()) return Fail(env, s);
  if (!partial.empty()) on_line(partial);
  if (!stopping.empty()) env.err << stopping << "\n";
  auto res = api.Call(false, "/api/v1/jobs/" + job_id);
  if (!res.ok()) {
    // The daemon may be gone already; the line above said why.
    if (!stopping.empty()) return kExitFailure;
    return Fail(env, res.status());
  }
  auto job = ParseJob(res->body);
  if (!job.ok()) return Fail(env, job.status());
  std::string summary =
      job->operation + " " + job->workspace + ": " +
      (job->result.empty() ? job->status : job->result) +
      StringPrintf(" (%d added, %d changed, %d destroyed)", job->add, job->change, job->remove);
  if (!job->error.empty()) summary += ": " + job->error;
  const bool ok = job->result == "succeeded" || job->result == "no_changes";
  (ok ? env.out : env.err) << summary << "\n";
  return ok ? kExitOk : kExitFailure;
}

struct ActionOptions {
  ClientOptions client;
  std::string name;
  std::string until;
  bool wait = false;
};

int Act(CliEnv& env, const ActionOptions& opts, const std::string& action) {
  ApiClient api(env, opts.client);
  if (Status s = api.Init(); !s.ok()) return UsageError(env, s.message());
  std::string body = "{}";
  if (!opts.until.empty()) {
    auto t = ParseRfc3339(opts.until);
    if (!t.ok()) return UsageError(env, "--until: " + t.status().message());
    body = "{\"until\":";
    AppendJsonString(&body, FormatUtc(*t));
    body += "}";
  }
  auto res = api.Call(true, "/api/v1/workspaces/" + opts.name + "/" + action, body);
  if (!res.ok()) return Fail(env, res.status());
  if (opts.client.json) {
    env.out << res->body << "\n";
  } else if (action == "deploy" || action == "destroy") {
    env.out << action << " of " << opts.name << " queued as job "
            << StringField(res->body, "job_id") << "\n";
  } else {
    env.out << opts.name << ": " << (action == "pause" ? "paused" : "resumed")
            << (opts.until.empty() ? "" : " until " + opts.until) << "\n";
  }
  if (opts.wait) {
    env.out.flush();  // the job id, before a follow that may last hours
    return WaitForJob(env, api, StringField(res->body, "job_id"));
  }
  return kExitOk;
}

struct JobsOptions {
  ClientOptions client;
  std::string workspace;
  std::string result;
  int limit = 20;
};

int Jobs(CliEnv& env, const JobsOptions& opts) {
  ApiClient api(env, opts.client);
  if (Status s = api.Init(); !s.ok()) return UsageError(env, s.message());
  std::string path = "/api/v1/jobs?limit=" + std::to_string(opts.limit);
  if (!opts.workspace.empty()) path += "&workspace=" + opts.workspace;
  if (!opts.result.empty()) path += "&result=" + opts.result;
  auto res = api.Call(false, path);
  if (!res.ok()) return Fail(env, res.status());
  if (opts.client.json) {
    env.out << res->body << "\n";
    return kExitOk;
  }
  std::optional<std::string> next;
  auto jobs = ParseJobList(res->body, &next);
  if (!jobs.ok()) return Fail(env, jobs.status());
  std::vector<std::vector<std::string>> table = {{"ID", "WORKSPACE", "OPERATION", "TRIGGER",
                                                  "RESULT", "STARTED", "CHANGES", "TRACE",
                                                  "ERROR"}};
  for (const JobRow& j : *jobs) {
    table.push_back({j.id, j.workspace, j.operation, j.trigger,
                     j.result.empty() ? j.status : j.result,
                     j.started_at.empty() ? "-" : j.started_at,
                     StringPrintf("+%d ~%d -%d", j.add, j.change, j.remove),
                     j.trace_id.empty() ? "-" : j.trace_id, j.error});
  }
  PrintTable(env.out, table);
  if (next) env.out << "(more: older jobs before " << *next << ")\n";
  return kExitOk;
}

struct ReportOptions {
  ClientOptions client;
  std::string since = "7d";
};

// A finished job of the API as the report reads it; an unreadable time is
// the server's fault and named.
Result<ReportJob> ToReportJob(const JobRow& j) {
  ReportJob r;
  r.id = j.id;
  r.workspace = j.workspace;
  r.operation = j.operation;
  r.result = j.result;
  auto finished = ParseRfc3339(j.finished_at);
  if (!finished.ok()) {
    return Status::InvalidArgument("job " + j.id + ": finished_at", finished.status().message());
  }
  r.finished_at = *finished;
  if (!j.started_at.empty()) {
    auto started = ParseRfc3339(j.started_at);
    if (!started.ok()) {
      return Status::InvalidArgument("job " + j.id + ": started_at", started.status().message());
    }
    r.started_at = *started;
  }
  return r;
}

int Report_(CliEnv& env, const ReportOptions& opts) {
  ApiClient api(env, opts.client);
  if (Status s = api.Init(); !s.ok()) return UsageError(env, s.message());
  const SystemTime now = env.clock.Now();
  auto since = ParseSince(opts.since, now);
  if (!since.ok()) return UsageError(env, since.status().message());

  auto listed = api.Call(false, "/api/v1/workspaces");
  if (!listed.ok()) return Fail(env, listed.status());
  auto rows = ParseWorkspaceList(listed->body);
  if (!rows.ok()) return Fail(env, rows.status());
  std::vector<ReportWorkspace> workspaces;
  for (const WorkspaceRow& w : *rows) {
    ReportWorkspace r{.name = w.name,
                      .deploy_scheduled = w.deploy_scheduled,
                      .destroyed_now = w.actual == "destroyed",
                      .cost_per_hour = w.cost_per_hour};
    if (r.destroyed_now && !w.actual_since.empty()) {
      auto t = ParseRfc3339(w.actual_since);
      if (!t.ok())
        return Fail(env, t.status().WithContext("workspace " + w.name + ": actual.since"));
      r.destroyed_since = *t;
    }
    workspaces.push_back(std::move(r));
  }

  // Newest first, a page at a time, until the jobs started before the window.
  std::vector<ReportJob> jobs;
  std::string before;
  for (bool older = false; !older;) {
    std::string path = "/api/v1/jobs?limit=1000";
    if (!before.empty()) path += "&before=" + before;
    auto res = api.Call(false, path);
    if (!res.ok()) return Fail(env, res.status());
    std::optional<std::string> next;
    auto page = ParseJobList(res->body, &next);
    if (!page.ok()) return Fail(env, page.status());
    for (const JobRow& row : *page) {
      if (row.status != "finished") continue;  // running or queued: no outcome yet
      auto job = ToReportJob(row);
      if (!job.ok()) return Fail(env, job.status());
      if (job->started_at.value_or(job->finished_at) < *since) {
        older = true;
        continue;
      }
      jobs.push_back(std::move(job).value());
    }
    if (!next) break;
    before = *next;
  }
  // The state at the window's start of each scheduled workspace with jobs in
  // the window: its last job before them (one small request each).
  std::map<std::string, std::string> oldest_in_window;
  for (const ReportJob& j : jobs) {
    std::string& id = oldest_in_window[j.workspace];
    if (id.empty() || j.id < id) id = j.id;
  }
  for (ReportWorkspace& w : workspaces) {
    auto it = oldest_in_window.find(w.name);
    if (!w.deploy_scheduled || it == oldest_in_window.end()) continue;
    auto res =
        api.Call(false, "/api/v1/jobs?limit=1&workspace=" + w.name + "&before=" + it->second);
    if (!res.ok()) return Fail(env, res.status());
    std::optional<std::string> ignored;
    auto page = ParseJobList(res->body, &ignored);
    if (!page.ok()) return Fail(env, page.status());
    if (page->empty() || (*page)[0].status != "finished") continue;
    auto job = ToReportJob((*page)[0]);
    if (!job.ok()) return Fail(env, job.status());
    w.before_window = std::move(job).value();
  }
  const Report report = BuildReport(std::move(jobs), workspaces, *since, now);
  if (opts.client.json) {
    env.out << ReportJson(report) << "\n";
  } else {
    PrintReport(env.out, report);
  }
  return kExitOk;
}

}  // namespace

void RegisterClientCommands(CLI::App& app, CliEnv& env, int* exit_code) {
  {
    auto* cmd = app.add_subcommand("status",
                                   "Workspaces of a running daemon: state, next action, last job");
    auto o = std::make_shared<std::pair<ClientOptions, std::string>>();
    cmd->add_option("NAME", o->second, "Only this workspace");
    AddClientOptions(cmd, &o->first, true);
    cmd->callback([&env, exit_code, o] { *exit_code = Status_(env, o->first, o->second); });
  }
  for (const char* action : {"deploy", "destroy"}) {
    auto* cmd = app.add_subcommand(action, std::string(action) == "deploy"
                                               ? "Deploy a workspace now (a manual action)"
                                               : "Destroy a workspace now (a manual action)");
    auto o = std::make_shared<ActionOptions>();
    cmd->add_option("NAME", o->name, "Workspace")->required();
    cmd->add_option("--until", o->until, "RFC 3339 time after which the schedule takes over again");
    cmd->add_flag("--wait", o->wait, "Follow the job's progress and exit with its result");
    AddClientOptions(cmd, &o->client, true);
    std::string a = action;
    cmd->callback([&env, exit_code, o, a] { *exit_code = Act(env, *o, a); });
  }
  {
    auto* cmd = app.add_subcommand("pause", "Suspend a workspace's scheduled actions");
    auto o = std::make_shared<ActionOptions>();
    cmd->add_option("NAME", o->name, "Workspace")->required();
    cmd->add_option("--until", o->until, "RFC 3339 time when the pause ends (default: never)");
    AddClientOptions(cmd, &o->client, true);
    cmd->callback([&env, exit_code, o] { *exit_code = Act(env, *o, "pause"); });
  }
  {
    auto* cmd = app.add_subcommand("resume", "End a pause");
    auto o = std::make_shared<ActionOptions>();
    cmd->add_option("NAME", o->name, "Workspace")->required();
    AddClientOptions(cmd, &o->client, true);
    cmd->callback([&env, exit_code, o] { *exit_code = Act(env, *o, "resume"); });
  }
  {
    auto* cmd = app.add_subcommand("cancel", "Cancel a queued or running job");
    auto o = std::make_shared<std::pair<ClientOptions, std::string>>();
    cmd->add_option("JOB_ID", o->second, "Job id")->required();
    AddClientOptions(cmd, &o->first, true);
    cmd->callback([&env, exit_code, o] {
      ApiClient api(env, o->first);
      if (Status s = api.Init(); !s.ok()) {
        *exit_code = UsageError(env, s.message());
        return;
      }
      auto res = api.Call(true, "/api/v1/jobs/" + o->second + "/cancel");
      if (!res.ok()) {
        *exit_code = Fail(env, res.status());
        return;
      }
      env.out << (o->first.json ? res->body : "cancel requested for job " + o->second) << "\n";
      *exit_code = kExitOk;
    });
  }
  {
    auto* cmd = app.add_subcommand("jobs", "Recent jobs, newest first");
    auto o = std::make_shared<JobsOptions>();
    cmd->add_option("--workspace", o->workspace, "Only this workspace");
    cmd->add_option("--result", o->result, "Only this result (succeeded, failed, ...)");
    cmd->add_option("--limit", o->limit, "How many")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    AddClientOptions(cmd, &o->client, true);
    cmd->callback([&env, exit_code, o] { *exit_code = Jobs(env, *o); });
  }
  {
    auto* cmd = app.add_subcommand(
        "report", "Deploys, failures, p95 duration and estimated savings per workspace");
    auto o = std::make_shared<ReportOptions>();
    cmd->add_option("--since", o->since,
                    "Window start: back from now (7d, 36h, 90m) or an RFC 3339 time")
        ->capture_default_str();
    AddClientOptions(cmd, &o->client, true);
    cmd->callback([&env, exit_code, o] { *exit_code = Report_(env, *o); });
  }
  {
    auto* cmd = app.add_subcommand("logs", "The combined tofu output of a job");
    auto o = std::make_shared<std::pair<ClientOptions, std::string>>();
    auto follow = std::make_shared<bool>(false);
    cmd->add_option("JOB_ID", o->second, "Job id")->required();
    cmd->add_flag("--follow,-f", *follow, "Keep printing until the job ends");
    AddClientOptions(cmd, &o->first, false);
    cmd->callback([&env, exit_code, o, follow] {
      ApiClient api(env, o->first);
      if (Status s = api.Init(); !s.ok()) {
        *exit_code = UsageError(env, s.message());
        return;
      }
      Status s = api.Stream("/api/v1/jobs/" + o->second + "/log" + (*follow ? "?follow=1" : ""),
                            [&env](std::string_view chunk) {
                              env.out << chunk;
                              env.out.flush();
                              return true;
                            });
      *exit_code = s.ok() ? kExitOk : Fail(env, s);
    });
  }
}

}  // namespace provisioner::app
