#include "engine/scheduler/run_transition.h"

#include "engine/scheduler/events.h"
#include "engine/scheduler/run_status.h"
#include "persistence/event_store.h"
#include "persistence/run_store.h"
#include "persistence/task_store.h"

namespace gridflow::engine {

using nlohmann::json;

EventScope ScopeOf(const persistence::TaskRow& task) {
  return EventScope{task.step, task.id, task.attempt};
}

json RunFailure::ToJson() const {
  json j = {{"step", step}, {"error_type", error_type}, {"message", message}, {"attempt", attempt}};
  if (!details.is_null()) j["details"] = details;
  return j;
}

RunTransition::RunTransition(pqxx::transaction_base& txn, persistence::RunRow run,
                             std::shared_ptr<const dsl::Definition> definition)
    : txn_(txn), run_(std::move(run)), definition_(std::move(definition)) {}

json& RunTransition::Data() {
  if (!data_) data_ = json::parse(run_.data_json);
  return *data_;
}

void RunTransition::Record(const char* type, const std::string& actor, const json& payload,
                           const EventScope& scope) {
  persistence::EventRow e;
  e.seq = run_.last_event_seq + 1;
  run_.last_event_seq = e.seq;
  e.type = type;
  e.step = scope.step;
  e.task_id = scope.task_id;
  e.attempt = scope.attempt;
  e.actor = actor;
  e.payload_json = payload.dump(-1, ' ', false, json::error_handler_t::replace);
  events_.push_back(std::move(e));
}

void RunTransition::SetStepOutput(const std::string& step, json output) {
  Data()[step] = std::move(output);
  data_changed_ = true;
}

void RunTransition::EnterStep(const dsl::Step& step, const std::string& actor) {
  switch (step.kind) {
    case dsl::StepKind::kTask: {
      const dsl::TaskSpec& spec = step.task;
      persistence::NewTask task;
      task.run_id = run_.id;
      task.namespace_name = run_.namespace_name;
      task.workflow_id = run_.workflow_id;
      task.definition_name = run_.definition_name;
      task.definition_version = run_.definition_version;
      task.queue = spec.task_queue;
      task.task_type = spec.task_type;
      task.step = step.name;
      // Stable across attempts of this step of this run: the key external venues deduplicate on.
      task.idempotency_key = run_.id + ":" + step.name;
      task.input_json = Data().dump(-1, ' ', false, json::error_handler_t::replace);
      task.max_attempts = spec.retry.max_attempts;
      task.start_to_close_ms = spec.start_to_close.count();
      if (spec.heartbeat_timeout) task.heartbeat_timeout_ms = spec.heartbeat_timeout->count();
      const int64_t task_id = persistence::InsertTask(txn_, task);
      run_.current_step = step.name;
      Record(events::kTaskScheduled, actor,
             {{"task_queue", spec.task_queue},
              {"task_type", spec.task_type},
              {"max_attempts", spec.retry.max_attempts},
              {"idempotency_key", task.idempotency_key}},
             EventScope{step.name, task_id, 1});
      NoteNewWork(spec.task_queue);
      return;
    }
    case dsl::StepKind::kSucceed:
      run_.current_step = step.name;
      CompleteRun(actor);
      return;
    case dsl::StepKind::kFail:
      run_.current_step = step.name;
      FailRun(RunFailure{step.name, step.fail.error_type, step.fail.message, nullptr, 0}, actor);
      return;
  }
}

void RunTransition::ContinueAfter(const dsl::Step& step, const std::string& actor) {
  if (const dsl::Step* next = definition_->Next(step)) {
    EnterStep(*next, actor);
  } else {
    CompleteRun(actor);
  }
}

void RunTransition::CompleteRun(const std::string& actor) {
  run_.result_json = Data().dump(-1, ' ', false, json::error_handler_t::replace);
  Close(run_status::kCompleted);
  Record(events::kRunCompleted, actor, {{"result", Data()}});
}

void RunTransition::FailRun(const RunFailure& failure, const std::string& actor) {
  const json j = failure.ToJson();
  run_.failure_json = j.dump(-1, ' ', false, json::error_handler_t::replace);
  Close(run_status::kFailed);
  Record(events::kRunFailed, actor, {{"failure", j}}, EventScope{failure.step, {}, {}});
}

void RunTransition::RequestCancellation(const std::string& requested_by,
                                        const std::string& reason) {
  run_.status = run_status::kCancelling;
  run_.cancel_requested_by = requested_by;
  run_.cancel_reason = reason;
  Record(events::kRunCancelRequested, requested_by, {{"reason", reason}});
}

void RunTransition::FinishCancellation() {
  const std::string requested_by = run_.cancel_requested_by.value_or(events::kEngineActor);
  Close(run_status::kCancelled);
  Record(events::kRunCancelled, requested_by,
         {{"requested_by", requested_by}, {"reason", run_.cancel_reason.value_or("")}});
}

void RunTransition::Close(std::string_view status) {
  run_.status = std::string(status);
  run_.current_step.reset();
}

void RunTransition::NoteNewWork(const std::string& queue) {
  queues_with_new_work_.emplace(run_.namespace_name, queue);
}

void RunTransition::Flush() {
  if (data_changed_) run_.data_json = data_->dump(-1, ' ', false, json::error_handler_t::replace);
  persistence::UpdateRun(txn_, run_);
  persistence::AppendEvents(txn_, run_.id, events_);
  for (const auto& [ns, queue] : queues_with_new_work_) {
    persistence::NotifyTaskQueue(txn_, ns, queue);
  }
}

}  // namespace gridflow::engine
