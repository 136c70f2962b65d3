#include "engine/scheduler/run_transition.h"
#include "common/json_text.h"

#include <algorithm>

#include "engine/scheduler/events.h"
#include "engine/scheduler/kinds.h"
#include "engine/scheduler/run_status.h"
#include "persistence/clock.h"
#include "persistence/message_store.h"
#include "persistence/run_store.h"
#include "persistence/signal_store.h"
#include "persistence/task_store.h"
#include "persistence/timer_store.h"

namespace gridflow::engine {

using nlohmann::json;

EventScope ScopeOf(const persistence::TaskRow& task) {
  return EventScope{task.step, task.id, task.attempt, task.iteration};
}

RunTransition::RunTransition(TransitionContext& ctx, persistence::RunRow run,
                             std::shared_ptr<const dsl::Definition> definition)
    : ctx_(ctx), run_(std::move(run)), definition_(std::move(definition)) {}

Status RunTransition::Open(TransitionContext& ctx, persistence::RunRow run,
                           std::shared_ptr<const dsl::Definition> definition,
                           std::optional<std::vector<persistence::TaskRow>> open_tasks,
                           std::optional<std::vector<persistence::TimerRow>> pending_timers,
                           std::unique_ptr<RunTransition>* out) {
  std::unique_ptr<RunTransition> t(new RunTransition(ctx, std::move(run), std::move(definition)));
  std::optional<ParsedRun> parsed;
  if (!t->run_.data_and_state_read) {
    parsed = ctx.TakeParsed(t->run_.id);
    if (!parsed) persistence::ReadDataAndState(ctx.txn(), &t->run_);
  }
  if (parsed) {
    t->data_ = std::move(parsed->data);
    t->state_ = std::move(parsed->state);
    t->data_json_behind_ = true;  // run() writes data_json when asked
    t->budget_ = {ctx.max_run_data_bytes(), parsed->text_bytes};
  } else {
    Status s = FromJson(json::parse(t->run_.state_json), &t->state_);
    if (!s.ok()) return Status::Internal("run " + t->run_.workflow_id + ": " + s.message());
    t->data_ = json::parse(t->run_.data_json);
    t->budget_ = {ctx.max_run_data_bytes(), t->run_.data_json.size() + t->run_.state_json.size()};
  }
  t->open_tasks_ = std::move(open_tasks);
  if (pending_timers) {
    t->pending_timers_.emplace();
    for (persistence::TimerRow& timer : *pending_timers)
      t->pending_timers_->push_back({std::move(timer), std::nullopt});
  }
  *out = std::move(t);
  return Status::Ok();
}

persistence::NewRun RunTransition::NewRunRow(const dsl::Definition& definition,
                                             const std::string& namespace_name,
                                             const std::string& workflow_id, const json& input,
                                             const std::string& started_by) {
  persistence::NewRun run;
  run.namespace_name = namespace_name;
  run.workflow_id = workflow_id;
  run.definition_name = definition.name();
  run.definition_version = definition.version();
  run.input_json = DumpJson(input);
  run.data_json = DumpJson(json{{"input", input}});
  run.started_by = started_by;
  return run;
}

Status RunTransition::Start(TransitionContext& ctx, persistence::RunRow inserted,
                            std::shared_ptr<const dsl::Definition> definition,
                            const NewRunSpec& spec, std::unique_ptr<RunTransition>* out) {
  std::unique_ptr<RunTransition> transition;
  Status s = Open(ctx, std::move(inserted), definition, std::vector<persistence::TaskRow>{},
                  std::vector<persistence::TimerRow>{}, &transition);
  if (!s.ok()) return s;
  transition->data_stored_ = false;
  transition->state_.depth = spec.depth;
  json payload = {
      {"definition", {{"name", definition->name()}, {"version", definition->version()}}},
      {"input", spec.input}};
  // Which version the run got and why (a canary rollout's routing, docs/rollouts.md).
  if (!transition->run_.version_reason.empty()) {
    payload["definition"]["version_reason"] = transition->run_.version_reason;
  }
  if (!spec.parent.is_null()) payload["parent"] = spec.parent;
  if (const json revision = RevisionOf(transition->run_); !revision.is_null()) {
    payload["revision"] = revision;
  }
  if (!spec.client_identity.empty()) payload["client_identity"] = spec.client_identity;
  transition->Record(events::kRunStarted, spec.started_by, payload, {});
  ctx.facts().runs_started.push_back(definition->name());
  transition->NewInterpreter().Start();
  *out = std::move(transition);
  return Status::Ok();
}

json RunTransition::RevisionOf(const persistence::RunRow& run) {
  if (run.revision == 0) return nullptr;
  return {{"period", run.revision_period},
          {"number", run.revision},
          {"supersedes", run.supersedes.empty() ? json(nullptr) : json(run.supersedes)}};
}

Interpreter RunTransition::NewInterpreter() {
  RunIdentity identity{run_.id, run_.workflow_id, "", RevisionOf(run_)};
  // A revision's tasks are keyed by the revision, not the run (docs/revisions.md): a posting is
  // made once per revision of the period.
  if (run_.revision > 0) {
    identity.key_prefix = run_.namespace_name + "/" + run_.definition_name + "/" +
                          run_.revision_period + "/r" + std::to_string(run_.revision);
  }
  return Interpreter(*definition_, identity, run_.status, state_, data_, *this, &budget_);
}

// ---- the run's open tasks and pending timers ----

std::vector<persistence::TaskRow>& RunTransition::OpenTasks() {
  if (!open_tasks_) open_tasks_ = persistence::LoadOpenTasks(txn(), {run_.id});
  return *open_tasks_;
}

std::vector<RunTransition::OpenTimer>& RunTransition::PendingTimers() {
  if (!pending_timers_) {
    pending_timers_.emplace();
    for (persistence::TimerRow& timer : persistence::LoadPendingTimers(txn(), {run_.id}))
      pending_timers_->push_back({std::move(timer), std::nullopt});
  }
  return *pending_timers_;
}

const persistence::TaskRow* RunTransition::OpenTask(int64_t task_id) {
  for (const persistence::TaskRow& task : OpenTasks()) {
    if (task.id == task_id) return &task;
  }
  return nullptr;
}

void RunTransition::Forget(int64_t task_id) {
  auto& open = OpenTasks();
  open.erase(std::remove_if(open.begin(), open.end(),
                            [&](const persistence::TaskRow& t) { return t.id == task_id; }),
             open.end());
}

void RunTransition::TaskCompleted(const persistence::TaskRow& task,
                                  const std::string& output_json) {
  ctx_.writes().CompleteTask(task.id, output_json);
  ctx_.writes().CountAttempt(task.namespace_name, task.task_type, task.id, true);
  Forget(task.id);
}

void RunTransition::AttemptFailed(const persistence::TaskRow& task) {
  ctx_.writes().CountAttempt(task.namespace_name, task.task_type, task.id, false);
}

void RunTransition::TaskFailed(const persistence::TaskRow& task, const std::string& failure_json) {
  ctx_.writes().FailTask(task.id, failure_json);
  Forget(task.id);
}

void RunTransition::TaskRetried(const persistence::TaskRow& task, Millis delay,
                                const std::string& failure_json) {
  ctx_.writes().RetryTask(task.id, delay.count(), failure_json);
  for (persistence::TaskRow& open : OpenTasks()) {
    if (open.id != task.id) continue;
    open.state = "PENDING";
    ++open.attempt;
    open.lease_owner.reset();
  }
}

void RunTransition::TaskReleased(const persistence::TaskRow& task) {
  ctx_.writes().ReleaseTask(task.id);
  for (persistence::TaskRow& open : OpenTasks()) {
    if (open.id != task.id) continue;
    open.state = "PENDING";
    open.lease_owner.reset();
  }
}

void RunTransition::TaskCancelled(const persistence::TaskRow& task) {
  ctx_.writes().CancelTask(task.id);
  Forget(task.id);
}

std::optional<persistence::TimerRow> RunTransition::PendingTimer(int64_t timer_id) {
  for (const auto& pending : PendingTimers()) {
    if (pending.row.id == timer_id && !pending.inserted) return pending.row;
  }
  return std::nullopt;
}

void RunTransition::TimerFired(const persistence::TimerRow& timer) {
  persistence::MarkTimerFired(txn(), timer.id);
  auto& pending = PendingTimers();
  pending.erase(std::remove_if(pending.begin(), pending.end(),
                               [&](const OpenTimer& p) { return p.row.id == timer.id; }),
                pending.end());
}

void RunTransition::CancelPendingTimers(
    const std::function<bool(const persistence::TimerRow&)>& which) {
  auto& pending = PendingTimers();
  for (auto it = pending.begin(); it != pending.end();) {
    if (!which(it->row)) {
      ++it;
      continue;
    }
    if (it->inserted) {
      ctx_.writes().CancelInsertedTimer(*it->inserted);
    } else {
      ctx_.writes().CancelTimer(it->row.id);
    }
    it = pending.erase(it);
  }
}

// ---- RunEffects ----

TimePoint RunTransition::Now() {
  if (!run_.transaction_now) run_.transaction_now = persistence::DatabaseNow(txn());
  return *run_.transaction_now;
}

void RunTransition::Record(const char* type, const std::string& actor, const json& payload,
                           const EventScope& scope) {
  RecordText(type, actor, DumpJson(payload), scope);
}

void RunTransition::RecordText(const char* type, const std::string& actor, std::string payload_json,
                               const EventScope& scope) {
  persistence::EventRow e;
  e.seq = ++run_.last_event_seq;
  e.type = type;
  e.step = scope.step;
  e.task_id = scope.task_id;
  e.attempt = scope.attempt;
  e.iteration = scope.iteration;
  e.actor = actor;
  e.payload_json = std::move(payload_json);
  events_.push_back(std::move(e));
}

void RunTransition::ScheduleTask(TaskRequest r) {
  const dsl::TaskSpec& spec = *r.spec;
  persistence::NewTask task;
  task.run_id = run_.id;
  task.namespace_name = run_.namespace_name;
  task.workflow_id = run_.workflow_id;
  task.definition_name = run_.definition_name;
  task.definition_version = run_.definition_version;
  task.queue = r.queue;
  task.task_type = spec.task_type;
  task.step = r.step;
  task.idempotency_key = r.idempotency_key;
  task.input_json = std::move(r.input_json);
  task.max_attempts = spec.retry.max_attempts;
  task.start_to_close_ms = spec.start_to_close.count();
  if (spec.heartbeat_timeout) task.heartbeat_timeout_ms = spec.heartbeat_timeout->count();
  task.frame = r.frame;
  task.activation = r.activation;
  task.kind = std::string(ToStored(r.compensation ? TaskKind::kCompensation : TaskKind::kStep));
  task.iteration = r.iteration;
  task.priority = r.priority;
  task.dispatch_deadline = r.dispatch_deadline;
  if (spec.schedule_to_start.count() > 0)
    task.schedule_to_start_ms = spec.schedule_to_start.count();
  auto& open = OpenTasks();  // read before this transaction adds to it
  const int64_t id = ctx_.NewTaskId();
  const std::optional<std::string> owner = ctx_.Place(id, task);
  ctx_.writes().InsertTask(id, task, owner);

  persistence::TaskRow row;
  row.id = id;
  row.run_id = run_.id;
  row.namespace_name = run_.namespace_name;
  row.queue = task.queue;
  row.task_type = task.task_type;
  row.step = task.step;
  row.state = owner ? "LEASED" : "PENDING";
  row.lease_owner = owner;
  row.max_attempts = task.max_attempts;
  row.frame = task.frame;
  row.activation = task.activation;
  row.kind = task.kind;
  row.iteration = task.iteration;
  row.priority = row.base_priority = task.priority;
  row.dispatch_deadline = task.dispatch_deadline;
  open.push_back(std::move(row));

  json payload = {{"task_queue", r.queue},
                  {"task_type", spec.task_type},
                  {"max_attempts", spec.retry.max_attempts},
                  {"idempotency_key", r.idempotency_key}};
  if (r.priority != dsl::kDefaultPriority) payload["priority"] = dsl::PriorityName(r.priority);
  if (r.dispatch_deadline) payload["dispatch_deadline"] = FormatRfc3339(*r.dispatch_deadline);
  if (r.compensation) payload["compensation"] = true;
  Record(events::kTaskScheduled, events::kEngineActor, payload,
         EventScope{r.step, id, 1, r.iteration});
  facts().tasks_scheduled.push_back({run_.namespace_name, r.queue, spec.task_type, 0, false, ""});
  if (!owner) NoteNewWork(r.queue);
}

void RunTransition::CancelTask(const std::string& frame, int64_t activation) {
  std::vector<persistence::TaskRow> matching;
  for (const persistence::TaskRow& task : OpenTasks()) {
    if (task.frame == frame && task.activation == activation) matching.push_back(task);
  }
  for (const persistence::TaskRow& task : matching) {
    if (task.state == "PENDING") {
      TaskCancelled(task);
      Record(events::kTaskCancelled, events::kEngineActor, {{"reason", "no longer needed"}},
             ScopeOf(task));
    } else {
      ctx_.writes().RequestTaskCancel(task.id);
      for (persistence::TaskRow& open : OpenTasks()) {
        if (open.id == task.id) open.cancel_requested = true;
      }
      Record(events::kTaskCancelRequested, events::kEngineActor,
             {{"worker", task.lease_owner.value_or("")}, {"lease_epoch", task.lease_epoch}},
             ScopeOf(task));
    }
  }
}

void RunTransition::StartTimer(const TimerRequest& r) {
  OpenTimer timer;
  timer.row.run_id = run_.id;
  timer.row.frame = r.frame;
  timer.row.activation = r.activation;
  timer.row.step = r.step;
  timer.row.kind = std::string(ToStored(r.kind));
  timer.row.fire_at = r.fire_at;
  timer.row.state = "PENDING";
  auto& pending = PendingTimers();
  timer.inserted = ctx_.writes().InsertTimer(timer.row);
  pending.push_back(std::move(timer));
}

void RunTransition::CancelTimers(const std::string& frame, int64_t activation) {
  CancelPendingTimers([&](const persistence::TimerRow& t) {
    return t.frame == frame && t.activation == activation;
  });
}

std::optional<ConsumedSignal> RunTransition::TakeSignal(const std::string& name,
                                                        const std::string& step) {
  const auto signal = persistence::TakeSignal(txn(), run_.id, name, step);
  if (!signal) return std::nullopt;
  return ConsumedSignal{signal->id, json::parse(signal->payload_json), signal->sent_by};
}

Status RunTransition::StartChildRun(const ChildRunRequest& r, std::string* child_run_id) {
  if (state_.depth + 1 > kMaxChildDepth) {
    return Status::FailedPrecondition("child runs nest more than " +
                                      std::to_string(kMaxChildDepth) + " levels deep");
  }
  std::shared_ptr<const dsl::Definition> definition;
  std::string version_reason;
  Status s = ctx_.registry().ResolveForStart(txn(), run_.namespace_name, r.definition, r.version,
                                             r.workflow_id, &definition, &version_reason);
  if (!s.ok()) return s;
  persistence::NewRun run = NewRunRow(*definition, run_.namespace_name, r.workflow_id, r.input,
                                      "run " + run_.workflow_id);
  run.version_reason = version_reason;
  run.parent_run_id = run_.id;
  run.parent_frame = r.frame;
  run.parent_activation = r.activation;
  auto row = persistence::InsertRun(txn(), run);
  if (!row) return Status::AlreadyExists("workflow id '" + r.workflow_id + "' is already taken");
  NewRunSpec spec;
  spec.input = r.input;
  spec.started_by = run.started_by;
  spec.parent = {{"workflow_id", run_.workflow_id}, {"run_id", run_.id}, {"step", r.step}};
  spec.depth = state_.depth + 1;
  std::unique_ptr<RunTransition> child;
  if (s = Start(ctx_, std::move(*row), definition, spec, &child); !s.ok()) return s;
  child->Flush();
  *child_run_id = child->run_.id;
  return Status::Ok();
}

void RunTransition::CancelChildRun(const std::string& child_run_id, const std::string& reason) {
  const json payload = {{"reason", reason}, {"requested_by", "run " + run_.workflow_id}};
  ctx_.NoteMessage(
      {persistence::InsertMessage(txn(), child_run_id, std::string(ToStored(MessageKind::kCancel)),
                                  DumpJson(payload)),
       child_run_id});
}

int RunTransition::CountExecutingTasks() {
  const auto& open = OpenTasks();
  return static_cast<int>(std::count_if(open.begin(), open.end(), [](const auto& t) {
    return t.state == "LEASED" && t.kind == ToStored(TaskKind::kStep);
  }));
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
  facts().runs_closed.push_back({run_.definition_name, run_.status,
                                 std::chrono::duration<double>(Now() - run_.created_at).count()});
  if (!result.is_null()) run_.result_json = DumpJson(result);
  if (!failure.is_null()) run_.failure_json = DumpJson(failure);
  const std::vector<persistence::TaskRow> open = OpenTasks();
  for (const persistence::TaskRow& task : open) {
    TaskCancelled(task);
    Record(events::kTaskCancelled, events::kEngineActor, {{"reason", "the run ended"}},
           ScopeOf(task));
  }
  if (pending_timers_) {
    CancelPendingTimers([](const persistence::TimerRow&) { return true; });
  } else {
    ctx_.writes().CancelTimersOfRun(run_.id);  // none read: cancelled in SQL, not read first
  }
  if (run_.parent_run_id) {
    const json payload = {{"frame", run_.parent_frame.value_or("")},
                          {"activation", run_.parent_activation.value_or(0)},
                          {"child_run_id", run_.id},
                          {"status", status},
                          {"result", result},
                          {"failure", failure}};
    ctx_.NoteMessage({persistence::InsertMessage(txn(), *run_.parent_run_id,
                                                 std::string(ToStored(MessageKind::kChildClosed)),
                                                 DumpJson(payload)),
                      *run_.parent_run_id});
  }
}

void RunTransition::NoteDelayedWork(const std::string& queue, Millis delay) {
  ctx_.NoteDelayedWork(run_.namespace_name, queue, delay);
}

void RunTransition::NoteNewWork(const std::string& queue) {
  ctx_.NoteNewWork(run_.namespace_name, queue);
}

void RunTransition::UpdateSearchAttributes() {
  const std::vector<dsl::SearchAttribute>& declared = definition_->search_attributes();
  if (declared.empty()) return;
  dsl::EvalContext context;
  context.scope = &data_;
  context.now = Now();
  const json revision = RevisionOf(run_);
  context.revision = &revision;
  json values = json::object();
  for (const dsl::SearchAttribute& a : declared) {
    json value;
    // A value that cannot be computed yet (a step that has not run) leaves the attribute unset.
    if (!a.value.Evaluate(context, &value).ok()) continue;
    if (auto typed = dsl::AttributeValue(a.type, value)) values[a.name] = std::move(*typed);
  }
  const json current = json::parse(run_.search_attributes_json);
  if (values == current) return;
  for (const dsl::SearchAttribute& a : declared) {
    const auto now_it = values.find(a.name);
    const auto was_it = current.find(a.name);
    const json now = now_it == values.end() ? json() : *now_it;
    const json was = was_it == current.end() ? json() : *was_it;
    if (now == was) continue;
    persistence::WriteSet::AttributeWrite write{run_.id, run_.namespace_name, a.name,
                                                std::string(dsl::AttributeTypeName(a.type)),
                                                std::nullopt};
    if (!now.is_null()) write.value = now.is_string() ? now.get<std::string>() : now.dump();
    ctx_.writes().SetAttribute(std::move(write));
  }
  run_.search_attributes_json = DumpJson(values);
}

const persistence::RunRow& RunTransition::run() const {
  if (data_json_behind_) {
    run_.data_json = DumpJson(data_);
    data_json_behind_ = false;
  }
  return run_;
}

void RunTransition::DataMemberSet(const std::string& name) {
  data_members_set_.insert(name);
}

std::string RunTransition::DataPatch() const {
  std::string patch = "{";
  for (const std::string& name : data_members_set_) {
    if (patch.size() > 1) patch += ',';
    patch += DumpJson(name);
    patch += ':';
    patch += DumpJson(data_.at(name));
  }
  patch += '}';
  return patch;
}

RunTransition::~RunTransition() {
  // What the last Flush wrote, for the run's next transition on this replica: only a stored,
  // open run, with nothing set since (an output set and not flushed is not in the row).
  if (!wrote_ || !data_stored_ || !data_members_set_.empty() || IsClosedRunStatus(run_.status) ||
      run_.row_version == 0 || !open_tasks_) {
    return;
  }
  KeptRun kept{{run_.row_version + 1, {std::move(data_), std::move(state_), budget_.used}}, {}};
  for (const persistence::TaskRow& task : *open_tasks_)
    kept.open_task_ids.push_back(task.id);
  ctx_.KeepParsed(run_.id, std::move(kept));
}

void RunTransition::Flush() {
  if (skipped_ && events_.empty()) return;
  wrote_ = true;
  UpdateSearchAttributes();
  std::optional<std::string> data_patch;
  if (data_stored_) {
    data_patch = DataPatch();
    data_json_behind_ = data_json_behind_ || !data_members_set_.empty();
    data_members_set_.clear();
  } else {
    run_.data_json = DumpJson(data_);
  }
  run_.state_json = DumpJson(ToJson(state_));
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
  ctx_.writes().UpdateRun(run_, IsClosedRunStatus(run_.status), std::move(data_patch));
  if (!events_.empty()) ctx_.NoteHistory(run_.id);
  ctx_.writes().AppendEvents(run_.id, std::move(events_));
  events_.clear();
}

}  // namespace gridflow::engine
