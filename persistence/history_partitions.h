// History partitions (migration 16; docs/operations.md, "Retention and archive"). The events
// table is partitioned by its run's history key (the month the run started in): partitions are
// created ahead of time and a month's partition is dropped whole once its last run is gone.
// All of this is DDL: the owner role only.
#pragma once

#include <string>
#include <vector>

#include <pqxx/connection>
#include <pqxx/transaction_base>

namespace gridflow::persistence {

// Creates the monthly partitions from this month to `months_ahead` months after it that do not
// exist yet (serialised between replicas); returns how many it created.
int EnsureHistoryPartitions(pqxx::transaction_base& txn, int months_ahead);

struct DroppablePartition {
  std::string name;
  bool detach_pending = false;  // an earlier detach was interrupted
};
// Seconds from now to the start of the first month without a partition: how long runs can still
// start (their history has nowhere to go after that). Negative when this month has none. Reads
// the catalog only (gf_history_partition_runway, migration 22): any role.
double HistoryPartitionRunwaySeconds(pqxx::transaction_base& txn);

// The partitions no run is left in (their month ended over a day ago), oldest first.
std::vector<DroppablePartition> DroppableHistoryPartitions(pqxx::transaction_base& txn);

// Detaches one of them without blocking writers (DETACH ... CONCURRENTLY, or FINALIZE when an
// earlier detach was interrupted) and drops it. Outside any transaction: `c` must be idle.
void DropHistoryPartition(pqxx::connection& c, const DroppablePartition& partition);

}  // namespace gridflow::persistence
