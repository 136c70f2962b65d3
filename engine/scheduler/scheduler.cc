#include "engine/scheduler/scheduler.h"

#include <spdlog/spdlog.h>

#include <set>

#include "engine/scheduler/errors.h"
#include "engine/scheduler/events.h"
#include "engine/scheduler/run_status.h"
#include "engine/scheduler/run_transition.h"
#include "persistence/run_store.h"
#include "persistence/signal_store.h"
#include "persistence/task_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

using nlohmann::json;
using QueueSet = std::set<std::pair<std::string, std::string>>;

namespace {

json ParseOrNull(const std::string& text) {
  return text.empty() ? json(nullptr) : json::parse(text);
}

}  // namespace

Scheduler::Scheduler(persistence::ConnectionPool& pool, DefinitionRegistry& definitions)
    : pool_(pool), definitions_(definitions) {}

void Scheduler::Announce(const QueueSet& new_work) {
  if (listener_ == nullptr) return;
  for (const auto& [ns, queue] : new_work) {
    listener_->OnWorkAvailable(ns, queue);
  }
}

Status Scheduler::StartRun(const StartRunParams& p, persistence::RunRow* run, bool* created) {
  const json input = json::parse(p.input_json);
  QueueSet new_work;
  Status s = persistence::Transact(pool_, "start run", [&](pqxx::work& txn) -> Status {
    new_work.clear();
    std::shared_ptr<const dsl::Definition> def;
    Status resolved =
        definitions_.Resolve(txn, p.namespace_name, p.definition_name, p.definition_version, &def);
    if (!resolved.ok()) return resolved;
    persistence::NewRun new_run{p.namespace_name, p.workflow_id, def->name(),
                                def->version(),   p.input_json,  json{{"input", input}}.dump(),
                                p.identity};
    auto inserted = persistence::InsertRun(txn, new_run);
    if (!inserted) {
      auto existing = persistence::FindRun(txn, p.namespace_name, p.workflow_id);
      if (!existing) return Status::Unavailable("run insert conflicted; retry");
      const bool same =
          existing->definition_name == p.definition_name &&
          (p.definition_version == 0 || existing->definition_version == p.definition_version) &&
          persistence::RunInputEquals(txn, existing->id, p.input_json);
      if (!same) {
        return Status::AlreadyExists("workflow id '" + p.workflow_id +
                                     "' is already used in namespace '" + p.namespace_name +
                                     "' by a run of " + existing->definition_name + " v" +
                                     std::to_string(existing->definition_version) +
                                     " with a different input; choose another workflow id");
      }
      *run = std::move(*existing);
      *created = false;
      return Status::Ok();
    }
    RunTransition tr(txn, std::move(*inserted), def);
    tr.Record(
        events::kRunStarted, p.identity,
        {{"definition", {{"name", def->name()}, {"version", def->version()}}}, {"input", input}});
    tr.EnterStep(def->first_step(), events::kEngineActor);
    tr.Flush();
    new_work = tr.queues_with_new_work();
    *run = *persistence::FindRun(txn, p.namespace_name, p.workflow_id);
    *created = true;
    return Status::Ok();
  });
  if (s.ok() && *created) {
    spdlog::info("run={} workflow_id={} started ({} v{})", run->id, run->workflow_id,
                 run->definition_name, run->definition_version);
    Announce(new_work);
  }
  return s;
}

Status Scheduler::WithLeasedTask(const char* what, const LeaseRef& lease, bool* already_completed,
                                 const LeasedTaskBody& apply) {
  QueueSet new_work;
  Status s = persistence::Transact(pool_, what, [&](pqxx::work& txn) -> Status {
    new_work.clear();
    if (already_completed != nullptr) *already_completed = false;
    const auto found = persistence::FindTask(txn, lease.namespace_name, lease.task_id);
    if (!found) return UnknownTask(lease.namespace_name, lease.task_id);
    auto run = persistence::LockRun(txn, found->run_id);  // lock order: run, then task
    auto task = persistence::LockTask(txn, lease.task_id);
    if (!run || !task)
      return Status::Internal("task " + std::to_string(lease.task_id) + " vanished");
    if (already_completed != nullptr && task->state == task_state::kCompleted &&
        task->lease_epoch == lease.lease_epoch) {
      *already_completed = true;  // a retried CompleteTask whose first call committed
      return Status::Ok();
    }
    if (task->state != task_state::kLeased || task->lease_epoch != lease.lease_epoch) {
      return StaleLease(*task, lease.lease_epoch);
    }
    std::shared_ptr<const dsl::Definition> def;
    Status resolved = definitions_.Resolve(txn, run->namespace_name, run->definition_name,
                                           run->definition_version, &def);
    if (!resolved.ok()) return resolved;
    RunTransition tr(txn, std::move(*run), def);
    Status applied = apply(tr, *task);
    if (!applied.ok()) return applied;
    tr.Flush();
    new_work = tr.queues_with_new_work();
    return Status::Ok();
  });
  if (s.ok()) Announce(new_work);
  return s;
}

