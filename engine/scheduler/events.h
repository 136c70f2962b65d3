// The history event types the engine records (Event.type in the API). Payload fields of each are
// documented in docs/architecture.md ("History events").
#pragma once

namespace gridflow::engine::events {

inline constexpr const char* kRunStarted = "RunStarted";
inline constexpr const char* kTaskScheduled = "TaskScheduled";
inline constexpr const char* kTaskCompleted = "TaskCompleted";
inline constexpr const char* kTaskFailed = "TaskFailed";
inline constexpr const char* kTaskLeaseExpired = "TaskLeaseExpired";
// A queued attempt no worker started within the step's schedule-to-start timeout.
inline constexpr const char* kTaskStartTimedOut = "TaskStartTimedOut";
inline constexpr const char* kTaskReleased = "TaskReleased";
inline constexpr const char* kTaskCancelled = "TaskCancelled";
inline constexpr const char* kTaskCancelRequested = "TaskCancelRequested";
inline constexpr const char* kSignalReceived = "SignalReceived";
inline constexpr const char* kRunCancelRequested = "RunCancelRequested";
inline constexpr const char* kRunCompleted = "RunCompleted";
inline constexpr const char* kRunFailed = "RunFailed";
inline constexpr const char* kRunCancelled = "RunCancelled";
inline constexpr const char* kRunTerminated = "RunTerminated";
inline constexpr const char* kRunRetried = "RunRetried";
inline constexpr const char* kTimerStarted = "TimerStarted";
inline constexpr const char* kTimerFired = "TimerFired";
inline constexpr const char* kSignalWaitStarted = "SignalWaitStarted";
inline constexpr const char* kSignalConsumed = "SignalConsumed";
inline constexpr const char* kSignalTimedOut = "SignalTimedOut";
inline constexpr const char* kDeadlinePassed = "DeadlinePassed";
inline constexpr const char* kChoiceMade = "ChoiceMade";
inline constexpr const char* kParallelStarted = "ParallelStarted";
inline constexpr const char* kBranchCompleted = "BranchCompleted";
inline constexpr const char* kParallelCompleted = "ParallelCompleted";
inline constexpr const char* kForeachStarted = "ForeachStarted";
inline constexpr const char* kForeachCompleted = "ForeachCompleted";
inline constexpr const char* kChildRunStarted = "ChildRunStarted";
inline constexpr const char* kChildRunClosed = "ChildRunClosed";
inline constexpr const char* kCompensationStarted = "CompensationStarted";
inline constexpr const char* kCompensationFailed = "CompensationFailed";

// The actor of events that are the engine's own decisions (lease expiry, run completion).
inline constexpr const char* kEngineActor = "engine";

}  // namespace gridflow::engine::events
