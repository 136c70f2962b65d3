#include "engine/scheduler/run_transition.h"

#include "engine/scheduler/events.h"
#include "engine/scheduler/run_status.h"
#include "persistence/clock.h"
#include "persistence/event_store.h"
#include "persistence/message_store.h"
#include "persistence/run_store.h"
#include "persistence/signal_store.h"
#include "persistence/task_store.h"
#include "persistence/timer_store.h"

namespace gridflow::engine {

using nlohmann::json;

namespace {

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

EventScope ScopeOf(const persistence::TaskRow& task) {
  return EventScope{task.step, task.id, task.attempt, task.iteration};
}

Status RunTransition::Open(pqxx::transaction_base& txn, persistence::RunRow run,
                           std::shared_ptr<const dsl::Definition> definition,
                           DefinitionRegistry& registry, std::unique_ptr<RunTransition>* out) {
  std::unique_ptr<RunTransition> t(
      new RunTransition(txn, std::move(run), std::move(definition), registry));
  Status s = FromJson(json::parse(t->run_.state_json), &t->state_);
  if (!s.ok()) return Status::Internal("run " + t->run_.workflow_id + ": " + s.message());
  t->data_ = json::parse(t->run_.data_json);
  *out = std::move(t);
  return Status::Ok();
}

Status RunTransition::Create(pqxx::transaction_base& txn,
                             std::shared_ptr<const dsl::Definition> definition,
                             DefinitionRegistry& registry, const NewRunSpec& spec,
                             std::unique_ptr<RunTransition>* out) {
  persistence::NewRun run;
  run.namespace_name = spec.namespace_name;
  run.workflow_id = spec.workflow_id;
  run.definition_name = definition->name();
  run.definition_version = definition->version();
  run.input_json = Dump(spec.input);
  run.data_json = Dump(json{{"input", spec.input}});
  run.started_by = spec.started_by;
  if (spec.parent_run_id) {
    run.parent_run_id = spec.parent_run_id;
    run.parent_frame = spec.parent_frame;
    run.parent_activation = spec.parent_activation;
  }
  out->reset();
  auto row = persistence::InsertRun(txn, run);
  if (!row) return Status::Ok();  // the workflow id is taken
  std::unique_ptr<RunTransition> transition;
  if (Status s = Open(txn, std::move(*row), definition, registry, &transition); !s.ok()) return s;
  transition->state_.depth = spec.depth;
  json payload = {
      {"definition", {{"name", definition->name()}, {"version", definition->version()}}},
      {"input", spec.input}};
  if (!spec.parent.is_null()) payload["parent"] = spec.parent;
  transition->Record(events::kRunStarted, spec.started_by, payload, {});
  transition->facts_.runs_started.push_back(definition->name());
  transition->NewInterpreter().Start();
  *out = std::move(transition);
  return Status::Ok();
}

RunTransition::RunTransition(pqxx::transaction_base& txn, persistence::RunRow run,
                             std::shared_ptr<const dsl::Definition> definition,
                             DefinitionRegistry& registry)
    : txn_(txn), run_(std::move(run)), definition_(std::move(definition)), registry_(registry) {}

Interpreter RunTransition::NewInterpreter() {
  return Interpreter(*definition_, {run_.id, run_.workflow_id}, run_.status, state_, data_, *this);
}

TimePoint RunTransition::Now() {
  if (!now_) now_ = run_.transaction_now;  // read with the run's lock: no round trip
  if (!now_) now_ = persistence::DatabaseNow(txn_);
  return *now_;
}

void RunTransition::Record(const char* type, const std::string& actor, const json& payload,
                           const EventScope& scope) {
  persistence::EventRow e;
  e.seq = ++run_.last_event_seq;
  e.type = type;
  e.step = scope.step;
  e.task_id = scope.task_id;
  e.attempt = scope.attempt;
  e.iteration = scope.iteration;
  e.actor = actor;
  e.payload_json = Dump(payload);
  events_.push_back(std::move(e));
}

void RunTransition::ScheduleTask(const TaskRequest& r) {
  const dsl::TaskSpec& spec = *r.spec;
  persistence::NewTask task;
  task.run_id = run_.id;
  task.namespace_name = run_.namespace_name;
  task.workflow_id = run_.workflow_id;
  task.definition_name = run_.definition_name;
  task.definition_version = run_.definition_version;
  task.queue = spec.task_queue;
  task.task_type = spec.task_type;
  task.step = r.step;
  task.idempotency_key = r.idempotency_key;
  task.input_json = Dump(r.input);
  task.max_attempts = spec.retry.max_attempts;
  task.start_to_close_ms = spec.start_to_close.count();
  if (spec.heartbeat_timeout) task.heartbeat_timeout_ms = spec.heartbeat_timeout->count();
  task.frame = r.frame;
  task.activation = r.activation;
  task.kind = std::string(ToStored(r.compensation ? TaskKind::kCompensation : TaskKind::kStep));
  task.iteration = r.iteration;
  const int64_t task_id = persistence::InsertTask(txn_, task);
  json payload = {{"task_queue", spec.task_queue},
                  {"task_type", spec.task_type},
                  {"max_attempts", spec.retry.max_attempts},
                  {"idempotency_key", r.idempotency_key}};
  if (r.compensation) payload["compensation"] = true;
  Record(events::kTaskScheduled, events::kEngineActor, payload,
         EventScope{r.step, task_id, 1, r.iteration});
  facts_.tasks_scheduled.push_back({run_.namespace_name, spec.task_queue, spec.task_type});
  NoteNewWork(spec.task_queue);
}

void RunTransition::CancelTask(const std::string& frame, int64_t activation) {
  for (const persistence::TaskRow& task :
       persistence::CancelActivationTasks(txn_, run_.id, frame, activation)) {
    if (task.state == "CANCELLED") {
      Record(events::kTaskCancelled, events::kEngineActor, {{"reason", "no longer needed"}},
             ScopeOf(task));
    } else {
      Record(events::kTaskCancelRequested, events::kEngineActor,
             {{"worker", task.lease_owner.value_or("")}, {"lease_epoch", task.lease_epoch}},
             ScopeOf(task));
    }
  }
}

void RunTransition::StartTimer(const TimerRequest& r) {
  persistence::TimerRow timer;
  timer.run_id = run_.id;
  timer.frame = r.frame;
  timer.activation = r.activation;
  timer.step = r.step;
  timer.kind = std::string(ToStored(r.kind));
  timer.fire_at = r.fire_at;
  persistence::InsertTimer(txn_, timer);
}

void RunTransition::CancelTimers(const std::string& frame, int64_t activation) {
  persistence::CancelTimers(txn_, run_.id, frame, activation);
}

std::optional<ConsumedSignal> RunTransition::TakeSignal(const std::string& name,
                                                        const std::string& step) {
  const auto signal = persistence::TakeSignal(txn_, run_.id, name, step);
  if (!signal) return std::nullopt;
  return ConsumedSignal{signal->id, json::parse(signal->payload_json), signal->sent_by};
}

Status RunTransition::StartChildRun(const ChildRunRequest& r, std::string* child_run_id) {
  if (state_.depth + 1 > kMaxChildDepth) {
    return Status::FailedPrecondition("child runs nest more than " +
                                      std::to_string(kMaxChildDepth) + " levels deep");
  }
  std::shared_ptr<const dsl::Definition> definition;
  Status s = registry_.Resolve(txn_, run_.namespace_name, r.definition, r.version, &definition);
  if (!s.ok()) return s;
  NewRunSpec spec;
  spec.namespace_name = run_.namespace_name;
  spec.workflow_id = r.workflow_id;
  spec.input = r.input;
  spec.started_by = "run " + run_.workflow_id;
  spec.parent = {{"workflow_id", run_.workflow_id}, {"run_id", run_.id}, {"step", r.step}};
  spec.parent_run_id = run_.id;
  spec.parent_frame = r.frame;
  spec.parent_activation = r.activation;
  spec.depth = state_.depth + 1;
  std::unique_ptr<RunTransition> transition;
  if (s = Create(txn_, definition, registry_, spec, &transition); !s.ok()) return s;
  if (!transition) {
    return Status::AlreadyExists("workflow id '" + r.workflow_id + "' is already taken");
  }
  transition->Flush();
  queues_with_new_work_.insert(transition->queues_with_new_work_.begin(),
                               transition->queues_with_new_work_.end());
  messages_.insert(messages_.end(), transition->messages_.begin(), transition->messages_.end());
  runs_with_new_events_.insert(transition->runs_with_new_events_.begin(),
                               transition->runs_with_new_events_.end());
  facts_.Merge(transition->facts_);
  *child_run_id = transition->run_.id;
  return Status::Ok();
}

void RunTransition::CancelChildRun(const std::string& child_run_id, const std::string& reason) {
  const json payload = {{"reason", reason}, {"requested_by", "run " + run_.workflow_id}};
  messages_.push_back(
      {persistence::InsertMessage(txn_, child_run_id, std::string(ToStored(MessageKind::kCancel)),
                                  Dump(payload)),
       child_run_id});
}

int RunTransition::CountExecutingTasks() {
  return persistence::CountLeasedTasks(txn_, run_.id);
}

void RunTransition::SetStatus(std::string_view status) {
  run_.status = std::string(status);
  if (status == run_status::kRunning) {  // a retried run: its earlier outcome no longer stands
    run_.result_json.reset();
    run_.failure_json.reset();
    run_.cancel_requested_by.reset();
    run_.cancel_reason.reset();
  }
}

void RunTransition::CloseRun(std::string_view status, const json& result, const json& failure) {
  run_.status = std::string(status);
  facts_.runs_closed.push_back({run_.definition_name, run_.status,
                                std::chrono::duration<double>(Now() - run_.created_at).count()});
  if (!result.is_null()) run_.result_json = Dump(result);
  if (!failure.is_null()) run_.failure_json = Dump(failure);
  for (const persistence::TaskRow& task : persistence::CancelOpenTasks(txn_, run_.id)) {
    Record(events::kTaskCancelled, events::kEngineActor, {{"reason", "the run ended"}},
           ScopeOf(task));
  }
  persistence::CancelRunTimers(txn_, run_.id);
  if (run_.parent_run_id) {
    const json payload = {{"frame", run_.parent_frame.value_or("")},
                          {"activation", run_.parent_activation.value_or(0)},
                          {"child_run_id", run_.id},
                          {"status", status},
                          {"result", result},
                          {"failure", failure}};
    messages_.push_back({persistence::InsertMessage(
                             txn_, *run_.parent_run_id,
                             std::string(ToStored(MessageKind::kChildClosed)), Dump(payload)),
                         *run_.parent_run_id});
  }
}

void RunTransition::NoteDelayedWork(const std::string& queue, Millis delay) {
  delayed_work_.push_back({run_.namespace_name, queue, delay});
}

void RunTransition::NoteNewWork(const std::string& queue) {
  queues_with_new_work_.emplace(run_.namespace_name, queue);
}

void RunTransition::Flush() {
  run_.data_json = Dump(data_);
  run_.state_json = Dump(ToJson(state_));
  if (!state_.cancel_requested_by.empty()) {
    run_.cancel_requested_by = state_.cancel_requested_by;
    run_.cancel_reason = state_.cancel_reason;
  }
  const auto root = state_.frames.find("0");
  if (state_.unwinding.active && state_.unwinding.next >= 0 &&
      state_.unwinding.next < static_cast<int64_t>(state_.compensations.size())) {
    run_.current_step = state_.compensations[static_cast<size_t>(state_.unwinding.next)].step;
  } else if (root != state_.frames.end() && !root->second.step.empty()) {
    run_.current_step = root->second.step;
  } else {
    run_.current_step.reset();
  }
  persistence::UpdateRun(txn_, run_, IsClosedRunStatus(run_.status));
  if (!events_.empty()) runs_with_new_events_.insert(run_.id);
  persistence::AppendEvents(txn_, run_.id, events_);
  events_.clear();
  for (const auto& [ns, queue] : queues_with_new_work_)
    persistence::NotifyTaskQueue(txn_, ns, queue);
}

}  // namespace gridflow::engine
