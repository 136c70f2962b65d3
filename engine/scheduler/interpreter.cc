#include "engine/scheduler/interpreter.h"

#include <algorithm>

#include "common/json_text.h"
#include "engine/dsl/time_functions.h"
#include "engine/scheduler/events.h"
#include "engine/scheduler/run_status.h"

namespace gridflow::engine {

using dsl::Step;
using dsl::StepKind;
using nlohmann::json;

namespace {

constexpr const char* kRootFrame = "0";
constexpr const char* kCompensationFrame = "compensation";
// Actions one transition may take; only a definition bug (a loop through immediate steps,
// e.g. consuming a flood of stored signals) gets near it.
constexpr int kMaxActions = 100'000;

const char* Engine() {
  return events::kEngineActor;
}

// Events about a step carry the foreach iteration they belong to ("[3]", "[2][0]").
EventScope At(const Frame& frame, const Step& step) {
  return EventScope{step.name, {}, {}, frame.key};
}

}  // namespace

json RunFailure::ToJson() const {
  json j = {{"step", step}, {"error_type", error_type}, {"message", message}, {"attempt", attempt}};
  if (!details.is_null()) j["details"] = details;
  return j;
}

Interpreter::Interpreter(const dsl::Definition& definition, const RunIdentity& run,
                         std::string status, RunState& state, json& data, RunEffects& effects,
                         RunDataBudget* budget)
    : definition_(definition),
      run_(run),
      status_(std::move(status)),
      state_(state),
      data_(data),
      effects_(effects),
      budget_(budget) {}

// ---- events from outside ----

void Interpreter::Start() {
  Frame root;
  root.id = kRootFrame;
  state_.frames[root.id] = root;
  if (definition_.deadline() && !StartRunDeadline(state_.frames[root.id])) {
    Drain();
    return;
  }
  queue_.push_back({Action::Kind::kEnter, root.id, definition_.first_step().name});
  Drain();
}

bool Interpreter::StartRunDeadline(const Frame& root) {
  json value;
  const Status s = definition_.deadline()->Evaluate(Scope(root), &value);
  std::optional<TimePoint> at;
  if (s.ok() && value.is_string()) at = ParseTimestamp(value.get<std::string>());
  if (!at) {
    Fail({"", "gridflow.ExpressionError",
          "deadline: " +
              (s.ok() ? "must give an RFC 3339 instant, not " + value.dump() : s.message()),
          nullptr, 0});
    return false;
  }
  if (*at <= effects_.Now()) {
    effects_.Record(events::kDeadlinePassed, Engine(),
                    json{{"deadline", FormatRfc3339(*at)}, {"run", true}, {"before_start", true}},
                    {});
    Fail({"", "gridflow.DeadlineExceeded",
          "the run's deadline " + FormatRfc3339(*at) + " had passed before it started", nullptr,
          0});
    return false;
  }
  state_.deadline_us = ToEpochMicros(*at);
  effects_.StartTimer({root.id, 0, "", TimerKind::kRunDeadline, *at});
  return true;
}

void Interpreter::TaskCompleted(const std::string& frame_id, int64_t activation,
                                const json& result) {
  Frame* f = FindFrame(frame_id);
  if (f == nullptr || f->wait.kind != WaitKind::kTask || f->wait.activation != activation)
    return;  // stale
  if (f->wait.has_timer) effects_.CancelTimers(f->id, activation);
  StepSucceeded(*f, *definition_.FindStep(f->step), result);
  Drain();
}

void Interpreter::TaskFailed(const std::string& frame_id, int64_t activation,
                             const RunFailure& failure) {
  Frame* f = FindFrame(frame_id);
  if (f == nullptr || f->wait.kind != WaitKind::kTask || f->wait.activation != activation) return;
  Fail(failure);
  Drain();
}

void Interpreter::TimerFired(const std::string& frame_id, int64_t activation, TimerKind kind) {
  if (kind == TimerKind::kRunDeadline) {
    if (!running()) return;
    effects_.Record(
        events::kDeadlinePassed, Engine(),
        json{{"deadline", FormatRfc3339(FromEpochMicros(state_.deadline_us))}, {"run", true}}, {});
    Fail({"", "gridflow.DeadlineExceeded", "the run did not complete before its deadline", nullptr,
          0});
    Drain();
    return;
  }
  Frame* f = FindFrame(frame_id);
  if (f == nullptr || f->wait.activation != activation || !running()) return;
  const Step& step = *definition_.FindStep(f->step);
  if (kind == TimerKind::kTimer && f->wait.kind == WaitKind::kTimer) {
    effects_.Record(events::kTimerFired, Engine(), json::object(), At(*f, step));
    StepSucceeded(*f, step, {{"fired_at", FormatRfc3339(effects_.Now())}});
  } else if (kind == TimerKind::kSignalTimeout && f->wait.kind == WaitKind::kSignal) {
    effects_.Record(events::kSignalTimedOut, Engine(), {{"signal", step.signal}}, At(*f, step));
    if (!step.on_timeout.empty()) {
      queue_.push_back({Action::Kind::kEnter, f->id, step.on_timeout});
    } else {
      Fail({step.name, "gridflow.SignalTimeout", "no signal '" + step.signal + "' arrived in time",
            nullptr, 0});
    }
  } else if (kind == TimerKind::kDeadline && f->wait.kind == WaitKind::kTask) {
    effects_.Record(events::kDeadlinePassed, Engine(), {{"next", step.on_deadline}}, At(*f, step));
    effects_.CancelTask(f->id, activation);
    if (!step.on_deadline.empty()) {
      queue_.push_back({Action::Kind::kEnter, f->id, step.on_deadline});
    } else {
      Fail({step.name, "gridflow.DeadlineExceeded", "the step did not complete before its deadline",
            nullptr, 0});
    }
  }
  Drain();
}

void Interpreter::SignalArrived(const std::string& name) {
  std::vector<Frame*> waiting;
  for (auto& [id, frame] : state_.frames) {
    if (frame.wait.kind == WaitKind::kSignal && frame.wait.signal == name)
      waiting.push_back(&frame);
  }
  std::sort(waiting.begin(), waiting.end(),
            [](const Frame* a, const Frame* b) { return a->wait.activation < b->wait.activation; });
  for (Frame* f : waiting) {
    if (!running()) break;  // the one before failed the run: its frames are gone
    const Step& step = *definition_.FindStep(f->step);
    const auto signal = effects_.TakeSignal(name, step.name);
    if (!signal) break;
    if (f->wait.has_timer) effects_.CancelTimers(f->id, f->wait.activation);
    effects_.Record(events::kSignalConsumed, Engine(),
                    {{"signal", name}, {"signal_id", signal->id}, {"sent_by", signal->sent_by}},
                    At(*f, step));
    StepSucceeded(*f, step, signal->payload);
  }
  Drain();
}

void Interpreter::ChildRunClosed(const std::string& frame_id, int64_t activation,
                                 std::string_view status, const json& result, const json& failure) {
  Frame* f = FindFrame(frame_id);
  if (f == nullptr || f->wait.kind != WaitKind::kChildRun || f->wait.activation != activation)
    return;
  const Step& step = *definition_.FindStep(f->step);
  effects_.Record(events::kChildRunClosed, Engine(),
                  {{"workflow_id", f->wait.child_workflow_id}, {"status", status}}, At(*f, step));
  if (status == run_status::kCompleted) {
    StepSucceeded(*f, step, result);
  } else {
    std::string message =
        "child run '" + f->wait.child_workflow_id + "' ended " + std::string(status);
    if (failure.is_object() && failure.contains("message")) {
      message += ": " + failure.value("message", "");
    }
    Fail({step.name, "gridflow.ChildRunFailed", message, failure, 0});
  }
  Drain();
}

void Interpreter::CompensationCompleted(int64_t activation) {
  Unwinding& u = state_.unwinding;
  if (!u.active || u.activation != activation) return;
  --u.next;
  NextCompensation();
}

void Interpreter::CompensationFailed(int64_t activation, const RunFailure& failure) {
  Unwinding& u = state_.unwinding;
  if (!u.active || u.activation != activation) return;
  effects_.Record(events::kCompensationFailed, Engine(), {{"failure", failure.ToJson()}},
                  EventScope{failure.step, {}, {}, ""});
  u.failed_compensations.push_back(failure.ToJson());
  --u.next;
  NextCompensation();
}

void Interpreter::Cancel(const Actor& requested_by, const std::string& reason) {
  if (!running()) return;
  state_.cancel_requested_by = requested_by.principal;
  state_.cancel_reason = reason;
  effects_.Record(events::kRunCancelRequested, requested_by.principal,
                  requested_by.Detailed({{"reason", reason}}), {});
  CancelFrame(kRootFrame);
  queue_.clear();
  status_ = run_status::kCancelling;
  effects_.SetStatus(status_);
  ExecutingTaskFinished();
}

void Interpreter::Terminate(const Actor& requested_by, const std::string& reason) {
  if (IsClosedRunStatus(status_)) return;
  state_.cancel_requested_by = requested_by.principal;
  state_.cancel_reason = reason;
  terminated_by_ = requested_by;
  if (state_.unwinding.active) {  // those after `next` ran; the one in flight may run again
    state_.compensations.resize(static_cast<size_t>(state_.unwinding.next + 1));
  }
  CancelFrame(kRootFrame);
  Close(std::string(run_status::kTerminated), nullptr,
        {{"step", ""}, {"error_type", "gridflow.Terminated"}, {"message", reason}, {"attempt", 0}});
}

void Interpreter::Retry(const std::string& step, const Actor& requested_by,
                        const std::string& reason) {
  const std::string previous = status_;
  // A failed or cancelled run ran all its compensations: they are spent. A terminated one kept
  // those it never ran (see Terminate); they stay owed.
  if (previous != run_status::kTerminated) state_.compensations.clear();
  state_.frames.clear();
  state_.unwinding = Unwinding{};
  state_.cancel_requested_by.clear();
  state_.cancel_reason.clear();
  status_ = run_status::kRunning;
  effects_.SetStatus(status_);
  effects_.Record(events::kRunRetried, requested_by.principal,
                  requested_by.Detailed(
                      {{"from_step", step}, {"reason", reason}, {"previous_status", previous}}),
                  {});
  Frame root;
  root.id = kRootFrame;
  state_.frames[root.id] = root;
  queue_.push_back({Action::Kind::kEnter, root.id, step});
  Drain();
}

void Interpreter::ExecutingTaskFinished() {
  if (status_ == run_status::kCancelling && effects_.CountExecutingTasks() == 0)
    FinishCancellation();
}

// ---- the step machine ----

void Interpreter::Drain() {
  int actions = 0;
  while (!queue_.empty()) {
    const Action action = queue_.front();
    queue_.pop_front();
    if (!running()) continue;
    if (++actions > kMaxActions) {
      Fail({action.step, "gridflow.StepLimit",
            "the run took more than " + std::to_string(kMaxActions) + " steps in one transition",
            nullptr, 0});
      continue;
    }
    if (action.kind == Action::Kind::kEnter) {
      Enter(action.frame, action.step);
    } else {
      FrameEnded(action.frame);
    }
  }
}

void Interpreter::Enter(const std::string& frame_id, const std::string& step_name) {
  Frame* frame = FindFrame(frame_id);
  if (frame == nullptr) return;
  const Step& step = *definition_.FindStep(step_name);
  frame->step = step.name;
  frame->wait = Wait{};
  ++frame->visits[step.name];
  EnterStep(*frame, step);
}

bool Interpreter::EnterStep(Frame& f, const Step& step) {
  switch (step.kind) {
    case StepKind::kTask:
      return EnterTask(f, step);
    case StepKind::kTimer:
      return EnterTimer(f, step);
    case StepKind::kWaitSignal:
      return EnterWaitSignal(f, step);
    case StepKind::kChoice:
      return EnterChoice(f, step);
    case StepKind::kParallel:
      return EnterParallel(f, step);
    case StepKind::kForeach:
      return EnterForeach(f, step);
    case StepKind::kChild:
      return EnterChild(f, step);
    case StepKind::kSucceed:
      return EnterSucceed(f, step);
    case StepKind::kFail:
      return EnterFail(f, step);
  }
  return false;
}

bool Interpreter::EnterTask(Frame& f, const Step& step) {
  std::string input;
  if (!EvalTemplateText(f, step, step.task.input, "input", &input)) return false;
  TimePoint deadline{};
  if (step.deadline) {
    if (!EvalInstant(f, step, *step.deadline, "deadline", &deadline)) return false;
    if (deadline <= effects_.Now()) {
      effects_.Record(events::kDeadlinePassed, Engine(),
                      {{"deadline", FormatRfc3339(deadline)},
                       {"before_start", true},
                       {"next", step.on_deadline}},
                      At(f, step));
      if (!step.on_deadline.empty()) {
        queue_.push_back({Action::Kind::kEnter, f.id, step.on_deadline});
      } else {
        Fail({step.name, "gridflow.DeadlineExceeded",
              "the deadline " + FormatRfc3339(deadline) + " had passed before the step started",
              nullptr, 0});
      }
      return false;
    }
  }
  TaskRequest request{f.id,
                      0,
                      step.name,
                      &step.task,
                      std::move(input),
                      Key(f, step.name),
                      false,
                      f.key,
                      "",
                      dsl::kDefaultPriority,
                      std::nullopt};
  if (!Route(f, step, step.deadline ? std::optional<TimePoint>(deadline) : std::nullopt,
             &request)) {
    return false;
  }
  f.wait.kind = WaitKind::kTask;
  f.wait.activation = NextActivation();
  f.wait.has_timer = step.deadline.has_value();
  request.activation = f.wait.activation;
  effects_.ScheduleTask(std::move(request));
  if (step.deadline) {
    effects_.StartTimer({f.id, f.wait.activation, step.name, TimerKind::kDeadline, deadline});
  }
  return false;
}

bool Interpreter::EnterTimer(Frame& f, const Step& step) {
  TimePoint at =
      effects_.Now() + std::chrono::duration_cast<Micros>(step.duration.value_or(Millis(0)));
  if (step.until && !EvalInstant(f, step, *step.until, "until", &at)) return false;
  f.wait.kind = WaitKind::kTimer;
  f.wait.activation = NextActivation();
  effects_.StartTimer({f.id, f.wait.activation, step.name, TimerKind::kTimer, at});
  effects_.Record(events::kTimerStarted, Engine(), {{"fire_at", FormatRfc3339(at)}}, At(f, step));
  return false;
}

bool Interpreter::EnterWaitSignal(Frame& f, const Step& step) {
  f.wait.kind = WaitKind::kSignal;
  f.wait.signal = step.signal;
  f.wait.activation = NextActivation();
  if (const auto signal = effects_.TakeSignal(step.signal, step.name)) {
    effects_.Record(
        events::kSignalConsumed, Engine(),
        {{"signal", step.signal}, {"signal_id", signal->id}, {"sent_by", signal->sent_by}},
        At(f, step));
    StepSucceeded(f, step, signal->payload);
    return true;
  }
  json payload = {{"signal", step.signal}};
  if (step.timeout || step.timeout_at) {
    TimePoint at =
        effects_.Now() + std::chrono::duration_cast<Micros>(step.timeout.value_or(Millis(0)));
    if (step.timeout_at && !EvalInstant(f, step, *step.timeout_at, "timeout_at", &at)) return false;
    f.wait.has_timer = true;
    effects_.StartTimer({f.id, f.wait.activation, step.name, TimerKind::kSignalTimeout, at});
    payload["timeout_at"] = FormatRfc3339(at);
  }
  effects_.Record(events::kSignalWaitStarted, Engine(), payload, At(f, step));
  return false;
}

bool Interpreter::EnterChoice(Frame& f, const Step& step) {
  const dsl::EvalContext scope = Scope(f);
  for (size_t i = 0; i < step.choices.size(); ++i) {
    json matched;
    const Status s = step.choices[i].when.Evaluate(scope, &matched);
    const std::string field = "choices[" + std::to_string(i) + "].when";
    if (!s.ok() || !matched.is_boolean()) {
      Fail({step.name, "gridflow.ExpressionError",
            field + ": " +
                (s.ok() ? "must give true or false, not " + std::string(matched.type_name())
                        : s.message()),
            nullptr, 0});
      return false;
    }
    if (matched.get<bool>()) {
      effects_.Record(events::kChoiceMade, Engine(),
                      {{"choice", i}, {"next", step.choices[i].next}}, At(f, step));
      queue_.push_back({Action::Kind::kEnter, f.id, step.choices[i].next});
      return true;
    }
  }
  if (step.default_next.empty()) {
    Fail({step.name, "gridflow.NoChoiceMatched", "no choice matched and there is no default",
          nullptr, 0});
    return false;
  }
  effects_.Record(events::kChoiceMade, Engine(),
                  {{"choice", "default"}, {"next", step.default_next}}, At(f, step));
  queue_.push_back({Action::Kind::kEnter, f.id, step.default_next});
  return true;
}

bool Interpreter::EnterParallel(Frame& f, const Step& step) {
  f.wait.kind = WaitKind::kBranches;
  f.wait.activation = NextActivation();
  f.wait.outputs = json::object();
  json names = json::array();
  for (const dsl::Branch& branch : step.branches)
    names.push_back(branch.name);
  effects_.Record(events::kParallelStarted, Engine(),
                  {{"branches", names}, {"join", step.join_first ? "first" : "all"}}, At(f, step));
  const std::string parent_id = f.id;
  for (const dsl::Branch& branch : step.branches) {
    Frame& child = NewFrame(*FindFrame(parent_id), branch.block, "");
    child.branch = branch.name;
    FindFrame(parent_id)->wait.frames.push_back(child.id);
    queue_.push_back({Action::Kind::kEnter, child.id, definition_.FirstStepOf(branch.block).name});
  }
  return false;
}

bool Interpreter::EnterForeach(Frame& f, const Step& step) {
  json items;
  const Status s = step.items->Evaluate(Scope(f), &items);
  if (!s.ok() || !items.is_array()) {
    Fail({step.name, "gridflow.ExpressionError",
          "items: " +
              (s.ok() ? "must give an array, not " + std::string(items.type_name()) : s.message()),
          nullptr, 0});
    return false;
  }
  effects_.Record(events::kForeachStarted, Engine(),
                  {{"items", items.size()}, {"max_concurrency", step.max_concurrency}},
                  At(f, step));
  if (items.empty()) {
    effects_.Record(events::kForeachCompleted, Engine(), {{"items", 0}}, At(f, step));
    StepSucceeded(f, step, json::array());
    return true;
  }
  if (!Charge(step, items)) return false;
  f.wait.kind = WaitKind::kForeach;
  f.wait.activation = NextActivation();
  f.wait.outputs = json::array();
  for (size_t i = 0; i < items.size(); ++i)
    f.wait.outputs.push_back(nullptr);
  f.wait.items = std::move(items);
  StartIterations(f.id, step);
  return false;
}

bool Interpreter::EnterChild(Frame& f, const Step& step) {
  json input;
  if (!EvalTemplate(f, step, step.task.input, "input", &input)) return false;
  f.wait.kind = WaitKind::kChildRun;
  f.wait.activation = NextActivation();
  const int64_t visit = f.visits[step.name];
  f.wait.child_workflow_id =
      run_.workflow_id + "/" + step.name + f.key + (visit > 1 ? "#" + std::to_string(visit) : "");
  std::string child_run_id;
  const Status s =
      effects_.StartChildRun({f.id, f.wait.activation, step.name, f.wait.child_workflow_id,
                              step.child_definition, step.child_version, input},
                             &child_run_id);
  if (!s.ok()) {
    Fail({step.name, "gridflow.ChildStartFailed", s.message(), nullptr, 0});
    return false;
  }
  f.wait.child_run_id = child_run_id;
  effects_.Record(events::kChildRunStarted, Engine(),
                  {{"workflow_id", f.wait.child_workflow_id},
                   {"run_id", child_run_id},
                   {"definition", step.child_definition}},
                  At(f, step));
  return false;
}

bool Interpreter::EnterSucceed(Frame& f, const Step& step) {
  json result = f.parent.empty() ? data_ : f.last_output;
  if (step.result.present() && !EvalTemplate(f, step, step.result, "result", &result)) return false;
  if (f.parent.empty()) {
    Close(std::string(run_status::kCompleted), result, nullptr);
  } else {
    f.last_output = result;
    f.step.clear();
    queue_.push_back({Action::Kind::kFrameEnded, f.id, ""});
  }
  return true;
}

bool Interpreter::EnterFail(Frame& f, const Step& step) {
  json message = "";
  if (step.message.present() && !EvalTemplate(f, step, step.message, "message", &message))
    return false;
  Fail({step.name, step.error_type,
        message.is_string() ? message.get<std::string>() : message.dump(), nullptr, 0});
  return false;
}

void Interpreter::StartIterations(const std::string& frame_id, const Step& step) {
  while (true) {
    Frame* f = FindFrame(frame_id);
    if (f == nullptr || static_cast<int>(f->wait.frames.size()) >= step.max_concurrency ||
        f->wait.next_item >= static_cast<int64_t>(f->wait.items.size())) {
      return;
    }
    const int64_t index = f->wait.next_item++;
    json locals = Locals(*f) != nullptr ? *Locals(*f) : json::object();
    locals["item"] = f->wait.items[static_cast<size_t>(index)];
    locals["index"] = index;
    if (!Charge(step, locals)) return;  // each iteration's frame keeps its own copy
    Frame& child = NewFrame(*f, step.body_block, "[" + std::to_string(index) + "]");
    child.index = index;
    child.locals = std::move(locals);
    FindFrame(frame_id)->wait.frames.push_back(child.id);
    queue_.push_back(
        {Action::Kind::kEnter, child.id, definition_.FirstStepOf(step.body_block).name});
  }
}

void Interpreter::StepSucceeded(Frame& f, const Step& step, const json& output) {
  // Stored twice: where SetOutput puts it and as the frame's last output.
  if (!Charge(step, output, 2)) return;
  json value = output;  // `output` may live in f.wait, which is reset below
  SetOutput(f, step.name, value);
  f.last_output = std::move(value);
  if (step.kind == StepKind::kTask && step.compensate) {
    json input;
    if (!EvalTemplate(f, step, step.compensate->input, "compensate.input", &input)) return;
    if (!Charge(step, input)) return;
    state_.compensations.push_back({step.name, input, Key(f, step.name), f.key});
  }
  f.wait = Wait{};
  if (const Step* next = definition_.Next(step)) {
    queue_.push_back({Action::Kind::kEnter, f.id, next->name});
  } else {
    f.step.clear();
    queue_.push_back({Action::Kind::kFrameEnded, f.id, ""});
  }
}

void Interpreter::FrameEnded(const std::string& frame_id) {
  Frame* f = FindFrame(frame_id);
  if (f == nullptr) return;
  if (f->parent.empty()) {
    Close(std::string(run_status::kCompleted), data_, nullptr);
    return;
  }
  const std::string parent_id = f->parent;
  Frame* parent = FindFrame(parent_id);
  if (parent == nullptr) return;
  const Step& step = *definition_.FindStep(parent->step);
  json output = f->last_output;
  if (parent->wait.kind == WaitKind::kForeach && step.output.present() &&
      !EvalTemplate(*f, step, step.output, "output", &output)) {
    return;
  }
  const std::string branch = f->branch;
  const int64_t index = f->index;
  state_.frames.erase(frame_id);
  parent = FindFrame(parent_id);
  auto& running = parent->wait.frames;
  running.erase(std::remove(running.begin(), running.end(), frame_id), running.end());

  if (!Charge(step, output)) return;  // kept in the parent's wait until the last one ends
  if (parent->wait.kind == WaitKind::kBranches) {
    parent->wait.outputs[branch] = output;
    effects_.Record(events::kBranchCompleted, Engine(), {{"branch", branch}}, At(*parent, step));
    if (step.join_first) {
      const std::vector<std::string> others = parent->wait.frames;
      for (const std::string& other : others)
        CancelFrame(other);
      parent = FindFrame(parent_id);
      parent->wait.frames.clear();
    }
    if (parent->wait.frames.empty()) {
      effects_.Record(events::kParallelCompleted, Engine(), json::object(), At(*parent, step));
      StepSucceeded(*parent, step, parent->wait.outputs);
    }
  } else if (parent->wait.kind == WaitKind::kForeach) {
    parent->wait.outputs[static_cast<size_t>(index)] = output;
    ++parent->wait.done;
    StartIterations(parent_id, step);
    parent = FindFrame(parent_id);
    if (parent == nullptr) return;  // starting the next iteration failed the run
    if (parent->wait.done == static_cast<int64_t>(parent->wait.items.size())) {
      effects_.Record(events::kForeachCompleted, Engine(), {{"items", parent->wait.done}},
                      At(*parent, step));
      StepSucceeded(*parent, step, parent->wait.outputs);
    }
  }
}

void Interpreter::CancelFrame(const std::string& frame_id) {
  Frame* f = FindFrame(frame_id);
  if (f == nullptr) return;
  const Wait wait = f->wait;
  if (wait.kind == WaitKind::kTask) effects_.CancelTask(frame_id, wait.activation);
  if (wait.has_timer || wait.kind == WaitKind::kTimer)
    effects_.CancelTimers(frame_id, wait.activation);
  for (const std::string& child : wait.frames)
    CancelFrame(child);
  if (wait.kind == WaitKind::kChildRun) {
    effects_.CancelChildRun(wait.child_run_id, "its parent run stopped waiting for it");
  }
  state_.frames.erase(frame_id);
}

// ---- ending ----

void Interpreter::Fail(const RunFailure& failure) {
  if (!running()) return;
  CancelFrame(kRootFrame);
  queue_.clear();
  if (!state_.compensations.empty()) {
    StartUnwinding(std::string(run_status::kFailed), failure.ToJson());
  } else {
    Close(std::string(run_status::kFailed), nullptr, failure.ToJson());
  }
}

void Interpreter::FinishCancellation() {
  if (!state_.compensations.empty()) {
    StartUnwinding(std::string(run_status::kCancelled), nullptr);
  } else {
    Close(std::string(run_status::kCancelled), nullptr, nullptr);
  }
}

void Interpreter::StartUnwinding(const std::string& outcome, const json& failure) {
  Unwinding& u = state_.unwinding;
  u.active = true;
  u.outcome = outcome;
  u.failure = failure;
  u.next = static_cast<int64_t>(state_.compensations.size()) - 1;
  status_ = run_status::kCompensating;
  effects_.SetStatus(status_);
  json steps = json::array();
  for (auto it = state_.compensations.rbegin(); it != state_.compensations.rend(); ++it) {
    steps.push_back(it->step);
  }
  effects_.Record(events::kCompensationStarted, Engine(), {{"outcome", outcome}, {"steps", steps}},
                  {});
  NextCompensation();
}

void Interpreter::NextCompensation() {
  Unwinding& u = state_.unwinding;
  if (u.next < 0) {
    json failure = u.failure;
    if (!u.failed_compensations.empty() && failure.is_object()) {
      failure["compensation_failures"] = u.failed_compensations;
    }
    Close(u.outcome, nullptr, failure);
    return;
  }
  const Compensation& c = state_.compensations[static_cast<size_t>(u.next)];
  const Step& step = *definition_.FindStep(c.step);
  u.activation = NextActivation();
  TaskRequest request{kCompensationFrame,
                      u.activation,
                      c.step,
                      &*step.compensate,
                      DumpJson(c.input),
                      c.key + ":compensate",
                      true,
                      c.iteration,
                      "",
                      dsl::kDefaultPriority,
                      std::nullopt};
  request.queue = step.compensate->task_queue;
  // An undo runs at the class its step declared (when that is a constant), or normal.
  if (step.priority.present() && step.priority.constant()) {
    request.priority = dsl::PriorityClass(step.priority.literal()).value_or(dsl::kDefaultPriority);
  }
  if (state_.deadline_us != 0) request.dispatch_deadline = FromEpochMicros(state_.deadline_us);
  effects_.ScheduleTask(std::move(request));
}

void Interpreter::Close(const std::string& status, const json& result, const json& failure) {
  status_ = status;
  state_.frames.clear();
  state_.unwinding.active = false;
  queue_.clear();
  effects_.CloseRun(status, result, failure);  // its clean-up events come before the final one
  if (status == run_status::kCompleted) {
    effects_.Record(events::kRunCompleted, Engine(), {{"result", result}}, {});
  } else if (status == run_status::kFailed) {
    effects_.Record(events::kRunFailed, Engine(), {{"failure", failure}},
                    EventScope{failure.value("step", ""), {}, {}, ""});
  } else if (status == run_status::kTerminated) {
    effects_.Record(events::kRunTerminated, state_.cancel_requested_by,
                    terminated_by_.Detailed({{"terminated_by", state_.cancel_requested_by},
                                             {"reason", state_.cancel_reason}}),
                    {});
  } else {
    const std::string by =
        state_.cancel_requested_by.empty() ? Engine() : state_.cancel_requested_by;
    effects_.Record(events::kRunCancelled, by,
                    {{"requested_by", by}, {"reason", state_.cancel_reason}}, {});
  }
}

// ---- helpers ----

Frame* Interpreter::FindFrame(const std::string& id) {
  const auto it = state_.frames.find(id);
  return it == state_.frames.end() ? nullptr : &it->second;
}

Frame& Interpreter::NewFrame(const Frame& parent, int block, const std::string& key_suffix) {
  Frame frame;
  frame.id = std::to_string(state_.next_frame++);
  frame.block = block;
  frame.parent = parent.id;
  frame.key = parent.key + key_suffix;
  const std::string id = frame.id;
  state_.frames[id] = std::move(frame);
  return state_.frames[id];
}

const json* Interpreter::Locals(const Frame& frame) const {
  const Frame* f = &frame;
  while (f != nullptr) {
    if (f->locals.is_object()) return &f->locals;
    if (f->parent.empty()) return nullptr;
    const auto it = state_.frames.find(f->parent);
    f = it == state_.frames.end() ? nullptr : &it->second;
  }
  return nullptr;
}

dsl::EvalContext Interpreter::Scope(const Frame& frame) const {
  dsl::EvalContext context;
  context.scope = &data_;
  context.overlay = Locals(frame);
  context.now = effects_.Now();
  context.revision = &run_.revision;
  return context;
}

bool Interpreter::Charge(const Step& step, const json& value, size_t copies) {
  if (budget_ == nullptr || budget_->limit == 0) return true;
  const size_t bytes = JsonTextSize(value) * copies;
  if (budget_->used + bytes <= budget_->limit) {
    budget_->used += bytes;
    return true;
  }
  Fail({step.name, "gridflow.RunDataLimit",
        "storing the step's " + std::to_string(bytes) + " bytes would take the run's data and " +
            "state past " + std::to_string(budget_->limit) + " bytes (--max-run-data-bytes)",
        nullptr, 0});
  return false;
}

void Interpreter::SetOutput(Frame& frame, const std::string& step, const json& output) {
  Frame* f = &frame;
  while (f != nullptr) {
    if (f->locals.is_object()) {
      f->locals[step] = output;
      return;
    }
    f = f->parent.empty() ? nullptr : FindFrame(f->parent);
  }
  data_[step] = output;
  effects_.DataMemberSet(step);
}

std::string Interpreter::Key(const Frame& frame, const std::string& step) const {
  const auto visits = frame.visits.find(step);
  const int64_t visit = visits == frame.visits.end() ? 1 : visits->second;
  const std::string& prefix = run_.key_prefix.empty() ? run_.run_id : run_.key_prefix;
  return prefix + ":" + step + frame.key + (visit > 1 ? "#" + std::to_string(visit) : "");
}

bool Interpreter::EvalTemplate(const Frame& frame, const Step& step, const dsl::Template& t,
                               const char* field, json* out) {
  return Evaluated(step, field, t.Evaluate(Scope(frame), out));
}

bool Interpreter::EvalTemplateText(const Frame& frame, const Step& step, const dsl::Template& t,
                                   const char* field, std::string* out) {
  return Evaluated(step, field, t.EvaluateText(Scope(frame), out));
}

bool Interpreter::Evaluated(const Step& step, const char* field, const Status& s) {
  if (s.ok()) return true;
  Fail(
      {step.name, "gridflow.ExpressionError", std::string(field) + ": " + s.message(), nullptr, 0});
  return false;
}

bool Interpreter::Route(const Frame& frame, const Step& step,
                        std::optional<TimePoint> step_deadline, TaskRequest* request) {
  request->queue = step.task.task_queue;
  if (step.task.queue_template.present()) {
    json queue;
    if (!EvalTemplate(frame, step, step.task.queue_template, "task_queue", &queue)) return false;
    if (!queue.is_string() || !dsl::IsValidName(queue.get<std::string>())) {
      Fail({step.name, "gridflow.ExpressionError",
            "task_queue: must give a queue name, not " + queue.dump(), nullptr, 0});
      return false;
    }
    request->queue = queue.get<std::string>();
  }
  request->priority = dsl::kDefaultPriority;
  if (step.priority.present()) {
    json priority;
    if (!EvalTemplate(frame, step, step.priority, "priority", &priority)) return false;
    const auto cls = dsl::PriorityClass(priority);
    if (!cls) {
      Fail({step.name, "gridflow.ExpressionError",
            std::string("priority: ") + dsl::kPriorityExpected + ", not " + priority.dump(),
            nullptr, 0});
      return false;
    }
    request->priority = *cls;
  }
  std::optional<TimePoint> deadline = step_deadline;
  const auto earliest = [&](TimePoint t) { deadline = deadline ? std::min(*deadline, t) : t; };
  if (step.dispatch_by) {
    TimePoint by;
    if (!EvalInstant(frame, step, *step.dispatch_by, "dispatch_by", &by)) return false;
    earliest(by);
  }
  if (state_.deadline_us != 0) earliest(FromEpochMicros(state_.deadline_us));
  request->dispatch_deadline = deadline;
  return true;
}

bool Interpreter::EvalInstant(const Frame& frame, const Step& step, const dsl::Expression& e,
                              const char* field, TimePoint* out) {
  json value;
  const Status s = e.Evaluate(Scope(frame), &value);
  std::optional<TimePoint> instant;
  if (s.ok() && value.is_string()) instant = ParseTimestamp(value.get<std::string>());
  if (instant) {
    *out = *instant;
    return true;
  }
  Fail({step.name, "gridflow.ExpressionError",
        std::string(field) + ": " +
            (s.ok() ? "must give an RFC 3339 instant, not " + value.dump() : s.message()),
        nullptr, 0});
  return false;
}

}  // namespace gridflow::engine
