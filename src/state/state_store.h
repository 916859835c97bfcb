// StateStore: where the daemon's State lives. JsonStateStore below is the
// default (state.json); HA mode keeps it in PostgreSQL instead
// (coordination/pg_state_store.h). The Reconciler sees only this interface.
//
// JsonStateStore: state.json on disk, written so that a crash at any instant
// leaves a state that loads (DESIGN.md §6).
//
// Save:  state.json.tmp  <- new content, fsync
//        state.json      -> state.json.bak   (rename; the previous good copy)
//        state.json.tmp  -> state.json       (rename)
//        fsync of the directory
// Load:  state.json; if it is missing, the .tmp (complete and synced before
//        the first rename) or else the .bak; if it is corrupt, it is moved
//        aside to state.json.corrupt-<UTC time> and the .bak is loaded. The
//        report says which happened, so the daemon can say so loudly.
//
// Not thread-safe: the scheduler thread owns it.
#pragma once

#include <string>

#include "base/clock.h"
#include "base/result.h"
#include "platform/file_system.h"
#include "state/state.h"

namespace provisioner::state {

struct LoadReport {
  State state;
  bool fresh = false;        // no state file at all: a first start
  bool from_backup = false;  // state.json was corrupt or missing; the .bak was used
  bool from_temp = false;    // a save was cut short between its renames
  std::string moved_aside;   // where the corrupt file went, or ""
  std::string problem;       // what was wrong with state.json, or ""
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Errors: FailedPrecondition when the state was written by a newer
  // provisioner; Corruption when it cannot be read back; IoError,
  // Unavailable and the like when its medium cannot be reached.
  virtual Result<LoadReport> Load() = 0;

  // Durable when it returns OK. HA mode: FailedPrecondition "ownership
  // lost: ..." when this node no longer holds the lease it writes under.
  virtual Status Save(const State& state) = 0;

  // For logs and errors: the file, or "PostgreSQL".
  virtual std::string Describe() const = 0;
};

class JsonStateStore final : public StateStore {
 public:
  // `dir` is config.state.dir. Never owns fs or clock.
  JsonStateStore(platform::FileSystem& fs, Clock& clock, std::string dir);
  JsonStateStore(const JsonStateStore&) = delete;
  JsonStateStore& operator=(const JsonStateStore&) = delete;

  // Also: Corruption when both state.json and its backup are unreadable
  // (nothing is moved or deleted then, so an operator can look).
  Result<LoadReport> Load() override;
  Status Save(const State& state) override;
  std::string Describe() const override { return path_; }

  const std::string& path() const { return path_; }

 private:
  Result<State> ReadAndParse(const std::string& path, Status* parse_error);

  platform::FileSystem& fs_;
  Clock& clock_;
  const std::string dir_;
  const std::string path_;
};

}  // namespace provisioner::state
