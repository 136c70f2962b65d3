#include "engine/scheduler/errors.h"

#include "engine/scheduler/run_status.h"
#include "engine/scheduler/scheduler.h"

namespace gridflow::engine {

Status RunNotFound(const std::string& namespace_name, const std::string& workflow_id) {
  return Status::NotFound("no run with workflow id '" + workflow_id + "' in namespace '" +
                          namespace_name + "'");
}

Status QueueAllowed(const LeaseRef& lease, const persistence::TaskRow& task) {
  if (!lease.queues || lease.queues->count(task.queue) > 0) return Status::Ok();
  return Status::PermissionDenied(lease.principal + " may not work on tasks of queue '" +
                                  task.queue + "' in namespace '" + lease.namespace_name + "'");
}

Status UnknownTask(const std::string& namespace_name, int64_t task_id) {
  return Status::FailedPrecondition("task " + std::to_string(task_id) +
                                    " does not exist in namespace '" + namespace_name +
                                    "'; the lease is not valid");
}

Status StaleLease(const persistence::TaskRow& task, int64_t claimed_epoch) {
  const std::string id = "task " + std::to_string(task.id);
  if (task.state == task_state::kLeased) {
    return Status::FailedPrecondition("lease epoch " + std::to_string(claimed_epoch) + " of " + id +
                                      " is stale: the task is now leased at epoch " +
                                      std::to_string(task.lease_epoch) + "; stop working on it");
  }
  if (task.state == task_state::kPending) {
    return Status::FailedPrecondition(id + " is no longer leased at epoch " +
                                      std::to_string(claimed_epoch) +
                                      " (its lease ended and it was queued again)");
  }
  return Status::FailedPrecondition(id + " is already " + task.state +
                                    "; its lease is no longer valid");
}

}  // namespace gridflow::engine
