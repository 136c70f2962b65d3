#include "persistence/task_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {
namespace {

// Column order read by ReadTask; "t." qualifies them inside UPDATE ... FROM.
constexpr const char* kColumns =
    "t.id, t.run_id::text, t.namespace, t.workflow_id, t.definition_name, t.definition_version, "
    "t.queue, t.task_type, t.step, t.idempotency_key, t.input::text, t.state, t.attempt, "
    "t.max_attempts, (extract(epoch FROM t.start_to_close) * 1000)::bigint, "
    "(extract(epoch FROM t.heartbeat_timeout) * 1000)::bigint, t.lease_epoch, t.lease_owner, "
    "t.lease_expires_at, t.attempt_deadline, t.not_before, "
    "COALESCE(t.lease_expires_at <= gf_now(), false), COALESCE(t.attempt_deadline <= gf_now(), "
    "false), t.frame, t.activation, t.kind, t.cancel_requested, t.last_failure::text, "
    "t.created_at, "
    "GREATEST(extract(epoch FROM gf_now() - t.not_before), 0)::float8, "
    "COALESCE(extract(epoch FROM gf_now() - t.leased_at), 0)::float8, t.iteration";

TaskRow ReadTask(const pqxx::row& r) {
  TaskRow t;
  t.id = r[0].as<int64_t>();
  t.run_id = r[1].as<std::string>();
  t.namespace_name = r[2].as<std::string>();
  t.workflow_id = r[3].as<std::string>();
  t.definition_name = r[4].as<std::string>();
  t.definition_version = r[5].as<int>();
  t.queue = r[6].as<std::string>();
  t.task_type = r[7].as<std::string>();
  t.step = r[8].as<std::string>();
  t.idempotency_key = r[9].as<std::string>();
  t.input_json = r[10].as<std::string>();
  t.state = r[11].as<std::string>();
  t.attempt = r[12].as<int>();
  t.max_attempts = r[13].as<int>();
  t.start_to_close_ms = r[14].as<int64_t>();
  if (!r[15].is_null()) t.heartbeat_timeout_ms = r[15].as<int64_t>();
  t.lease_epoch = r[16].as<int64_t>();
  t.lease_owner = OptionalText(r[17]);
  t.lease_expires_at = OptionalTimestamp(r[18]);
  t.attempt_deadline = OptionalTimestamp(r[19]);
  t.not_before = Timestamp(r[20]);
  t.lease_expired = r[21].as<bool>();
  t.attempt_overdue = r[22].as<bool>();
  t.frame = r[23].as<std::string>();
  t.activation = r[24].as<int64_t>();
  t.kind = r[25].as<std::string>();
  t.cancel_requested = r[26].as<bool>();
  t.last_failure_json = OptionalText(r[27]);
  t.created_at = Timestamp(r[28]);
  t.queued_seconds = r[29].as<double>();
  t.running_seconds = r[30].as<double>();
  t.iteration = r[31].as<std::string>();
  return t;
}

}  // namespace

void PrepareTaskStatements(pqxx::connection& c) {
  const std::string cols = kColumns;
  c.prepare(
      "task_claim",
      // One ordered scan of tasks_pending per queue (a plain `queue = ANY(...)` makes the
      // planner fetch and sort every pending task of the namespace on each claim).
      "WITH candidates AS ("
      " SELECT c.id FROM unnest($2::text[]) AS q(name) CROSS JOIN LATERAL ("
      "  SELECT id, not_before FROM tasks"
      "  WHERE state = 'PENDING' AND namespace = $1 AND queue = q.name"
      "  AND not_before <= gf_now()"
      "  AND (cardinality($3::text[]) = 0 OR task_type = ANY($3::text[]))"
      "  ORDER BY not_before, id LIMIT $4 FOR UPDATE SKIP LOCKED) AS c"
      " ORDER BY c.not_before, c.id LIMIT $4) "
      // The fencing token: above every earlier one of this row, and drawn from the clock so a new
      // row of the same idempotency key (RetryRun), or a database restored from a backup, never
      // hands out a token a worker may still hold (docs/reliability.md, "Fencing tokens").
      "UPDATE tasks t SET state = 'LEASED', lease_epoch = GREATEST(t.lease_epoch + 1,"
      " (extract(epoch FROM clock_timestamp()) * 1000000)::bigint), lease_owner = $5,"
      " leased_at = gf_now(), attempt_deadline = gf_now() + t.start_to_close,"
      " lease_expires_at = gf_now() + LEAST(COALESCE(t.heartbeat_timeout, t.start_to_close),"
      " t.start_to_close), heartbeat_details = NULL, updated_at = gf_now() "
      "FROM candidates c WHERE t.id = c.id RETURNING " +
          cols);
  c.prepare("task_find", "SELECT " + cols + " FROM tasks t WHERE t.id = $1 AND t.namespace = $2");
  // The open tasks of runs, without their input (transitions do not need it).
  std::string open_cols = cols;
  open_cols.replace(open_cols.find("t.input::text"), 13, "''::text");
  c.prepare("task_open_of_runs", "SELECT " + open_cols +
                                     " FROM tasks t WHERE t.run_id = ANY($1::uuid[]) "
                                     "AND t.state IN ('PENDING', 'LEASED')");
  c.prepare("task_open_of_tasks",
            "SELECT " + open_cols +
                " FROM tasks t WHERE t.run_id IN (SELECT run_id FROM tasks WHERE id = "
                "ANY($1::bigint[])) AND t.state IN ('PENDING', 'LEASED')");
  c.prepare("task_extend_lease",
            "UPDATE tasks t SET lease_expires_at = LEAST(gf_now() + "
            "COALESCE(t.heartbeat_timeout, t.start_to_close), t.attempt_deadline), "
            "heartbeat_details = COALESCE($4::jsonb, t.heartbeat_details), updated_at = gf_now() "
            "WHERE t.id = $2 AND t.namespace = $1 AND t.lease_epoch = $3 AND t.state = 'LEASED' "
            "RETURNING t.lease_expires_at, t.cancel_requested OR "
            "(SELECT r.status = 'CANCELLING' FROM runs r WHERE r.id = t.run_id)");
  c.prepare("task_output_equals",
            "SELECT COALESCE(output = $2::jsonb, false) FROM tasks WHERE id = $1");
  c.prepare("task_expired",
            "SELECT id, run_id::text FROM tasks WHERE state = 'LEASED' "
            "AND lease_expires_at <= gf_now() ORDER BY lease_expires_at LIMIT $1");
  c.prepare("task_list_open", "SELECT " + cols +
                                  " FROM tasks t WHERE t.run_id = $1::uuid AND t.state IN "
                                  "('PENDING', 'LEASED') ORDER BY t.id");
  c.prepare("task_queue_stats",
            // Live tasks only, each state through its partial index: the cost follows the queues'
            // depth, never the number of finished tasks.
            "SELECT CASE WHEN $1 = '' THEN namespace || '/' || queue ELSE queue END, "
            "count(*) FILTER (WHERE leased IS NULL), "
            "count(*) FILTER (WHERE leased IS NULL AND not_before <= gf_now()), "
            "count(*) FILTER (WHERE leased), "
            "COALESCE(extract(epoch FROM gf_now() - min(not_before) FILTER (WHERE leased IS NULL "
            "AND not_before <= gf_now())), 0)::float8 "
            "FROM (SELECT namespace, queue, not_before, NULL::boolean AS leased FROM tasks "
            " WHERE state = 'PENDING' AND ($1 = '' OR namespace = $1)"
            " UNION ALL SELECT namespace, queue, NULL, true FROM tasks"
            " WHERE state = 'LEASED' AND ($1 = '' OR namespace = $1)) live "
            "GROUP BY 1 ORDER BY 1");
}

