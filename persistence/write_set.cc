#include "persistence/write_set.h"

#include <atomic>
#include <stdexcept>
#include <string_view>

#include <pqxx/connection>
#include <pqxx/result>

#include "common/json_text.h"
#include "persistence/event_store.h"
#include "persistence/json_records.h"
#include "persistence/statements.h"
#include "persistence/task_store.h"

namespace gridflow::persistence {
namespace {

const char* OpName(int op) {
  static constexpr const char* kNames[] = {"complete", "fail",   "retry",
                                           "release",  "cancel", "cancel_request"};
  return kNames[op];
}

// `patch`'s members set in the JSON object `*data` (both JSON text).
void ApplyDataPatch(std::string* data, const std::string& patch) {
  nlohmann::json merged = nlohmann::json::parse(*data);
  merged.update(nlohmann::json::parse(patch));
  *data = DumpJson(merged);
}

// A record of the run as its transition leaves it: what a run update writes, and the start of a
// new run's record. A patch goes as data_patch, data absent (the statement keeps the stored data
// and sets the patch's members); an empty patch goes as nothing at all.
JsonRecords& RunStateRecord(JsonRecords& records, const RunRow& r, bool closed,
                            const std::optional<std::string>& data_patch) {
  records.Add().Text("id", r.id).Text("status", r.status);
  if (!data_patch) {
    records.Json("data", r.data_json);
  } else if (*data_patch != "{}") {
    records.Json("data_patch", *data_patch);
  }
  return records.NullableText("current_step", r.current_step)
      .NullableJson("result", r.result_json)
      .NullableJson("failure", r.failure_json)
      .NullableText("cancel_requested_by", r.cancel_requested_by)
      .NullableText("cancel_reason", r.cancel_reason)
      .Json("state", r.state_json)
      .Int("last_event_seq", r.last_event_seq)
      .Bool("closed", closed)
      .Json("search_attributes", r.search_attributes_json);
}

}  // namespace

std::string FlushStatementName(unsigned parts) {
  return "write_set_flush_" + std::to_string(parts);
}

void PrepareWriteSetStatements(pqxx::connection& c) {
  c.prepare("task_ids",
            "SELECT nextval(pg_get_serial_sequence('tasks', 'id')) FROM generate_series(1, $1)");
  // A circuit breaker's next state from the attempts of this statement (o) and its row (d): in
  // SET, d is the row as it was (docs/dispatch.md, "Circuit breakers").
  const std::string fresh =
      "(d.breaker_state <> 'closed' OR d.window_started_at IS NULL"
      " OR d.window_started_at + d.breaker_window <= gf_now())";
  const std::string attempts =
      "(CASE WHEN " + fresh + " THEN 0 ELSE d.window_attempts END + o.attempts)";
  const std::string failures =
      "(CASE WHEN " + fresh + " THEN 0 ELSE d.window_failures END + o.failures)";
  const std::string trips = "(d.breaker_state = 'closed' AND " + attempts +
                            " >= d.breaker_min_attempts AND " + failures +
                            " >= d.breaker_failure_rate * " + attempts + ")";
  const std::string probe_ok =
      "(d.breaker_state = 'half_open' AND d.breaker_probe_task = ANY(o.succeeded))";
  const std::string probe_failed =
      "(d.breaker_state = 'half_open' AND d.breaker_probe_task = ANY(o.failed))";
  const std::string changes = "(" + trips + " OR " + probe_ok + " OR " + probe_failed + ")";
  // The parts of the write statement a batch may not need (FlushPart, write_set.h); a part left
  // out is not initialised by the executor — a start's statement has 7 or 8 of the 15 CTEs — while
  // its parameters stay typed (unused_params), so every variant takes the same thirteen.
  const std::string new_timers = std::string(
      " new_timers AS ("
      " INSERT INTO timers (run_id, frame, activation, step, kind, fire_at, state)"
      " SELECT m.run_id, m.frame, m.activation, m.step, m.kind,"
      " timestamptz 'epoch' + m.fire_at_us * interval '1 microsecond', 'PENDING'"
      " FROM jsonb_to_recordset($5::jsonb) AS m(run_id uuid, frame text, activation bigint,"
      " step text, kind text, fire_at_us bigint)),");
  // Search attributes whose value changed: typed rows for queries (docs/search.md); a NULL
  // value unsets one. The two CTEs touch different rows.
  const std::string attributes = std::string(
      " attribute_rows AS (SELECT * FROM jsonb_to_recordset($12::jsonb) AS a(run_id uuid,"
      " namespace text, name text, type text, value text)),"
      " attributes_set AS ("
      " INSERT INTO run_attributes (run_id, name, namespace, keyword, number, instant, day, flag)"
      " SELECT run_id, name, namespace, CASE WHEN type = 'keyword' THEN value END,"
      " CASE WHEN type = 'number' THEN value::double precision END,"
      " CASE WHEN type = 'datetime' THEN value::timestamptz END,"
      " CASE WHEN type = 'date' THEN value::date END,"
      " CASE WHEN type = 'bool' THEN value::boolean END"
      " FROM attribute_rows WHERE value IS NOT NULL"
      " ON CONFLICT (run_id, name) DO UPDATE SET keyword = EXCLUDED.keyword,"
      " number = EXCLUDED.number, instant = EXCLUDED.instant, day = EXCLUDED.day,"
      " flag = EXCLUDED.flag),"
      " attributes_unset AS ("
      " DELETE FROM run_attributes d USING attribute_rows a"
      " WHERE a.value IS NULL AND d.run_id = a.run_id AND d.name = a.name),");
  const std::string cancelled_timers = std::string(
      " cancelled_timers AS ("
      " UPDATE timers SET state = 'CANCELLED' WHERE state = 'PENDING'"
      " AND (id = ANY($6::bigint[]) OR run_id = ANY($10::uuid[]))),");
  const std::string breakers = std::string(
      " outcomes AS ("
      " SELECT a.namespace, a.task_type, count(*) AS attempts,"
      " count(*) FILTER (WHERE NOT a.succeeded) AS failures,"
      " COALESCE(array_agg(a.task_id) FILTER (WHERE a.succeeded), '{}') AS succeeded,"
      " COALESCE(array_agg(a.task_id) FILTER (WHERE NOT a.succeeded), '{}') AS failed"
      " FROM jsonb_to_recordset($11::jsonb) AS a(namespace text, task_type text, task_id bigint,"
      " succeeded boolean) GROUP BY a.namespace, a.task_type),"
      " breakers AS ("
      " UPDATE dispatch_controls d SET"
      " breaker_state = CASE WHEN " +
      trips + " OR " + probe_failed + " THEN 'open' WHEN " + probe_ok +
      " THEN 'closed' ELSE d.breaker_state END,"
      " breaker_changed_at = CASE WHEN " +
      changes +
      " THEN gf_now() ELSE d.breaker_changed_at"
      " END,"
      " breaker_probe_task = CASE WHEN " +
      changes +
      " THEN NULL ELSE d.breaker_probe_task END,"
      " window_started_at = CASE WHEN " +
      changes +
      " OR d.breaker_state <> 'closed' THEN NULL"
      " WHEN " +
      fresh +
      " THEN gf_now() ELSE d.window_started_at END,"
      " window_attempts = CASE WHEN " +
      changes +
      " OR d.breaker_state <> 'closed' THEN 0"
      " ELSE " +
      attempts +
      " END,"
      " window_failures = CASE WHEN " +
      changes +
      " OR d.breaker_state <> 'closed' THEN 0"
      " ELSE " +
      failures +
      " END,"
      " updated_at = gf_now()"
      " FROM outcomes o WHERE d.namespace = o.namespace AND d.scope = 'task_type'"
      " AND d.name = o.task_type AND d.breaker_failure_rate IS NOT NULL"
      " RETURNING d.namespace, d.name, d.breaker_state,"
      " d.breaker_changed_at = gf_now() AS changed),");
  // New runs in their final state (WriteSet::InsertRun): what the start's insert and the write
  // of its first step would have left, in one row — created, updated and keyed at `created_us`,
  // its history head the hash of its last new event.
  const std::string new_runs = std::string(
      " new_runs AS ("
      " INSERT INTO runs (id, namespace, workflow_id, definition_name, definition_version, status,"
      " input, data, current_step, result, failure, started_by, last_event_seq, row_version,"
      " created_at, updated_at, closed_at, state, history_head, search_attributes, version_reason,"
      " history_key)"
      " SELECT n.id, n.namespace, n.workflow_id, n.definition_name, n.definition_version,"
      " n.status, COALESCE(n.input, 'null'::jsonb), n.data, n.current_step, n.result, n.failure,"
      " n.started_by, n.last_event_seq, 2, c.at, c.at, CASE WHEN n.closed THEN c.at END, n.state,"
      " h.hash, COALESCE(n.search_attributes, '{}'::jsonb), n.version_reason, c.at"
      " FROM jsonb_to_recordset($13::jsonb) AS n(id uuid, namespace text, workflow_id text,"
      " definition_name text, definition_version integer, status text, input jsonb, data jsonb,"
      " current_step text, result jsonb, failure jsonb, started_by text, last_event_seq bigint,"
      " state jsonb, search_attributes jsonb, version_reason text, closed boolean, routed boolean,"
      " created_us bigint) LEFT JOIN heads h ON h.run_id = n.id"
      " CROSS JOIN LATERAL (SELECT timestamptz 'epoch' + n.created_us * interval '1 microsecond'"
      " AS at) c"
      // What the replica planned must hold (migration 24), or the statement is refused.
      " WHERE CASE WHEN c.at BETWEEN gf_now() - interval '100 milliseconds'"
      "  AND gf_now() + interval '100 milliseconds'"
      "  AND (NOT n.routed OR EXISTS (SELECT 1 FROM gf_route_version(n.namespace,"
      "  n.definition_name, n.workflow_id) g WHERE g.version = n.definition_version"
      "  AND g.reason = 'latest'))"
      "  THEN true ELSE gf_start_refused(n.workflow_id, n.definition_version, c.at) END),");
  const std::string notified = std::string(
      " notified AS ("
      " SELECT count(pg_notify('" +
      std::string(kTaskChannel) +
      "', k)) AS n FROM (SELECT unnest($7::text[]) AS k UNION"
      // Tasks meant for a worker but left in their queue: announced like any new work.
      " SELECT namespace || '/' || queue FROM incoming"
      " WHERE state = 'LEASED' AND placed = 'PENDING') keys)");
  // One statement for everything a transaction writes. Data-modifying CTEs all run (on the same
  // snapshot: no two of them touch the same row); the NOTIFY CTE runs because the final SELECT
  // reads it. A JSON null arrives as SQL NULL, hence the COALESCEs for JSON columns whose value
  // may be the JSON null. The record sets are read as jsonb: parsed once (as json they were
  // validated, parsed again into records, and their jsonb fields parsed a third time).
  for (unsigned parts = 0; parts <= kAllFlushParts; ++parts) {
    std::string unused = " unused_params AS (SELECT 1 WHERE false";
    std::string sql = std::string(
        "WITH incoming AS ("
        " SELECT n.*, CASE WHEN n.state <> 'LEASED' THEN n.state"
        // Eager dispatch only where a claim would have taken this task now: nothing controls its
        // queue or type, and nothing more urgent of its queue is waiting.
        "  WHEN EXISTS (SELECT 1 FROM dispatch_controls d WHERE d.namespace = n.namespace"
        "   AND ((d.scope = 'queue' AND d.name = n.queue)"
        "   OR (d.scope = 'task_type' AND d.name = n.task_type))"
        "   AND (d.paused OR d.rate_per_second IS NOT NULL OR d.breaker_state <> 'closed'))"
        "  OR EXISTS (SELECT 1 FROM tasks p WHERE p.state = 'PENDING'"
        "   AND p.namespace = n.namespace AND p.queue = n.queue AND p.priority < n.priority"
        "   AND p.not_before <= gf_now()) THEN 'PENDING'"
        "  ELSE 'LEASED' END AS placed"
        " FROM jsonb_to_recordset($1::jsonb) AS n(id bigint, run_id uuid, namespace text,"
        " workflow_id text, definition_name text, definition_version integer, queue text,"
        " task_type text, step text, idempotency_key text, input jsonb, state text,"
        " max_attempts integer, start_to_close_ms bigint, heartbeat_timeout_ms bigint, frame text,"
        " activation bigint, kind text, iteration text, lease_owner text, priority smallint,"
        " dispatch_deadline_us bigint, schedule_to_start_ms bigint)),"
        " new_tasks AS ("
        " INSERT INTO tasks (id, run_id, namespace, workflow_id, definition_name, "
        " definition_version, queue, task_type, step, idempotency_key, input, state, max_attempts, "
        " start_to_close, heartbeat_timeout, frame, activation, kind, iteration, lease_owner, "
        " lease_epoch, leased_at, attempt_deadline, lease_expires_at, priority, base_priority,"
        " dispatch_deadline, schedule_to_start, start_deadline) OVERRIDING SYSTEM VALUE"
        " SELECT n.id, n.run_id, n.namespace, n.workflow_id, n.definition_name, "
        " n.definition_version, n.queue, n.task_type, n.step, n.idempotency_key, "
        " COALESCE(n.input, 'null'::jsonb), n.placed, n.max_attempts, "
        " n.start_to_close_ms * interval '1 millisecond', "
        " n.heartbeat_timeout_ms * interval '1 millisecond', n.frame, n.activation, n.kind, "
        " n.iteration, CASE WHEN n.placed = 'LEASED' THEN n.lease_owner END,"
        // A lease's epoch: PostgreSQL's clock in microseconds (task_store.cc, task_claim).
        " CASE WHEN n.placed = 'LEASED' THEN"
        " (extract(epoch FROM clock_timestamp()) * 1000000)::bigint ELSE 0 END,"
        " CASE WHEN n.placed = 'LEASED' THEN gf_now() END,"
        " CASE WHEN n.placed = 'LEASED' THEN"
        " gf_now() + n.start_to_close_ms * interval '1 millisecond' END,"
        " CASE WHEN n.placed = 'LEASED' THEN gf_now() + LEAST(COALESCE(n.heartbeat_timeout_ms,"
        " n.start_to_close_ms), n.start_to_close_ms) * interval '1 millisecond' END,"
        " COALESCE(n.priority, 2), COALESCE(n.priority, 2),"
        " timestamptz 'epoch' + n.dispatch_deadline_us * interval '1 microsecond',"
        " n.schedule_to_start_ms * interval '1 millisecond',"
        " gf_now() + n.schedule_to_start_ms * interval '1 millisecond'"
        " FROM incoming n"
        " RETURNING id, state, lease_epoch, lease_expires_at, attempt_deadline),"
        " task_updates AS ("
        " UPDATE tasks t SET"
        " state = CASE u.op WHEN 'complete' THEN 'COMPLETED' WHEN 'fail' THEN 'FAILED'"
        "  WHEN 'cancel' THEN 'CANCELLED' WHEN 'retry' THEN 'PENDING' WHEN 'release' THEN 'PENDING'"
        "  ELSE t.state END,"
        " output = CASE WHEN u.op = 'complete' THEN COALESCE(u.json, 'null'::jsonb) ELSE t.output"
        "  END,"
        " last_failure = CASE WHEN u.op IN ('fail', 'retry') THEN u.json ELSE t.last_failure END,"
        " attempt = CASE WHEN u.op = 'retry' THEN t.attempt + 1 ELSE t.attempt END,"
        " not_before = CASE WHEN u.op = 'retry' THEN gf_now() + u.delay_ms * interval"
        "  '1 millisecond' WHEN u.op = 'release' THEN gf_now() ELSE t.not_before END,"
        // A new attempt waits from its start again, at its step's class (ageing starts over).
        " start_deadline = CASE WHEN u.op = 'retry' THEN gf_now() + u.delay_ms * interval"
        "  '1 millisecond' + t.schedule_to_start WHEN u.op = 'release'"
        "  THEN gf_now() + t.schedule_to_start ELSE t.start_deadline END,"
        " priority = CASE WHEN u.op = 'retry' THEN t.base_priority ELSE t.priority END,"
        " lease_owner = CASE WHEN u.op IN ('retry', 'release') THEN NULL ELSE t.lease_owner END,"
        " lease_expires_at = CASE WHEN u.op = 'cancel_request' THEN t.lease_expires_at END,"
        " attempt_deadline = CASE WHEN u.op IN ('retry', 'release') THEN NULL"
        "  ELSE t.attempt_deadline END,"
        " cancel_requested = t.cancel_requested OR u.op = 'cancel_request',"
        " updated_at = gf_now()"
        " FROM jsonb_to_recordset($2::jsonb) AS u(id bigint, op text, json jsonb, delay_ms bigint)"
        // The ids again as an array: the plan looks them up in the primary key whatever it
        // guesses of the recordset's size.
        " WHERE t.id = u.id AND t.id = ANY($8::bigint[])),"
        " new_events AS ("
        " INSERT INTO events (run_id, seq, type, step, task_id, attempt, actor, payload, iteration,"
        " history_key)"
        " SELECT e.run_id, e.seq, e.type, e.step, e.task_id, e.attempt, e.actor, e.payload,"
        // The run's history key places the event in its run's partition (migration 16); an event
        // of no run (never written by the engine) goes where keyless writers' go, the legacy one.
        " COALESCE(e.iteration, ''),"
        // A run inserted by this statement is not visible to it: its events carry its key.
        " COALESCE(timestamptz 'epoch' + e.history_key_us * interval '1 microsecond',"
        " (SELECT r.history_key FROM runs r WHERE r.id = e.run_id), '-infinity')"
        " FROM jsonb_to_recordset($4::jsonb) AS e(run_id uuid, seq bigint,"
        " type text, step text, task_id bigint, attempt integer, actor text, payload jsonb,"
        " iteration text, history_key_us bigint) ORDER BY e.run_id, e.seq"
        // The chain trigger (migrations 8 and 25) hashes each event onto its predecessor's hash.
        " RETURNING run_id, seq, hash),"
        // Each run's new history head, the hash of its last new event: one pass over the new
        // events, joined to the runs (a look-up per run scanned every new event: quadratic).
        " heads AS (SELECT DISTINCT ON (run_id) run_id, hash FROM new_events"
        " ORDER BY run_id, seq DESC),"
        " run_updates AS ("
        " UPDATE runs r SET status = u.status,"
        // A patch sets its members; neither data nor patch: the stored value, not rewritten.
        " data = CASE WHEN u.data IS NOT NULL THEN u.data"
        " WHEN u.data_patch IS NOT NULL THEN r.data || u.data_patch ELSE r.data END,"
        " current_step = u.current_step,"
        " result = u.result, failure = u.failure, cancel_requested_by = u.cancel_requested_by,"
        " cancel_reason = u.cancel_reason, state = u.state, last_event_seq = u.last_event_seq,"
        " search_attributes = COALESCE(u.search_attributes, r.search_attributes),"
        " row_version = r.row_version + 1,"
        " history_head = COALESCE(h.hash, r.history_head),"
        // A closed run's last change is its closing (ListRuns orders closed runs by closed_at).
        " updated_at = CASE WHEN u.closed THEN COALESCE(r.closed_at, gf_now()) ELSE gf_now() END,"
        " closed_at = CASE WHEN u.closed THEN COALESCE(r.closed_at, gf_now()) END"
        " FROM jsonb_to_recordset($3::jsonb) AS u(id uuid, status text, data jsonb,"
        " data_patch jsonb, current_step text, result jsonb, failure jsonb,"
        " cancel_requested_by text, cancel_reason text, state jsonb, last_event_seq bigint,"
        " closed boolean, search_attributes jsonb) LEFT JOIN heads h ON h.run_id = u.id"
        " WHERE r.id = u.id AND r.id = ANY($9::uuid[])),");
    const auto part = [&](unsigned bit, const std::string& text, const char* params) {
      if ((parts & bit) != 0) {
        sql += text;
      } else {
        unused += params;
      }
    };
    part(kFlushNewTimers, new_timers, " AND $5::jsonb IS NULL");
    part(kFlushAttributes, attributes, " AND $12::jsonb IS NULL");
    part(kFlushCancelledTimers, cancelled_timers,
         " AND $6::bigint[] IS NULL AND $10::uuid[] IS NULL");
    part(kFlushBreakers, breakers, " AND $11::jsonb IS NULL");
    part(kFlushNewRuns, new_runs, " AND $13::jsonb IS NULL");
    sql += unused + "),";
    sql += notified;
    sql += std::string(
        " SELECT 'lease', id, lease_epoch, lease_expires_at, attempt_deadline, NULL, NULL, NULL"
        " FROM new_tasks WHERE state = 'LEASED'");
    if ((parts & kFlushBreakers) != 0)
      sql += std::string(
          " UNION ALL SELECT 'breaker', NULL, NULL, NULL, NULL, namespace, name, breaker_state"
          " FROM breakers WHERE changed");
    sql += std::string(
        " UNION ALL SELECT 'notified', n, NULL, NULL, NULL, NULL, NULL, NULL FROM notified"
        // The transaction's clock, for the replica's own reckoning of it (new runs' instants).
        " UNION ALL SELECT 'now', NULL, NULL, gf_now(), NULL, NULL, NULL, NULL");
    c.prepare(FlushStatementName(parts), sql);
  }
}

void WriteSet::InsertTask(int64_t id, const NewTask& task, std::optional<std::string> lease_owner) {
  inserted_index_[id] = task_inserts_.size();
  task_inserts_.push_back({id, task, std::move(lease_owner), false});
}

void WriteSet::Update(int64_t id, TaskUpdate update) {
  if (const auto it = inserted_index_.find(id); it != inserted_index_.end()) {
    // Inserted by this same set: only a cancellation can reach it before it was written.
    TaskInsert& insert = task_inserts_[it->second];
    if (update.op == Op::kCancel || update.op == Op::kCancelRequest) insert.cancelled = true;
    return;
  }
  const auto existing = task_updates_.find(id);
  if (existing != task_updates_.end() && update.op == Op::kCancelRequest &&
      existing->second.op != Op::kCancelRequest) {
    return;  // a final update stands
  }
  task_updates_[id] = std::move(update);
}

void WriteSet::CompleteTask(int64_t id, std::string output_json) {
  Update(id, {Op::kComplete, std::move(output_json), 0});
}
void WriteSet::FailTask(int64_t id, std::string failure_json) {
  Update(id, {Op::kFail, std::move(failure_json), 0});
}
void WriteSet::RetryTask(int64_t id, int64_t delay_ms, std::string failure_json) {
  Update(id, {Op::kRetry, std::move(failure_json), delay_ms});
}
void WriteSet::ReleaseTask(int64_t id) {
  Update(id, {Op::kRelease, "", 0});
}
void WriteSet::CancelTask(int64_t id) {
  Update(id, {Op::kCancel, "", 0});
}
void WriteSet::RequestTaskCancel(int64_t id) {
  Update(id, {Op::kCancelRequest, "", 0});
}

void WriteSet::CountAttempt(const std::string& namespace_name, const std::string& task_type,
                            int64_t task_id, bool succeeded) {
  attempts_.push_back({namespace_name, task_type, task_id, succeeded});
}

void WriteSet::SetAttribute(AttributeWrite write) {
  attribute_writes_.push_back(std::move(write));
}

void WriteSet::UpdateRun(const RunRow& run, bool closed, std::optional<std::string> data_patch) {
  const auto earlier = run_updates_.find(run.id);
  RunUpdate update{run, closed, std::move(data_patch)};
  if (earlier != run_updates_.end() && update.data_patch) {
    // What the earlier update wrote stays, under what this one sets.
    if (earlier->second.data_patch) {
      ApplyDataPatch(&*earlier->second.data_patch, *update.data_patch);
      update.data_patch = std::move(earlier->second.data_patch);
    } else {
      update.row.data_json = std::move(earlier->second.row.data_json);
      ApplyDataPatch(&update.row.data_json, *update.data_patch);
      update.data_patch.reset();
    }
  }
  if (update.data_patch) update.row.data_json.clear();  // not written: no copy kept
  run_updates_[run.id] = std::move(update);
}

void WriteSet::InsertRun(const std::string& run_id, bool routed) {
  new_runs_[run_id] = routed;
}

void WriteSet::AppendEvents(const std::string& run_id, std::vector<EventRow> events) {
  if (events.empty()) return;
  for (EventRow& e : events) {
    events_.push_back(std::move(e));
    event_runs_.push_back(run_id);
  }
}

size_t WriteSet::InsertTimer(const TimerRow& timer) {
  timer_inserts_.push_back({timer, false});
  return timer_inserts_.size() - 1;
}

void WriteSet::CancelInsertedTimer(size_t handle) {
  timer_inserts_.at(handle).cancelled = true;
}

void WriteSet::CancelTimersOfRun(const std::string& run_id) {
  runs_timers_cancelled_.insert(run_id);
}

void WriteSet::CancelTimer(int64_t id) {
  timer_cancellations_.insert(id);
}

bool WriteSet::empty() const {
  return task_inserts_.empty() && task_updates_.empty() && run_updates_.empty() &&
         events_.empty() && timer_inserts_.empty() && timer_cancellations_.empty() &&
         runs_timers_cancelled_.empty() && queue_notifications_.empty() && attempts_.empty() &&
         attribute_writes_.empty();
}

std::vector<WriteSet::Leased> WriteSet::Flush(pqxx::transaction_base& txn) const {
  const std::optional<Statement> statement = FlushStatement();
  if (!statement) return {};
  return ReadLeased(Execute(txn, *statement));
}

std::vector<WriteSet::Leased> WriteSet::ReadLeased(const pqxx::result& result) {
  std::vector<Leased> leased;
  for (const pqxx::row& row : result) {
    if (row[0].as<std::string>() != "lease") continue;
    leased.push_back(
        {row[1].as<int64_t>(), row[2].as<int64_t>(), Timestamp(row[3]), Timestamp(row[4])});
  }
  return leased;
}

std::optional<TimePoint> WriteSet::ReadClock(const pqxx::result& result) {
  for (const pqxx::row& row : result) {
    if (row[0].as<std::string>() == "now") return Timestamp(row[3]);
  }
  return std::nullopt;
}

std::vector<BreakerChange> WriteSet::ReadBreakerChanges(const pqxx::result& result) {
  std::vector<BreakerChange> changes;
  for (const pqxx::row& row : result) {
    if (row[0].as<std::string>() != "breaker") continue;
    changes.push_back(
        {row[5].as<std::string>(), row[6].as<std::string>(), row[7].as<std::string>()});
  }
  return changes;
}

std::optional<Statement> WriteSet::FlushStatement() const {
  if (empty()) return std::nullopt;
  JsonRecords tasks;
  for (const TaskInsert& i : task_inserts_) {
    const NewTask& t = i.task;
    tasks.Add()
        .Int("id", i.id)
        .Text("run_id", t.run_id)
        .Text("namespace", t.namespace_name)
        .Text("workflow_id", t.workflow_id)
        .Text("definition_name", t.definition_name)
        .Int("definition_version", t.definition_version)
        .Text("queue", t.queue)
        .Text("task_type", t.task_type)
        .Text("step", t.step)
        .Text("idempotency_key", t.idempotency_key)
        .Json("input", t.input_json)
        .Text("state", i.cancelled     ? "CANCELLED"
                       : i.lease_owner ? "LEASED"
                                       : "PENDING")
        .Int("max_attempts", t.max_attempts)
        .Int("start_to_close_ms", t.start_to_close_ms)
        .Int("heartbeat_timeout_ms", t.heartbeat_timeout_ms)
        .Text("frame", t.frame)
        .Int("activation", t.activation)
        .Text("kind", t.kind)
        .Text("iteration", t.iteration)
        .NullableText("lease_owner", i.cancelled ? std::nullopt : i.lease_owner)
        .Int("priority", t.priority)
        .Int("dispatch_deadline_us",
             t.dispatch_deadline ? std::optional<int64_t>(ToEpochMicros(*t.dispatch_deadline))
                                 : std::nullopt)
        .Int("schedule_to_start_ms", t.schedule_to_start_ms);
  }
  JsonRecords attempts;
  for (const Attempt& a : attempts_) {
    attempts.Add()
        .Text("namespace", a.namespace_name)
        .Text("task_type", a.task_type)
        .Int("task_id", a.task_id)
        .Bool("succeeded", a.succeeded);
  }
  JsonRecords updates;
  for (const auto& [id, u] : task_updates_) {
    updates.Add().Int("id", id).Text("op", OpName(static_cast<int>(u.op)));
    if (!u.json.empty()) updates.Json("json", u.json);
    if (u.op == Op::kRetry) updates.Int("delay_ms", u.delay_ms);
  }
  JsonRecords runs, inserted_runs;
  std::map<std::string, int64_t> new_run_keys;  // run id -> its history key, in microseconds
  for (auto& [id, update] : run_updates_) {
    const RunRow& r = update.row;
    if (const auto it = new_runs_.find(id); it != new_runs_.end()) {
      // A new run's data is never a patch (RunTransition::Start writes it whole): nothing stored.
      if (update.data_patch) throw std::logic_error("run " + id + ": a new run's data is a patch");
      new_run_keys[id] = ToEpochMicros(r.created_at);
      RunStateRecord(inserted_runs, r, update.closed, std::nullopt)
          .Text("namespace", r.namespace_name)
          .Text("workflow_id", r.workflow_id)
          .Text("definition_name", r.definition_name)
          .Int("definition_version", r.definition_version)
          .Json("input", r.input_json)
          .Text("started_by", r.started_by)
          .Text("version_reason", r.version_reason)
          .Bool("routed", it->second)
          .Int("created_us", ToEpochMicros(r.created_at));
      continue;
    }
    RunStateRecord(runs, r, update.closed, update.data_patch);
  }
  JsonRecords events;
  for (size_t i = 0; i < events_.size(); ++i) {
    const EventRow& e = events_[i];
    events.Add()
        .Text("run_id", event_runs_[i])
        .Int("seq", e.seq)
        .Text("type", e.type)
        .NullableText("step", e.step)
        .Int("task_id", e.task_id)
        .Int("attempt", e.attempt ? std::optional<int64_t>(*e.attempt) : std::nullopt)
        .Text("actor", e.actor)
        .Json("payload", e.payload_json);
    if (!e.iteration.empty()) events.Text("iteration", e.iteration);
    if (const auto key = new_run_keys.find(event_runs_[i]); key != new_run_keys.end())
      events.Int("history_key_us", key->second);
  }
  JsonRecords timers;
  for (const TimerInsert& i : timer_inserts_) {
    if (i.cancelled) continue;
    timers.Add()
        .Text("run_id", i.timer.run_id)
        .Text("frame", i.timer.frame)
        .Int("activation", i.timer.activation)
        .Text("step", i.timer.step)
        .Text("kind", i.timer.kind)
        .Int("fire_at_us", ToEpochMicros(i.timer.fire_at));
  }
  JsonRecords attributes;
  for (const AttributeWrite& a : attribute_writes_) {
    attributes.Add()
        .Text("run_id", a.run_id)
        .Text("namespace", a.namespace_name)
        .Text("name", a.name)
        .Text("type", a.type)
        .NullableText("value", a.value);
  }
  std::vector<std::string> cancelled_timers;
  for (const int64_t id : timer_cancellations_)
    cancelled_timers.push_back(std::to_string(id));
  const std::vector<std::string> queue_keys(queue_notifications_.begin(),
                                            queue_notifications_.end());
  std::vector<std::string> updated_tasks, updated_runs;
  for (const auto& [id, u] : task_updates_)
    updated_tasks.push_back(std::to_string(id));
  for (const auto& [id, update] : run_updates_) {
    if (!new_runs_.contains(id)) updated_runs.push_back(id);
  }
  unsigned parts = 0;
  if (!timers.empty()) parts |= kFlushNewTimers;
  if (!attributes.empty()) parts |= kFlushAttributes;
  if (!cancelled_timers.empty() || !runs_timers_cancelled_.empty()) parts |= kFlushCancelledTimers;
  if (!attempts.empty()) parts |= kFlushBreakers;
  if (!inserted_runs.empty()) parts |= kFlushNewRuns;
  return Statement{FlushStatementName(parts),
                   {tasks.Finish(), updates.Finish(), runs.Finish(), events.Finish(),
                    timers.Finish(), ToTextArray(cancelled_timers), ToTextArray(queue_keys),
                    ToTextArray(updated_tasks), ToTextArray(updated_runs),
                    ToTextArray({runs_timers_cancelled_.begin(), runs_timers_cancelled_.end()}),
                    attempts.Finish(), attributes.Finish(), inserted_runs.Finish()}};
}

namespace {
std::atomic<uint64_t> task_id_discards{0};
}  // namespace

int64_t TaskIdPool::Next(pqxx::transaction_base& txn) {
  std::lock_guard lock(mu_);
  if (const uint64_t discards = task_id_discards.load(); discards != generation_) {
    free_.clear();
    generation_ = discards;
  }
  if (free_.empty()) {
    const pqxx::result r = txn.exec_prepared("task_ids", block_);
    for (auto row = r.rbegin(); row != r.rend(); ++row)  // handed out from the back, lowest first
      free_.push_back((*row)[0].as<int64_t>());
  }
  const int64_t id = free_.back();
  free_.pop_back();
  return id;
}

bool TaskIdPool::TakenTaskId(const pqxx::sql_error& e) {
  // The constraint's name is in the message whatever the server's language.
  return e.sqlstate() == "23505" &&
         std::string_view(e.what()).find("tasks_pkey") != std::string_view::npos;
}

void TaskIdPool::DiscardAll() {
  ++task_id_discards;
}

}  // namespace gridflow::persistence
