// Task queue rows and leases. A lease is (task id, lease_epoch): claiming bumps the epoch, so an
// older holder's heartbeat or outcome no longer matches (fencing). Claims use FOR UPDATE SKIP
// LOCKED and lock task rows only; every other change to a task happens with its run row locked
// first.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

// NOTIFY channel on which new claimable work is announced; the payload is "<namespace>/<queue>".
inline constexpr const char* kTaskChannel = "gridflow_tasks";

int64_t InsertTask(pqxx::transaction_base& txn, const NewTask& task);

// Leases up to `limit` due PENDING tasks of `queues` (and of `types`, unless empty) to `owner`,
// oldest first. The lease lasts the heartbeat timeout (or the whole start-to-close timeout when the
// step has none), never past the attempt deadline.
std::vector<TaskRow> ClaimTasks(pqxx::transaction_base& txn, const std::string& namespace_name,
                                const std::vector<std::string>& queues,
                                const std::vector<std::string>& types, int limit,
                                const std::string& owner);

// The task as it is, read without locking (e.g. to find its run and lock that first). nullopt when
// the task does not exist in that namespace.
std::optional<TaskRow> FindTask(pqxx::transaction_base& txn, const std::string& namespace_name,
                                int64_t task_id);

// SELECT ... FOR UPDATE, with lease_expired / attempt_overdue computed against gf_now().
std::optional<TaskRow> LockTask(pqxx::transaction_base& txn, int64_t task_id);

struct LeaseExtension {
  TimePoint lease_expires_at;
  bool cancel_requested = false;  // the run is CANCELLING, or no longer wants this task
};

// Extends the lease if the task is LEASED at `lease_epoch`; nullopt otherwise. `details_json`
// (optional) replaces the task's heartbeat details.
std::optional<LeaseExtension> ExtendLease(pqxx::transaction_base& txn,
                                          const std::string& namespace_name, int64_t task_id,
                                          int64_t lease_epoch,
                                          const std::optional<std::string>& details_json);

// Whether the task's recorded output equals `json_text` (as JSON values).
bool TaskOutputEquals(pqxx::transaction_base& txn, int64_t task_id, const std::string& json_text);
void MarkTaskCompleted(pqxx::transaction_base& txn, int64_t task_id,
                       const std::string& output_json);
void MarkTaskFailed(pqxx::transaction_base& txn, int64_t task_id, const std::string& failure_json);
void MarkTaskCancelled(pqxx::transaction_base& txn, int64_t task_id);
// Back to PENDING for attempt + 1, due after `delay_ms`. Returns when it becomes due.
TimePoint RequeueTaskForRetry(pqxx::transaction_base& txn, int64_t task_id, int64_t delay_ms,
                              const std::string& failure_json);
// Back to PENDING at once for the same attempt (the holder gave it up without an outcome).
void RequeueReleasedTask(pqxx::transaction_base& txn, int64_t task_id);

// The run no longer wants the task of (frame, activation): a PENDING one is CANCELLED, a LEASED one
// gets cancel_requested (its worker learns it by heartbeat). Returns the affected rows as they are
// now.
std::vector<TaskRow> CancelActivationTasks(pqxx::transaction_base& txn, const std::string& run_id,
                                           const std::string& frame, int64_t activation);
// The run closes: every PENDING or LEASED task of it is CANCELLED. Returns them as they are now.
std::vector<TaskRow> CancelOpenTasks(pqxx::transaction_base& txn, const std::string& run_id);
// The run's PENDING and LEASED tasks, oldest first.
std::vector<TaskRow> ListOpenTasks(pqxx::transaction_base& txn, const std::string& run_id);
// Per queue of the namespace with open tasks: pending, due, leased, age of the oldest due task.
// An empty namespace: every namespace's queues, named "<namespace>/<queue>".
std::vector<QueueStats> ListQueueStats(pqxx::transaction_base& txn,
                                       const std::string& namespace_name);
// Step tasks of the run leased by workers (compensations not counted).
int CountLeasedTasks(pqxx::transaction_base& txn, const std::string& run_id);

struct ExpiredLease {
  int64_t task_id = 0;
  std::string run_id;
};
// LEASED tasks whose lease ended, oldest first (no locks taken).
std::vector<ExpiredLease> FindExpiredLeases(pqxx::transaction_base& txn, int limit);

// Announces claimable work on kTaskChannel; delivered when the transaction commits.
void NotifyTaskQueue(pqxx::transaction_base& txn, const std::string& namespace_name,
                     const std::string& queue);

}  // namespace gridflow::persistence
