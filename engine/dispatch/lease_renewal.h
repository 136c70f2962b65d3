// Renews a worker's task leases (Heartbeat, HeartbeatTasks).
//
// RenewLeases extends the leases of `beats` (distinct tasks, all of `caller`'s namespace, the
// caller's queues and principal), in the common case in one transaction of one round trip. Each
// lease is answered on its own in (*results)[i]: OK with its extension, FAILED_PRECONDITION when
// the lease is no longer held (or the task does not exist), PERMISSION_DENIED for a task of a queue
// the caller may not work on. A lease the database refuses for its own sake (not a lease no longer
// held) is answered with that failure, and the others renewed all the same. The returned status is
// not OK only when the database could not be asked (nothing answered).
#pragma once

#include <vector>

#include "common/status.h"
#include "engine/scheduler/scheduler.h"
#include "persistence/connection_pool.h"
#include "persistence/task_store.h"

namespace gridflow::engine {

struct LeaseRenewalResult {
  Status status;
  persistence::LeaseExtension extension;
};

Status RenewLeases(persistence::ConnectionPool& pool, const LeaseRef& caller,
                   const std::vector<persistence::LeaseBeat>& beats,
                   std::vector<LeaseRenewalResult>* results);

}  // namespace gridflow::engine
