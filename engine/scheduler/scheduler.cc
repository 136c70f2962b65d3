#include "engine/scheduler/scheduler.h"
#include "common/json_text.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <random>

#include "engine/scheduler/errors.h"
#include "engine/scheduler/events.h"
#include "engine/scheduler/group_committer.h"
#include "engine/scheduler/kinds.h"
#include "engine/scheduler/one_write_starts.h"
#include "engine/scheduler/run_status.h"
#include "engine/scheduler/run_transition.h"
#include "engine/scheduler/scheduler_call.h"
#include "persistence/dispatch_control_store.h"
#include "persistence/message_store.h"
#include "persistence/run_store.h"
#include "persistence/signal_store.h"
#include "persistence/task_store.h"
#include "persistence/timer_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

using nlohmann::json;

namespace {

// A uniform draw from [0, 1), for retry jitter.
double Random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

// Background work in two steps: `find` lists candidates (task and run ids) in a transaction of
// its own, then `handle` decides each in its run's transition; *done counts those handled.
template <typename Find, typename Handle>
Status HandleFoundTasks(persistence::ConnectionPool& pool, const char* what, const Find& find,
                        const Handle& handle, int* done) {
  *done = 0;
  decltype(find(std::declval<pqxx::work&>())) candidates;
  Status s = persistence::Transact(pool, what, [&](pqxx::work& txn) {
    candidates = find(txn);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const auto& c : candidates) {
    bool handled = false;
    if (s = handle(c.task_id, c.run_id, &handled); !s.ok()) return s;
    if (handled) ++*done;
  }
  return Status::Ok();
}

// Counts a failed or expired attempt for metrics (reported after the commit).
void CountFailedAttempt(RunTransition& tr, const persistence::TaskRow& task, const char* event_type,
                        bool will_retry) {
  TransitionFacts::Task fact{task.namespace_name,  task.queue, task.task_type,
                             task.running_seconds, will_retry, task.lease_owner.value_or("")};
  if (std::string_view(event_type) == events::kTaskLeaseExpired) {
    tr.facts().leases_expired.push_back(std::move(fact));
  } else {
    tr.facts().tasks_failed.push_back(std::move(fact));
  }
}

json ParseOrNull(const std::string& text) {
  return text.empty() ? json(nullptr) : json::parse(text);
}

RunCommand NewCommand(RunCommand::Kind kind, const std::string& ns, const std::string& workflow_id,
                      const std::string& reason, const Actor& actor) {
  RunCommand command;
  command.kind = kind;
  command.namespace_name = ns;
  command.workflow_id = workflow_id;
  command.reason = reason;
  command.actor = actor;
  return command;
}

bool IsCompensation(const persistence::TaskRow& task) {
  return TaskKindFromStored(task.kind) == TaskKind::kCompensation;
}

}  // namespace

Scheduler::Scheduler(persistence::ConnectionPool& pool, DefinitionRegistry& definitions,
                     Options options)
    : pool_(pool),
      definitions_(definitions),
      options_(options),
      one_write_starts_(std::make_unique<OneWriteStarts>(definitions)),
      committer_(std::make_unique<GroupCommitter>(
          [this](std::vector<std::unique_ptr<Call>> batch,
                 const std::function<void()>& reads_done) {
            RunBatch(std::move(batch), reads_done);
          },
          options.commit_threads, options.max_batch)) {}

Scheduler::~Scheduler() {
  Stop();
}

void Scheduler::Stop() {
  if (committer_) committer_->Stop();
}

int Scheduler::commit_concurrency() const {
  return committer_->concurrency();
}

bool Scheduler::TakeBusy() {
  return committer_->TakeActivity();
}

void Scheduler::SetTurningBusyObserver(std::function<void()> observer) {
  committer_->SetActivityObserver(std::move(observer));
}

int Scheduler::SetBusyReplicas(int replicas) {
  // Every transaction in flight costs PostgreSQL per-transaction work and splits the calls into
  // smaller batches: replicas each running commit_threads of them made three replicas do less
  // than one (docs/benchmarks.md).
  if (options_.cluster_commit_threads <= 0) return committer_->concurrency();
  const int before = committer_->concurrency();
  committer_->SetConcurrency(options_.cluster_commit_threads / std::max(1, replicas));
  const int share = committer_->concurrency();
  if (share != before)
    spdlog::info(
        "{} replica(s) applying calls: {} group-commit transaction(s) in flight here at most",
        replicas, share);
  return share;
}

// ---- the transition machinery ----

Status Scheduler::Open(TransitionContext& ctx, persistence::RunRow run,
                       std::optional<std::vector<persistence::TaskRow>> open_tasks,
                       std::optional<std::vector<persistence::TimerRow>> pending_timers,
                       std::unique_ptr<RunTransition>* out) {
  std::shared_ptr<const dsl::Definition> def;
  Status s = definitions_.Resolve(ctx.txn(), run.namespace_name, run.definition_name,
                                  run.definition_version, &def);
  if (!s.ok()) return s;
  return RunTransition::Open(ctx, std::move(run), std::move(def), std::move(open_tasks),
                             std::move(pending_timers), out);
}

Status Scheduler::ApplyIn(TransitionContext& ctx, const LockFn& lock, const BodyFn& body) {
  std::optional<persistence::RunRow> run;
  Status locked = lock(ctx.txn(), &run);
  if (!locked.ok() || !run) return locked;
  std::unique_ptr<RunTransition> transition;
  if (Status opened = Open(ctx, std::move(*run), std::nullopt, std::nullopt, &transition);
      !opened.ok()) {
    return opened;
  }
  if (Status applied = body(*transition); !applied.ok()) return applied;
  transition->Flush();
  ctx.Flush();
  return Status::Ok();
}

Status Scheduler::ApplyTransition(const char* what, const LockFn& lock, const BodyFn& body,
                                  AfterCommit* after) {
  std::optional<TransitionContext> ctx;
  const Status s = persistence::Transact(pool_, what, [&](pqxx::work& txn) -> Status {
    ctx.emplace(txn, definitions_, task_ids_, matcher_, options_.max_run_data_bytes);
    return ApplyIn(*ctx, lock, body);
  });
  if (s.ok() && ctx) *after = ctx->TakeAfterCommit();
  return s;
}

Status Scheduler::Transition(const char* what, const LockFn& lock, const BodyFn& body) {
  AfterCommit after;
  const Status s = ApplyTransition(what, lock, body, &after);
  if (s.ok()) FollowUp(std::move(after));
  return s;
}

void Scheduler::DeliverPolls(AfterCommit& after) {
  if (matcher_ != nullptr) {
    for (const auto& poll : after.polls)
      matcher_->Deliver(poll);
  }
  after.polls.clear();
}

void Scheduler::FollowUp(AfterCommit after) {
  for (const persistence::BreakerChange& change : after.facts.breaker_changes) {
    spdlog::warn("circuit breaker of task type {}/{} is now {}", change.namespace_name,
                 change.task_type, change.state);
  }
  if (observer_ != nullptr) {
    observer_->Committed(after.facts);
    if (!after.leased.empty()) observer_->Leased(after.leased);
  }
  DeliverPolls(after);
  if (listener_ != nullptr) {
    for (const auto& expired : after.facts.leases_expired) {
      if (!expired.worker.empty()) listener_->OnWorkerSilent(expired.worker);
    }
    for (const auto& [ns, queue] : after.new_work)
      listener_->OnWorkAvailable(ns, queue);
    for (const DelayedWork& work : after.delayed_work) {
      listener_->OnWorkAvailableAfter(work.namespace_name, work.queue, work.delay);
    }
  }
  if (history_listener_ != nullptr) {
    for (const std::string& run_id : after.runs_with_new_events)
      history_listener_->HistoryGrew(run_id);
  }
  // Deliver messages at once; a message's delivery may leave further ones (a grandparent).
  std::deque<persistence::PendingMessage> pending(after.messages.begin(), after.messages.end());
  while (!pending.empty()) {
    const persistence::PendingMessage message = pending.front();
    pending.pop_front();
    AfterCommit next;
    const Status s = ProcessMessage(message, &next);
    if (!s.ok()) {
      // The message stays pending; the message loop of some replica will apply it.
      spdlog::warn("run={} message {} not delivered yet: {}", message.run_id, message.message_id,
                   s.ToString());
      continue;
    }
    pending.insert(pending.end(), next.messages.begin(), next.messages.end());
    next.messages.clear();
    FollowUp(std::move(next));
  }
}

Status Scheduler::ProcessMessage(const persistence::PendingMessage& message, AfterCommit* after) {
  std::optional<persistence::MessageRow> row;
  return ApplyTransition(
      "deliver message",
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        *locked = persistence::LockRun(txn, message.run_id);  // lock order: run, then messages
        row = persistence::LockMessage(txn, message.message_id);
        if (!*locked || !row || row->processed) {
          locked->reset();
          return Status::Ok();
        }
        persistence::MarkMessageProcessed(txn, message.message_id);
        if (IsClosedRunStatus((*locked)->status)) locked->reset();
        return Status::Ok();
      },
      [&](RunTransition& tr) {
        const json payload = json::parse(row->payload_json);
        Interpreter interpreter = tr.NewInterpreter();
        const auto kind = MessageKindFromStored(row->kind);
        if (kind == MessageKind::kChildClosed) {
          interpreter.ChildRunClosed(
              payload.value("frame", ""), payload.value("activation", int64_t{0}),
              payload.value("status", ""), payload["result"], payload["failure"]);
        } else if (kind == MessageKind::kCancel) {
          interpreter.Cancel(Actor{payload.value("requested_by", events::kEngineActor), ""},
                             payload.value("reason", ""));
        }
        return Status::Ok();
      },
      after);
}

