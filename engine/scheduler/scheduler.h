// Scheduler: owns the runs' state machine (Temporal's "history" role). Every method is one
// transition of one run, executed as ONE PostgreSQL transaction that locks the run row, records
// what happened (a task outcome, a signal, a timer), lets the Interpreter advance the run, and
// writes the tasks, timers, history and run state that follow. A method returns only after that
// transaction committed (or rolled back: then nothing changed). After the commit it wakes this
// replica's waiting workers and delivers the messages the transition left for other runs (a child
// run's end to its parent, a cancellation to a child).
//
// Lease fencing: an outcome for a task is accepted only from the holder of its current lease
// (task id + lease epoch while the task is LEASED); anything else is FAILED_PRECONDITION.
// Thread-safe; any number of replicas may run it against the same database.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/transaction>

#include "common/duration.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/definitions/definition_registry.h"
#include "engine/scheduler/run_effects.h"
#include "engine/scheduler/transition_facts.h"
#include "persistence/connection_pool.h"
#include "persistence/message_store.h"
#include "persistence/rows.h"

namespace gridflow::engine {

class RunTransition;

// Told after a commit that claimable tasks were queued (this replica's waiting workers wake).
class WorkListener {
 public:
  virtual ~WorkListener() = default;
  virtual void OnWorkAvailable(const std::string& namespace_name, const std::string& queue) = 0;
  // Work becomes claimable after `delay` (a retry's backoff).
  virtual void OnWorkAvailableAfter(const std::string& namespace_name, const std::string& queue,
                                    Millis delay) = 0;
};

// Told after a commit which runs' histories grew (this replica's history watchers wake at once).
class HistoryListener {
 public:
  virtual ~HistoryListener() = default;
  virtual void HistoryGrew(const std::string& run_id) = 0;
};

struct StartRunParams {
  std::string namespace_name;
  std::string workflow_id;
  std::string definition_name;
  int definition_version = 0;  // 0: latest
  std::string input_json;      // valid JSON
  std::string identity;
};

// The caller's claim on a leased task.
struct LeaseRef {
  std::string namespace_name;
  int64_t task_id = 0;
  int64_t lease_epoch = 0;
  std::string identity;
};

struct TaskFailureReport {
  std::string error_type;
  std::string message;
  std::string details_json;  // valid JSON or empty
  bool non_retryable = false;
};

struct RetryOutcome {
  bool will_retry = false;
  std::optional<TimePoint> retry_at;
};

class Scheduler {
 public:
  Scheduler(persistence::ConnectionPool& pool, DefinitionRegistry& definitions);

  // Set once, before serving.
  void SetWorkListener(WorkListener* listener) { listener_ = listener; }
  // Told what each committed transition did (metrics). Set before serving.
  void SetFactsObserver(FactsObserver* observer) { observer_ = observer; }
  // Set before serving.
  void SetHistoryListener(HistoryListener* listener) { history_listener_ = listener; }

  // Starts a run, or returns the existing one with the same workflow id (created = false) when its
  // definition and input match; ALREADY_EXISTS when they differ.
  Status StartRun(const StartRunParams& params, persistence::RunRow* run, bool* created);

  // *duplicate: the same result was already recorded under this lease (nothing changed). A
  // different result under the same lease is FAILED_PRECONDITION.
  Status CompleteTask(const LeaseRef& lease, const std::string& result_json, bool* duplicate);
  Status FailTask(const LeaseRef& lease, const TaskFailureReport& failure, RetryOutcome* outcome);
  Status ReleaseTask(const LeaseRef& lease, const std::string& reason);

  Status CancelRun(const std::string& namespace_name, const std::string& workflow_id,
                   const std::string& reason, const std::string& identity,
                   persistence::RunRow* run);
  // Ends an open run at once as TERMINATED (no compensation). Terminating it again is a no-op.
  Status TerminateRun(const std::string& namespace_name, const std::string& workflow_id,
                      const std::string& reason, const std::string& identity,
                      persistence::RunRow* run);
  // Continues a FAILED, CANCELLED or TERMINATED run from `from_step` (a top-level step) or, when
  // empty, from the top-level step where it failed. *step receives the step used.
  Status RetryRun(const std::string& namespace_name, const std::string& workflow_id,
                  const std::string& from_step, const std::string& reason,
                  const std::string& identity, persistence::RunRow* run, std::string* step);
  Status SignalRun(const std::string& namespace_name, const std::string& workflow_id,
                   const std::string& signal_name, const std::string& payload_json,
                   const std::string& dedup_id, const std::string& identity, bool* accepted);

  // Background work, run by every replica; each counts what it did in *done.
  // Leases whose holder stopped heartbeating (or ran out of time): retried or failed.
  Status ExpireLeases(int limit, int* done);
  // Timers whose time has come.
  Status FireDueTimers(int limit, int* done);
  // Messages between runs not yet applied (their sender's replica died before delivering them).
  Status ProcessPendingMessages(int limit, int* done);

 private:
  // What a committed transition leaves to do.
  struct AfterCommit {
    TransitionFacts facts;
    std::set<std::pair<std::string, std::string>> new_work;
    std::vector<DelayedWork> delayed_work;
    std::vector<persistence::PendingMessage> messages;
    std::set<std::string> runs_with_new_events;
  };
  // Locks the run to change (writing it to *run), or leaves *run empty to skip the transition.
  using LockFn = std::function<Status(pqxx::work&, std::optional<persistence::RunRow>*)>;
  using BodyFn = std::function<Status(RunTransition&)>;

  // The one path of every transition after StartRun: lock, open, body, flush, commit, follow up.
  Status Transition(const char* what, const LockFn& lock, const BodyFn& body);
  Status Open(pqxx::work& txn, persistence::RunRow run, std::unique_ptr<RunTransition>* out);
  void Capture(const RunTransition& transition, AfterCommit* after);
  void FollowUp(const AfterCommit& after);
  Status ProcessMessage(const persistence::PendingMessage& message, AfterCommit* after);
  Status ReadRun(const std::string& namespace_name, const std::string& workflow_id,
                 persistence::RunRow* run);

  // Locks the task's run and the task, checks the lease, and runs `apply` in that transition.
  using LeasedTaskBody = std::function<Status(RunTransition&, const persistence::TaskRow&)>;
  // `completion`: the result of a CompleteTask, which may repeat one already recorded under the
  // same lease (then *duplicate is set and nothing changes).
  Status WithLeasedTask(const char* what, const LeaseRef& lease, const std::string* completion,
                        bool* duplicate, const LeasedTaskBody& apply);
  Status ExpireLease(int64_t task_id, const std::string& run_id, bool* expired);
  // A failed attempt (reported, or a lost lease): retry per the policy, or let the run handle it.
  RetryOutcome HandleFailedAttempt(RunTransition& transition, const persistence::TaskRow& task,
                                   const char* event_type, const std::string& actor,
                                   const TaskFailureReport& failure, nlohmann::json event_payload);

  persistence::ConnectionPool& pool_;
  DefinitionRegistry& definitions_;
  WorkListener* listener_ = nullptr;
  FactsObserver* observer_ = nullptr;
  HistoryListener* history_listener_ = nullptr;
};

}  // namespace gridflow::engine
