#include "persistence/timer_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareTimerStatements(pqxx::connection& c) {
  c.prepare("timer_due",
            "SELECT id, run_id::text FROM timers WHERE state = 'PENDING' AND fire_at <= gf_now() "
            "ORDER BY fire_at LIMIT $1");
  c.prepare("timer_pending_of_runs",
            "SELECT id, run_id::text, frame, activation, step, kind, fire_at, state FROM timers "
            "WHERE run_id = ANY($1::uuid[]) AND state = 'PENDING'");
  c.prepare("timer_list_pending",
            "SELECT id, run_id::text, frame, activation, step, kind, fire_at, state FROM timers "
            "WHERE run_id = $1::uuid AND state = 'PENDING' ORDER BY fire_at");
  c.prepare("timer_due_stats",
            "SELECT count(*), COALESCE(extract(epoch FROM gf_now() - min(fire_at)), 0)::float8 "
            "FROM timers WHERE state = 'PENDING' AND fire_at <= gf_now()");
  c.prepare("timer_fired", "UPDATE timers SET state = 'FIRED', fired_at = gf_now() WHERE id = $1");
}

std::vector<DueTimer> FindDueTimers(pqxx::transaction_base& txn, int limit) {
  std::vector<DueTimer> due;
  for (const pqxx::row& r : txn.exec_prepared("timer_due", limit)) {
    due.push_back({r[0].as<int64_t>(), r[1].as<std::string>()});
  }
  return due;
}

namespace {

TimerRow ReadTimer(const pqxx::row& r) {
  TimerRow t;
  t.id = r[0].as<int64_t>();
  t.run_id = r[1].as<std::string>();
  t.frame = r[2].as<std::string>();
  t.activation = r[3].as<int64_t>();
  t.step = r[4].as<std::string>();
  t.kind = r[5].as<std::string>();
  t.fire_at = Timestamp(r[6]);
  t.state = r[7].as<std::string>();
  return t;
}

}  // namespace

std::vector<TimerRow> LoadPendingTimers(pqxx::transaction_base& txn,
                                        const std::vector<std::string>& run_ids) {
  std::vector<TimerRow> timers;
  for (const pqxx::row& r : txn.exec_prepared("timer_pending_of_runs", ToTextArray(run_ids)))
    timers.push_back(ReadTimer(r));
  return timers;
}

std::vector<TimerRow> ListPendingTimers(pqxx::transaction_base& txn, const std::string& run_id) {
  std::vector<TimerRow> timers;
  for (const pqxx::row& r : txn.exec_prepared("timer_list_pending", run_id)) {
    timers.push_back(ReadTimer(r));
  }
  return timers;
}

void MarkTimerFired(pqxx::transaction_base& txn, int64_t timer_id) {
  txn.exec_prepared("timer_fired", timer_id);
}

DueTimerStats ReadDueTimerStats(pqxx::transaction_base& txn) {
  const pqxx::row r = txn.exec_prepared1("timer_due_stats");
  return {r[0].as<int64_t>(), r[1].as<double>()};
}

}  // namespace gridflow::persistence
