// Runs. Every transition of a run locks its row first (LockRun*), which serialises transitions of
// one run across all engine replicas and orders its history appends. Lock order everywhere: the
// run row, then its task rows.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/pipelined_work.h"
#include "persistence/rows.h"
#include "persistence/run_condition.h"

namespace gridflow::persistence {

struct NewRun {
  std::string namespace_name;
  std::string workflow_id;
  std::string definition_name;
  int definition_version = 0;
  std::string input_json;
  std::string data_json;
  std::string started_by;
  std::optional<std::string> parent_run_id;  // child runs: the run waiting for this one
  std::optional<std::string> parent_frame;
  std::optional<int64_t> parent_activation;
  // Why definition_version (docs/rollouts.md): "requested", "latest", a rollout's routing.
  std::string version_reason;
  // A settlement revision (docs/revisions.md): period and revision >= 1; empty and 0 otherwise.
  std::string revision_period;
  int revision = 0;
  std::string supersedes;  // the workflow id of the revision it replaces; empty: none
};

// Inserts a RUNNING run, or returns nullopt when the workflow id is taken in the namespace.
std::optional<RunRow> InsertRun(pqxx::transaction_base& txn, const NewRun& run);

// What a read of one run returns: all of it, or its summary — without its input, data, result
// and failure details (fields_omitted) — with or without its state (DescribeRun's active steps).
enum class RunFields { kAll, kSummary, kSummaryAndState };
std::optional<RunRow> FindRun(pqxx::transaction_base& txn, const std::string& namespace_name,
                              const std::string& workflow_id, RunFields fields = RunFields::kAll);

// True when the stored input equals `input_json` as JSON (key order and spacing do not matter).
bool RunInputEquals(pqxx::transaction_base& txn, const std::string& run_id,
                    const std::string& input_json);

// The sequence of each run's last history event (runs that do not exist are left out).
std::map<std::string, int64_t> ReadLastEventSeqs(pqxx::transaction_base& txn,
                                                 const std::vector<std::string>& run_ids);

// Statements to send in a PipelinedWork group. Locks the runs of these tasks (in id order, the
// lock order of every transaction that locks several runs) and returns them. A task's run never
// changes, so no task lock is needed to find it. A run whose row_version is the one
// `held_versions` gives for it (by run id) comes without its data and state
// (data_and_state_read false): the caller holds them parsed (engine/scheduler/parsed_run_cache.h).
Statement LockRunsOfTasks(const std::vector<int64_t>& task_ids,
                          const std::map<std::string, int64_t>& held_versions = {});
// Reads the data and state of a run read without them (the caller holds its lock).
void ReadDataAndState(pqxx::transaction_base& txn, RunRow* run);
// Inserts RUNNING runs in one statement (no parents: child runs use InsertRun); a definition
// version of 0 is the latest, read in the same statement. Returns those inserted: a run whose
// workflow id is taken in its namespace, or whose definition (version) does not exist, is left
// out.
Statement InsertRuns(const std::vector<NewRun>& runs);
// The rows those two statements return.
std::vector<RunRow> ReadRuns(const pqxx::result& result);

// Closed runs past their namespace's closed_run_retention (docs/operations.md, "Retention and
// archive"), oldest closed first, with their data, locked (FOR UPDATE SKIP LOCKED: replicas
// share the work). A parent waits until its child runs are gone.
std::vector<RunRow> LockRunsPastRetention(pqxx::transaction_base& txn, int limit);
// SELECT ... FOR UPDATE. nullopt when there is no such run.
std::optional<RunRow> LockRun(pqxx::transaction_base& txn, const std::string& run_id);
std::optional<RunRow> LockRunByWorkflowId(pqxx::transaction_base& txn,
                                          const std::string& namespace_name,
                                          const std::string& workflow_id);
// FOR UPDATE SKIP LOCKED: nullopt also when another transaction holds the run.
std::optional<RunRow> TryLockRun(pqxx::transaction_base& txn, const std::string& run_id);

struct RunListFilter {
  enum class Order { kCreatedDesc, kCreatedAsc, kUpdatedDesc, kUpdatedAsc };

  std::string namespace_name;
  std::string status;                       // empty: any
  std::string definition_name;              // empty: any
  int definition_version = 0;               // 0: any
  std::optional<TimePoint> created_after;   // inclusive
  std::optional<TimePoint> created_before;  // exclusive
  std::string task_queue;              // only runs with a queued or leased task there; empty: any
  std::string workflow_id_contains;    // case-insensitive; empty: any
  std::string revision_period;         // only revisions of this period; empty: any
  bool latest_revisions_only = false;  // only revisions that no later revision superseded
  std::optional<RunCondition> condition;  // a query, ANDed with the filters above
  Order order = Order::kCreatedDesc;
  // Keyset cursor: only runs after (sort time, id) in the chosen order.
  std::optional<TimePoint> after_time;
  std::string after_id;
  int limit = 50;  // the page size
  // What the page's inputs, results and failure details may take together (as JSON text).
  size_t field_budget = size_t{2} * 1024 * 1024;
};

struct RunPage {
  std::vector<RunRow> runs;
  bool more = false;  // runs are left after this page
};

// A page of run summaries: data_json and state_json are left empty. Each run comes with its
// input, result and failure details while they fit the filter's field_budget together with the
// page's runs before it; the page ends before the first run that does not fit, unless that run
// alone passes the budget: it is listed without them (fields_omitted), whatever page it is on.
// Memory stays within the budget and the page's small columns, whatever the runs hold. The sort
// time of a row (for the next cursor) is its created_at or updated_at, by the filter's order.
// Reads twice: run it in a REPEATABLE READ transaction for one snapshot.
RunPage ListRuns(pqxx::transaction_base& txn, const RunListFilter& filter);

// Open runs that are not moving, by definition and reason, for the stuck-runs alert:
//   task_unclaimed  a task claimable for longer than the threshold and no worker took it;
//   timer_overdue   a timer due for longer than the threshold has not fired;
//   not_closing     CANCELLING or COMPENSATING with no progress for longer than the threshold.
// A run waiting for a signal is not stuck: it waits by design (give such waits a timeout).
struct StuckRuns {
  std::string definition;
  std::string reason;
  int64_t runs = 0;
};
std::vector<StuckRuns> CountStuckRuns(pqxx::transaction_base& txn, int64_t threshold_ms);

}  // namespace gridflow::persistence
