// Interpreter: advances one run of a definition in reaction to one event (start, a task outcome,
// a timer, a signal, a child run's end, cancellation), until every frame waits again or the run
// ends. It reads and changes RunState and the run data, and acts only through RunEffects, so it
// runs inside the run's transaction in the engine and against a fake in unit tests.
//
// Step semantics are documented in docs/dsl.md; failures that no step handles fail the run, which
// first runs the compensations of completed steps in reverse order (saga), then closes.
// Not thread-safe; lives for one transition.
#pragma once

#include <deque>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/dsl/definition.h"
#include "engine/scheduler/actor.h"
#include "engine/scheduler/kinds.h"
#include "engine/scheduler/run_effects.h"
#include "engine/scheduler/run_state.h"

namespace gridflow::engine {

struct RunFailure {
  std::string step;
  std::string error_type;
  std::string message;
  nlohmann::json details;  // null when none
  int attempt = 0;

  nlohmann::json ToJson() const;
};

struct RunIdentity {
  std::string run_id;
  std::string workflow_id;
  // What tasks' idempotency keys start with: a revision's series and number; empty: the run id.
  std::string key_prefix;
  // A settlement revision's {"period", "number", "supersedes"} (the DSL's revision()); null
  // for other runs.
  nlohmann::json revision;
};

// What a run may store (its data and its state, as JSON text) and what it stores now, about:
// everything the interpreter records — step outputs, collected outputs, iteration scopes, foreach
// item lists, compensation inputs — is counted (JsonTextSize) as it is recorded, so a step whose
// recording would take the run past `limit` fails the run instead (gridflow.RunDataLimit,
// docs/dsl.md). 0: no limit.
struct RunDataBudget {
  size_t limit = 0;
  size_t used = 0;
};

class Interpreter {
 public:
  Interpreter(const dsl::Definition& definition, const RunIdentity& run, std::string status,
              RunState& state, nlohmann::json& data, RunEffects& effects,
              RunDataBudget* budget = nullptr);

  // The run's status after the calls so far (RUNNING, CANCELLING, COMPENSATING, or closed).
  const std::string& status() const { return status_; }

  void Start();
  void TaskCompleted(const std::string& frame, int64_t activation, const nlohmann::json& result);
  // The task failed for good (no retry left, or not retryable).
  void TaskFailed(const std::string& frame, int64_t activation, const RunFailure& failure);
  void TimerFired(const std::string& frame, int64_t activation, TimerKind kind);
  void SignalArrived(const std::string& name);
  void ChildRunClosed(const std::string& frame, int64_t activation, std::string_view status,
                      const nlohmann::json& result, const nlohmann::json& failure);
  void CompensationCompleted(int64_t activation);
  void CompensationFailed(int64_t activation, const RunFailure& failure);
  void Cancel(const Actor& requested_by, const std::string& reason);
  // While CANCELLING: a task that was executing reported; the run ends when none is left.
  void ExecutingTaskFinished();
  // Ends the run at once as TERMINATED: everything it waits for is cancelled, no compensation.
  void Terminate(const Actor& requested_by, const std::string& reason);
  // A closed run continues from `step` (a top-level step) with its data as it is.
  void Retry(const std::string& step, const Actor& requested_by, const std::string& reason);

 private:
  struct Action {
    enum class Kind { kEnter, kFrameEnded };
    Kind kind;
    std::string frame;
    std::string step;
  };

  void Drain();
  void Enter(const std::string& frame_id, const std::string& step_name);
  // Returns true when the step completed at once (the frame goes on), false when it waits. One
  // function per step kind.
  bool EnterStep(Frame& frame, const dsl::Step& step);
  bool EnterTask(Frame& frame, const dsl::Step& step);
  bool EnterTimer(Frame& frame, const dsl::Step& step);
  bool EnterWaitSignal(Frame& frame, const dsl::Step& step);
  bool EnterChoice(Frame& frame, const dsl::Step& step);
  bool EnterParallel(Frame& frame, const dsl::Step& step);
  bool EnterForeach(Frame& frame, const dsl::Step& step);
  bool EnterChild(Frame& frame, const dsl::Step& step);
  bool EnterSucceed(Frame& frame, const dsl::Step& step);
  bool EnterFail(Frame& frame, const dsl::Step& step);
  void StartIterations(const std::string& frame_id, const dsl::Step& step);
  void StepSucceeded(Frame& frame, const dsl::Step& step, const nlohmann::json& output);
  void FrameEnded(const std::string& frame_id);
  void Fail(const RunFailure& failure);
  void CancelFrame(const std::string& frame_id);
  void FinishCancellation();
  void StartUnwinding(const std::string& outcome, const nlohmann::json& failure);
  void NextCompensation();
  void Close(const std::string& status, const nlohmann::json& result,
             const nlohmann::json& failure);

  bool running() const { return status_ == "RUNNING"; }
  Frame* FindFrame(const std::string& id);
  Frame& NewFrame(const Frame& parent, int block, const std::string& key_suffix);
  int64_t NextActivation() { return state_.next_activation++; }
  dsl::EvalContext Scope(const Frame& frame) const;
  const nlohmann::json* Locals(const Frame& frame) const;
  void SetOutput(Frame& frame, const std::string& step, const nlohmann::json& output);
  // Counts `copies` of `value`, about to be stored for `step`, against the budget; when they do
  // not fit, fails the run and returns false (nothing is stored).
  bool Charge(const dsl::Step& step, const nlohmann::json& value, size_t copies = 1);
  std::string Key(const Frame& frame, const std::string& step) const;
  // Evaluation helpers: on failure they fail the run and return false.
  bool EvalTemplate(const Frame& frame, const dsl::Step& step, const dsl::Template& t,
                    const char* field, nlohmann::json* out);
  bool EvalTemplateText(const Frame& frame, const dsl::Step& step, const dsl::Template& t,
                        const char* field, std::string* out);
  // True when `s` is OK; otherwise fails the run with an expression error naming `field`.
  bool Evaluated(const dsl::Step& step, const char* field, const Status& s);
  // The run's deadline (the definition's `deadline`): evaluated, checked, its timer set; false
  // when the run failed instead.
  bool StartRunDeadline(const Frame& root);
  // A task's queue, priority and dispatch deadline, evaluated into `request`; false when an
  // expression failed the run.
  bool Route(const Frame& frame, const dsl::Step& step, std::optional<TimePoint> step_deadline,
             TaskRequest* request);
  bool EvalInstant(const Frame& frame, const dsl::Step& step, const dsl::Expression& e,
                   const char* field, TimePoint* out);

  const dsl::Definition& definition_;
  const RunIdentity run_;
  std::string status_;
  RunState& state_;
  nlohmann::json& data_;
  RunEffects& effects_;
  RunDataBudget* budget_;  // null: no limit
  std::deque<Action> queue_;
  Actor terminated_by_;  // set by Terminate for the RunTerminated event Close records
};

}  // namespace gridflow::engine
