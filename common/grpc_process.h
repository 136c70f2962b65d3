// Process-wide settings for binaries that serve or call gRPC at high rates (the engine, the
// worker runtime, the benchmark). Call once at the start of main, before any thread exists.
#pragma once

namespace gridflow {

// Turns off Abseil's lock-order (potential deadlock) tracking. Debian's Abseil leaves it on, and
// every absl::Mutex that gRPC takes then updates a global graph: a few percent of all CPU at
// thousands of calls per second, for a debugging aid. Libraries never call this (it is the
// process's choice); the SDK's users may.
void DisableMutexDeadlockDetection();

}  // namespace gridflow