std::vector<TaskRow> ClaimTasks(pqxx::transaction_base& txn, const std::string& namespace_name,
                                const std::vector<std::string>& queues,
                                const std::vector<std::string>& types, int limit,
                                const std::string& owner) {
  std::vector<TaskRow> tasks;
  for (const pqxx::row& r : txn.exec_prepared("task_claim", namespace_name, ToTextArray(queues),
                                              ToTextArray(types), limit, owner)) {
    tasks.push_back(ReadTask(r));
  }
  return tasks;
}

std::optional<TaskRow> FindTask(pqxx::transaction_base& txn, const std::string& namespace_name,
                                int64_t task_id) {
  const pqxx::result r = txn.exec_prepared("task_find", task_id, namespace_name);
  if (r.empty()) return std::nullopt;
  return ReadTask(r[0]);
}

Statement OpenTasksOfTasks(const std::vector<int64_t>& task_ids) {
  return {"task_open_of_tasks", {ToIdArray(task_ids)}};
}

std::vector<TaskRow> ReadTasks(const pqxx::result& result) {
  std::vector<TaskRow> tasks;
  for (const pqxx::row& r : result)
    tasks.push_back(ReadTask(r));
  return tasks;
}

std::vector<TaskRow> LoadOpenTasks(pqxx::transaction_base& txn,
                                   const std::vector<std::string>& run_ids) {
  return ReadTasks(txn.exec_prepared("task_open_of_runs", ToTextArray(run_ids)));
}

std::optional<LeaseExtension> ExtendLease(pqxx::transaction_base& txn,
                                          const std::string& namespace_name, int64_t task_id,
                                          int64_t lease_epoch,
                                          const std::optional<std::string>& details_json) {
  const pqxx::result r =
      txn.exec_prepared("task_extend_lease", namespace_name, task_id, lease_epoch, details_json);
  if (r.empty()) return std::nullopt;
  return LeaseExtension{Timestamp(r[0][0]), !r[0][1].is_null() && r[0][1].as<bool>()};
}

bool TaskOutputEquals(pqxx::transaction_base& txn, int64_t task_id, const std::string& json_text) {
  return txn.exec_prepared1("task_output_equals", task_id, json_text)[0].as<bool>();
}

std::vector<TaskRow> ListOpenTasks(pqxx::transaction_base& txn, const std::string& run_id) {
  return ReadTasks(txn.exec_prepared("task_list_open", run_id));
}

std::vector<QueueStats> ListQueueStats(pqxx::transaction_base& txn,
                                       const std::string& namespace_name) {
  std::vector<QueueStats> stats;
  for (const pqxx::row& r : txn.exec_prepared("task_queue_stats", namespace_name)) {
    stats.push_back({r[0].as<std::string>(), r[1].as<int64_t>(), r[2].as<int64_t>(),
                     r[3].as<int64_t>(), r[4].as<double>()});
  }
  return stats;
}

std::vector<ExpiredLease> FindExpiredLeases(pqxx::transaction_base& txn, int limit) {
  std::vector<ExpiredLease> leases;
  for (const pqxx::row& r : txn.exec_prepared("task_expired", limit)) {
    leases.push_back({r[0].as<int64_t>(), r[1].as<std::string>()});
  }
  return leases;
}

}  // namespace gridflow::persistence
