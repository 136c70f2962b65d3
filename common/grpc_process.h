// Process-wide settings for binaries that serve or call gRPC at high rates (the engine, the
// worker runtime, the benchmark). Call once at the start of main, before any thread exists.
#pragma once

namespace gridflow {

// Turns off Abseil's lock-order (potential deadlock) tracking. Debian's Abseil leaves it on, and
// every absl::Mutex that gRPC takes then updates a global graph: a few percent of all CPU at
// thousands of calls per second, for a debugging aid. Libraries never call this (it is the
// process's choice); the SDK's users may.
void DisableMutexDeadlockDetection();

// Caps glibc's malloc arenas at `arenas` unless the operator set MALLOC_ARENA_MAX. By default
// glibc gives each busy thread an arena of its own, up to eight per core, and memory freed in one
// stays there: an engine passing large run data through its threads grew to 450 MB and kept it,
// against 150 MB with four arenas and no slower (docs/benchmarks.md, 2026-12-07 10:45).
void LimitMallocArenas(int arenas);

}  // namespace gridflow
