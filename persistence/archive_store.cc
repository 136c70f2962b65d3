#include "persistence/archive_store.h"

#include <pqxx/pqxx>

#include "persistence/pg_types.h"

namespace gridflow::persistence {

void InsertArchivedRun(pqxx::transaction_base& txn, const ArchivedRunRow& row) {
  txn.exec_params(
      "INSERT INTO archived_runs (namespace, run_id, workflow_id, definition_name,"
      " definition_version, status, created_at, closed_at, location, history_length,"
      " history_head) VALUES ($1, $2::uuid, $3, $4, $5, $6,"
      " timestamptz 'epoch' + $7::bigint * interval '1 microsecond',"
      " timestamptz 'epoch' + $8::bigint * interval '1 microsecond', $9, $10, $11)"
      " ON CONFLICT (namespace, run_id) DO UPDATE SET archived_at = gf_now(),"
      " location = EXCLUDED.location, history_length = EXCLUDED.history_length,"
      " history_head = EXCLUDED.history_head",
      row.namespace_name, row.run_id, row.workflow_id, row.definition_name, row.definition_version,
      row.status, ToEpochMicros(row.created_at), ToEpochMicros(row.closed_at), row.location,
      row.history_length, row.history_head);
}

void DeleteRuns(pqxx::transaction_base& txn, const std::vector<std::string>& run_ids) {
  const std::string ids = ToTextArray(run_ids);
  // The history's delete guard lets retention through, and only retention (migration 15).
  txn.exec("SET LOCAL gridflow.archiving = 'on'");
  // Children of the runs first; run_attributes go with the runs (ON DELETE CASCADE). History
  // is deleted row by row only in the legacy partition (runs from before migration 16); a
  // month's partition goes as a whole once its last run is gone (DropEmptyHistoryPartitions).
  txn.exec_params("DELETE FROM events WHERE history_key = '-infinity' AND run_id = ANY($1::uuid[])",
                  ids);
  for (const char* table : {"tasks", "timers", "signals", "run_messages", "run_search"}) {
    txn.exec_params(std::string("DELETE FROM ") + table + " WHERE run_id = ANY($1::uuid[])", ids);
  }
  txn.exec_params("DELETE FROM runs WHERE id = ANY($1::uuid[])", ids);
}

std::optional<ArchivedRunRow> FindArchivedRun(pqxx::transaction_base& txn,
                                              const std::string& namespace_name,
                                              const std::string& workflow_id) {
  const pqxx::result r = txn.exec_params(
      "SELECT namespace, run_id::text, workflow_id, definition_name, definition_version, status,"
      " created_at, closed_at, archived_at, location, history_length, history_head"
      " FROM archived_runs WHERE namespace = $1 AND workflow_id = $2"
      " ORDER BY archived_at DESC LIMIT 1",
      namespace_name, workflow_id);
  if (r.empty()) return std::nullopt;
  ArchivedRunRow row;
  row.namespace_name = r[0][0].as<std::string>();
  row.run_id = r[0][1].as<std::string>();
  row.workflow_id = r[0][2].as<std::string>();
  row.definition_name = r[0][3].as<std::string>();
  row.definition_version = r[0][4].as<int>();
  row.status = r[0][5].as<std::string>();
  row.created_at = Timestamp(r[0][6]);
  row.closed_at = Timestamp(r[0][7]);
  row.archived_at = Timestamp(r[0][8]);
  row.location = r[0][9].as<std::string>();
  row.history_length = r[0][10].as<int64_t>();
  row.history_head = r[0][11].as<std::string>();
  return row;
}

}  // namespace gridflow::persistence
