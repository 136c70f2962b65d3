// The history event types the engine records (Event.type in the API). Payload fields of each are
// documented in docs/architecture.md ("History events").
#pragma once

namespace gridflow::engine::events {

inline constexpr const char* kRunStarted = "RunStarted";
inline constexpr const char* kTaskScheduled = "TaskScheduled";
inline constexpr const char* kTaskCompleted = "TaskCompleted";
inline constexpr const char* kTaskFailed = "TaskFailed";
inline constexpr const char* kTaskLeaseExpired = "TaskLeaseExpired";
inline constexpr const char* kTaskReleased = "TaskReleased";
inline constexpr const char* kTaskCancelled = "TaskCancelled";
inline constexpr const char* kSignalReceived = "SignalReceived";
inline constexpr const char* kRunCancelRequested = "RunCancelRequested";
inline constexpr const char* kRunCompleted = "RunCompleted";
inline constexpr const char* kRunFailed = "RunFailed";
inline constexpr const char* kRunCancelled = "RunCancelled";

// The actor of events that are the engine's own decisions (lease expiry, run completion).
inline constexpr const char* kEngineActor = "engine";

}  // namespace gridflow::engine::events
