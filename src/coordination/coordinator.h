// Who may make the scheduler's decisions (DESIGN.md §11).
//
// The scheduler asks its Coordinator before it evaluates cron, enqueues, or
// marks jobs interrupted. The default, AlwaysLeader, is the single-node mode:
// always leader, term 0, and nothing behind it. In HA mode the LeaseKeeper
// (coordination/lease_keeper.h) answers from the PostgreSQL lease.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "coordination/lease.h"

namespace provisioner::coordination {

// For /health's `coordination` check, /ready and the metrics.
struct CoordinationStatus {
  bool ha = false;  // false: the single-node default, and the rest is moot
  Role role = Role::kLeader;
  int64_t term = 0;
  std::string holder;              // the leader as last seen ("" unknown)
  bool database_reachable = true;  // the last attempt got an answer
  std::string last_error;          // of the last failed attempt
  uint64_t transitions = 0;
  uint64_t attempt_failures = 0;
};

class Coordinator {
 public:
  virtual ~Coordinator() = default;
  // Thread-safe. True while this node leads; `term` is the term its fenced
  // writes must carry.
  virtual bool IsLeader() const = 0;
  virtual int64_t term() const = 0;
  virtual CoordinationStatus status() const = 0;
  // Thread-safe. The workspaces the leader must not act on, because another
  // node defines them otherwise (name -> that node); empty on a standby.
  virtual std::map<std::string, std::string> differing_workspaces() const { return {}; }
};

class AlwaysLeader final : public Coordinator {
 public:
  bool IsLeader() const override { return true; }
  int64_t term() const override { return 0; }
  CoordinationStatus status() const override { return CoordinationStatus{}; }
};

}  // namespace provisioner::coordination
