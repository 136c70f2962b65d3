// Transact: the one way Gridflow runs a database transaction.
//
// Borrows a pooled connection, runs `body` inside BEGIN ... COMMIT, and commits only when `body`
// returns OK; any other Status rolls back and is returned unchanged. Database trouble never escapes
// as an exception: it becomes a Status.
//   - serialization failures and deadlocks, connections that broke or turned read-only (a
//     failover) before COMMIT, and a task id taken already (TaskIdPool, write_set.h: its block is
//     discarded) are retried with backoff within a bounded budget; `body` may
//     therefore run more than once and must only assign its outputs (no effects outside the
//     transaction);
//   - a connection lost during COMMIT leaves the outcome unknown: UNAVAILABLE, never a retry, since
//     the first attempt may have committed;
//   - a value PostgreSQL refuses (SQLSTATE class 22, data exception): INVALID_ARGUMENT;
//   - the budget spent or the database unreachable: UNAVAILABLE; other database errors: INTERNAL.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include <pqxx/transaction>

#include "common/status.h"
#include "persistence/connection_pool.h"
#include "persistence/pipelined_work.h"

namespace gridflow::persistence {

struct TransactOptions {
  int max_attempts = 5;
  std::chrono::milliseconds first_backoff{25};
  std::chrono::milliseconds max_backoff{1000};
};

using TransactionBody = std::function<Status(pqxx::work&)>;

Status Transact(ConnectionPool& pool, std::string_view name, const TransactionBody& body,
                const TransactOptions& options = {});

// The same for a PipelinedWork (pipelined_work.h): `body` sends its statements in groups, the
// last one with COMMIT (or leaves the COMMIT to this function); any other Status rolls back.
using PipelinedBody = std::function<Status(PipelinedWork&)>;
Status TransactPipelined(ConnectionPool& pool, std::string_view name, const PipelinedBody& body,
                         const TransactOptions& options = {});

}  // namespace gridflow::persistence
