#include "persistence/batch_store.h"

#include <pqxx/pqxx>

#include "persistence/pg_types.h"
#include "persistence/run_condition_sql.h"

namespace gridflow::persistence {
namespace {

constexpr const char* kOperationColumns =
    "o.namespace, o.id, o.kind, o.query, o.reason, o.from_step, o.signal_name, o.signal_payload, "
    "o.rate_per_second, o.state, o.total, o.succeeded, o.failed, o.skipped, o.created_by, "
    "o.identity, o.created_at, o.finished_at, o.cancelled_by";

constexpr const char* kItemColumns =
    "i.seq, i.run_id::text, i.workflow_id, i.state, i.code, i.message, i.done_at";

BatchOperationRow ReadOperation(const pqxx::row& r) {
  BatchOperationRow row;
  row.namespace_name = r[0].as<std::string>();
  row.id = r[1].as<std::string>();
  row.kind = r[2].as<std::string>();
  row.query = r[3].as<std::string>();
  row.reason = r[4].as<std::string>();
  row.from_step = r[5].as<std::string>();
  row.signal_name = r[6].as<std::string>();
  row.signal_payload = r[7].as<std::string>();
  row.rate_per_second = r[8].as<double>();
  row.state = r[9].as<std::string>();
  row.total = r[10].as<int64_t>();
  row.succeeded = r[11].as<int64_t>();
  row.failed = r[12].as<int64_t>();
  row.skipped = r[13].as<int64_t>();
  row.created_by = r[14].as<std::string>();
  row.identity = r[15].as<std::string>();
  row.created_at = Timestamp(r[16]);
  row.finished_at = OptionalTimestamp(r[17]);
  row.cancelled_by = OptionalText(r[18]);
  return row;
}

BatchItemRow ReadItem(const pqxx::row& r, int first) {
  BatchItemRow row;
  row.seq = r[first].as<int64_t>();
  row.run_id = r[first + 1].as<std::string>();
  row.workflow_id = r[first + 2].as<std::string>();
  row.state = r[first + 3].as<std::string>();
  row.code = r[first + 4].as<std::string>();
  row.message = r[first + 5].as<std::string>();
  row.done_at = OptionalTimestamp(r[first + 6]);
  return row;
}

// The next pending item of a locked operation.
std::optional<BatchItemRow> NextPendingItem(pqxx::transaction_base& txn,
                                            const BatchOperationRow& op) {
  const pqxx::result r = txn.exec_params(std::string("SELECT ") + kItemColumns +
                                             " FROM batch_operation_items i WHERE i.namespace = $1"
                                             " AND i.operation_id = $2 AND i.state = 'PENDING'"
                                             " ORDER BY i.seq LIMIT 1",
                                         op.namespace_name, op.id);
  if (r.empty()) return std::nullopt;
  return ReadItem(r[0], 0);
}

}  // namespace

bool InsertBatchOperation(pqxx::transaction_base& txn, const BatchOperationRow& row,
                          const RunCondition& condition, int64_t* total) {
  QueryParams p;
  const std::string ns = p.Add(row.namespace_name, "text");
  const std::string values =
      ns + ", " + p.Add(row.id, "text") + ", " + p.Add(row.kind, "text") + ", " +
      p.Add(row.query, "text") + ", " + p.Add(row.reason, "text") + ", " +
      p.Add(row.from_step, "text") + ", " + p.Add(row.signal_name, "text") + ", " +
      p.Add(row.signal_payload, "text") + ", " +
      p.Add(std::to_string(row.rate_per_second), "double precision") + ", 'RUNNING', " +
      p.Add(row.created_by, "text") + ", " + p.Add(row.identity, "text");
  // The items are numbered in the runs' creation order, oldest first.
  const std::string sql =
      "WITH op AS (INSERT INTO batch_operations (namespace, id, kind, query, reason, from_step,"
      " signal_name, signal_payload, rate_per_second, state, created_by, identity) VALUES (" +
      values +
      ") ON CONFLICT (namespace, id) DO NOTHING RETURNING namespace, id),"
      " items AS (INSERT INTO batch_operation_items (namespace, operation_id, seq, run_id,"
      " workflow_id) SELECT op.namespace, op.id, row_number() OVER (ORDER BY runs.created_at,"
      " runs.id), runs.id, runs.workflow_id FROM op, runs WHERE runs.namespace = " +
      ns + " AND " + RunConditionSql(p, ns, condition) +
      " RETURNING 1)"
      " SELECT (SELECT count(*) FROM op), (SELECT count(*) FROM items)";
  txn.exec("SET LOCAL plan_cache_mode = force_custom_plan");
  const pqxx::row r = txn.exec_params1(sql, pqxx::prepare::make_dynamic_params(p.values()));
  if (r[0].as<int64_t>() == 0) return false;
  *total = r[1].as<int64_t>();
  // An operation that matched nothing is complete at once.
  txn.exec_params(
      "UPDATE batch_operations SET total = $3::bigint, state = CASE WHEN $3::bigint = 0 THEN "
      "'COMPLETED' ELSE"
      " state END, finished_at = CASE WHEN $3::bigint = 0 THEN gf_now() END"
      " WHERE namespace = $1 AND id = $2",
      row.namespace_name, row.id, *total);
  return true;
}

std::optional<BatchOperationRow> FindBatchOperation(pqxx::transaction_base& txn,
                                                    const std::string& namespace_name,
                                                    const std::string& id, bool for_update) {
  const pqxx::result r =
      txn.exec_params(std::string("SELECT ") + kOperationColumns +
                          " FROM batch_operations o WHERE o.namespace = $1 AND o.id = $2" +
                          (for_update ? " FOR UPDATE" : ""),
                      namespace_name, id);
  if (r.empty()) return std::nullopt;
  return ReadOperation(r[0]);
}

std::vector<BatchOperationRow> ListBatchOperations(pqxx::transaction_base& txn,
                                                   const std::string& namespace_name,
                                                   const std::string& state,
                                                   std::optional<TimePoint> after_time,
                                                   const std::string& after_id, int limit) {
  std::optional<int64_t> after_micros;
  if (after_time) after_micros = ToEpochMicros(*after_time);
  std::vector<BatchOperationRow> rows;
  for (const pqxx::row& r : txn.exec_params(
           std::string("SELECT ") + kOperationColumns +
               " FROM batch_operations o WHERE o.namespace = $1 AND ($2 = '' OR o.state = $2)"
               " AND ($3::bigint IS NULL OR (o.created_at, o.id) < (timestamptz 'epoch' +"
               " $3::bigint * interval '1 microsecond', $4))"
               " ORDER BY o.created_at DESC, o.id DESC LIMIT $5",
           namespace_name, state, after_micros, after_id, limit)) {
    rows.push_back(ReadOperation(r));
  }
  return rows;
}

std::vector<BatchItemRow> ListBatchItems(pqxx::transaction_base& txn,
                                         const std::string& namespace_name,
                                         const std::string& operation_id, const std::string& state,
                                         int64_t after_seq, int limit) {
  std::vector<BatchItemRow> rows;
  for (const pqxx::row& r :
       txn.exec_params(std::string("SELECT ") + kItemColumns +
                           " FROM batch_operation_items i WHERE i.namespace = $1 AND"
                           " i.operation_id = $2 AND ($3 = '' OR i.state = $3) AND i.seq > $4"
                           " ORDER BY i.seq LIMIT $5",
                       namespace_name, operation_id, state, after_seq, limit)) {
    rows.push_back(ReadItem(r, 0));
  }
  return rows;
}

std::optional<DueItem> TakeDueItem(pqxx::transaction_base& txn) {
  const pqxx::result r =
      txn.exec(std::string("SELECT ") + kOperationColumns +
               " FROM batch_operations o WHERE o.state = 'RUNNING' AND o.next_item_at <= gf_now()"
               " ORDER BY o.next_item_at LIMIT 1 FOR UPDATE SKIP LOCKED");
  if (r.empty()) return std::nullopt;
  DueItem due{ReadOperation(r[0]), {}};
  std::optional<BatchItemRow> item = NextPendingItem(txn, due.operation);
  if (!item) {
    // Every item is done (an operation completes with its last item; this mends one that did
    // not, e.g. written by hand): complete it rather than look at it again.
    txn.exec_params(
        "UPDATE batch_operations SET state = 'COMPLETED', finished_at = gf_now()"
        " WHERE namespace = $1 AND id = $2",
        due.operation.namespace_name, due.operation.id);
    return std::nullopt;
  }
  due.item = std::move(*item);
  return due;
}

std::optional<DueItem> RetakeItem(pqxx::transaction_base& txn, const std::string& namespace_name,
                                  const std::string& operation_id, int64_t seq) {
  const pqxx::result r = txn.exec_params(
      std::string("SELECT ") + kOperationColumns +
          " FROM batch_operations o WHERE o.namespace = $1 AND o.id = $2 AND o.state = 'RUNNING'"
          " FOR UPDATE SKIP LOCKED",
      namespace_name, operation_id);
  if (r.empty()) return std::nullopt;
  DueItem due{ReadOperation(r[0]), {}};
  std::optional<BatchItemRow> item = NextPendingItem(txn, due.operation);
  if (!item || item->seq != seq) return std::nullopt;
  due.item = std::move(*item);
  return due;
}

void FinishItem(pqxx::transaction_base& txn, const BatchOperationRow& operation, int64_t seq,
                const std::string& state, const std::string& code, const std::string& message) {
  // Pacing: the next item is due 1/rate after this one's slot, with at most a second of slots
  // saved up while nothing was due (a short burst after a pause, never a flood).
  txn.exec_params(
      "WITH item AS (UPDATE batch_operation_items SET state = $4, code = $5, message = $6,"
      " done_at = gf_now() WHERE namespace = $1 AND operation_id = $2 AND seq = $3"
      " AND state = 'PENDING' RETURNING 1)"
      " UPDATE batch_operations SET"
      " succeeded = succeeded + CASE WHEN $4 = 'SUCCEEDED' THEN 1 ELSE 0 END,"
      " failed = failed + CASE WHEN $4 = 'FAILED' THEN 1 ELSE 0 END,"
      " next_item_at = greatest(next_item_at, gf_now() - interval '1 second') +"
      " interval '1 second' / rate_per_second,"
      " state = CASE WHEN succeeded + failed + 1 >= total THEN 'COMPLETED' ELSE state END,"
      " finished_at = CASE WHEN succeeded + failed + 1 >= total THEN gf_now() END"
      " WHERE namespace = $1 AND id = $2 AND EXISTS (SELECT 1 FROM item)",
      operation.namespace_name, operation.id, seq, state, code, message);
}

bool CancelBatchOperation(pqxx::transaction_base& txn, const std::string& namespace_name,
                          const std::string& id, const std::string& by) {
  // Waits for an item in flight (it holds the operation's row), then stops the rest.
  const std::optional<BatchOperationRow> op = FindBatchOperation(txn, namespace_name, id, true);
  if (!op || op->state != batch_state::kRunning) return false;
  const pqxx::result skipped = txn.exec_params(
      "UPDATE batch_operation_items SET state = 'SKIPPED', done_at = gf_now()"
      " WHERE namespace = $1 AND operation_id = $2 AND state = 'PENDING'",
      namespace_name, id);
  txn.exec_params(
      "UPDATE batch_operations SET state = 'CANCELLED', cancelled_by = $3, finished_at = gf_now(),"
      " skipped = $4 WHERE namespace = $1 AND id = $2",
      namespace_name, id, by, static_cast<int64_t>(skipped.affected_rows()));
  return true;
}

}  // namespace gridflow::persistence
