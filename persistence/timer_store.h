// Durable timers: timer steps, signal timeouts and task deadlines. A timer belongs to a frame's
// activation; the engines' timer loop fires due ones (run row locked first, like every
// transition), so timers survive restarts and fire once.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "persistence/rows.h"

namespace gridflow::persistence {

void InsertTimer(pqxx::transaction_base& txn, const TimerRow& timer);
// Cancels the PENDING timers of (run, frame, activation).
void CancelTimers(pqxx::transaction_base& txn, const std::string& run_id, const std::string& frame,
                  int64_t activation);
// Cancels every PENDING timer of the run (it closed).
void CancelRunTimers(pqxx::transaction_base& txn, const std::string& run_id);

struct DueTimer {
  int64_t timer_id = 0;
  std::string run_id;
};
// PENDING timers whose time has come (by gf_now()), earliest first; no locks taken.
std::vector<DueTimer> FindDueTimers(pqxx::transaction_base& txn, int limit);
// The run's PENDING timers, earliest first.
std::vector<TimerRow> ListPendingTimers(pqxx::transaction_base& txn, const std::string& run_id);
// Timers whose time has come but that have not fired yet, and how late the oldest one is.
struct DueTimerStats {
  int64_t due = 0;
  double max_lag_seconds = 0;
};
DueTimerStats ReadDueTimerStats(pqxx::transaction_base& txn);
// SELECT ... FOR UPDATE; nullopt when gone.
std::optional<TimerRow> LockTimer(pqxx::transaction_base& txn, int64_t timer_id);
void MarkTimerFired(pqxx::transaction_base& txn, int64_t timer_id);

}  // namespace gridflow::persistence