// ---- operators' commands ----

Status Scheduler::ApplyCommand(TransitionContext& ctx, const RunCommand& command,
                               CommandOutcome* outcome) {
  switch (command.kind) {
    case RunCommand::Kind::kCancel:
      return CancelIn(ctx, command);
    case RunCommand::Kind::kTerminate:
      return TerminateIn(ctx, command);
    case RunCommand::Kind::kRetry:
      return RetryIn(ctx, command, &outcome->from_step);
    case RunCommand::Kind::kSignal:
      return SignalIn(ctx, command, &outcome->accepted);
  }
  return Status::InvalidArgument("unknown run command");
}

Status Scheduler::ApplyCommandIn(pqxx::transaction_base& txn, const RunCommand& command,
                                 CommandOutcome* outcome, AfterCommit* after) {
  // No long-poll is handed a task directly: the caller's transaction may still roll back.
  TransitionContext ctx(txn, definitions_, task_ids_, /*matcher=*/nullptr,
                        options_.max_run_data_bytes);
  const Status s = ApplyCommand(ctx, command, outcome);
  if (s.ok()) *after = ctx.TakeAfterCommit();
  return s;
}

Status Scheduler::Command(const char* what, const RunCommand& command, CommandOutcome* outcome,
                          persistence::RunRow* run) {
  std::optional<TransitionContext> ctx;
  Status s = persistence::Transact(pool_, what, [&](pqxx::work& txn) -> Status {
    ctx.emplace(txn, definitions_, task_ids_, matcher_, options_.max_run_data_bytes);
    *outcome = CommandOutcome{};
    return ApplyCommand(*ctx, command, outcome);
  });
  if (!s.ok()) return s;
  FollowUp(ctx->TakeAfterCommit());
  return run == nullptr ? Status::Ok() : ReadRun(command.namespace_name, command.workflow_id, run);
}

