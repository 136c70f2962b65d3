#include "common/grpc_process.h"

#include <absl/synchronization/mutex.h>

namespace gridflow {

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace gridflow
