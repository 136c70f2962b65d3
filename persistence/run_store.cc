#include "persistence/run_store.h"

#include <map>
#include <stdexcept>
#include <tuple>

#include <pqxx/connection>
#include <pqxx/prepared_statement>
#include <pqxx/result>

#include "persistence/json_records.h"
#include "persistence/run_condition_sql.h"
#include "persistence/statements.h"

namespace gridflow::persistence {
namespace {

// Column order read by ReadRun. $DATA is replaced by the data column or NULL for summaries.
constexpr const char* kColumns =
    "id::text, namespace, workflow_id, definition_name, definition_version, status, input::text, "
    "$DATA, current_step, result::text, failure::text, started_by, cancel_requested_by, "
    "cancel_reason, last_event_seq, created_at, updated_at, closed_at, $STATE, "
    "parent_run_id::text, parent_frame, parent_activation, COALESCE(encode(history_head, 'hex'), "
    "''), search_attributes::text, COALESCE(version_reason, ''), COALESCE(revision_period, ''), "
    "COALESCE(revision, 0), COALESCE(supersedes, ''), COALESCE(superseded_by, ''), row_version";

// Appended to the columns by the statements that insert or lock a run for a transition.
constexpr const char* kClockColumn = ", gf_now()";

std::string Columns(bool with_data, bool with_state) {
  std::string cols = kColumns;
  cols.replace(cols.find("$DATA"), 5, with_data ? "data::text" : "NULL::text");
  cols.replace(cols.find("$STATE"), 6, with_state ? "state::text" : "NULL::text");
  return cols;
}

std::string Columns(bool with_data) {
  return Columns(with_data, with_data);
}

// A run without its input, data, result and failure's details (any can be megabytes): read as
// fields_omitted.
std::string SummaryColumns(bool with_state) {
  std::string cols = Columns(false, with_state);
  auto replace = [&cols](const std::string& column, const std::string& by) {
    cols.replace(cols.find(column), column.size(), by);
  };
  replace("input::text", "''::text");
  replace("result::text", "NULL::text");
  replace("failure::text", "(failure - 'details')::text");
  return cols;
}

// After a list's summary columns: what the input, result and failure details take as text
// (ListRuns reads them for the runs that fit its page).
constexpr const char* kOmittedFieldBytes =
    ", octet_length(input::text) + COALESCE(octet_length(result::text), 0) +"
    " COALESCE(octet_length((failure -> 'details')::text), 0)";

constexpr int kRunColumnCount = 30;  // kColumns

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
  run.data_and_state_read = !r[7].is_null();
  run.parent_run_id = OptionalText(r[19]);
  run.parent_frame = OptionalText(r[20]);
  if (!r[21].is_null()) run.parent_activation = r[21].as<int64_t>();
  run.history_head = r[22].as<std::string>();
  run.search_attributes_json = r[23].as<std::string>();
  run.version_reason = r[24].as<std::string>();
  run.revision_period = r[25].as<std::string>();
  run.revision = r[26].as<int>();
  run.supersedes = r[27].as<std::string>();
  run.superseded_by = r[28].as<std::string>();
  run.row_version = r[29].as<int64_t>();
  if (r.size() > kRunColumnCount) run.transaction_now = Timestamp(r[kRunColumnCount]);  // clock
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
  c.prepare(
      "run_insert",
      "INSERT INTO runs (id, namespace, workflow_id, definition_name, definition_version, "
      "status, input, data, started_by, parent_run_id, parent_frame, parent_activation, "
      "version_reason, revision_period, revision, supersedes) "
      "VALUES (gf_uuid_v7(clock_timestamp()), $1, $2, $3, $4, 'RUNNING', $5::jsonb, $6::jsonb, $7, "
      "$8::uuid, $9, $10, $11, NULLIF($12, ''), NULLIF($13, 0), NULLIF($14, '')) "
      "ON CONFLICT (namespace, workflow_id) DO NOTHING RETURNING " +
          cols_clock);
  c.prepare("run_find", "SELECT " + cols + " FROM runs WHERE namespace = $1 AND workflow_id = $2");
  c.prepare("run_find_summary", "SELECT " + SummaryColumns(/*with_state=*/false) +
                                    " FROM runs WHERE namespace = $1 AND workflow_id = $2");
  c.prepare("run_find_summary_state", "SELECT " + SummaryColumns(/*with_state=*/true) +
                                          " FROM runs WHERE namespace = $1 AND workflow_id = $2");
  // Several runs in one statement, in id order: every transaction that locks more than one run
  // locks them in this order, so two never wait for each other.
  // The runs' ids are gathered first (ARRAY(...)), so the plan is a lookup in runs_pkey
  // whatever the statistics say: as a semi join, a generic plan made when the tables looked
  // empty may read every run (task_store.cc, task_open_of_tasks).
  // A run whose (id, row_version) is one of $2/$3 comes without its data and state (NULL): the
  // caller holds them parsed.
  std::string lock_cols = cols_clock;
  const std::string held = "(id, row_version) IN (SELECT * FROM unnest($2::uuid[], $3::bigint[]))";
  for (const std::string column : {"data::text", "state::text"}) {
    lock_cols.replace(lock_cols.find(column), column.size(),
                      "CASE WHEN " + held + " THEN NULL ELSE " + column + " END");
  }
  c.prepare("run_lock_of_tasks", "SELECT " + lock_cols +
                                     " FROM runs WHERE id = ANY(ARRAY(SELECT run_id FROM tasks"
                                     " WHERE id = ANY($1::bigint[]))) ORDER BY id FOR UPDATE");
  c.prepare("run_data_and_state", "SELECT data::text, state::text FROM runs WHERE id = $1::uuid");
  c.prepare("run_insert_many",
            "INSERT INTO runs (id, namespace, workflow_id, definition_name, definition_version, "
            "status, input, data, started_by, version_reason) "
            "SELECT gf_uuid_v7(clock_timestamp()), n.namespace, n.workflow_id, n.definition_name, "
            "d.version, 'RUNNING', COALESCE(n.input, 'null'::jsonb), n.data, n.started_by, "
            "d.reason "
            "FROM jsonb_to_recordset($1::jsonb) AS n(namespace text, workflow_id text, "
            "definition_name text, definition_version integer, input jsonb, data jsonb, "
            "started_by text) "
            // The version asked for, or the one the latest routes this workflow id to (a canary
            // rollout, docs/rollouts.md): read here, not in a round trip of its own.
            "CROSS JOIN LATERAL (SELECT v.version, 'requested' AS reason FROM definitions v "
            " WHERE n.definition_version <> 0 AND v.namespace = n.namespace "
            " AND v.name = n.definition_name AND v.version = n.definition_version "
            " UNION ALL SELECT g.version, g.reason "
            " FROM gf_route_version(n.namespace, n.definition_name, n.workflow_id) g "
            " WHERE n.definition_version = 0) d "
            "WHERE d.version IS NOT NULL "
            "ON CONFLICT (namespace, workflow_id) DO NOTHING RETURNING " +
                cols_clock);
  c.prepare("run_last_event_seqs",
            "SELECT id::text, last_event_seq FROM runs WHERE id = ANY($1::uuid[])");
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
            " WHERE closed_at IS NULL AND status IN ('CANCELLING', 'COMPENSATING')"
            " AND updated_at < gf_now() - $1 * interval '1 millisecond'"
            ") stuck GROUP BY 1, 2 ORDER BY 1, 2");
}

