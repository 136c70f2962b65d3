// TransitionFacts: what a committed transition did, in the terms metrics count (runs started and
// closed, tasks scheduled, completed, failed, expired, signals). A transition collects them as
// it goes; the scheduler reports them only after the commit, so a transaction that rolled back
// or was retried counts nothing twice.
#pragma once

#include <string>
#include <vector>

#include "persistence/rows.h"

namespace gridflow::engine {

struct TransitionFacts {
  struct Task {
    std::string namespace_name;
    std::string queue;
    std::string task_type;
    double seconds = 0;  // completed / failed: how long the attempt ran
    bool will_retry = false;
    std::string worker;  // leases expired: who held it
  };
  struct ClosedRun {
    std::string definition;
    std::string status;
    double seconds = 0;  // started to closed
  };

  std::vector<std::string> runs_started;  // definition names
  int runs_started_in_one_write = 0;      // of which written by the write statement alone
  std::vector<ClosedRun> runs_closed;
  std::vector<Task> tasks_scheduled;
  std::vector<Task> tasks_completed;
  std::vector<Task> tasks_failed;
  std::vector<Task> leases_expired;
  std::vector<std::string> signals_received;  // definition names
  std::vector<persistence::BreakerChange> breaker_changes;

  // Appends `other`'s facts (a child run started in the same transaction).
  void Merge(const TransitionFacts& other);
};

// Told about committed work; implemented by the engine's metrics.
class FactsObserver {
 public:
  virtual ~FactsObserver() = default;
  virtual void Committed(const TransitionFacts& facts) = 0;
  // Tasks handed to a worker under a lease (the claim committed); queued_seconds is the time
  // from claimable to leased.
  virtual void Leased(const std::vector<persistence::TaskRow>& tasks) = 0;
};

}  // namespace gridflow::engine