Status Scheduler::CancelRun(const std::string& ns, const std::string& workflow_id,
                            const std::string& reason, const Actor& actor,
                            persistence::RunRow* run) {
  CommandOutcome outcome;
  return Command("cancel run",
                 NewCommand(RunCommand::Kind::kCancel, ns, workflow_id, reason, actor), &outcome,
                 run);
}

Status Scheduler::TerminateRun(const std::string& ns, const std::string& workflow_id,
                               const std::string& reason, const Actor& actor,
                               persistence::RunRow* run) {
  CommandOutcome outcome;
  return Command("terminate run",
                 NewCommand(RunCommand::Kind::kTerminate, ns, workflow_id, reason, actor), &outcome,
                 run);
}

Status Scheduler::RetryRun(const std::string& ns, const std::string& workflow_id,
                           const std::string& from_step, const std::string& reason,
                           const Actor& actor, persistence::RunRow* run, std::string* step) {
  RunCommand command = NewCommand(RunCommand::Kind::kRetry, ns, workflow_id, reason, actor);
  command.from_step = from_step;
  CommandOutcome outcome;
  const Status s = Command("retry run", command, &outcome, run);
  *step = outcome.from_step;
  return s;
}

Status Scheduler::SignalRun(const std::string& ns, const std::string& workflow_id,
                            const std::string& signal_name, const std::string& payload_json,
                            const std::string& dedup_id, const Actor& actor, bool* accepted) {
  RunCommand command = NewCommand(RunCommand::Kind::kSignal, ns, workflow_id, "", actor);
  command.signal_name = signal_name;
  command.payload_json = payload_json;
  command.dedup_id = dedup_id;
  CommandOutcome outcome;
  const Status s = Command("signal run", command, &outcome, nullptr);
  *accepted = outcome.accepted;
  return s;
}

