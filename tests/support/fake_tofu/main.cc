// fake_tofu entry point: global options, TF_CLI_ARGS, the invocation log and
// command dispatch (cmd/tofu/main.go, reference §1.2, §3 and §7).
#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "fake_tofu.h"

extern char** environ;

namespace fake_tofu {
namespace {

struct CommandEntry {
  const char* name;
  int (*run)(Context&);
};

constexpr CommandEntry kCommands[] = {
    {"version", RunVersion}, {"init", RunInit},     {"plan", RunPlan}, {"apply", RunApply},
    {"destroy", RunDestroy}, {"output", RunOutput}, {"show", RunShow},
};

constexpr std::string_view kUsage =
    "Usage: tofu [global options] <subcommand> [args]\n\n"
    "The available commands for execution are listed below.\n"
    "The primary workflow commands are given first, followed by\n"
    "less common or more advanced commands.\n\n"
    "Main commands:\n"
    "  init          Prepare your working directory for other commands\n"
    "  plan          Show changes required by the current configuration\n"
    "  apply         Create or update infrastructure\n"
    "  destroy       Destroy previously-created infrastructure\n\n"
    "All other commands:\n"
    "  output        Show output values from your root module\n"
    "  show          Show the current state or a saved plan\n"
    "  version       Show the current OpenTofu version\n\n"
    "Global options (use these before the subcommand, if any):\n"
    "  -chdir=DIR    Switch to a different working directory before executing "
    "the\n"
    "                given subcommand.\n"
    "  -help         Show this help output, or the help for a specified "
    "subcommand.\n"
    "  -version      An alias for the \"version\" subcommand.\n";

std::string Env(const char* name) {
  const char* value = getenv(name);
  return value == nullptr ? "" : value;
}

std::string Absolute(const std::string& path, const std::string& base) {
  if (path.empty() || path[0] == '/') return path;
  return base + "/" + path;
}

// go-shellwords, as tofu uses it for TF_CLI_ARGS: blanks split, single and
// double quotes group, backslash escapes. False on an unterminated quote.
bool ShellSplit(const std::string& text, std::vector<std::string>* out) {
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < text.size()) {
        word.push_back(text[++i]);
      } else {
        word.push_back(c);
      }
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word.push_back(text[++i]);
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out->push_back(word);
      word.clear();
      in_word = false;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (quote != 0) return false;
  if (in_word) out->push_back(word);
  return true;
}

// TF_*, AWS_*, TRACEPARENT, OTEL_*, plus FAKE_TOFU_RECORD_ENV's names
// (comma or blank separated; a trailing '*' matches a prefix).
bool Recorded(std::string_view name, const std::vector<std::string>& extra) {
  if (name.rfind("TF_", 0) == 0 || name.rfind("AWS_", 0) == 0 || name.rfind("OTEL_", 0) == 0 ||
      name == "TRACEPARENT") {
    return true;
  }
  for (const std::string& e : extra) {
    if (!e.empty() && e.back() == '*') {
      if (name.rfind(std::string_view(e).substr(0, e.size() - 1), 0) == 0) return true;
    } else if (name == e) {
      return true;
    }
  }
  return false;
}

Json RecordedEnv() {
  std::vector<std::string> extra;
  std::string list = Env("FAKE_TOFU_RECORD_ENV");
  for (char& c : list) {
    if (c == ',') c = ' ';
  }
  ShellSplit(list, &extra);
  Json env = Json::object();
  std::map<std::string, std::string> sorted;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry = *e;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(entry.substr(0, eq));
    if (Recorded(name, extra)) sorted[name] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [k, v] : sorted) env[k] = v;
  return env;
}

std::string Cwd() {
  char buf[PATH_MAX];
  return getcwd(buf, sizeof(buf)) != nullptr ? buf : "";
}

