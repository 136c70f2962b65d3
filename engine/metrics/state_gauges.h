// StateGauges: refreshes the gauges of shared state (queue backlog, due timers, stuck runs,
// cluster members, the history partitions' runway, this replica's pool) from the database every
// `interval`, on its own thread, so a scrape never waits for the database and scrapes cannot add
// load to it.
#pragma once

#include <functional>

#include "common/duration.h"
#include "common/periodic_task.h"
#include "engine/cluster/health_monitor.h"
#include "engine/cluster/membership.h"
#include "engine/metrics/engine_metrics.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class StateGauges {
 public:
  // `local` refreshes this replica's own gauges (e.g. open streams) on the same tick.
  StateGauges(persistence::ConnectionPool& pool, Membership& membership, HealthMonitor& health,
              EngineMetrics& metrics, Millis interval, Millis stuck_after,
              std::function<void()> local);

  void Start() { task_.Start(); }
  void Stop() { task_.Stop(); }
  // One refresh now (tests; the first scrape after start).
  void Refresh();

 private:
  persistence::ConnectionPool& pool_;
  Membership& membership_;
  HealthMonitor& health_;
  EngineMetrics& metrics_;
  const Millis stuck_after_;
  const std::function<void()> local_;
  PeriodicTask task_;
};

}  // namespace gridflow::engine
