#include "persistence/history_partitions.h"

#include <pqxx/nontransaction>
#include <pqxx/result>

namespace gridflow::persistence {

int EnsureHistoryPartitions(pqxx::transaction_base& txn, int months_ahead) {
  const pqxx::result r = txn.exec_params(
      "SELECT gf_history_partitions_ensure(gf_now(), gf_now() + $1 * interval '1 month')",
      months_ahead);
  return r[0][0].as<int>();
}

double HistoryPartitionRunwaySeconds(pqxx::transaction_base& txn) {
  return txn.exec("SELECT gf_history_partition_runway()")[0][0].as<double>();
}

std::vector<DroppablePartition> DroppableHistoryPartitions(pqxx::transaction_base& txn) {
  std::vector<DroppablePartition> partitions;
  for (const pqxx::row& r :
       txn.exec("SELECT name, detach_pending FROM gf_history_partitions_droppable()")) {
    partitions.push_back({r[0].as<std::string>(), r[1].as<bool>()});
  }
  return partitions;
}

void DropHistoryPartition(pqxx::connection& c, const DroppablePartition& partition) {
  const std::string name = c.quote_name(partition.name);
  pqxx::nontransaction txn(c);
  txn.exec("ALTER TABLE events DETACH PARTITION " + name +
           (partition.detach_pending ? " FINALIZE" : " CONCURRENTLY"));
  // Detached, the table is no longer history: the guards of the partitioned table do not apply.
  txn.exec("DROP TABLE " + name);
}

}  // namespace gridflow::persistence
