#include "persistence/task_store.h"

#include <algorithm>
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
    "COALESCE(extract(epoch FROM gf_now() - t.leased_at), 0)::float8, t.iteration, t.priority, "
    "t.base_priority, t.dispatch_deadline, "
    "COALESCE(t.state = 'PENDING' AND t.start_deadline <= gf_now(), false), "
    "t.heartbeat_details::text";

// The columns of kColumns, from the row's column `at` on.
TaskRow ReadTask(const pqxx::row& r, int at = 0) {
  TaskRow t;
  t.id = r[at + 0].as<int64_t>();
  t.run_id = r[at + 1].as<std::string>();
  t.namespace_name = r[at + 2].as<std::string>();
  t.workflow_id = r[at + 3].as<std::string>();
  t.definition_name = r[at + 4].as<std::string>();
  t.definition_version = r[at + 5].as<int>();
  t.queue = r[at + 6].as<std::string>();
  t.task_type = r[at + 7].as<std::string>();
  t.step = r[at + 8].as<std::string>();
  t.idempotency_key = r[at + 9].as<std::string>();
  t.input_json = r[at + 10].as<std::string>();
  t.state = r[at + 11].as<std::string>();
  t.attempt = r[at + 12].as<int>();
  t.max_attempts = r[at + 13].as<int>();
  t.start_to_close_ms = r[at + 14].as<int64_t>();
  if (!r[at + 15].is_null()) t.heartbeat_timeout_ms = r[at + 15].as<int64_t>();
  t.lease_epoch = r[at + 16].as<int64_t>();
  t.lease_owner = OptionalText(r[at + 17]);
  t.lease_expires_at = OptionalTimestamp(r[at + 18]);
  t.attempt_deadline = OptionalTimestamp(r[at + 19]);
  t.not_before = Timestamp(r[at + 20]);
  t.lease_expired = r[at + 21].as<bool>();
  t.attempt_overdue = r[at + 22].as<bool>();
  t.frame = r[at + 23].as<std::string>();
  t.activation = r[at + 24].as<int64_t>();
  t.kind = r[at + 25].as<std::string>();
  t.cancel_requested = r[at + 26].as<bool>();
  t.last_failure_json = OptionalText(r[at + 27]);
  t.created_at = Timestamp(r[at + 28]);
  t.queued_seconds = r[at + 29].as<double>();
  t.running_seconds = r[at + 30].as<double>();
  t.iteration = r[at + 31].as<std::string>();
  t.priority = r[at + 32].as<int>();
  t.base_priority = r[at + 33].as<int>();
  t.dispatch_deadline = OptionalTimestamp(r[at + 34]);
  t.start_overdue = r[at + 35].as<bool>();
  t.heartbeat_details_json = OptionalText(r[at + 36]);
  return t;
}

}  // namespace

