#include "engine/metrics/state_gauges.h"

#include <spdlog/spdlog.h>

#include "persistence/history_partitions.h"
#include "persistence/member_store.h"
#include "persistence/run_search_store.h"
#include "persistence/run_store.h"
#include "persistence/schedule_store.h"
#include "persistence/task_store.h"
#include "persistence/timer_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {
// A queue the indexers keep short; counting stops here so that a stalled one costs no more.
constexpr int kSearchQueueCountLimit = 100'000;
}  // namespace

StateGauges::StateGauges(persistence::ConnectionPool& pool, Membership& membership,
                         HealthMonitor& health, EngineMetrics& metrics, Millis interval,
                         Millis stuck_after, std::function<void()> local)
    : pool_(pool),
      membership_(membership),
      health_(health),
      metrics_(metrics),
      stuck_after_(stuck_after),
      local_(std::move(local)),
      task_("state gauges", interval, [this] { Refresh(); }) {}

void StateGauges::Refresh() {
  if (local_) local_();
  metrics_.SetPool(pool_.in_use(), pool_.size());
  metrics_.SetDatabaseUp(health_.database_reachable());
  std::vector<persistence::QueueStats> queues;
  persistence::DueTimerStats timers;
  std::vector<persistence::StuckRuns> stuck;
  std::vector<persistence::DispatchControl> controls;
  persistence::ScheduleStats schedules;
  int alive = 0, draining = 0;
  int64_t search_queued = 0;
  double partition_runway = 0;
  persistence::TransactOptions once;
  once.max_attempts = 1;  // the next refresh is the retry
  const Status s = persistence::Transact(
      pool_, "refresh state gauges",
      [&](pqxx::work& txn) {
        queues = persistence::ListQueueStats(txn, "");
        timers = persistence::ReadDueTimerStats(txn);
        stuck = persistence::CountStuckRuns(txn, stuck_after_.count());
        controls = persistence::ListDispatchControls(txn, "");
        schedules = persistence::ReadScheduleStats(txn);
        search_queued = persistence::CountQueuedRuns(txn, kSearchQueueCountLimit);
        partition_runway = persistence::HistoryPartitionRunwaySeconds(txn);
        alive = draining = 0;
        for (const persistence::MemberRow& m : persistence::ListMembers(txn)) {
          if (!membership_.IsAlive(m)) continue;
          ++alive;
          if (m.draining) ++draining;
        }
        return Status::Ok();
      },
      once);
  if (!s.ok()) {
    spdlog::debug("state gauges not refreshed: {}", s.ToString());
    return;  // the gauges keep their last values; gridflow_database_up tells why
  }
  metrics_.SetQueues(queues);
  metrics_.SetDueTimers(timers);
  metrics_.SetStuckRuns(stuck);
  metrics_.SetDispatchControls(controls);
  metrics_.SetSchedules(schedules);
  metrics_.SetMembers(alive, draining);
  metrics_.SetSearchIndexQueued(search_queued);
  metrics_.SetHistoryPartitionRunway(partition_runway);
}

}  // namespace gridflow::engine