std::optional<RunRow> InsertRun(pqxx::transaction_base& txn, const NewRun& run) {
  return First(txn.exec_prepared("run_insert", run.namespace_name, run.workflow_id,
                                 run.definition_name, run.definition_version, run.input_json,
                                 run.data_json, run.started_by, run.parent_run_id, run.parent_frame,
                                 run.parent_activation, run.version_reason, run.revision_period,
                                 run.revision, run.supersedes));
}

std::map<std::string, int64_t> ReadLastEventSeqs(pqxx::transaction_base& txn,
                                                 const std::vector<std::string>& run_ids) {
  std::map<std::string, int64_t> seqs;
  for (const pqxx::row& r : txn.exec_prepared("run_last_event_seqs", ToTextArray(run_ids)))
    seqs[r[0].as<std::string>()] = r[1].as<int64_t>();
  return seqs;
}

Statement LockRunsOfTasks(const std::vector<int64_t>& task_ids,
                          const std::map<std::string, int64_t>& held_versions) {
  std::vector<std::string> ids;
  std::vector<int64_t> versions;
  for (const auto& [id, version] : held_versions) {
    ids.push_back(id);
    versions.push_back(version);
  }
  return {"run_lock_of_tasks", {ToIdArray(task_ids), ToTextArray(ids), ToIdArray(versions)}};
}