Status Scheduler::ReadRun(const std::string& ns, const std::string& workflow_id,
                          persistence::RunRow* run) {
  return persistence::Transact(pool_, "read run", [&](pqxx::work& txn) {
    *run = *persistence::FindRun(txn, ns, workflow_id);
    return Status::Ok();
  });
}

Status Scheduler::CancelIn(TransitionContext& ctx, const RunCommand& c) {
  return ApplyIn(
      ctx,
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        *locked = persistence::LockRunByWorkflowId(txn, c.namespace_name, c.workflow_id);
        if (!*locked) return RunNotFound(c.namespace_name, c.workflow_id);
        const std::string& status = (*locked)->status;
        if (IsClosedRunStatus(status) && status != run_status::kCancelled) {
          return Status::FailedPrecondition("run '" + c.workflow_id + "' is already " + status +
                                            "; only open runs can be cancelled");
        }
        if (status != run_status::kRunning) locked->reset();  // cancelling it again changes nothing
        return Status::Ok();
      },
      [&](RunTransition& tr) {
        tr.NewInterpreter().Cancel(c.actor, c.reason);
        return Status::Ok();
      });
}

Status Scheduler::TerminateIn(TransitionContext& ctx, const RunCommand& c) {
  return ApplyIn(
      ctx,
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        *locked = persistence::LockRunByWorkflowId(txn, c.namespace_name, c.workflow_id);
        if (!*locked) return RunNotFound(c.namespace_name, c.workflow_id);
        const std::string& status = (*locked)->status;
        if (status == run_status::kTerminated) {
          locked->reset();  // terminating it again changes nothing
        } else if (IsClosedRunStatus(status)) {
          return Status::FailedPrecondition("run '" + c.workflow_id + "' is already " + status +
                                            "; only open runs can be terminated");
        }
        return Status::Ok();
      },
      [&](RunTransition& tr) {
        tr.NewInterpreter().Terminate(c.actor, c.reason);
        spdlog::warn("run={} workflow_id={} terminated by {}: {}", tr.run().id, c.workflow_id,
                     c.actor.principal, c.reason);
        return Status::Ok();
      });
}

