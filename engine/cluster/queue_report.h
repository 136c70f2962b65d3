// QueueReport: the backlog of a namespace's task queues as operators see it (ListQueues, the
// queue gauges): depth, age of the oldest claimable task, leased tasks, and the long-polls the
// alive replicas reported waiting on each queue at their last heartbeat.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/cluster/membership.h"
#include "persistence/connection_pool.h"
#include "persistence/rows.h"

namespace gridflow::engine {

struct QueueReport {
  persistence::QueueStats stats;
  int waiting_polls = 0;
};

// Queues with open tasks or waiting workers, by name. An empty namespace means every namespace
// (queue names are then "<namespace>/<queue>").
Status ReadQueueReport(persistence::ConnectionPool& pool, const Membership& membership,
                       const std::string& namespace_name, std::vector<QueueReport>* queues);

}  // namespace gridflow::engine
