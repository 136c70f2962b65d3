#include "engine/scheduler/run_state.h"

namespace gridflow::engine {

// As stored in runs.state: the names are part of every stored run's state, never change them.
NLOHMANN_JSON_SERIALIZE_ENUM(WaitKind, {{WaitKind::kNone, ""},
                                        {WaitKind::kTask, "task"},
                                        {WaitKind::kTimer, "timer"},
                                        {WaitKind::kSignal, "signal"},
                                        {WaitKind::kBranches, "branches"},
                                        {WaitKind::kForeach, "foreach"},
                                        {WaitKind::kChildRun, "child_run"}})

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Wait, kind, activation, has_timer, signal, frames,
                                                outputs, items, next_item, done, child_run_id,
                                                child_workflow_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Frame, id, block, parent, branch, index, key, step,
                                                wait, locals, last_output, visits)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Compensation, step, input, key, iteration)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Unwinding, active, outcome, failure, next,
                                                activation, failed_compensations)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunState, next_activation, next_frame, frames,
                                                compensations, unwinding, cancel_requested_by,
                                                cancel_reason, depth, deadline_us)

nlohmann::json ToJson(const RunState& state) {
  return state;
}

Status FromJson(const nlohmann::json& doc, RunState* state) {
  try {
    *state = doc.is_null() ? RunState{} : doc.get<RunState>();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("unreadable run state: ") + e.what());
  }
}

}  // namespace gridflow::engine
