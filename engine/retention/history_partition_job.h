// HistoryPartitionJob: looks after the history's monthly partitions (migration 16,
// persistence/history_partitions.h) — the next kMonthsAhead months exist before any run starts
// in them, and a month whose runs retention has all archived and deleted is detached and dropped
// whole. Every replica runs it (at start, then every history_partition_interval); each step is
// idempotent and serialised in PostgreSQL, so replicas never conflict, and detaching is
// CONCURRENTLY: writers are never blocked. Needs connections as the schema's owner (DDL).
#pragma once

#include "common/status.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class HistoryPartitionJob {
 public:
  static constexpr int kMonthsAhead = 2;

  explicit HistoryPartitionJob(persistence::ConnectionPool& owner_pool) : pool_(owner_pool) {}

  // Creates what is missing, drops what is empty; *created and *dropped: how many partitions.
  Status Maintain(int* created, int* dropped);

 private:
  persistence::ConnectionPool& pool_;
};

}  // namespace gridflow::engine
