// Retention and archival of closed runs (table archived_runs, migration 15; docs/operations.md,
// "Retention and archive"). The deleting statements need the owner role: the runtime role cannot
// delete history (migration 8), so an engine runs them on a connection of its own as the owner.
// The runs to archive are chosen by LockRunsPastRetention (run_store.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "common/time.h"
#include "persistence/rows.h"

namespace gridflow::persistence {

struct ArchivedRunRow {
  std::string namespace_name;
  std::string run_id;
  std::string workflow_id;
  std::string definition_name;
  int definition_version = 0;
  std::string status;
  TimePoint created_at;
  TimePoint closed_at;
  TimePoint archived_at;  // read only
  std::string location;   // relative to the archive directory
  int64_t history_length = 0;
  std::string history_head;
};

// Records the archive of a run (a repeated archive of the same run replaces the record).
void InsertArchivedRun(pqxx::transaction_base& txn, const ArchivedRunRow& row);
// Deletes runs and everything of theirs: tasks, timers, signals, messages, attributes, and
// their history where it lies in the legacy partition; a month's history partition goes whole
// (history_partitions.h). Owner role only.
void DeleteRuns(pqxx::transaction_base& txn, const std::vector<std::string>& run_ids);
// The latest archive of a workflow id in a namespace, if any.
std::optional<ArchivedRunRow> FindArchivedRun(pqxx::transaction_base& txn,
                                              const std::string& namespace_name,
                                              const std::string& workflow_id);

}  // namespace gridflow::persistence
