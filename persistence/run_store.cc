#include "persistence/run_store.h"

#include <tuple>

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/json_records.h"
#include "persistence/statements.h"

namespace gridflow::persistence {
namespace {

// Column order read by ReadRun. $DATA is replaced by the data column or NULL for summaries.
constexpr const char* kColumns =
    "id::text, namespace, workflow_id, definition_name, definition_version, status, input::text, "
    "$DATA, current_step, result::text, failure::text, started_by, cancel_requested_by, "
    "cancel_reason, last_event_seq, created_at, updated_at, closed_at, $STATE, "
    "parent_run_id::text, parent_frame, parent_activation";

// Appended to the columns by the statements that insert or lock a run for a transition.
constexpr const char* kClockColumn = ", gf_now()";

std::string Columns(bool with_data) {
  std::string cols = kColumns;
  cols.replace(cols.find("$DATA"), 5, with_data ? "data::text" : "NULL::text");
  cols.replace(cols.find("$STATE"), 6, with_data ? "state::text" : "NULL::text");
  return cols;
}

RunRow ReadRun(const pqxx::row& r) {
  RunRow run;
  run.id = r[0].as<std::string>();
  run.namespace_name = r[1].as<std::string>();
  run.workflow_id = r[2].as<std::string>();
  run.definition_name = r[3].as<std::string>();
  run.definition_version = r[4].as<int>();
  run.status = r[5].as<std::string>();
  run.input_json = r[6].as<std::string>();
  run.data_json = r[7].is_null() ? "" : r[7].as<std::string>();
  run.current_step = OptionalText(r[8]);
  run.result_json = OptionalText(r[9]);
  run.failure_json = OptionalText(r[10]);
  run.started_by = r[11].as<std::string>();
  run.cancel_requested_by = OptionalText(r[12]);
  run.cancel_reason = OptionalText(r[13]);
  run.last_event_seq = r[14].as<int64_t>();
  run.created_at = Timestamp(r[15]);
  run.updated_at = Timestamp(r[16]);
  run.closed_at = OptionalTimestamp(r[17]);
  if (!r[18].is_null()) run.state_json = r[18].as<std::string>();
  run.parent_run_id = OptionalText(r[19]);
  run.parent_frame = OptionalText(r[20]);
  if (!r[21].is_null()) run.parent_activation = r[21].as<int64_t>();
  if (r.size() > 22) run.transaction_now = Timestamp(r[22]);  // kClockColumn
  return run;
}

std::optional<RunRow> First(const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  return ReadRun(r[0]);
}

}  // namespace

void PrepareRunStatements(pqxx::connection& c) {
  const std::string cols = Columns(true);
  const std::string cols_clock = cols + kClockColumn;
  c.prepare("run_insert",
            "INSERT INTO runs (id, namespace, workflow_id, definition_name, definition_version, "
            "status, input, data, started_by, parent_run_id, parent_frame, parent_activation) "
            "VALUES (gen_random_uuid(), $1, $2, $3, $4, 'RUNNING', $5::jsonb, $6::jsonb, $7, "
            "$8::uuid, $9, $10) "
            "ON CONFLICT (namespace, workflow_id) DO NOTHING RETURNING " +
                cols_clock);
  c.prepare("run_find", "SELECT " + cols + " FROM runs WHERE namespace = $1 AND workflow_id = $2");
  // Several runs in one statement, in id order: every transaction that locks more than one run
  // locks them in this order, so two never wait for each other.
  c.prepare("run_lock_of_tasks",
            "SELECT " + cols_clock +
                " FROM runs WHERE id IN (SELECT run_id FROM tasks WHERE id = ANY($1::bigint[])) "
                "ORDER BY id FOR UPDATE");
  c.prepare("run_insert_many",
            "INSERT INTO runs (id, namespace, workflow_id, definition_name, definition_version, "
            "status, input, data, started_by) "
            "SELECT gen_random_uuid(), n.namespace, n.workflow_id, n.definition_name, "
            "d.version, 'RUNNING', COALESCE(n.input, 'null'::jsonb), n.data, n.started_by "
            "FROM json_to_recordset($1::json) AS n(namespace text, workflow_id text, "
            "definition_name text, definition_version integer, input jsonb, data jsonb, "
            "started_by text) "
            // The version asked for, or the latest (0): read here, not in a round trip of its own.
            "CROSS JOIN LATERAL (SELECT max(version) AS version FROM definitions "
            " WHERE namespace = n.namespace AND name = n.definition_name "
            " AND (n.definition_version = 0 OR version = n.definition_version)) d "
            "WHERE d.version IS NOT NULL "
            "ON CONFLICT (namespace, workflow_id) DO NOTHING RETURNING " +
                cols_clock);
  c.prepare("run_input_equals", "SELECT input = $2::jsonb FROM runs WHERE id = $1::uuid");
  c.prepare("run_lock", "SELECT " + cols_clock + " FROM runs WHERE id = $1::uuid FOR UPDATE");
  c.prepare("run_try_lock",
            "SELECT " + cols_clock + " FROM runs WHERE id = $1::uuid FOR UPDATE SKIP LOCKED");
  c.prepare(
      "run_lock_by_wid",
      "SELECT " + cols_clock + " FROM runs WHERE namespace = $1 AND workflow_id = $2 FOR UPDATE");
  c.prepare("run_stuck_counts",
            "SELECT definition_name, reason, count(DISTINCT run_id) FROM ("
            " SELECT definition_name, 'task_unclaimed' AS reason, run_id FROM tasks"
            " WHERE state = 'PENDING' AND not_before < gf_now() - $1 * interval '1 millisecond'"
            " UNION ALL"
            " SELECT r.definition_name, 'timer_overdue', t.run_id FROM timers t"
            " JOIN runs r ON r.id = t.run_id"
            " WHERE t.state = 'PENDING' AND t.fire_at < gf_now() - $1 * interval '1 millisecond'"
            " UNION ALL"
            " SELECT definition_name, 'not_closing', id FROM runs"
            " WHERE status IN ('CANCELLING', 'COMPENSATING')"
            " AND updated_at < gf_now() - $1 * interval '1 millisecond'"
            ") stuck GROUP BY 1, 2 ORDER BY 1, 2");
  // One prepared statement per order (ORDER BY cannot be a parameter).
  for (const auto& [name, column, direction] :
       {std::tuple{"run_list_created_desc", "created_at", "DESC"},
        std::tuple{"run_list_created_asc", "created_at", "ASC"},
        std::tuple{"run_list_updated_desc", "updated_at", "DESC"},
        std::tuple{"run_list_updated_asc", "updated_at", "ASC"}}) {
    const std::string col = column;
    const std::string cmp = std::string(direction) == "DESC" ? "<" : ">";
    c.prepare(name,
              "SELECT " + Columns(false) +
                  " FROM runs WHERE namespace = $1 AND ($2 = '' OR status = $2) "
                  "AND ($3 = '' OR definition_name = $3) AND ($7 = 0 OR definition_version = $7) "
                  "AND ($8::bigint IS NULL OR created_at >= timestamptz 'epoch' + $8::bigint * "
                  "interval '1 microsecond') "
                  "AND ($9::bigint IS NULL OR created_at < timestamptz 'epoch' + $9::bigint * "
                  "interval '1 microsecond') "
                  "AND ($10 = '' OR strpos(lower(workflow_id), lower($10)) > 0) "
                  "AND ($11 = '' OR EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = runs.id "
                  "AND t.queue = $11 AND t.state IN ('PENDING', 'LEASED'))) "
                  "AND ($4::bigint IS NULL OR (" +
                  col + ", id) " + cmp +
                  " (timestamptz 'epoch' + $4::bigint * interval '1 microsecond', $5::uuid)) "
                  "ORDER BY " +
                  col + " " + direction + ", id " + direction + " LIMIT $6");
  }
}

std::optional<RunRow> InsertRun(pqxx::transaction_base& txn, const NewRun& run) {
  return First(txn.exec_prepared("run_insert", run.namespace_name, run.workflow_id,
                                 run.definition_name, run.definition_version, run.input_json,
                                 run.data_json, run.started_by, run.parent_run_id, run.parent_frame,
                                 run.parent_activation));
}

std::vector<RunRow> LockRunsOfTasks(pqxx::transaction_base& txn,
                                    const std::vector<int64_t>& task_ids) {
  std::string ids = "{";
  for (size_t i = 0; i < task_ids.size(); ++i)
    ids += (i > 0 ? "," : "") + std::to_string(task_ids[i]);
  ids += "}";
  std::vector<RunRow> runs;
  for (const pqxx::row& r : txn.exec_prepared("run_lock_of_tasks", ids))
    runs.push_back(ReadRun(r));
  return runs;
}

std::vector<RunRow> InsertRuns(pqxx::transaction_base& txn, const std::vector<NewRun>& runs) {
  JsonRecords records;
  for (const NewRun& n : runs) {
    records.Add()
        .Text("namespace", n.namespace_name)
        .Text("workflow_id", n.workflow_id)
        .Text("definition_name", n.definition_name)
        .Int("definition_version", n.definition_version)  // 0: the latest
        .Json("input", n.input_json)
        .Json("data", n.data_json)
        .Text("started_by", n.started_by);
  }
  std::vector<RunRow> inserted;
  for (const pqxx::row& r : txn.exec_prepared("run_insert_many", records.Finish()))
    inserted.push_back(ReadRun(r));
  return inserted;
}

std::optional<RunRow> FindRun(pqxx::transaction_base& txn, const std::string& namespace_name,
                              const std::string& workflow_id) {
  return First(txn.exec_prepared("run_find", namespace_name, workflow_id));
}

bool RunInputEquals(pqxx::transaction_base& txn, const std::string& run_id,
                    const std::string& input_json) {
  const pqxx::result r = txn.exec_prepared("run_input_equals", run_id, input_json);
  return !r.empty() && r[0][0].as<bool>();
}

std::optional<RunRow> LockRun(pqxx::transaction_base& txn, const std::string& run_id) {
  return First(txn.exec_prepared("run_lock", run_id));
}

std::optional<RunRow> LockRunByWorkflowId(pqxx::transaction_base& txn,
                                          const std::string& namespace_name,
                                          const std::string& workflow_id) {
  return First(txn.exec_prepared("run_lock_by_wid", namespace_name, workflow_id));
}

std::optional<RunRow> TryLockRun(pqxx::transaction_base& txn, const std::string& run_id) {
  return First(txn.exec_prepared("run_try_lock", run_id));
}

std::vector<RunRow> ListRuns(pqxx::transaction_base& txn, const RunListFilter& filter) {
  std::optional<int64_t> after_micros;
  std::optional<std::string> after_id;
  if (filter.after_time) {
    after_micros = ToEpochMicros(*filter.after_time);
    after_id = filter.after_id;
  }
  const auto micros = [](const std::optional<TimePoint>& t) -> std::optional<int64_t> {
    if (!t) return std::nullopt;
    return ToEpochMicros(*t);
  };
  const char* statement = "run_list_created_desc";
  switch (filter.order) {
    case RunListFilter::Order::kCreatedDesc:
      statement = "run_list_created_desc";
      break;
    case RunListFilter::Order::kCreatedAsc:
      statement = "run_list_created_asc";
      break;
    case RunListFilter::Order::kUpdatedDesc:
      statement = "run_list_updated_desc";
      break;
    case RunListFilter::Order::kUpdatedAsc:
      statement = "run_list_updated_asc";
      break;
  }
  std::vector<RunRow> rows;
  for (const pqxx::row& r : txn.exec_prepared(
           statement, filter.namespace_name, filter.status, filter.definition_name, after_micros,
           after_id, filter.limit, filter.definition_version, micros(filter.created_after),
           micros(filter.created_before), filter.workflow_id_contains, filter.task_queue)) {
    rows.push_back(ReadRun(r));
  }
  return rows;
}

std::vector<StuckRuns> CountStuckRuns(pqxx::transaction_base& txn, int64_t threshold_ms) {
  std::vector<StuckRuns> counts;
  for (const pqxx::row& r : txn.exec_prepared("run_stuck_counts", threshold_ms)) {
    counts.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>()});
  }
  return counts;
}

}  // namespace gridflow::persistence
