// StateStore: state.json on disk, written so that a crash at any instant
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
  // `dir` is config.state.dir. Never owns fs or clock.
  StateStore(platform::FileSystem& fs, Clock& clock, std::string dir);
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Errors: FailedPrecondition when the file is from a newer provisioner;
  // Corruption when both state.json and its backup are unreadable (nothing
  // is moved or deleted then, so an operator can look); IoError and the like
  // when the directory cannot be read.
  Result<LoadReport> Load();

  // Durable when it returns OK.
  Status Save(const State& state);

  const std::string& path() const { return path_; }

 private:
  Result<State> ReadAndParse(const std::string& path, Status* parse_error);

  platform::FileSystem& fs_;
  Clock& clock_;
  const std::string dir_;
  const std::string path_;
};

}  // namespace provisioner::state
