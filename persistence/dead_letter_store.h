// The dead-letter view (docs/operations.md, "Dead letters"): tasks that failed for good in runs
// that are still FAILED, grouped by queue, task type and error type. Read from the failed runs
// (runs_by_status) and their tasks (tasks_by_run): the cost follows the failed runs kept, never
// the completed ones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/pg_types.h"

namespace gridflow::persistence {

struct DeadLetterFilter {
  std::string namespace_name;
  std::string queue;       // "": any
  std::string task_type;   // "": any
  std::string error_type;  // "": any
  std::optional<TimePoint> failed_after;
};

struct DeadLetterGroupRow {
  std::string queue;
  std::string task_type;
  std::string error_type;
  int64_t tasks = 0;
  int64_t runs = 0;
  TimePoint first_failure;
  TimePoint last_failure;
  std::vector<std::string> sample_workflow_ids;  // up to 5, most recent failure first
  std::string last_message;
};

// At most 500 groups, most recent failure first.
std::vector<DeadLetterGroupRow> ListDeadLetterGroups(pqxx::transaction_base& txn,
                                                     const DeadLetterFilter& filter);

// (run id, workflow id) of the group's runs after `after_run_id` ("" from the start), in run id
// order, at most `limit`. The group is exact: queue, task type and error type all match.
std::vector<std::pair<std::string, std::string>> DeadLetterRuns(
    pqxx::transaction_base& txn, const std::string& namespace_name, const std::string& queue,
    const std::string& task_type, const std::string& error_type, const std::string& after_run_id,
    int limit);

}  // namespace gridflow::persistence
