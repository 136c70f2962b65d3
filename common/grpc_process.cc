#include "common/grpc_process.h"

#include <absl/synchronization/mutex.h>
#include <malloc.h>

#include <cstdlib>

namespace gridflow {

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

void LimitMallocArenas(int arenas) {
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) return;  // the operator's choice
  mallopt(M_ARENA_MAX, arenas);
}

}  // namespace gridflow