void ReadDataAndState(pqxx::transaction_base& txn, RunRow* run) {
  const pqxx::row r = txn.exec_prepared1("run_data_and_state", run->id);
  run->data_json = r[0].as<std::string>();
  run->state_json = r[1].as<std::string>();
}

Statement InsertRuns(const std::vector<NewRun>& runs) {
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
  return {"run_insert_many", {records.Finish()}};
}

std::vector<RunRow> ReadRuns(const pqxx::result& result) {
  std::vector<RunRow> runs;
  for (const pqxx::row& r : result)
    runs.push_back(ReadRun(r));
  return runs;
}

std::vector<RunRow> LockRunsPastRetention(pqxx::transaction_base& txn, int limit) {
  // Per namespace through runs_closed (namespace, closed_at): the cost follows the runs due.
  return ReadRuns(txn.exec_params(
      "SELECT " + Columns(true) +
          " FROM runs WHERE id IN (SELECT r.id FROM namespaces n CROSS JOIN LATERAL"
          " (SELECT id FROM runs WHERE namespace = n.name AND closed_at IS NOT NULL"
          " AND closed_at < gf_now() - n.closed_run_retention"
          " AND NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id = runs.id)"
          " ORDER BY closed_at LIMIT $1) r WHERE n.closed_run_retention IS NOT NULL)"
          " ORDER BY closed_at LIMIT $1 FOR UPDATE SKIP LOCKED",
      limit));
}