int Main(int argc, char** argv) {
  std::vector<std::string> raw(argv + 1, argv + argc);
  if (!raw.empty() && raw[0] == "__hold-lock") {
    return RunHoldLock(std::vector<std::string>(raw.begin() + 1, raw.end()));
  }
  InstallSignalHandlers();
  BeginCommandSpan();  // tofu starts its root span before parsing arguments
  const std::string start_dir = Cwd();
  Invocation& inv = CurrentInvocation();
  inv.log_path = Absolute(Env("FAKE_TOFU_LOG"), start_dir);
  const std::string control = Absolute(Env("FAKE_TOFU_CONTROL"), start_dir);

  // Global options come before the subcommand (cmd/tofu/main.go).
  // Errors before the command runs still leave a start and an exit record.
  auto early_exit = [&](const std::string& message) {
    Err(message);
    Json record;
    record["event"] = "start";
    record["pid"] = getpid();
    record["argv"] = raw;
    record["error"] = message;
    AppendLogRecord(record);
    Exit(1);
  };

  std::string chdir_to;
  bool help = false;
  bool no_color = false;
  size_t i = 0;
  for (; i < raw.size() && !raw[i].empty() && raw[i][0] == '-'; ++i) {
    const std::string& a = raw[i];
    if (a.rfind("-chdir=", 0) == 0 || a.rfind("--chdir=", 0) == 0) {
      chdir_to = a.substr(a.find('=') + 1);
    } else if (a == "-chdir" || a == "--chdir") {
      early_exit(
          "Invalid -chdir option: must include an equals sign followed by a "
          "directory path, like -chdir=example\n");
    } else if (a == "-help" || a == "-h" || a == "--help") {
      help = true;
    } else if (a == "-no-color") {
      no_color = true;  // handed on to the command below
    }
  }
  std::string command = i < raw.size() ? raw[i] : "";
  std::vector<std::string> rest;
  if (i < raw.size()) rest.assign(raw.begin() + static_cast<long>(i) + 1, raw.end());
  // -v/-version/--version anywhere means the version command, which then
  // sees every other argument (for -json).
  auto is_version = [](const std::string& a) {
    return a == "-v" || a == "-version" || a == "--version";
  };
  if (std::any_of(raw.begin(), raw.end(), is_version)) {
    rest.clear();
    for (const std::string& a : raw) {
      if (!is_version(a) && a != "version" && a.rfind("-chdir=", 0) != 0 &&
          a.rfind("--chdir=", 0) != 0) {
        rest.push_back(a);
      }
    }
    command = "version";
    help = false;
  }
  if (no_color && command != "version") rest.insert(rest.begin(), "-no-color");
  if (!chdir_to.empty() && chdir(chdir_to.c_str()) != 0) {
    early_exit("Error handling -chdir option: chdir " + chdir_to + ": " + std::strerror(errno) +
               "\n");
  }

  // TF_CLI_ARGS_<cmd> then TF_CLI_ARGS, both right after the subcommand word.
  std::vector<std::string> args;
  for (const std::string& name : {"TF_CLI_ARGS_" + command, std::string("TF_CLI_ARGS")}) {
    if (command.empty()) break;
    std::vector<std::string> extra;
    if (!ShellSplit(Env(name.c_str()), &extra)) {
      early_exit("Error parsing extra CLI args from " + name + ": invalid command line string\n");
    }
    args.insert(args.end(), extra.begin(), extra.end());
  }
  args.insert(args.end(), rest.begin(), rest.end());

  Context ctx;
  ctx.command = command;
  ctx.args = args;
  ctx.data_dir = Env("TF_DATA_DIR").empty() ? ".terraform" : Env("TF_DATA_DIR");
  ctx.workspace = Env("TF_WORKSPACE");
  if (ctx.workspace.empty()) {
    std::string saved = ReadFile(ctx.data_dir + "/environment").value_or("");
    while (!saved.empty() && (saved.back() == '\n' || saved.back() == ' ')) saved.pop_back();
    ctx.workspace = saved.empty() ? "default" : saved;
  }
  ctx.in_automation = !Env("TF_IN_AUTOMATION").empty();
  if (!Env("TF_INPUT").empty()) ctx.tf_input = ParseGoBool(Env("TF_INPUT"));

  ResolvedOptions resolved =
      ResolveOptions(command, control, Env("FAKE_TOFU_SCENARIO"), Env("FAKE_TOFU_TIME_SCALE"));
  ctx.options = resolved.options;
  inv.command = command;
  inv.scenario = resolved.options.scenario;
  inv.step = resolved.step;
  inv.version = resolved.options.version;

  Json record;
  record["event"] = "start";
  record["pid"] = getpid();
  record["ppid"] = getppid();
  record["argv"] = raw;  // exactly as received, without argv[0]
  Json effective = Json::array({command});
  for (const std::string& a : args) effective.push_back(a);
  record["args"] = effective;  // -chdir and -v handled, TF_CLI_ARGS* merged
  record["command"] = command;
  record["chdir"] = chdir_to;
  record["cwd"] = Cwd();
  record["env"] = RecordedEnv();
  record["scenario"] = inv.scenario;
  record["step"] = inv.step;
  record["time"] = Rfc3339Nano(std::chrono::system_clock::now());
  if (!resolved.error.empty()) record["error"] = resolved.error;
  AppendLogRecord(record);

  if (!resolved.error.empty()) {
    Err("fake_tofu: " + resolved.error + "\n");
    Exit(kExitFakeMisconfigured);
  }
  WriteTfLogIfEnabled(ctx, raw);
  if (help || command.empty()) {
    Out(kUsage);
    Exit(help ? 0 : 127);  // mitchellh/cli: no subcommand prints help, 127
  }
  for (const CommandEntry& entry : kCommands) {
    if (command == entry.name) Exit(entry.run(ctx));
  }
  Err("OpenTofu has no command named \"" + command +
      "\".\n\nTo see all of OpenTofu's top-level commands, run:\n  tofu "
      "-help\n\n");
  Exit(1);
}

}  // namespace
}  // namespace fake_tofu

int main(int argc, char** argv) {
  // The fake is test tooling: a bug that throws should be loud, not silent.
  try {
    return fake_tofu::Main(argc, argv);
  } catch (const std::exception& e) {
    fake_tofu::Err(std::string("fake_tofu: internal error: ") + e.what() + "\n");
    return fake_tofu::kExitFakeMisconfigured;
  }
}
