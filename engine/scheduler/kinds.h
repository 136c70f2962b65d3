// The kinds that tie the scheduler's files together — what a frame waits for, why a timer exists,
// what a task row is, what a message between runs says — as enums. They become strings only at the
// edges: in RunState's JSON (run_state.cc) and in the SQL columns (kinds.cc), as run_status.h does
// for statuses.
#pragma once

#include <optional>
#include <string_view>

namespace gridflow::engine {

// What a frame waits for.
enum class WaitKind { kNone, kTask, kTimer, kSignal, kBranches, kForeach, kChildRun };

// Why a timer row exists (timers.kind).
// kRunDeadline: the run's own deadline (the definition's `deadline`), on the root frame.
enum class TimerKind { kTimer, kSignalTimeout, kDeadline, kRunDeadline };
std::string_view ToStored(TimerKind kind);
std::optional<TimerKind> TimerKindFromStored(std::string_view stored);

// What a task row executes (tasks.kind).
enum class TaskKind { kStep, kCompensation };
std::string_view ToStored(TaskKind kind);
std::optional<TaskKind> TaskKindFromStored(std::string_view stored);

// What a message between runs says (run_messages.kind).
enum class MessageKind { kChildClosed, kCancel };
std::string_view ToStored(MessageKind kind);
std::optional<MessageKind> MessageKindFromStored(std::string_view stored);

}  // namespace gridflow::engine