std::optional<RunRow> FindRun(pqxx::transaction_base& txn, const std::string& namespace_name,
                              const std::string& workflow_id, RunFields fields) {
  if (fields == RunFields::kAll)
    return First(txn.exec_prepared("run_find", namespace_name, workflow_id));
  std::optional<RunRow> run = First(txn.exec_prepared(
      fields == RunFields::kSummary ? "run_find_summary" : "run_find_summary_state", namespace_name,
      workflow_id));
  if (run) run->fields_omitted = true;
  return run;
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

namespace {

std::string MicrosParam(QueryParams& p, TimePoint t) {
  return "(timestamptz 'epoch' + " + p.Add(std::to_string(ToEpochMicros(t)), "bigint") +
         " * interval '1 microsecond')";
}

// A LIKE pattern matching `text` anywhere, its wildcards taken literally.
std::string ContainsPattern(const std::string& text) {
  std::string pattern = "%";
  for (const char c : text) {
    if (c == '%' || c == '_' || c == '\\') pattern += '\\';
    pattern += c;
  }
  return pattern + "%";
}

// Whether the queue's waiting tasks are at least a fiftieth of the open runs (PostgreSQL's
// estimate of them), or a thousand when there is no estimate yet: counted from the pending index,
// at most 5000 entries read.
bool HoldsManyOpenRuns(pqxx::transaction_base& txn, const std::string& namespace_name,
                       const std::string& queue) {
  const pqxx::row r = txn.exec_params1(
      "SELECT (SELECT count(*) FROM (SELECT 1 FROM tasks WHERE state = 'PENDING'"
      " AND namespace = $1 AND queue = $2 LIMIT 5000) q),"
      " (SELECT reltuples FROM pg_class WHERE oid = to_regclass('runs_open_by_created'))",
      namespace_name, queue);
  const auto depth = r[0].as<int64_t>();
  const double open_runs = r[1].is_null() ? -1 : r[1].as<double>();
  if (depth >= 5000) return true;
  if (open_runs <= 0) return depth >= 1000;
  return depth * 50 >= open_runs;
}

}  // namespace

RunPage ListRuns(pqxx::transaction_base& txn, const RunListFilter& filter) {
  // Only the filters given are in the statement, so that each is planned for the index that
  // serves it (a catch-all statement with "$n = '' OR ..." would be planned for none).
  QueryParams p;
  const std::string namespace_param = p.Add(filter.namespace_name, "text");
  std::string where = "namespace = " + namespace_param;
  if (!filter.status.empty()) where += " AND status = " + p.Add(filter.status, "text");
  if (!filter.definition_name.empty())
    where += " AND definition_name = " + p.Add(filter.definition_name, "text");
  if (filter.definition_version != 0) {
    where +=
        " AND definition_version = " + p.Add(std::to_string(filter.definition_version), "integer");
  }
  if (!filter.revision_period.empty())
    where += " AND revision_period = " + p.Add(filter.revision_period, "text");
  // The latest revision of each period: a revision nothing superseded.
  if (filter.latest_revisions_only) where += " AND revision IS NOT NULL AND superseded_by IS NULL";
  if (filter.created_after) where += " AND created_at >= " + MicrosParam(p, *filter.created_after);
  if (filter.created_before) where += " AND created_at < " + MicrosParam(p, *filter.created_before);
  if (!filter.workflow_id_contains.empty()) {
    // Candidates from the search index (run_search's trigrams, migration 19) and the runs not
    // yet in it (their queue is a few seconds of starts at most); each run matched here.
    const std::string pattern =
        "lower(" + p.Add(ContainsPattern(filter.workflow_id_contains), "text") + ")";
    where += " AND lower(workflow_id) LIKE " + pattern +
             " AND id = ANY(ARRAY(SELECT s.run_id FROM run_search s WHERE s.namespace = " +
             namespace_param + " AND lower(s.workflow_id) LIKE " + pattern +
             " UNION ALL SELECT run_id FROM run_search_pending))";
  }
  if (filter.condition) {
    where += " AND " + RunConditionSql(p, namespace_param, *filter.condition);
  }
  if (!filter.task_queue.empty()) {
    // Runs with a task waiting or running on the queue: open runs in the page's order (their own
    // index), each checked against the queue's live tasks — so the cost follows the open runs and
    // the queue, never the history. A queue holding a good share of the open runs: each run's
    // tasks are probed (tasks_by_run) until the page is full, a few runs per match. Any other:
    // the queue's tasks are read once, from the index alone, and each run looked up in them
    // (probing would walk most open runs to find the few on the queue).
    const std::string ns = p.Add(filter.namespace_name, "text");
    const std::string queue = p.Add(filter.task_queue, "text");
    if (HoldsManyOpenRuns(txn, filter.namespace_name, filter.task_queue)) {
      // OFFSET 0 keeps the subquery a per-run probe (not a hashed read of the whole queue).
      where +=
          " AND closed_at IS NULL AND EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = runs.id"
          " AND t.state IN ('PENDING', 'LEASED') AND t.namespace = " +
          ns + " AND t.queue = " + queue + " OFFSET 0)";
    } else {
      where +=
          " AND closed_at IS NULL AND (EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = runs.id"
          " AND t.state = 'PENDING' AND t.namespace = " +
          ns + " AND t.queue = " + queue +
          ") OR EXISTS (SELECT 1 FROM tasks t WHERE t.run_id = runs.id AND t.state = 'LEASED'"
          " AND t.namespace = " +
          ns + " AND t.queue = " + queue + "))";
    }
  }
  const bool by_update = filter.order == RunListFilter::Order::kUpdatedDesc ||
                         filter.order == RunListFilter::Order::kUpdatedAsc;
  const bool desc = filter.order == RunListFilter::Order::kCreatedDesc ||
                    filter.order == RunListFilter::Order::kUpdatedDesc;
  const std::string dir = desc ? " DESC" : " ASC";
  // One more than the page: whether a next page exists.
  const std::string limit = p.Add(std::to_string(filter.limit + 1), "integer");
  // The cursor on (sort column, id), in the order's direction.
  auto after = [&](const std::string& column) -> std::string {
    if (!filter.after_time) return "";
    return " AND (" + column + ", id) " + (desc ? "<" : ">") + " (" +
           MicrosParam(p, *filter.after_time) + ", " + p.Add(filter.after_id, "uuid") + ")";
  };
  std::string sql;
  if (!by_update) {
    sql = "SELECT " + SummaryColumns(false) + kOmittedFieldBytes + " FROM runs WHERE " + where +
          after("created_at") + " ORDER BY created_at" + dir + ", id" + dir + " LIMIT " + limit;
  } else {
    // By last change: open runs through runs_open_by_updated_second (migration 20) — the page's
    // worth with the latest seconds, plus every run of the earliest of those seconds, is a set
    // that holds the page; only that set is sorted by updated_at — and closed runs through their
    // index on closed_at, which is their updated_at (write_set.cc); the two merged. Only ids and
    // times are sorted; the page's rows are read whole afterwards.
    std::string open_where = where + " AND closed_at IS NULL" + after("updated_at");
    if (filter.after_time) {
      // The cursor's second bounds the index scan; the exact cursor is the condition above.
      const int64_t micros = ToEpochMicros(*filter.after_time);
      const int64_t second = micros / 1'000'000 - (micros % 1'000'000 < 0 ? 1 : 0);
      open_where += std::string(" AND updated_second ") + (desc ? "<= " : ">= ") +
                    p.Add(std::to_string(second), "bigint");
    }
    sql = "WITH latest AS MATERIALIZED (SELECT id, updated_at, updated_second FROM runs WHERE " +
          open_where + " ORDER BY updated_second" + dir + " LIMIT " + limit +
          "), open_runs AS (SELECT id, updated_at FROM latest UNION SELECT id, updated_at FROM"
          " runs WHERE " +
          open_where + " AND updated_second = (SELECT " + (desc ? "min" : "max") +
          "(updated_second) FROM latest)) SELECT " + SummaryColumns(false) + kOmittedFieldBytes +
          " FROM runs WHERE id IN (SELECT id FROM ((SELECT id, updated_at FROM open_runs ORDER BY"
          " updated_at" +
          dir + ", id" + dir + " LIMIT " + limit +
          ") UNION ALL (SELECT id, closed_at FROM runs WHERE " + where +
          " AND closed_at IS NOT NULL" + after("closed_at") + " ORDER BY closed_at" + dir + ", id" +
          dir + " LIMIT " + limit + ")) merged ORDER BY updated_at" + dir + ", id" + dir +
          " LIMIT " + limit + ") ORDER BY runs.updated_at" + dir + ", runs.id" + dir;
  }
  // Planned for these values (the session default is one generic plan per statement): how many
  // runs a status or a time range selects decides the index.
  txn.exec("SET LOCAL plan_cache_mode = force_custom_plan");
  RunPage page;
  std::vector<std::string> whole;  // the runs whose input, result and failure details are sent
  size_t field_bytes = 0;
  for (const pqxx::row& r : txn.exec_params(sql, pqxx::prepare::make_dynamic_params(p.values()))) {
    if (static_cast<int>(page.runs.size()) == filter.limit) {
      page.more = true;
      break;
    }
    RunRow run = ReadRun(r.slice(0, kRunColumnCount));
    const auto bytes = r[kRunColumnCount].as<size_t>();
    if (bytes > filter.field_budget) {
      run.fields_omitted = true;  // alone past the budget: listed without them, on any page
    } else if (field_bytes + bytes > filter.field_budget) {
      page.more = true;  // the next page begins with it
      break;
    } else {
      field_bytes += bytes;
      whole.push_back(run.id);
    }
    page.runs.push_back(std::move(run));
  }
  if (whole.empty()) return page;
  std::map<std::string, pqxx::row> fields;
  const pqxx::result loaded = txn.exec_params(
      "SELECT id::text, input::text, result::text, failure::text FROM runs WHERE id = "
      "ANY($1::uuid[])",
      ToTextArray(whole));
  for (const pqxx::row& r : loaded)
    fields.emplace(r[0].as<std::string>(), r);
  for (RunRow& run : page.runs) {
    if (run.fields_omitted) continue;
    const auto it = fields.find(run.id);
    if (it == fields.end()) {
      run.fields_omitted = true;  // gone since (retention): what is left is the summary read
      continue;
    }
    run.input_json = it->second[1].as<std::string>();
    run.result_json = OptionalText(it->second[2]);
    run.failure_json = OptionalText(it->second[3]);
  }
  return page;
}

std::vector<StuckRuns> CountStuckRuns(pqxx::transaction_base& txn, int64_t threshold_ms) {
  std::vector<StuckRuns> counts;
  for (const pqxx::row& r : txn.exec_prepared("run_stuck_counts", threshold_ms)) {
    counts.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>()});
  }
  return counts;
}

}  // namespace gridflow::persistence