Status Scheduler::RetryIn(TransitionContext& ctx, const RunCommand& c, std::string* step) {
  return ApplyIn(
      ctx,
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        *locked = persistence::LockRunByWorkflowId(txn, c.namespace_name, c.workflow_id);
        if (!*locked) return RunNotFound(c.namespace_name, c.workflow_id);
        const std::string& status = (*locked)->status;
        if (status != run_status::kFailed && status != run_status::kCancelled &&
            status != run_status::kTerminated) {
          return Status::FailedPrecondition("run '" + c.workflow_id + "' is " + status +
                                            "; only failed, cancelled or terminated runs can be "
                                            "retried");
        }
        if ((*locked)->parent_run_id) {
          return Status::FailedPrecondition("run '" + c.workflow_id +
                                            "' is a child run; retry its parent instead");
        }
        return Status::Ok();
      },
      [&](RunTransition& tr) -> Status {
        const dsl::Definition& def = tr.definition();
        if (!c.from_step.empty()) {
          const dsl::Step* named = def.FindStep(c.from_step);
          if (named == nullptr) {
            return Status::InvalidArgument("from_step: " + def.name() + " v" +
                                           std::to_string(def.version()) + " has no step '" +
                                           c.from_step + "'");
          }
          if (named->block != 0) {
            return Status::InvalidArgument("from_step: '" + c.from_step +
                                           "' is inside a parallel or foreach step; retry from '" +
                                           def.TopLevelStepOf(*named).name + "'");
          }
          *step = named->name;
        } else {
          const json failure = ParseOrNull(tr.run().failure_json.value_or(""));
          const std::string failed = failure.is_object() ? failure.value("step", "") : "";
          const dsl::Step* failed_step = failed.empty() ? nullptr : def.FindStep(failed);
          if (failed_step == nullptr) {
            return Status::InvalidArgument(
                "from_step: is required: the run did not fail at a step (name the step to go on "
                "from)");
          }
          *step = def.TopLevelStepOf(*failed_step).name;
        }
        tr.NewInterpreter().Retry(*step, c.actor, c.reason);
        spdlog::info("run={} workflow_id={} retried from {} by {}: {}", tr.run().id, c.workflow_id,
                     *step, c.actor.principal, c.reason);
        return Status::Ok();
      });
}

Status Scheduler::SignalIn(TransitionContext& ctx, const RunCommand& c, bool* accepted) {
  const json payload = ParseOrNull(c.payload_json);
  return ApplyIn(
      ctx,
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        *locked = persistence::LockRunByWorkflowId(txn, c.namespace_name, c.workflow_id);
        if (!*locked) return RunNotFound(c.namespace_name, c.workflow_id);
        if (IsClosedRunStatus((*locked)->status)) {
          return Status::FailedPrecondition("run '" + c.workflow_id + "' is already " +
                                            (*locked)->status +
                                            "; signals are accepted only by open runs");
        }
        return Status::Ok();
      },
      [&](RunTransition& tr) {
        persistence::SignalRow signal;
        signal.run_id = tr.run().id;
        signal.name = c.signal_name;
        signal.payload_json = payload.dump();
        if (!c.dedup_id.empty()) signal.dedup_id = c.dedup_id;
        signal.sent_by = c.actor.principal;
        const auto signal_id = persistence::InsertSignal(tr.txn(), signal);
        *accepted = signal_id.has_value();
        if (!*accepted) return Status::Ok();  // a repeated delivery: applied once already
        json event = {
            {"signal_name", c.signal_name}, {"payload", payload}, {"signal_id", *signal_id}};
        if (!c.dedup_id.empty()) event["dedup_id"] = c.dedup_id;
        tr.Record(events::kSignalReceived, c.actor.principal, c.actor.Detailed(event), {});
        tr.facts().signals_received.push_back(tr.run().definition_name);
        tr.NewInterpreter().SignalArrived(c.signal_name);
        return Status::Ok();
      });
}

// ---- worker-facing transitions ----

