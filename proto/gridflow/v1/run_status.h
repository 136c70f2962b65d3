// For clients of gridflow.v1: which run statuses are final. A closed run changes no more unless
// an operator retries it (RetryRun). The engine's own view, over stored statuses, is
// engine/scheduler/run_status.h.
#pragma once

#include "gridflow/v1/types.pb.h"

namespace gridflow::v1 {

inline bool IsClosedRunStatus(RunStatus status) {
  return status == RUN_STATUS_COMPLETED || status == RUN_STATUS_FAILED ||
         status == RUN_STATUS_CANCELLED || status == RUN_STATUS_TERMINATED;
}

}  // namespace gridflow::v1
