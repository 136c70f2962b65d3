// Scheduler: owns the runs' state machine (Temporal's "history" role). Every method is one
// transition of one run, executed as ONE PostgreSQL transaction that locks the run row, records the
// task outcome, appends history, advances the run and schedules what comes next. A method returns
// only after that transaction committed (or rolled back: then nothing changed).
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

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time.h"
#include "engine/definitions/definition_registry.h"
#include "persistence/connection_pool.h"
#include "persistence/rows.h"

namespace gridflow::engine {

class RunTransition;

// Told after a commit that claimable tasks were queued (this replica's waiting workers wake).
class WorkListener {
 public:
  virtual ~WorkListener() = default;
  virtual void OnWorkAvailable(const std::string& namespace_name, const std::string& queue) = 0;
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

  // Starts a run, or returns the existing one with the same workflow id (created = false) when its
  // definition and input match; ALREADY_EXISTS when they differ.
  Status StartRun(const StartRunParams& params, persistence::RunRow* run, bool* created);

  Status CompleteTask(const LeaseRef& lease, const std::string& result_json);
  Status FailTask(const LeaseRef& lease, const TaskFailureReport& failure, RetryOutcome* outcome);
  Status ReleaseTask(const LeaseRef& lease, const std::string& reason);

  Status CancelRun(const std::string& namespace_name, const std::string& workflow_id,
                   const std::string& reason, const std::string& identity,
                   persistence::RunRow* run);
  Status SignalRun(const std::string& namespace_name, const std::string& workflow_id,
                   const std::string& signal_name, const std::string& payload_json,
                   const std::string& dedup_id, const std::string& identity, bool* accepted);

  // Ends up to `limit` expired leases: each task is retried per its policy or fails its run.
  // `*expired` counts the leases ended by this call.
  Status ExpireLeases(int limit, int* expired);

 private:
  // Locks the task's run and the task, checks the lease, and runs `apply` in the same transaction.
  using LeasedTaskBody = std::function<Status(RunTransition&, const persistence::TaskRow&)>;
  Status WithLeasedTask(const char* what, const LeaseRef& lease, bool* already_completed,
                        const LeasedTaskBody& apply);
  Status ExpireLease(int64_t task_id, const std::string& run_id, bool* expired);
  // A failed attempt (reported, or a lost lease): retry per the step's policy, or fail the run.
  RetryOutcome HandleFailedAttempt(RunTransition& transition, const persistence::TaskRow& task,
                                   const char* event_type, const std::string& actor,
                                   const TaskFailureReport& failure, nlohmann::json event_payload);
  void Announce(const std::set<std::pair<std::string, std::string>>& new_work);

  persistence::ConnectionPool& pool_;
  DefinitionRegistry& definitions_;
  WorkListener* listener_ = nullptr;
};

}  // namespace gridflow::engine
