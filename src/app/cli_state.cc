// provisioner state export --config FILE [--output PATH|-]
// provisioner state import --config FILE [--input PATH] [--force]
//
// HA mode's state moves between state.json and PostgreSQL (docs/ha.md,
// "Moving between state.json and PostgreSQL"): import is the way from a
// single node to HA, export the way back (and a backup of the database's
// state in a form people and `jq` can read).
//
// Import writes as the daemon's leader does: it takes the leader lease
// itself, under the node name import@<host>, and saves through PgStateStore,
// whose every write is fenced by that lease. It refuses while a daemon leads:
// that leader would overwrite the import at its next save, or be fenced out
// by it mid-term. Export reads in one snapshot and needs no lease.
//
// Neither ever prints the connection string: errors name ha.dsn_file.
#include <memory>
#include <optional>
#include <ostream>

#include "app/cli_commands.h"
#include "app/config_file.h"
#include "app/ha_dsn.h"
#include "coordination/pg_lease_db.h"
#include "coordination/pg_state_store.h"
#include "platform/file_lock.h"
#include "platform/filename.h"
#include "platform/process_info.h"
#include "state/state_json.h"

namespace provisioner::app {
namespace {

using coordination::PgConnection;
using coordination::PgOptions;

// As JsonStateStore reads state.json.
constexpr uint64_t kMaxStateBytes = 256ull << 20;

struct StateOptions {
  std::string config;
  std::string output = "-";
  std::string input;  // "" = state.json in the config's state.dir
  bool force = false;
};

// The Coordinator of a one-off command, whose answer never changes: import
// leads at the term it took the lease under; export never writes.
class FixedCoordinator final : public coordination::Coordinator {
 public:
  FixedCoordinator(bool leader, int64_t term, std::string holder)
      : leader_(leader), term_(term), holder_(std::move(holder)) {}
  bool IsLeader() const override { return leader_; }
  int64_t term() const override { return term_; }
  coordination::CoordinationStatus status() const override {
    coordination::CoordinationStatus s;
    s.ha = true;
    s.role = leader_ ? coordination::Role::kLeader : coordination::Role::kFollower;
    s.term = term_;
    s.holder = leader_ ? holder_ : "";
    return s;
  }