void Scheduler::ApplyCompletion(RunTransition& tr, const persistence::TaskRow& task,
                                const LeaseRef& lease, const std::string& result_json,
                                const json& result) {
  tr.TaskCompleted(task, result_json);
  // {"cancel_requested"?, "lease_epoch", "result", "worker"}: the keys in DumpJson's order, the
  // result spliced in as its text (DumpJson's own).
  std::string payload = "{";
  if (task.cancel_requested) payload += "\"cancel_requested\":true,";  // recorded, not acted on
  payload += "\"lease_epoch\":" + std::to_string(task.lease_epoch) + ",\"result\":";
  payload += result_json;
  payload += ",\"worker\":" + DumpJson(json(lease.identity)) + "}";
  tr.RecordText(events::kTaskCompleted, lease.principal, std::move(payload), ScopeOf(task));
  tr.facts().tasks_completed.push_back(
      {task.namespace_name, task.queue, task.task_type, task.running_seconds, false, ""});
  Interpreter interpreter = tr.NewInterpreter();
  if (IsCompensation(task)) {
    interpreter.CompensationCompleted(task.activation);
  } else {
    interpreter.TaskCompleted(task.frame, task.activation, result);
    interpreter.ExecutingTaskFinished();
  }
}

Status Scheduler::ReleaseTask(const LeaseRef& lease, const std::string& reason) {
  return Transition(
      "release task",
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        const auto found = persistence::FindTask(txn, lease.namespace_name, lease.task_id);
        if (!found) return UnknownTask(lease.namespace_name, lease.task_id);
        if (Status s = QueueAllowed(lease, *found); !s.ok()) return s;
        if (found->state != task_state::kLeased || found->lease_epoch != lease.lease_epoch) {
          return StaleLease(*found, lease.lease_epoch);
        }
        *locked = persistence::LockRun(txn, found->run_id);  // lock order: run, then task
        if (!*locked) return Status::Internal("run " + found->run_id + " vanished");
        return Status::Ok();
      },
      [&](RunTransition& tr) -> Status {
        const persistence::TaskRow* open = tr.OpenTask(lease.task_id);
        if (open == nullptr || open->state != task_state::kLeased ||
            open->lease_epoch != lease.lease_epoch) {
          const auto now = persistence::FindTask(tr.txn(), lease.namespace_name, lease.task_id);
          return now ? StaleLease(*now, lease.lease_epoch)
                     : UnknownTask(lease.namespace_name, lease.task_id);
        }
        const persistence::TaskRow task = *open;
        if (task.cancel_requested || tr.run().status == run_status::kCancelling) {
          tr.TaskCancelled(task);
          tr.Record(events::kTaskCancelled, lease.principal,
                    {{"reason", "released after its cancellation was requested"}}, ScopeOf(task));
          tr.NewInterpreter().ExecutingTaskFinished();
          return Status::Ok();
        }
        tr.TaskReleased(task);
        tr.Record(
            events::kTaskReleased, lease.principal,
            {{"reason", reason}, {"lease_epoch", task.lease_epoch}, {"worker", lease.identity}},
            ScopeOf(task));
        tr.NoteNewWork(task.queue);
        return Status::Ok();
      });
}

