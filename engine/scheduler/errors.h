// Error statuses shared by the scheduler and the dispatcher, worded for the person who reads them.
#pragma once

#include <string>

#include "common/status.h"
#include "persistence/rows.h"

namespace gridflow::engine {

Status RunNotFound(const std::string& namespace_name, const std::string& workflow_id);
Status UnknownTask(const std::string& namespace_name, int64_t task_id);
struct LeaseRef;
// PERMISSION_DENIED when the task's queue is not one the caller may work on (LeaseRef::queues).
Status QueueAllowed(const LeaseRef& lease, const persistence::TaskRow& task);
// Why a (task, lease epoch) claim does not match the task as it is now: FAILED_PRECONDITION.
Status StaleLease(const persistence::TaskRow& task, int64_t claimed_epoch);

}  // namespace gridflow::engine
