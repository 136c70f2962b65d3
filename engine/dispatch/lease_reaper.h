// LeaseReaper: every `interval`, ends the leases whose holder stopped heartbeating or ran past the
// attempt's start-to-close timeout: the task is retried per its policy or fails its run. Runs in
// every replica; replicas cooperate through row locks (a run being handled elsewhere is skipped).
#pragma once

#include <memory>

#include "common/duration.h"
#include "common/periodic_task.h"
#include "engine/scheduler/scheduler.h"

namespace gridflow::engine {

class LeaseReaper {
 public:
  LeaseReaper(Scheduler& scheduler, Millis interval);
  void Start() { task_.Start(); }
  void Stop() { task_.Stop(); }

 private:
  void Tick();

  Scheduler& scheduler_;
  PeriodicTask task_;
};

}  // namespace gridflow::engine