RetryOutcome Scheduler::HandleFailedAttempt(RunTransition& tr, const persistence::TaskRow& task,
                                            const char* event_type, const std::string& actor,
                                            const TaskFailureReport& failure, json payload) {
  const json details = ParseOrNull(failure.details_json);
  json failure_json = {{"error_type", failure.error_type},
                       {"message", failure.message},
                       {"attempt", task.attempt},
                       {"lease_epoch", task.lease_epoch}};
  if (!details.is_null()) failure_json["details"] = details;
  payload["error_type"] = failure.error_type;
  payload["message"] = failure.message;
  payload["lease_epoch"] = task.lease_epoch;
  if (!details.is_null()) payload["details"] = details;
  if (failure.attempt_ran) tr.AttemptFailed(task);
  Interpreter interpreter = tr.NewInterpreter();

  if (task.cancel_requested || tr.run().status == run_status::kCancelling) {
    tr.TaskFailed(task, DumpJson(failure_json));
    payload["will_retry"] = false;
    payload["reason"] = "the run no longer needs this task";
    tr.Record(event_type, actor, payload, ScopeOf(task));
    CountFailedAttempt(tr, task, event_type, false);
    interpreter.ExecutingTaskFinished();
    return {};
  }
  const dsl::Step* step = tr.definition().FindStep(task.step);
  dsl::RetryPolicy policy;
  if (step != nullptr) {
    policy = IsCompensation(task) && step->compensate ? step->compensate->retry : step->task.retry;
  }
  const dsl::RetryDecision decision =
      dsl::DecideRetry(policy, task.attempt, failure.error_type, failure.non_retryable, Random01());
  if (decision.retry) {
    tr.TaskRetried(task, decision.delay, DumpJson(failure_json));
    const TimePoint retry_at = tr.Now() + std::chrono::duration_cast<Micros>(decision.delay);
    payload["will_retry"] = true;
    payload["next_attempt"] = task.attempt + 1;
    payload["retry_delay_ms"] = decision.delay.count();
    payload["retry_at"] = FormatRfc3339(retry_at);
    tr.Record(event_type, actor, payload, ScopeOf(task));
    CountFailedAttempt(tr, task, event_type, true);
    if (decision.delay.count() == 0) {
      tr.NoteNewWork(task.queue);
    } else {
      tr.NoteDelayedWork(task.queue, decision.delay);
    }
    return {true, retry_at};
  }
  tr.TaskFailed(task, DumpJson(failure_json));
  payload["will_retry"] = false;
  payload["reason"] = decision.reason;
  tr.Record(event_type, actor, payload, ScopeOf(task));
  CountFailedAttempt(tr, task, event_type, false);
  const RunFailure run_failure{task.step, failure.error_type, failure.message, details,
                               task.attempt};
  if (IsCompensation(task)) {
    interpreter.CompensationFailed(task.activation, run_failure);
  } else {
    interpreter.TaskFailed(task.frame, task.activation, run_failure);
  }
  spdlog::info("run={} task={} step={} failed for good: {} ({})", task.run_id, task.id, task.step,
               failure.error_type, decision.reason);
  return {};
}

// ---- background work ----

Status Scheduler::ExpireLeases(int limit, int* done) {
  return HandleFoundTasks(
      pool_, "find expired leases",
      [&](pqxx::work& txn) { return persistence::FindExpiredLeases(txn, limit); },
      [this](int64_t task, const std::string& run, bool* handled) {
        return ExpireLease(task, run, handled);
      },
      done);
}

Status Scheduler::ExpireLease(int64_t task_id, const std::string& run_id, bool* expired) {
  return Transition(
      "expire lease",
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        *expired = false;
        // A run held by another transaction (a completion, another replica's reaper) decides the
        // task's fate itself; look again next round if the lease is still over.
        *locked = persistence::TryLockRun(txn, run_id);
        return Status::Ok();
      },
      [&](RunTransition& tr) {
        const persistence::TaskRow* open = tr.OpenTask(task_id);
        if (open == nullptr || open->state != task_state::kLeased || !open->lease_expired) {
          tr.Skip();  // completed, released or heartbeated meanwhile
          return Status::Ok();
        }
        const persistence::TaskRow task = *open;
        const std::string owner = task.lease_owner.value_or("unknown");
        TaskFailureReport failure;
        json payload = {{"lease_owner", owner}};
        if (task.attempt_overdue) {
          failure.error_type = "gridflow.StartToCloseTimeout";
          failure.message = "attempt " + std::to_string(task.attempt) +
                            " exceeded its start-to-close timeout of " +
                            FormatDuration(Millis(task.start_to_close_ms)) + " (worker " + owner +
                            ")";
          payload["timeout"] = "start_to_close";
        } else {
          failure.error_type = "gridflow.HeartbeatTimeout";
          failure.message = "worker " + owner + " sent no heartbeat within " +
                            FormatDuration(Millis(task.heartbeat_timeout_ms.value_or(0))) +
                            "; its lease ended";
          payload["timeout"] = "heartbeat";
        }
        HandleFailedAttempt(tr, task, events::kTaskLeaseExpired, events::kEngineActor, failure,
                            payload);
        *expired = true;
        spdlog::warn("run={} task={} step={} lease of {} (epoch {}) expired: {}", task.run_id,
                     task.id, task.step, owner, task.lease_epoch, failure.error_type);
        return Status::Ok();
      });
}

