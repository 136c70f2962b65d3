// Task queue rows and leases. A lease is (task id, lease_epoch): claiming bumps the epoch, so an
// older holder's heartbeat or outcome no longer matches (fencing). Claims use FOR UPDATE SKIP
// LOCKED and lock task rows only; every other change to a task happens with its run row locked
// first.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "common/duration.h"
#include "persistence/pipelined_work.h"
#include "persistence/rows.h"

namespace gridflow::persistence {

// NOTIFY channel on which new claimable work is announced; the payload is "<namespace>/<queue>".
inline constexpr const char* kTaskChannel = "gridflow_tasks";

struct ClaimRequest {
  std::string namespace_name;
  std::vector<std::string> queues;
  std::vector<std::string> types;  // empty: any
  int limit = 1;                   // tasks of any class
  int reserved = 0;                // more tasks, only of base class <= reserved_class
  int reserved_class = 0;
  std::string owner;
};
struct ClaimResult {
  std::vector<TaskRow> tasks;
  // When a rate limit of these queues or types has a whole token again (none is left now).
  std::optional<Millis> refill_in;
};
// Leases due PENDING tasks of the request's queues (and types) to its owner, most urgent class
// first, then earliest dispatch deadline, then oldest, within the namespace's dispatch controls
// (pauses, rate limits, circuit breakers; docs/dispatch.md). The lease lasts the heartbeat
// timeout (or the whole start-to-close timeout when the step has none), never past the attempt
// deadline. The claim is one statement (send it in a pipelined group); read its result with
// ReadClaim.
Statement ClaimStatement(const ClaimRequest& request);
ClaimResult ReadClaim(const pqxx::result& claimed);

// The task as it is, read without locking (e.g. to find its run and lock that first). nullopt when
// the task does not exist in that namespace.
std::optional<TaskRow> FindTask(pqxx::transaction_base& txn, const std::string& namespace_name,
                                int64_t task_id);

// The PENDING and LEASED tasks of runs whose rows the caller locked, without their input
// (input_json is left empty): what a transition needs to know of a run's tasks.
std::vector<TaskRow> LoadOpenTasks(pqxx::transaction_base& txn,
                                   const std::vector<std::string>& run_ids);
// The same for the runs of these tasks, as a statement to send after the one locking those runs
// (LockRunsOfTasks, in the same group); read with ReadTasks.
Statement OpenTasksOfTasks(const std::vector<int64_t>& task_ids);
std::vector<TaskRow> ReadTasks(const pqxx::result& result);
struct LeaseExtension {
  TimePoint lease_expires_at;
  bool cancel_requested = false;  // the run is CANCELLING, or no longer wants this task
};

// One lease a heartbeat renews. `details_json` (optional) replaces the task's heartbeat details.
struct LeaseBeat {
  int64_t task_id = 0;
  int64_t lease_epoch = 0;
  std::optional<std::string> details_json;
};
// Extends the lease of each task that is LEASED at its beat's epoch — and, when `queues` is set,
// is of one of those queues — in one statement (task ids distinct; rows locked in id order).
// `skip_locked`: a task whose row another transaction holds is left out rather than waited for
// (renew it alone, without skipping: a statement waiting for one row while holding others could
// deadlock with a transition updating several tasks). A statement, so heartbeats can send it with
// BEGIN and COMMIT in one round trip; ReadLeaseExtensions reads its result: the extended ones, by
// task id.
Statement ExtendLeasesStatement(const std::string& namespace_name,
                                const std::vector<LeaseBeat>& beats,
                                const std::optional<std::set<std::string>>& queues,
                                bool skip_locked);
std::map<int64_t, LeaseExtension> ReadLeaseExtensions(const pqxx::result& extended);
// The tasks of these ids in the namespace, as they are (without locking; absent ones left out).
std::vector<TaskRow> FindTasks(pqxx::transaction_base& txn, const std::string& namespace_name,
                               const std::vector<int64_t>& task_ids);

// Whether the task's recorded output equals `json_text` (as JSON values).
bool TaskOutputEquals(pqxx::transaction_base& txn, int64_t task_id, const std::string& json_text);
// The run's PENDING and LEASED tasks, oldest first.
std::vector<TaskRow> ListOpenTasks(pqxx::transaction_base& txn, const std::string& run_id);
// Per queue of the namespace with open tasks: pending, due, leased, age of the oldest due task.
// An empty namespace: every namespace's queues, named "<namespace>/<queue>".
std::vector<QueueStats> ListQueueStats(pqxx::transaction_base& txn,
                                       const std::string& namespace_name);
struct ExpiredLease {
  int64_t task_id = 0;
  std::string run_id;
};
// LEASED tasks whose lease ended, oldest first (no locks taken).
std::vector<ExpiredLease> FindExpiredLeases(pqxx::transaction_base& txn, int limit);

}  // namespace gridflow::persistence