Status Scheduler::CompleteTask(const LeaseRef& lease, const std::string& result_json) {
  const json result = ParseOrNull(result_json);
  bool already_completed = false;
  return WithLeasedTask(
      "complete task", lease, &already_completed,
      [&](RunTransition& tr, const persistence::TaskRow& task) -> Status {
        persistence::MarkTaskCompleted(tr.txn(), task.id, result.dump());
        tr.Record(
            events::kTaskCompleted, lease.identity,
            {{"result", result}, {"lease_epoch", task.lease_epoch}, {"worker", lease.identity}},
            ScopeOf(task));
        tr.SetStepOutput(task.step, result);
        if (tr.run().status == run_status::kCancelling) {
          tr.FinishCancellation();
          return Status::Ok();
        }
        const dsl::Step* step = tr.definition().FindStep(task.step);
        if (step == nullptr) return Status::Internal("step '" + task.step + "' not in definition");
        tr.ContinueAfter(*step, events::kEngineActor);
        spdlog::debug("run={} task={} step={} completed", task.run_id, task.id, task.step);
        return Status::Ok();
      });
}

Status Scheduler::FailTask(const LeaseRef& lease, const TaskFailureReport& failure,
                           RetryOutcome* outcome) {
  return WithLeasedTask(
      "fail task", lease, nullptr, [&](RunTransition& tr, const persistence::TaskRow& task) {
        *outcome = HandleFailedAttempt(tr, task, events::kTaskFailed, lease.identity, failure,
                                       {{"worker", lease.identity}});
        return Status::Ok();
      });
}

