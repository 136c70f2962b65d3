#include "engine/dispatch/lease_reaper.h"

#include <spdlog/spdlog.h>

namespace gridflow::engine {

constexpr int kBatch = 100;

LeaseReaper::LeaseReaper(Scheduler& scheduler, Millis interval)
    : scheduler_(scheduler), task_("lease reaper", interval, [this] { Tick(); }) {}

void LeaseReaper::Tick() {
  int expired = kBatch;
  while (expired == kBatch) {  // a full batch: there may be more
    Status s = scheduler_.ExpireLeases(kBatch, &expired);
    if (!s.ok()) {
      spdlog::warn("lease reaper: {}", s.ToString());
      return;
    }
  }
}

}  // namespace gridflow::engine
