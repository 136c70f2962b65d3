// BatchLoop: a background loop that handles work in batches (expired leases, due timers, pending
// messages). Every `interval` it calls `step(batch, &done)`; while a step does a full batch it
// calls again at once, so a backlog drains without waiting for the next tick. Errors are logged
// and retried on the next tick.
#pragma once

#include <functional>
#include <string>

#include "common/duration.h"
#include "common/periodic_task.h"
#include "common/status.h"

namespace gridflow {

class BatchLoop {
 public:
  using Step = std::function<Status(int batch, int* done)>;

  BatchLoop(std::string name, Millis interval, int batch, Step step);
  void Start() { task_.Start(); }
  void Stop() { task_.Stop(); }

 private:
  void Tick();

  const std::string name_;
  const int batch_;
  const Step step_;
  PeriodicTask task_;
};

}  // namespace gridflow