Status Scheduler::FailOverdueStarts(int limit, int* done) {
  return HandleFoundTasks(
      pool_, "find overdue starts",
      [&](pqxx::work& txn) { return persistence::FindOverdueStarts(txn, limit); },
      [this](int64_t task, const std::string& run, bool* handled) {
        return FailOverdueStart(task, run, handled);
      },
      done);
}

Status Scheduler::FailOverdueStart(int64_t task_id, const std::string& run_id, bool* failed) {
  return Transition(
      "schedule-to-start timeout",
      [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
        *failed = false;
        *locked = persistence::TryLockRun(txn, run_id);  // busy: next round
        return Status::Ok();
      },
      [&](RunTransition& tr) {
        const persistence::TaskRow* open = tr.OpenTask(task_id);
        if (open == nullptr || open->state != task_state::kPending || !open->start_overdue) {
          tr.Skip();  // claimed, cancelled or already handled meanwhile
          return Status::Ok();
        }
        const persistence::TaskRow task = *open;
        const dsl::Step* step = tr.definition().FindStep(task.step);
        const dsl::TaskSpec* spec = step == nullptr                            ? nullptr
                                    : IsCompensation(task) && step->compensate ? &*step->compensate
                                                                               : &step->task;
        const std::string timeout =
            spec != nullptr ? FormatDuration(spec->schedule_to_start) : "its schedule-to-start";
        TaskFailureReport failure;
        failure.error_type = "gridflow.ScheduleToStartTimeout";
        failure.message = "no worker started attempt " + std::to_string(task.attempt) + " within " +
                          timeout + " on queue " + task.queue;
        failure.attempt_ran = false;
        HandleFailedAttempt(tr, task, events::kTaskStartTimedOut, events::kEngineActor, failure,
                            {{"timeout", "schedule_to_start"}});
        *failed = true;
        spdlog::warn("run={} task={} step={} not started in time on queue {}", task.run_id, task.id,
                     task.step, task.queue);
        return Status::Ok();
      });
}

Status Scheduler::FireDueTimers(int limit, int* done) {
  *done = 0;
  std::vector<persistence::DueTimer> due;
  Status s = persistence::Transact(pool_, "find due timers", [&](pqxx::work& txn) {
    due = persistence::FindDueTimers(txn, limit);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const persistence::DueTimer& candidate : due) {
    s = Transition(
        "fire timer",
        [&](pqxx::transaction_base& txn, std::optional<persistence::RunRow>* locked) -> Status {
          *locked = persistence::TryLockRun(txn, candidate.run_id);
          return Status::Ok();
        },
        [&](RunTransition& tr) {
          const auto timer = tr.PendingTimer(candidate.timer_id);
          if (!timer) {
            tr.Skip();  // fired or cancelled meanwhile
            return Status::Ok();
          }
          const auto kind = TimerKindFromStored(timer->kind);
          if (!kind) {
            return Status::Internal("timer " + std::to_string(timer->id) + " has kind '" +
                                    timer->kind + "', unknown to this engine");
          }
          tr.TimerFired(*timer);
          tr.NewInterpreter().TimerFired(timer->frame, timer->activation, *kind);
          ++*done;
          return Status::Ok();
        });
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Scheduler::ProcessPendingMessages(int limit, int* done) {
  *done = 0;
  std::vector<persistence::PendingMessage> pending;
  Status s = persistence::Transact(pool_, "find pending messages", [&](pqxx::work& txn) {
    pending = persistence::FindPendingMessages(txn, limit);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const persistence::PendingMessage& message : pending) {
    AfterCommit after;
    if (s = ProcessMessage(message, &after); !s.ok()) return s;
    FollowUp(std::move(after));
    ++*done;
  }
  return Status::Ok();
}

}  // namespace gridflow::engine
