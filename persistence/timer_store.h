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

struct DueTimer {
  int64_t timer_id = 0;
  std::string run_id;
};
// PENDING timers whose time has come (by gf_now()), earliest first; no locks taken.
std::vector<DueTimer> FindDueTimers(pqxx::transaction_base& txn, int limit);
// The PENDING timers of runs whose rows the caller locked.
std::vector<TimerRow> LoadPendingTimers(pqxx::transaction_base& txn,
                                        const std::vector<std::string>& run_ids);
// The run's PENDING timers, earliest first.
std::vector<TimerRow> ListPendingTimers(pqxx::transaction_base& txn, const std::string& run_id);
// Timers whose time has come but that have not fired yet, and how late the oldest one is.
struct DueTimerStats {
  int64_t due = 0;
  double max_lag_seconds = 0;
};
DueTimerStats ReadDueTimerStats(pqxx::transaction_base& txn);
void MarkTimerFired(pqxx::transaction_base& txn, int64_t timer_id);

}  // namespace gridflow::persistence
