// The workflow-id search index (migration 19): run_search holds each run's workflow id under a
// trigram index, filled off the hot path. A run insert queues the run (run_search_pending, by a
// trigger); IndexQueuedRuns moves queued runs into run_search, in batches, from any replica at
// once (SKIP LOCKED). Searches read both (run_store.cc, ListRuns), so nothing waits for it.
#pragma once

#include <cstdint>

#include <pqxx/transaction_base>

namespace gridflow::persistence {

// Indexes up to `limit` queued runs, oldest first, and takes them off the queue (a run deleted
// meanwhile is only taken off); returns how many it took.
int IndexQueuedRuns(pqxx::transaction_base& txn, int limit);

// How many runs wait to be indexed, counted up to `limit`.
int64_t CountQueuedRuns(pqxx::transaction_base& txn, int limit);

}  // namespace gridflow::persistence
