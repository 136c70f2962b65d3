#include "persistence/run_search_store.h"

namespace gridflow::persistence {

int IndexQueuedRuns(pqxx::transaction_base& txn, int limit) {
  return txn
      .exec_params(
          // The queued ids taken once, as an array looked up through the index: planned as a
          // semi join, a queue the statistics still thought empty made a nested loop that
          // re-ran the locking subquery for every queued row (minutes at a million queued).
          "WITH taken AS ("
          " DELETE FROM run_search_pending WHERE run_id = ANY(ARRAY(SELECT run_id"
          "  FROM run_search_pending ORDER BY run_id LIMIT $1 FOR UPDATE SKIP LOCKED))"
          "  RETURNING run_id),"
          " indexed AS (INSERT INTO run_search (run_id, namespace, workflow_id)"
          "  SELECT r.id, r.namespace, r.workflow_id FROM runs r"
          "  WHERE r.id = ANY(ARRAY(SELECT run_id FROM taken))"
          "  ON CONFLICT (run_id) DO NOTHING)"
          " SELECT count(*) FROM taken",
          limit)[0][0]
      .as<int>();
}

int64_t CountQueuedRuns(pqxx::transaction_base& txn, int limit) {
  return txn
      .exec_params1("SELECT count(*) FROM (SELECT 1 FROM run_search_pending LIMIT $1) q", limit)[0]
      .as<int64_t>();
}

}  // namespace gridflow::persistence
