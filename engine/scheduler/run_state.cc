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

namespace {

// Erases every member of `doc` whose value is the one `defaults` holds for it.
void EraseDefaults(nlohmann::json* doc, const nlohmann::json& defaults) {
  for (auto it = doc->begin(); it != doc->end();) {
    const auto d = defaults.find(it.key());
    if (d != defaults.end() && *d == *it) {
      it = doc->erase(it);
    } else {
      ++it;
    }
  }
}

void EraseDefaultsOf(nlohmann::json* doc, const char* member, const nlohmann::json& defaults) {
  if (const auto it = doc->find(member); it != doc->end() && it->is_object()) {
    EraseDefaults(&*it, defaults);
  }
}

}  // namespace

// Only what differs from a default-constructed value is written: every reader (this one and
// every earlier engine, all built on the WITH_DEFAULT macros above) fills in what is missing
// with those same defaults. A run's row is rewritten at each step, so a state of a few dozen
// bytes instead of several hundred keeps more of its updates on the row's own page (HOT) and
// writes less WAL (docs/benchmarks.md, 2026-12-07 07:00).
nlohmann::json ToJson(const RunState& state) {
  static const nlohmann::json kRun = RunState{};
  static const nlohmann::json kFrame = Frame{};
  static const nlohmann::json kWait = Wait{};
  static const nlohmann::json kCompensation = Compensation{};
  static const nlohmann::json kUnwinding = Unwinding{};
  nlohmann::json doc = ToJsonWithDefaults(state);
  EraseDefaults(&doc, kRun);
  if (const auto frames = doc.find("frames"); frames != doc.end()) {
    for (auto& frame : *frames) {
      EraseDefaults(&frame, kFrame);
      EraseDefaultsOf(&frame, "wait", kWait);
    }
  }
  if (const auto compensations = doc.find("compensations"); compensations != doc.end()) {
    for (auto& compensation : *compensations)
      EraseDefaults(&compensation, kCompensation);
  }
  EraseDefaultsOf(&doc, "unwinding", kUnwinding);
  return doc;
}

nlohmann::json ToJsonWithDefaults(const RunState& state) {
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