void PrepareTaskStatements(pqxx::connection& c) {
  const std::string cols = kColumns;
  // Claim order: class, then dispatch deadline (none last), then age — the tasks_pending index's
  // order. Dispatch controls of the namespace (docs/dispatch.md) are read first and locked in one
  // order (claims of other replicas on the same controls wait here, never deadlock): a paused
  // queue takes nothing, a paused type or an open circuit is skipped, a half-open circuit lets one
  // probe through, a rate limit caps the claim at its whole tokens and spends them.
  // $1 namespace, $2 queues, $3 types (empty: any), $4 tasks of any class, $5 owner, $6 more
  // tasks only of base class <= $7 (reserved slots).
  const std::string order = "priority, dispatch_deadline, not_before, id";
  c.prepare(
      "task_claim",
      "WITH ctl AS MATERIALIZED ("
      " SELECT d.scope, d.name, d.paused, d.breaker_state, d.breaker_probe_task,"
      " d.rate_per_second, CASE WHEN d.rate_per_second IS NOT NULL THEN LEAST(d.burst::float8,"
      " d.tokens + d.rate_per_second * GREATEST(extract(epoch FROM gf_now() - d.refilled_at), 0))"
      " END AS available"
      " FROM dispatch_controls d WHERE d.namespace = $1"
      " AND ((d.scope = 'queue' AND d.name = ANY($2::text[])) OR (d.scope = 'task_type'"
      " AND (cardinality($3::text[]) = 0 OR d.name = ANY($3::text[]))))"
      " ORDER BY d.scope, d.name FOR UPDATE),"
      " type_caps AS ("
      " SELECT name, CASE WHEN paused OR breaker_state = 'open'"
      "  OR (breaker_state = 'half_open' AND breaker_probe_task IS NOT NULL) THEN 0"
      "  ELSE LEAST(CASE WHEN breaker_state = 'half_open' THEN 1 END, floor(available)) END"
      "  AS cap FROM ctl WHERE scope = 'task_type'),"
      " blocked AS (SELECT COALESCE(array_agg(name), '{}') AS types FROM type_caps"
      "  WHERE cap <= 0),"
      " queue_caps AS ("
      " SELECT q.name, CASE WHEN c.paused THEN 0 WHEN c.available IS NOT NULL"
      "  THEN LEAST($4::integer + $6::integer, floor(c.available))::integer ELSE $4::integer + "
      "$6::integer END AS cap"
      " FROM unnest($2::text[]) AS q(name) LEFT JOIN ctl c ON c.scope = 'queue'"
      "  AND c.name = q.name),"
      // One ordered scan of tasks_pending per queue (a plain `queue = ANY(...)` makes the
      // planner fetch and sort every pending task of the namespace on each claim).
      " candidates AS ("
      " SELECT c.* FROM queue_caps q CROSS JOIN LATERAL ("
      "  SELECT id, queue, task_type, base_priority, priority, dispatch_deadline, not_before"
      "  FROM tasks WHERE state = 'PENDING' AND namespace = $1 AND queue = q.name"
      "  AND not_before <= gf_now()"
      "  AND (cardinality($3::text[]) = 0 OR task_type = ANY($3::text[]))"
      "  AND task_type <> ALL((SELECT types FROM blocked)::text[])"
      "  ORDER BY " +
          order +
          " LIMIT q.cap FOR UPDATE SKIP LOCKED) AS c WHERE q.cap > 0),"
          " within_type AS ("
          " SELECT c.*, row_number() OVER (PARTITION BY c.task_type ORDER BY " +
          order +
          ") AS nth,"
          " t.cap AS type_cap FROM candidates c LEFT JOIN type_caps t ON t.name = c.task_type),"
          " ranked AS ("
          " SELECT w.*, row_number() OVER (ORDER BY " +
          order +
          ") AS rank,"
          " row_number() OVER (PARTITION BY w.base_priority <= $7::integer ORDER BY " +
          order +
          ")"
          " AS rank_in_kind FROM within_type w WHERE w.type_cap IS NULL OR w.nth <= w.type_cap),"
          " chosen AS ("
          " SELECT id, queue, task_type FROM ranked WHERE rank <= $4::integer + $6::integer"
          " AND (rank_in_kind <= $4::integer OR ($6::integer > 0 AND base_priority <= "
          "$7::integer))),"
          // The fencing token: above every earlier one of this row, and drawn from the clock so a
          // new row of the same idempotency key (RetryRun), or a database restored from a backup,
          // never hands out a token a worker may still hold (docs/reliability.md, "Fencing
          // tokens").
          " claimed AS ("
          " UPDATE tasks t SET state = 'LEASED', lease_epoch = GREATEST(t.lease_epoch + 1,"
          " (extract(epoch FROM clock_timestamp()) * 1000000)::bigint), lease_owner = $5,"
          " leased_at = gf_now(), attempt_deadline = gf_now() + t.start_to_close,"
          " lease_expires_at = gf_now() + LEAST(COALESCE(t.heartbeat_timeout, t.start_to_close),"
          " t.start_to_close), heartbeat_details = NULL, updated_at = gf_now() "
          " FROM chosen c WHERE t.id = c.id RETURNING " +
          cols +
          "),"
          " used AS ("
          " SELECT c.scope, c.name, c.available, c.rate_per_second, c.breaker_state,"
          " (SELECT count(*) FROM chosen x WHERE (c.scope = 'queue' AND x.queue = c.name)"
          "  OR (c.scope = 'task_type' AND x.task_type = c.name)) AS n,"
          " (SELECT min(x.id) FROM chosen x WHERE c.scope = 'task_type'"
          "  AND x.task_type = c.name) AS first_id FROM ctl c),"
          " spent AS ("
          " UPDATE dispatch_controls d SET"
          " tokens = CASE WHEN u.available IS NOT NULL THEN u.available - u.n ELSE d.tokens END,"
          " refilled_at = CASE WHEN u.available IS NOT NULL THEN gf_now() ELSE d.refilled_at END,"
          " breaker_probe_task = CASE WHEN u.breaker_state = 'half_open' THEN u.first_id"
          "  ELSE d.breaker_probe_task END"
          " FROM used u WHERE u.n > 0 AND d.namespace = $1 AND d.scope = u.scope"
          " AND d.name = u.name),"
          // How long until a rate-limited queue or type of this claim has a whole token again.
          " refill AS ("
          " SELECT min((1 - (available - n)) / rate_per_second) AS seconds FROM used"
          " WHERE available IS NOT NULL AND available - n < 1)"
          " SELECT r.seconds, t.* FROM refill r LEFT JOIN claimed t ON true");
  c.prepare("task_find", "SELECT " + cols + " FROM tasks t WHERE t.id = $1 AND t.namespace = $2");
  // The open tasks of runs, without their input (transitions do not need it).
  std::string open_cols = cols;
  open_cols.replace(open_cols.find("t.input::text"), 13, "''::text");
  c.prepare("task_open_of_runs", "SELECT " + open_cols +
                                     " FROM tasks t WHERE t.run_id = ANY($1::uuid[]) "
                                     "AND t.state IN ('PENDING', 'LEASED')");
  // The runs' ids are gathered first (ARRAY(...)), so the plan is a lookup in tasks_by_run
  // whatever the statistics say. Written as a semi join, the generic plan made when statistics
  // showed no open task read every task of the table through tasks_by_run (3 ms per batch at
  // 10,000 tasks, growing with the table).
  c.prepare("task_open_of_tasks",
            "SELECT " + open_cols +
                " FROM tasks t WHERE t.run_id = ANY(ARRAY(SELECT run_id FROM tasks WHERE id = "
                "ANY($1::bigint[]))) AND t.state IN ('PENDING', 'LEASED')");
  // Locked in id order (ExtendLeasesStatement sorts the beats; the beats drive the look-ups), each
  // row looked up by its primary key from its beat: a row-locking subquery is never flattened into
  // a join, so no plan can make the statement quadratic in its beats (a join's generic plan,
  // guessing ten beats, scanned every beat per leased task). The batch variant skips rows a
  // transition holds, so it never waits while holding other rows' locks (no deadlock with a
  // transaction updating several tasks); the caller renews those one at a time with the waiting
  // variant.
  for (const bool skip_locked : {true, false}) {
    c.prepare(skip_locked ? "task_extend_leases" : "task_extend_leases_waiting",
              "WITH locked AS (SELECT l.id, b.details"
              " FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS b(id, epoch, details),"
              " LATERAL (SELECT t.id FROM tasks t WHERE t.id = b.id AND t.namespace = $1"
              " AND t.lease_epoch = b.epoch AND t.state = 'LEASED'"
              " AND ($5 OR t.queue = ANY($6::text[])) FOR UPDATE" +
                  std::string(skip_locked ? " SKIP LOCKED" : "") +
                  ") l) "
                  "UPDATE tasks t SET lease_expires_at = LEAST(gf_now() + "
                  "COALESCE(t.heartbeat_timeout, t.start_to_close), t.attempt_deadline), "
                  // '' (never valid JSON) for no details: statement parameters are never NULL.
                  "heartbeat_details = COALESCE(NULLIF(l.details, '')::jsonb, "
                  "t.heartbeat_details), updated_at = gf_now() "
                  "FROM locked l WHERE t.id = l.id "
                  "RETURNING t.id, t.lease_expires_at, t.cancel_requested OR "
                  "(SELECT r.status = 'CANCELLING' FROM runs r WHERE r.id = t.run_id)");
  }
  c.prepare("task_find_many",
            "SELECT " + cols +
                " FROM tasks t WHERE t.id = ANY($2::bigint[]) AND t.namespace = $1"
                " ORDER BY t.id");
  c.prepare("task_output_equals",
            "SELECT COALESCE(output = $2::jsonb, false) FROM tasks WHERE id = $1");
  c.prepare("task_expired",
            "SELECT id, run_id::text FROM tasks WHERE state = 'LEASED' "
            "AND lease_expires_at <= gf_now() ORDER BY lease_expires_at LIMIT $1");
  c.prepare("task_list_open", "SELECT " + cols +
                                  " FROM tasks t WHERE t.run_id = $1::uuid AND t.state IN "
                                  "('PENDING', 'LEASED') ORDER BY t.id");
  c.prepare("task_queue_stats",
            // Live tasks only, each state through its partial index (the queued ones from the
            // index alone) and counted per queue before the two are merged: the cost follows the
            // queues' depth, never the number of finished tasks.
            "SELECT CASE WHEN $1 = '' THEN namespace || '/' || queue ELSE queue END, "
            "sum(queued)::bigint, sum(due)::bigint, sum(leased)::bigint, "
            "COALESCE(extract(epoch FROM gf_now() - min(oldest)), 0)::float8 "
            // The clock read once (an InitPlan), not for every task counted.
            "FROM (SELECT namespace, queue, count(*) AS queued, "
            " count(*) FILTER (WHERE not_before <= (SELECT gf_now())) AS due, 0::bigint AS leased, "
            " min(not_before) FILTER (WHERE not_before <= (SELECT gf_now())) AS oldest FROM tasks"
            " WHERE state = 'PENDING' AND ($1 = '' OR namespace = $1) GROUP BY namespace, queue"
            " UNION ALL SELECT namespace, queue, 0, 0, count(*), NULL FROM tasks"
            " WHERE state = 'LEASED' AND ($1 = '' OR namespace = $1) GROUP BY namespace, queue)"
            " live GROUP BY namespace, queue ORDER BY 1");
}

