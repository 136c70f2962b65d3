#include "engine/retention/history_partition_job.h"

#include <spdlog/spdlog.h>

#include "persistence/history_partitions.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

Status HistoryPartitionJob::Maintain(int* created, int* dropped) {
  *created = 0;
  *dropped = 0;
  std::vector<persistence::DroppablePartition> droppable;
  Status s = persistence::Transact(pool_, "history partitions", [&](pqxx::work& txn) {
    *created = persistence::EnsureHistoryPartitions(txn, kMonthsAhead);
    droppable = persistence::DroppableHistoryPartitions(txn);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (*created > 0) spdlog::info("history: created {} monthly partition(s)", *created);
  for (const persistence::DroppablePartition& partition : droppable) {
    persistence::ConnectionPool::Lease lease;
    if (s = pool_.Acquire(&lease); !s.ok()) return s;
    try {
      persistence::DropHistoryPartition(lease.connection(), partition);
    } catch (const std::exception& e) {
      // Another replica got there first, or the connection broke: the next round sees.
      lease.MarkBroken();
      return Status::Unavailable("history: cannot drop partition " + partition.name + ": " +
                                 e.what());
    }
    ++*dropped;
    spdlog::info("history: dropped partition {} (its runs were all archived)", partition.name);
  }
  return Status::Ok();
}

}  // namespace gridflow::engine