Status Scheduler::ReleaseTask(const LeaseRef& lease, const std::string& reason) {
  return WithLeasedTask(
      "release task", lease, nullptr, [&](RunTransition& tr, const persistence::TaskRow& task) {
        if (tr.run().status == run_status::kCancelling) {
          persistence::MarkTaskCancelled(tr.txn(), task.id);
          tr.Record(events::kTaskCancelled, lease.identity,
                    {{"reason", "released while the run is being cancelled"}}, ScopeOf(task));
          tr.FinishCancellation();
          return Status::Ok();
        }
        persistence::RequeueReleasedTask(tr.txn(), task.id);
        tr.Record(
            events::kTaskReleased, lease.identity,
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

  const RunFailure run_failure{task.step, failure.error_type, failure.message, details,
                               task.attempt};
  if (tr.run().status == run_status::kCancelling) {
    persistence::MarkTaskFailed(tr.txn(), task.id, failure_json.dump());
    payload["will_retry"] = false;
    payload["reason"] = "the run is being cancelled";
    tr.Record(event_type, actor, payload, ScopeOf(task));
    tr.FinishCancellation();
    return {};
  }
  const dsl::Step* step = tr.definition().FindStep(task.step);
  const dsl::RetryPolicy policy = step != nullptr ? step->task.retry : dsl::RetryPolicy{};
  const dsl::RetryDecision decision =
      dsl::DecideRetry(policy, task.attempt, failure.error_type, failure.non_retryable);
  if (decision.retry) {
    const TimePoint retry_at = persistence::RequeueTaskForRetry(
        tr.txn(), task.id, decision.delay.count(), failure_json.dump());
    payload["will_retry"] = true;
    payload["next_attempt"] = task.attempt + 1;
    payload["retry_delay_ms"] = decision.delay.count();
    payload["retry_at"] = FormatRfc3339(retry_at);
    tr.Record(event_type, actor, payload, ScopeOf(task));
    if (decision.delay.count() == 0) tr.NoteNewWork(task.queue);
    return {true, retry_at};
  }
  persistence::MarkTaskFailed(tr.txn(), task.id, failure_json.dump());
  payload["will_retry"] = false;
  payload["reason"] = decision.reason;
  tr.Record(event_type, actor, payload, ScopeOf(task));
  tr.FailRun(run_failure, events::kEngineActor);
  spdlog::info("run={} task={} step={} failed for good: {} ({})", task.run_id, task.id, task.step,
               failure.error_type, decision.reason);
  return {};
}

Status Scheduler::CancelRun(const std::string& ns, const std::string& workflow_id,
                            const std::string& reason, const std::string& identity,
                            persistence::RunRow* run) {
  return persistence::Transact(pool_, "cancel run", [&](pqxx::work& txn) -> Status {
    auto locked = persistence::LockRunByWorkflowId(txn, ns, workflow_id);
    if (!locked) return RunNotFound(ns, workflow_id);
    if (locked->status == run_status::kCancelling || locked->status == run_status::kCancelled) {
      *run = std::move(*locked);
      return Status::Ok();  // cancelling twice changes nothing
    }
    if (IsClosedRunStatus(locked->status)) {
      return Status::FailedPrecondition("run '" + workflow_id + "' is already " + locked->status +
                                        "; only open runs can be cancelled");
    }
    std::shared_ptr<const dsl::Definition> def;
    Status s =
        definitions_.Resolve(txn, ns, locked->definition_name, locked->definition_version, &def);
    if (!s.ok()) return s;
    RunTransition tr(txn, std::move(*locked), def);
    tr.RequestCancellation(identity, reason);
    for (const persistence::TaskRow& task : persistence::CancelPendingTasks(txn, tr.run().id)) {
      tr.Record(events::kTaskCancelled, identity, {{"reason", "run cancelled"}}, ScopeOf(task));
    }
    // An executing task keeps its lease; its worker learns of the cancellation by heartbeat and
    // the run ends when that task's outcome is recorded.
    if (persistence::CountLeasedTasks(txn, tr.run().id) == 0) tr.FinishCancellation();
    tr.Flush();
    *run = *persistence::FindRun(txn, ns, workflow_id);
    return Status::Ok();
  });
}

Status Scheduler::SignalRun(const std::string& ns, const std::string& workflow_id,
                            const std::string& signal_name, const std::string& payload_json,
                            const std::string& dedup_id, const std::string& identity,
                            bool* accepted) {
  const json payload = ParseOrNull(payload_json);
  return persistence::Transact(pool_, "signal run", [&](pqxx::work& txn) -> Status {
    auto locked = persistence::LockRunByWorkflowId(txn, ns, workflow_id);
    if (!locked) return RunNotFound(ns, workflow_id);
    if (IsClosedRunStatus(locked->status)) {
      return Status::FailedPrecondition("run '" + workflow_id + "' is already " + locked->status +
                                        "; signals are accepted only by open runs");
    }
    persistence::SignalRow signal;
    signal.run_id = locked->id;
    signal.name = signal_name;
    signal.payload_json = payload.dump();
    if (!dedup_id.empty()) signal.dedup_id = dedup_id;
    signal.sent_by = identity;
    const auto signal_id = persistence::InsertSignal(txn, signal);
    *accepted = signal_id.has_value();
    if (!*accepted) return Status::Ok();  // a repeated delivery: applied once already
    std::shared_ptr<const dsl::Definition> def;
    Status s =
        definitions_.Resolve(txn, ns, locked->definition_name, locked->definition_version, &def);
    if (!s.ok()) return s;
    RunTransition tr(txn, std::move(*locked), def);
    json event = {{"signal_name", signal_name}, {"payload", payload}, {"signal_id", *signal_id}};
    if (!dedup_id.empty()) event["dedup_id"] = dedup_id;
    tr.Record(events::kSignalReceived, identity, std::move(event));
    tr.Flush();
    return Status::Ok();
  });
}

Status Scheduler::ExpireLeases(int limit, int* expired) {
  *expired = 0;
  std::vector<persistence::ExpiredLease> candidates;
  Status s = persistence::Transact(pool_, "find expired leases", [&](pqxx::work& txn) {
    candidates = persistence::FindExpiredLeases(txn, limit);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const persistence::ExpiredLease& lease : candidates) {
    bool ended = false;
    s = ExpireLease(lease.task_id, lease.run_id, &ended);
    if (!s.ok()) return s;
    if (ended) ++*expired;
  }
  return Status::Ok();
}

Status Scheduler::ExpireLease(int64_t task_id, const std::string& run_id, bool* expired) {
  QueueSet new_work;
  Status s = persistence::Transact(pool_, "expire lease", [&](pqxx::work& txn) -> Status {
    new_work.clear();
    *expired = false;
    // Another transaction holding the run (a completion, another replica's reaper) decides this
    // task's fate; skip it, and look again next round if its lease is still over.
    auto run = persistence::TryLockRun(txn, run_id);
    if (!run) return Status::Ok();
    auto task = persistence::LockTask(txn, task_id);
    if (!task || task->state != task_state::kLeased || !task->lease_expired) return Status::Ok();
    std::shared_ptr<const dsl::Definition> def;
    Status resolved = definitions_.Resolve(txn, run->namespace_name, run->definition_name,
                                           run->definition_version, &def);
    if (!resolved.ok()) return resolved;
    RunTransition tr(txn, std::move(*run), def);
    const std::string owner = task->lease_owner.value_or("unknown");
    TaskFailureReport failure;
    json payload = {{"lease_owner", owner}};
    if (task->attempt_overdue) {
      failure.error_type = "gridflow.StartToCloseTimeout";
      failure.message = "attempt " + std::to_string(task->attempt) +
                        " exceeded its start-to-close "
                        "timeout of " +
                        FormatDuration(Millis(task->start_to_close_ms)) + " (worker " + owner + ")";
      payload["timeout"] = "start_to_close";
    } else {
      failure.error_type = "gridflow.HeartbeatTimeout";
      failure.message = "worker " + owner + " sent no heartbeat within " +
                        FormatDuration(Millis(task->heartbeat_timeout_ms.value_or(0))) +
                        "; its lease ended";
      payload["timeout"] = "heartbeat";
    }
    HandleFailedAttempt(tr, *task, events::kTaskLeaseExpired, events::kEngineActor, failure,
                        std::move(payload));
    tr.Flush();
    new_work = tr.queues_with_new_work();
    *expired = true;
    spdlog::warn("run={} task={} step={} lease of {} (epoch {}) expired: {}", task->run_id,
                 task->id, task->step, owner, task->lease_epoch, failure.error_type);
    return Status::Ok();
  });
  if (s.ok()) Announce(new_work);
  return s;
}

}  // namespace gridflow::engine