Statement ClaimStatement(const ClaimRequest& request) {
  return {"task_claim",
          {request.namespace_name, ToTextArray(request.queues), ToTextArray(request.types),
           std::to_string(request.limit), request.owner, std::to_string(request.reserved),
           std::to_string(request.reserved_class)}};
}

ClaimResult ReadClaim(const pqxx::result& claimed) {
  ClaimResult result;
  for (const pqxx::row& r : claimed) {
    if (!r[0].is_null()) {
      result.refill_in = Millis(static_cast<int64_t>(r[0].as<double>() * 1000.0) + 1);
    }
    if (!r[1].is_null()) result.tasks.push_back(ReadTask(r, 1));
  }
  return result;
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

Statement ExtendLeasesStatement(const std::string& namespace_name,
                                const std::vector<LeaseBeat>& beats,
                                const std::optional<std::set<std::string>>& queues,
                                bool skip_locked) {
  std::vector<const LeaseBeat*> in_id_order;  // the order the statement locks their rows in
  for (const LeaseBeat& beat : beats)
    in_id_order.push_back(&beat);
  std::sort(in_id_order.begin(), in_id_order.end(),
            [](const LeaseBeat* a, const LeaseBeat* b) { return a->task_id < b->task_id; });
  std::vector<int64_t> ids;
  std::vector<int64_t> epochs;
  std::vector<std::string> details;
  for (const LeaseBeat* beat_ptr : in_id_order) {
    const LeaseBeat& beat = *beat_ptr;
    ids.push_back(beat.task_id);
    epochs.push_back(beat.lease_epoch);
    details.push_back(beat.details_json.value_or(""));
  }
  const std::vector<std::string> allowed =
      queues ? std::vector<std::string>(queues->begin(), queues->end())
             : std::vector<std::string>{};
  return {skip_locked ? "task_extend_leases" : "task_extend_leases_waiting",
          {namespace_name, ToIdArray(ids), ToIdArray(epochs), ToTextArray(details),
           queues ? "false" : "true", ToTextArray(allowed)}};
}

std::map<int64_t, LeaseExtension> ReadLeaseExtensions(const pqxx::result& extended) {
  std::map<int64_t, LeaseExtension> out;
  for (const pqxx::row& r : extended)
    out[r[0].as<int64_t>()] = LeaseExtension{Timestamp(r[1]), !r[2].is_null() && r[2].as<bool>()};
  return out;
}

std::vector<TaskRow> FindTasks(pqxx::transaction_base& txn, const std::string& namespace_name,
                               const std::vector<int64_t>& task_ids) {
  return ReadTasks(txn.exec_prepared("task_find_many", namespace_name, ToIdArray(task_ids)));
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
