#include "persistence/dispatch_control_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/pg_types.h"
#include "persistence/statements.h"
#include "persistence/task_store.h"

namespace gridflow::persistence {
namespace {

// "gf-ageing" in ASCII: the advisory lock of the ageing pass (migrations.cc has its own key).
constexpr int64_t kAgeingLockKey = 0x67662d61676569;

// Rows that no longer configure anything go (a closed breaker without configuration included).
constexpr const char* kDropEmpty =
    "DELETE FROM dispatch_controls WHERE namespace = $1 AND scope = $2 AND name = $3"
    " AND NOT paused AND rate_per_second IS NULL AND breaker_failure_rate IS NULL";

// The tasks a control covers: its queue's or its type's.
constexpr const char* kCoveredTasks =
    "namespace = $1 AND CASE WHEN $2 = 'queue' THEN queue = $3 ELSE task_type = $3 END";

}  // namespace

void PrepareDispatchControlStatements(pqxx::connection& c) {
  c.prepare("dispatch_pause",
            "INSERT INTO dispatch_controls (namespace, scope, name, paused, paused_by,"
            " paused_reason, paused_at) VALUES ($1, $2, $3, true, $4, $5, gf_now())"
            " ON CONFLICT (namespace, scope, name) DO UPDATE SET paused = true,"
            " paused_by = $4, paused_reason = $5, paused_at = gf_now(), updated_at = gf_now()");
  c.prepare("dispatch_resume",
            "UPDATE dispatch_controls SET paused = false, paused_by = NULL, paused_reason = NULL,"
            " paused_at = NULL, updated_at = gf_now()"
            " WHERE namespace = $1 AND scope = $2 AND name = $3");
  // A pause stops the schedule-to-start clock: it starts again on resume.
  c.prepare("dispatch_restart_start_clocks",
            std::string("UPDATE tasks SET start_deadline = gf_now() + schedule_to_start"
                        " WHERE state = 'PENDING' AND schedule_to_start IS NOT NULL AND ") +
                kCoveredTasks);
  // Work a change may have let go is announced to every replica's waiting workers.
  c.prepare("dispatch_announce",
            std::string("SELECT count(pg_notify('") + kTaskChannel +
                "', $1 || '/' || q)) FROM (SELECT DISTINCT queue AS q FROM tasks"
                " WHERE state = 'PENDING' AND " +
                kCoveredTasks + ") x");
  c.prepare("dispatch_set_rate",
            "INSERT INTO dispatch_controls (namespace, scope, name, rate_per_second, burst,"
            " tokens, refilled_at) VALUES ($1, $2, $3, $4, $5::integer, $5::integer, gf_now())"
            " ON CONFLICT (namespace, scope, name) DO UPDATE SET rate_per_second = $4,"
            " burst = $5::integer, tokens = $5::integer, refilled_at = gf_now(),"
            " updated_at = gf_now()");
  c.prepare("dispatch_clear_rate",
            "UPDATE dispatch_controls SET rate_per_second = NULL, burst = NULL, tokens = 0,"
            " updated_at = gf_now() WHERE namespace = $1 AND scope = $2 AND name = $3");
  c.prepare("dispatch_set_breaker",
            "INSERT INTO dispatch_controls (namespace, scope, name, breaker_failure_rate,"
            " breaker_min_attempts, breaker_window, breaker_cool_down, breaker_configured_by)"
            " VALUES ($1, 'task_type', $2, $3, $4, $5 * interval '1 millisecond',"
            " $6 * interval '1 millisecond', $7)"
            " ON CONFLICT (namespace, scope, name) DO UPDATE SET breaker_failure_rate = $3,"
            " breaker_min_attempts = $4, breaker_window = $5 * interval '1 millisecond',"
            " breaker_cool_down = $6 * interval '1 millisecond', breaker_configured_by = $7,"
            " updated_at = gf_now()"
            " WHERE $8 OR dispatch_controls.breaker_configured_by IS DISTINCT FROM 'operator'");
  c.prepare("dispatch_clear_breaker",
            "UPDATE dispatch_controls SET breaker_failure_rate = NULL,"
            " breaker_min_attempts = NULL, breaker_window = NULL, breaker_cool_down = NULL,"
            " breaker_configured_by = NULL, breaker_state = 'closed', breaker_probe_task = NULL,"
            " window_started_at = NULL, window_attempts = 0, window_failures = 0,"
            " updated_at = gf_now() WHERE namespace = $1 AND scope = 'task_type' AND name = $2");
  c.prepare("dispatch_reset_breaker",
            "UPDATE dispatch_controls SET breaker_state = 'closed', breaker_changed_at = gf_now(),"
            " breaker_probe_task = NULL, window_started_at = NULL, window_attempts = 0,"
            " window_failures = 0, updated_at = gf_now()"
            " WHERE namespace = $1 AND scope = 'task_type' AND name = $2"
            " AND breaker_state <> 'closed'");
  c.prepare("dispatch_drop_empty", kDropEmpty);
  c.prepare(
      "dispatch_list",
      "SELECT namespace, scope, name, paused, paused_by, paused_reason, paused_at,"
      " rate_per_second, burst, CASE WHEN rate_per_second IS NULL THEN 0 ELSE LEAST(burst,"
      " tokens + rate_per_second * GREATEST(extract(epoch FROM gf_now() - refilled_at), 0)) END,"
      " breaker_failure_rate, breaker_min_attempts,"
      " (extract(epoch FROM breaker_window) * 1000)::bigint,"
      " (extract(epoch FROM breaker_cool_down) * 1000)::bigint, breaker_configured_by,"
      " breaker_state, breaker_changed_at, window_attempts, window_failures"
      " FROM dispatch_controls WHERE $1 = '' OR namespace = $1 ORDER BY namespace, scope, name");
  c.prepare("dispatch_half_open",
            "UPDATE dispatch_controls SET breaker_state = 'half_open',"
            " breaker_changed_at = gf_now(), breaker_probe_task = NULL, updated_at = gf_now()"
            " WHERE breaker_state = 'open' AND breaker_changed_at + breaker_cool_down <= gf_now()"
            " RETURNING namespace, name, breaker_state");
  c.prepare("dispatch_lost_probes",
            "UPDATE dispatch_controls d SET breaker_probe_task = NULL, updated_at = gf_now()"
            " WHERE breaker_state = 'half_open' AND breaker_probe_task IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = d.breaker_probe_task"
            " AND t.state = 'LEASED')");
  // $1 seconds per class lifted, $2 at most this many tasks.
  const std::string lifted =
      "GREATEST(1, base_priority - floor(extract(epoch FROM gf_now() - not_before) / $1)::int)";
  c.prepare("dispatch_age_lock",
            "SELECT pg_try_advisory_xact_lock(" + std::to_string(kAgeingLockKey) + ")");
  c.prepare(
      "dispatch_age",
      "UPDATE tasks t SET priority = a.lifted FROM (SELECT id, " + lifted +
          " AS lifted FROM tasks WHERE state = 'PENDING' AND priority > 1 AND base_priority >= 2"
          " AND not_before <= gf_now() - $1 * interval '1 second' AND " +
          lifted +
          " < priority ORDER BY not_before LIMIT $2 FOR UPDATE SKIP LOCKED) a"
          " WHERE t.id = a.id");
  c.prepare("dispatch_overdue_starts",
            "SELECT t.id, t.run_id::text FROM tasks t WHERE t.state = 'PENDING'"
            " AND t.start_deadline <= gf_now()"
            // Work held back by a pause, a rate limit or a circuit is not late.
            " AND NOT EXISTS (SELECT 1 FROM dispatch_controls d WHERE d.namespace = t.namespace"
            " AND ((d.scope = 'queue' AND d.name = t.queue)"
            " OR (d.scope = 'task_type' AND d.name = t.task_type))"
            " AND (d.paused OR d.rate_per_second IS NOT NULL OR d.breaker_state <> 'closed'))"
            " ORDER BY t.start_deadline LIMIT $1");
}

void SetPaused(pqxx::transaction_base& txn, const std::string& namespace_name,
               const std::string& scope, const std::string& name, bool paused,
               const std::string& by, const std::string& reason) {
  if (paused) {
    txn.exec_prepared("dispatch_pause", namespace_name, scope, name, by, reason);
    return;
  }
  txn.exec_prepared("dispatch_resume", namespace_name, scope, name);
  txn.exec_prepared("dispatch_restart_start_clocks", namespace_name, scope, name);
  txn.exec_prepared("dispatch_drop_empty", namespace_name, scope, name);
  txn.exec_prepared("dispatch_announce", namespace_name, scope, name);
}

void SetRateLimit(pqxx::transaction_base& txn, const std::string& namespace_name,
                  const std::string& scope, const std::string& name,
                  std::optional<std::pair<double, int>> rate_and_burst) {
  if (rate_and_burst) {
    txn.exec_prepared("dispatch_set_rate", namespace_name, scope, name, rate_and_burst->first,
                      rate_and_burst->second);
  } else {
    txn.exec_prepared("dispatch_clear_rate", namespace_name, scope, name);
    txn.exec_prepared("dispatch_drop_empty", namespace_name, scope, name);
  }
  txn.exec_prepared("dispatch_announce", namespace_name, scope, name);
}

void SetBreaker(pqxx::transaction_base& txn, const std::string& namespace_name,
                const std::string& task_type, const std::optional<BreakerConfig>& config,
                const std::string& configured_by, bool replace_operator) {
  if (config) {
    txn.exec_prepared("dispatch_set_breaker", namespace_name, task_type, config->failure_rate,
                      config->min_attempts, config->window.count(), config->cool_down.count(),
                      configured_by, replace_operator);
    return;
  }
  txn.exec_prepared("dispatch_clear_breaker", namespace_name, task_type);
  txn.exec_prepared("dispatch_drop_empty", namespace_name, kScopeTaskType, task_type);
  txn.exec_prepared("dispatch_announce", namespace_name, kScopeTaskType, task_type);
}

bool ResetBreaker(pqxx::transaction_base& txn, const std::string& namespace_name,
                  const std::string& task_type) {
  const bool closed =
      txn.exec_prepared("dispatch_reset_breaker", namespace_name, task_type).affected_rows() > 0;
  txn.exec_prepared("dispatch_announce", namespace_name, kScopeTaskType, task_type);
  return closed;
}

std::vector<DispatchControl> ListDispatchControls(pqxx::transaction_base& txn,
                                                  const std::string& namespace_name) {
  std::vector<DispatchControl> out;
  for (const pqxx::row& r : txn.exec_prepared("dispatch_list", namespace_name)) {
    DispatchControl c;
    c.namespace_name = r[0].as<std::string>();
    c.scope = r[1].as<std::string>();
    c.name = r[2].as<std::string>();
    c.paused = r[3].as<bool>();
    c.paused_by = OptionalText(r[4]);
    c.paused_reason = OptionalText(r[5]);
    c.paused_at = OptionalTimestamp(r[6]);
    if (!r[7].is_null()) c.rate_per_second = r[7].as<double>();
    if (!r[8].is_null()) c.burst = r[8].as<int>();
    c.tokens = r[9].as<double>();
    if (!r[10].is_null()) {
      c.breaker = BreakerConfig{r[10].as<double>(), r[11].as<int>(), Millis(r[12].as<int64_t>()),
                                Millis(r[13].as<int64_t>())};
    }
    c.breaker_configured_by = OptionalText(r[14]);
    c.breaker_state = r[15].as<std::string>();
    c.breaker_changed_at = OptionalTimestamp(r[16]);
    c.window_attempts = r[17].as<int>();
    c.window_failures = r[18].as<int>();
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<BreakerChange> HalfOpenCooledBreakers(pqxx::transaction_base& txn) {
  std::vector<BreakerChange> changes;
  for (const pqxx::row& r : txn.exec_prepared("dispatch_half_open")) {
    changes.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
  }
  txn.exec_prepared("dispatch_lost_probes");
  return changes;
}

int AgePriorities(pqxx::transaction_base& txn, Millis step, int limit) {
  // Replicas' passes would find the same tasks (SKIP LOCKED keeps them from lifting one twice,
  // not from scanning twice): one pass at a time.
  if (!txn.exec_prepared("dispatch_age_lock")[0][0].as<bool>()) return 0;
  const double seconds = static_cast<double>(step.count()) / 1000.0;
  return static_cast<int>(txn.exec_prepared("dispatch_age", seconds, limit).affected_rows());
}

std::vector<OverdueStart> FindOverdueStarts(pqxx::transaction_base& txn, int limit) {
  std::vector<OverdueStart> out;
  for (const pqxx::row& r : txn.exec_prepared("dispatch_overdue_starts", limit)) {
    out.push_back({r[0].as<int64_t>(), r[1].as<std::string>()});
  }
  return out;
}

}  // namespace gridflow::persistence
