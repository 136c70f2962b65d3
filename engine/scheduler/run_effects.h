// RunEffects: what the interpreter asks of the world while it advances a run. The engine's
// implementation (RunTransition) turns each call into rows and history events inside the run's
// transaction; the interpreter's unit tests use a recording fake.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time.h"
#include "engine/dsl/definition.h"
#include "engine/scheduler/kinds.h"

namespace gridflow::engine {

// Where an event belongs, besides its run.
struct EventScope {
  std::optional<std::string> step;
  std::optional<int64_t> task_id;
  std::optional<int> attempt;
  std::string iteration;  // inside a foreach: "[3]" (nested: "[2][0]"); "" elsewhere
};

// A queue that gets claimable work once a delay (a retry's backoff) has passed.
struct DelayedWork {
  std::string namespace_name;
  std::string queue;
  Millis delay{0};
};

struct TaskRequest {
  std::string frame;
  int64_t activation = 0;
  std::string step;
  const dsl::TaskSpec* spec = nullptr;
  std::string input_json;  // the task's input, as JSON text
  std::string idempotency_key;
  bool compensation = false;
  std::string iteration;  // the foreach iteration of the step ("[3]"), "" outside one
  std::string queue;      // evaluated (the spec's task_queue or its expression)
  int priority = 2;       // evaluated class, 0 (urgent) to 4 (bulk)
  std::optional<TimePoint> dispatch_deadline;
};

struct TimerRequest {
  std::string frame;
  int64_t activation = 0;
  std::string step;
  TimerKind kind = TimerKind::kTimer;
  TimePoint fire_at;
};

struct ChildRunRequest {
  std::string frame;
  int64_t activation = 0;
  std::string step;
  std::string workflow_id;
  std::string definition;
  int version = 0;
  nlohmann::json input;
};

struct ConsumedSignal {
  int64_t id = 0;
  nlohmann::json payload;
  std::string sent_by;
};

class RunEffects {
 public:
  virtual ~RunEffects() = default;

  virtual TimePoint Now() = 0;
  virtual void Record(const char* type, const std::string& actor, const nlohmann::json& payload,
                      const EventScope& scope) = 0;

  // Takes the request: its input (up to the run's whole data) moves into the new task.
  virtual void ScheduleTask(TaskRequest request) = 0;
  // The task of (frame, activation): cancelled if queued; told to stop (by heartbeat) if running.
  virtual void CancelTask(const std::string& frame, int64_t activation) = 0;
  virtual void StartTimer(const TimerRequest& request) = 0;
  virtual void CancelTimers(const std::string& frame, int64_t activation) = 0;
  // Takes the oldest unconsumed signal of that name (marking it consumed by `step`).
  virtual std::optional<ConsumedSignal> TakeSignal(const std::string& name,
                                                   const std::string& step) = 0;
  // Creates and starts the child run; an error (e.g. its definition is unknown) fails the step.
  virtual Status StartChildRun(const ChildRunRequest& request, std::string* child_run_id) = 0;
  virtual void CancelChildRun(const std::string& child_run_id, const std::string& reason) = 0;
  // Step tasks of this run currently leased by workers.
  virtual int CountExecutingTasks() = 0;

  // The run data's top-level member `name` (a step's output) was set: the run row is written
  // with only the members that changed (WriteSet::UpdateRun's patch).
  virtual void DataMemberSet(const std::string& name) = 0;

  virtual void SetStatus(std::string_view status) = 0;
  // Final status with result (COMPLETED) or failure (FAILED); queued work of the run is cancelled.
  virtual void CloseRun(std::string_view status, const nlohmann::json& result,
                        const nlohmann::json& failure) = 0;
};

}  // namespace gridflow::engine
