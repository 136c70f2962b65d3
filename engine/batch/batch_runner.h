// BatchRunner: works through batch operations (docs/operations.md, "Batch operations"). Every
// replica runs RunDue; each item is ONE transaction that locks its operation's row (FOR UPDATE
// SKIP LOCKED: one replica at a time per operation, at the operation's rate), applies the command
// to the run (Scheduler::ApplyCommandIn) and records the item's outcome — so a crash before the
// commit leaves the item pending for whichever replica comes next, and a run is never acted on
// twice. A command the run refuses (it is not in a state the command applies to, it vanished)
// rolls back and is recorded as FAILED with the engine's code and message; trouble with the
// database leaves the item pending and is retried.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/scheduler/scheduler.h"
#include "persistence/batch_store.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class BatchRunner {
 public:
  BatchRunner(persistence::ConnectionPool& pool, Scheduler& scheduler);

  // Handles up to `batch` due items (of any operations); *done: items handled.
  Status RunDue(int batch, int* done);

  // The command an operation's kind stands for; false for an unknown kind.
  static bool KindOf(const std::string& kind, RunCommand::Kind* out);

 private:
  // One due item, if any: *handled is false when none was due.
  Status RunOne(bool* handled);
  // Records a refusal of the item's command (after its transaction rolled back).
  Status RecordRefusal(const persistence::DueItem& due, const Status& refusal);

  persistence::ConnectionPool& pool_;
  Scheduler& scheduler_;
};

}  // namespace gridflow::engine