 private:
  const bool leader_;
  const int64_t term_;
  const std::string holder_;
};

std::string Plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "import@db-host": the command's name in pv_leader (and the server's
// pg_stat_activity), apart from every daemon's.
std::string CommandNode(const char* command) {
  const std::string host = platform::HostName();
  return std::string(command) + "@" + (host.empty() ? "unknown-host" : host);
}

// The config's HA settings and connection, or an exit code (usage) with the
// reason printed.
struct HaSetup {
  std::shared_ptr<const config::Config> config;
  PgOptions pg;
};

std::optional<HaSetup> LoadHaSetup(CliEnv& env, const std::string& path, const char* command,
                                   int* exit_code) {
  ConfigLoad load = LoadConfigFile(env.fs, path, env.cwd);
  if (!load.read_status.ok()) {
    *exit_code = UsageError(env, load.read_status.message());
    return std::nullopt;
  }
  if (!load.parse.ok()) {
    for (const auto& d : load.parse.errors) env.err << d.ToString() << "\n";
    *exit_code = UsageError(env, path + ": invalid config");
    return std::nullopt;
  }
  HaSetup setup;
  setup.config = load.parse.config;
  const config::Config& c = *setup.config;
  if (!c.ha.enabled) {
    *exit_code = UsageError(
        env, path + ": ha.enabled is false: without HA the state is " +
                 platform::StateFileName(c.state.dir) +
                 " already, and there is no PostgreSQL to move it to or from (docs/ha.md)");
    return std::nullopt;
  }
  auto dsn = ReadDsnFile(env.fs, c.ha.dsn_file);
  if (!dsn.ok()) {
    *exit_code = UsageError(env, dsn.status().message());
    return std::nullopt;
  }
  setup.pg.dsn = std::move(*dsn);
  setup.pg.application_name = std::string("provisioner state ") + command;
  return setup;
}

// A daemon whose state.dir is `dir` holds dir/daemon.lock for its whole
// life: held here, none can be running there, and none starts there until
// the command ends. Only an existing lock file is opened: creating it, as
// root perhaps, could leave the daemon's user unable to open it. nullptr
// when there is none; FailedPrecondition when a daemon holds it.
Result<std::unique_ptr<platform::FileLock>> LockStateDir(platform::FileSystem& fs,
                                                         const std::string& dir) {
  const std::string lock_path = platform::DaemonLockFileName(dir);
  if (!fs.Stat(lock_path).ok()) return std::unique_ptr<platform::FileLock>();
  auto lock = platform::FileLock::TryAcquire(lock_path);
  if (lock.ok()) return std::move(*lock);
  if (lock.status().code() == Status::Code::kFailedPrecondition) {
    return Status::FailedPrecondition("a provisioner daemon is using " + dir + " (" + lock_path +
                                      " is locked): stop it first");
  }
  return lock.status().WithContext("cannot tell whether a provisioner daemon uses " + dir +
                                   " (run this as the daemon's user)");
}

int RunExport(CliEnv& env, const StateOptions& opts) {
  int code = kExitOk;
  std::optional<HaSetup> setup = LoadHaSetup(env, opts.config, "export", &code);
  if (!setup) return code;
  const bool to_stdout = opts.output == "-";
  const std::string output = to_stdout ? "" : config::ResolvePath(env.cwd, opts.output);
  std::unique_ptr<platform::FileLock> lock;
  if (!to_stdout) {
    auto locked = LockStateDir(env.fs, platform::DirName(output));
    if (!locked.ok()) return Failure(env, locked.status().message());
    lock = std::move(*locked);
  }

  FixedCoordinator reader(false, 0, "");
  coordination::PgStateStore store(setup->pg, CommandNode("export"), reader);
  auto loaded = store.Load();
  if (!loaded.ok()) return Failure(env, loaded.status().message());
  if (loaded->fresh) {
    env.err << "provisioner: PostgreSQL holds no state yet: exporting an empty one\n";
  }
  const std::string json = state::StateToJson(loaded->state);
  if (to_stdout) {
    env.out << json << std::flush;
    if (!env.out) return Failure(env, "cannot write the state to standard output");
    return kExitOk;
  }
  if (Status s = platform::WriteFileAtomic(env.fs, output, json); !s.ok()) {
    return Failure(env, "writing " + output + ": " + s.message());
  }
  env.out << "exported " << Plural(loaded->state.workspaces.size(), "workspace")
          << " from PostgreSQL to " << output << "\n";
  return kExitOk;
}

// The import proper, under the lease `node` holds at `term`.
int ImportUnderLease(CliEnv& env, const HaSetup& setup, const std::string& node, int64_t term,
                     const state::State& imported, const std::string& input, bool force) {
  FixedCoordinator leader(true, term, node);
  coordination::PgStateStore store(setup.pg, node, leader);
  // Read under the lease: no leader can write between this check and the
  // save. The load also tells the store what the tables hold, so the save
  // deletes what the imported state does not have.
  auto current = store.Load();
  if (!current.ok()) return Failure(env, current.status().message());
  const size_t held = current->state.workspaces.size();
  if (held > 0 && !force) {
    return Failure(env, "PostgreSQL already holds a state with " + Plural(held, "workspace") +
                            ": pass --force to replace it with " + input);
  }
  if (Status s = store.Save(imported); !s.ok()) return Failure(env, s.message());
  env.out << "imported " << Plural(imported.workspaces.size(), "workspace") << " from " << input
          << " into PostgreSQL (term " << term << ")";
  if (held > 0) env.out << ", replacing " << Plural(held, "workspace");
  env.out << "\n";
  return kExitOk;
}

int RunImport(CliEnv& env, const StateOptions& opts) {
  int code = kExitOk;
  std::optional<HaSetup> setup = LoadHaSetup(env, opts.config, "import", &code);
  if (!setup) return code;
  const config::Config& c = *setup->config;
  const bool by_default = opts.input.empty();
  const std::string input =
      by_default ? platform::StateFileName(c.state.dir) : config::ResolvePath(env.cwd, opts.input);
  // The single node's daemon must be stopped: its state.json would go on
  // changing after the import read it.
  auto lock = LockStateDir(env.fs, platform::DirName(input));
  if (!lock.ok()) return Failure(env, lock.status().message());

  auto text = env.fs.ReadFile(input, kMaxStateBytes);
  if (!text.ok()) {
    if (text.status().code() == Status::Code::kNotFound && by_default) {
      return UsageError(env, "no state to import: " + input + " does not exist (state.dir of " +
                                 opts.config + "; --input names another file)");
    }
    return UsageError(env, "reading " + input + ": " + text.status().message());
  }
  auto parsed = state::StateFromJson(*text);
  if (!parsed.ok()) return UsageError(env, input + ": " + parsed.status().message());

  auto conn = PgConnection::Connect(setup->pg);
  if (!conn.ok()) return Failure(env, conn.status().message());
  if (Status s = coordination::EnsureLeaseTable(*conn); !s.ok()) {
    return Failure(env, s.message());
  }
  const std::string node = CommandNode("import");
  auto row = coordination::AcquireOrRenew(*conn, node, std::nullopt, c.ha.lease_ttl);
  if (!row.ok()) return Failure(env, "taking the leader lease: " + row.status().message());
  if (row->holder != node) {
    return Failure(env, "a provisioner daemon (node " + row->holder + ", term " +
                            std::to_string(row->term) +
                            ") leads: stop every node first; an import under a running leader "
                            "would be overwritten by it, or fence it out mid-term");
  }
  code = ImportUnderLease(env, *setup, node, row->term, *parsed, input, opts.force);
  // Released whatever happened, so the first daemon leads at once rather
  // than after lease_ttl; if this fails the lease still lapses by then.
  auto released = coordination::ReleaseLease(*conn, node, row->term);
  if (!released.ok()) {
    env.err << "provisioner: warning: could not release the leader lease ("
            << released.status().message() << "); it lapses within " << c.ha.lease_ttl.count()
            << " ms\n";
  }
  return code;
}

}  // namespace

void RegisterStateCommands(CLI::App& app, CliEnv& env, int* exit_code) {
  auto* group = app.add_subcommand(
      "state", "Move HA mode's state between a state.json file and PostgreSQL (docs/ha.md)");
  group->require_subcommand(1);

  auto export_opts = std::make_shared<StateOptions>();
  auto* exp = group->add_subcommand(
      "export", "Write the state PostgreSQL holds in the state.json format (no lease needed)");
  exp->add_option("--config", export_opts->config, "Config file (YAML or JSON), with ha.enabled")
      ->required();
  exp->add_option("--output", export_opts->output,
                  "File to write atomically, or - for standard output")
      ->capture_default_str();
  exp->callback([&env, exit_code, export_opts] { *exit_code = RunExport(env, *export_opts); });

  auto import_opts = std::make_shared<StateOptions>();
  auto* imp = group->add_subcommand(
      "import",
      "Replace the state in PostgreSQL with a state.json file; every node must be stopped");
  imp->add_option("--config", import_opts->config, "Config file (YAML or JSON), with ha.enabled")
      ->required();
  imp->add_option("--input", import_opts->input,
                  "state.json file to import (default: state.json in the config's state.dir)");
  imp->add_flag("--force", import_opts->force,
                "Replace a state PostgreSQL already holds (refused without it)");
  imp->callback([&env, exit_code, import_opts] { *exit_code = RunImport(env, *import_opts); });
}

}  // namespace provisioner::app
