// Scheduler: group commit of StartRun, CompleteTask and FailTask (see scheduler.h). One
// transaction per batch: find the runs of the tasks, lock them (one statement, id order), load
// their open tasks and pending timers (one statement each), insert the new runs (one statement),
// advance every run in memory, write everything (one statement), commit.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/json_text.h"
#include "engine/scheduler/errors.h"
#include "engine/scheduler/events.h"
#include "engine/scheduler/group_committer.h"
#include "engine/scheduler/kinds.h"
#include "engine/scheduler/one_write_starts.h"
#include "engine/scheduler/run_status.h"
#include "engine/scheduler/run_transition.h"
#include "engine/scheduler/scheduler.h"
#include "engine/scheduler/scheduler_call.h"
#include "persistence/run_store.h"
#include "persistence/task_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

using nlohmann::json;

namespace {

bool IsTaskCall(const Scheduler::Call& call) {
  return call.kind != Scheduler::Call::Kind::kStart;
}

// A task call whose task is not LEASED under the caller's epoch (or not open at all): a retried
// completion already recorded — the same result is a duplicate, another a contradiction — or a
// stale lease.
void AnswerNotLeased(pqxx::transaction_base& txn, Scheduler::Call& call) {
  const auto task = persistence::FindTask(txn, call.lease.namespace_name, call.lease.task_id);
  if (!task) {
    call.Answer(UnknownTask(call.lease.namespace_name, call.lease.task_id));
    return;
  }
  if (Status s = QueueAllowed(call.lease, *task); !s.ok()) {
    call.Answer(s);
    return;
  }
  if (call.kind == Scheduler::Call::Kind::kComplete && task->state == task_state::kCompleted &&
      task->lease_epoch == call.lease.lease_epoch) {
    if (!persistence::TaskOutputEquals(txn, task->id, call.result_json)) {
      call.Answer(Status::FailedPrecondition(
          "task " + std::to_string(task->id) +
          " was already completed under this lease with a different result; the result "
          "recorded first stands"));
      return;
    }
    call.reply.duplicate = true;  // a retried CompleteTask whose first call committed
    call.Answer(Status::Ok());
    return;
  }
  call.Answer(StaleLease(*task, call.lease.lease_epoch));
}

// What a group-committed start asks of its new run.
RunTransition::NewRunSpec NewRunSpecOf(const StartRunParams& p) {
  RunTransition::NewRunSpec spec;
  spec.input = p.input;
  spec.started_by = p.actor.principal;
  spec.client_identity = p.actor.client_identity;
  return spec;
}

// The transaction's name in metrics and logs: what its calls are.
const char* BatchName(const std::vector<std::unique_ptr<Scheduler::Call>>& calls) {
  const auto kind = calls.front()->kind;
  for (const auto& call : calls) {
    if (call->kind != kind) return "transition batch";
  }
  switch (kind) {
    case Scheduler::Call::Kind::kStart:  // urgent calls go in batches of their own
      return calls.front()->urgent ? "urgent start run" : "start run";
    case Scheduler::Call::Kind::kComplete:
      return "complete task";
    case Scheduler::Call::Kind::kFail:
      return "fail task";
  }
  return "transition batch";
}

}  // namespace

void Scheduler::Submit(std::unique_ptr<Call> call) {
  if (committer_ && committer_->Submit(std::move(call))) return;
  // Stopped: the call (if it was not taken) is answered by its destructor or here.
  if (call) call->Deliver(Status::Unavailable("this engine replica is shutting down; retry"));
}

void Scheduler::StartRun(StartRunParams params, StartRunDone done) {
  auto call = std::make_unique<Call>();
  call->kind = Call::Kind::kStart;
  call->urgent = definitions_.StartClassHint(params.namespace_name, params.definition_name,
                                             params.definition_version) == dsl::kUrgentPriority;
  call->start = std::move(params);
  call->start_done = std::move(done);
  Submit(std::move(call));
}

void Scheduler::CompleteTask(LeaseRef lease, json result, NextTaskRequest next,
                             CompleteTaskDone done) {
  auto call = std::make_unique<Call>();
  call->kind = Call::Kind::kComplete;
  call->lease = std::move(lease);
  call->result = std::move(result);
  call->result_json = DumpJson(call->result);
  call->next = std::move(next);
  call->complete_done = std::move(done);
  Submit(std::move(call));
}

void Scheduler::FailTask(LeaseRef lease, TaskFailureReport failure, FailTaskDone done) {
  auto call = std::make_unique<Call>();
  call->kind = Call::Kind::kFail;
  call->lease = std::move(lease);
  call->failure = std::move(failure);
  call->fail_done = std::move(done);
  Submit(std::move(call));
}

void Scheduler::RunBatch(std::vector<std::unique_ptr<Call>> calls,
                         const std::function<void()>& reads_done, bool plan_starts) {
  if (calls.empty()) return;
  bool reads_reported = false;
  const auto report_reads = [&] {
    if (reads_reported || !reads_done) return;
    reads_reported = true;
    reads_done();
  };
  std::optional<TransitionContext> ctx;
  bool replan = false;
  const Status s = persistence::TransactPipelined(
      pool_, BatchName(calls), [&](persistence::PipelinedWork& work) {
        return ApplyBatch(work, calls, ctx, report_reads, plan_starts, &replan);
      });
  report_reads();
  if (replan) {  // a planned start did not hold (nothing was written): the ordinary way
    ctx.reset();
    RunBatch(std::move(calls), {}, /*plan_starts=*/false);
    return;
  }
  if (s.ok()) {
    AfterCommit after = ctx->TakeAfterCommit();
    ctx.reset();
    for (auto& [run_id, kept] : after.parsed_runs) {
      if (kept) parsed_runs_.Put(run_id, std::move(kept->held), std::move(kept->open_task_ids));
    }
    // Tasks handed to waiting long-polls first: a worker's handler starting is what an activation
    // waits for; the callers' answers follow a socket write later.
    DeliverPolls(after);
    for (auto& call : calls)
      call->Deliver();
    for (const auto& call : calls) {
      if (call->kind == Call::Kind::kStart && call->reply.created) {
        spdlog::info("run={} workflow_id={} started ({} v{})", call->reply.run.id,
                     call->reply.run.workflow_id, call->reply.run.definition_name,
                     call->reply.run.definition_version);
      }
    }
    FollowUp(std::move(after));
    return;
  }
  ctx.reset();  // gives back long-polls reserved by the failed attempt
  // UNAVAILABLE: the database is unreachable, or the commit's outcome is unknown; either way every
  // call gets it (each is safe to retry). Any other failure of a batch is retried call by call,
  // so one call's bad value cannot fail the others.
  if (calls.size() == 1 || s.code() == StatusCode::kUnavailable) {
    for (auto& call : calls)
      call->Deliver(s);
    return;
  }
  spdlog::warn("a batch of {} transitions failed ({}); applying them one by one", calls.size(),
               s.ToString());
  for (auto& call : calls) {
    std::vector<std::unique_ptr<Call>> single;
    single.push_back(std::move(call));
    RunBatch(std::move(single));
  }
}

Status Scheduler::ApplyBatch(persistence::PipelinedWork& work,
                             std::vector<std::unique_ptr<Call>>& calls,
                             std::optional<TransitionContext>& ctx,
                             const std::function<void()>& reads_done, bool plan_starts,
                             bool* replan) {
  pqxx::transaction_base& txn = work.txn();
  ctx.emplace(txn, definitions_, task_ids_, matcher_, options_.max_run_data_bytes);
  ctx->SetParsedRuns(&parsed_runs_);
  for (auto& call : calls)
    call->ResetAttempt();

  // 0. The starts this replica can plan (OneWriteStarts) are written by the write statement alone,
  // in their final state; a workflow id started twice in the batch is left to the ordinary way.
  std::map<std::pair<std::string, std::string>, int> starts_of_id;
  for (const auto& call : calls) {
    if (!IsTaskCall(*call)) ++starts_of_id[{call->start.namespace_name, call->start.workflow_id}];
  }
  std::vector<Call*> planned;
  for (auto& call : calls) {
    const StartRunParams& p = call->start;
    if (!plan_starts || IsTaskCall(*call) || starts_of_id[{p.namespace_name, p.workflow_id}] > 1)
      continue;
    call->plan = one_write_starts_->PlanStart(p);
    if (call->plan) planned.push_back(call.get());
  }

  // 1. One round trip, with BEGIN: lock the runs of the task calls (id order; a task's run never
  // changes, so the statement finds them itself) and read their open tasks; insert the new runs
  // not planned (the definition's latest version resolved in the statement; a taken workflow id
  // or an unknown definition is left out). A batch of planned starts alone skips it.
  std::vector<int64_t> task_ids;
  std::vector<Call*> starts;
  std::vector<persistence::NewRun> new_runs;
  for (auto& call : calls) {
    if (IsTaskCall(*call)) {
      task_ids.push_back(call->lease.task_id);
      continue;
    }
    if (call->plan) continue;
    const StartRunParams& p = call->start;
    persistence::NewRun run;
    run.namespace_name = p.namespace_name;
    run.workflow_id = p.workflow_id;
    run.definition_name = p.definition_name;
    run.definition_version = p.definition_version;
    run.input_json = DumpJson(p.input);
    run.data_json = DumpJson(json{{"input", p.input}});
    run.started_by = p.actor.principal;
    new_runs.push_back(std::move(run));
    starts.push_back(call.get());
  }
  std::vector<persistence::Statement> first;
  // The runs this replica holds parsed since it last wrote them: their data and state are not
  // read again when the row is still at that version.
  std::map<std::string, HeldRun> held = parsed_runs_.TakeForTasks(task_ids);
  if (!task_ids.empty()) {
    std::map<std::string, int64_t> held_versions;
    for (const auto& [run_id, parsed] : held)
      held_versions[run_id] = parsed.row_version;
    first.push_back(persistence::LockRunsOfTasks(task_ids, held_versions));
    first.push_back(persistence::OpenTasksOfTasks(task_ids));
  }
  if (!new_runs.empty()) first.push_back(persistence::InsertRuns(new_runs));
  const std::vector<pqxx::result> read =
      first.empty() ? std::vector<pqxx::result>{} : work.Send(first);
  std::vector<persistence::RunRow> locked;
  std::map<std::string, std::vector<persistence::TaskRow>> open_tasks;
  std::map<std::pair<std::string, std::string>, persistence::RunRow> inserted;
  if (!task_ids.empty()) {
    locked = persistence::ReadRuns(read[0]);
    for (const persistence::RunRow& run : locked) {
      const auto it = held.find(run.id);
      if (!run.data_and_state_read && it != held.end())
        ctx->OfferParsed(run.id, std::move(it->second.run));
    }
    for (auto& task : persistence::ReadTasks(read[1]))
      open_tasks[task.run_id].push_back(std::move(task));
  }
  if (!new_runs.empty()) {
    for (auto& run : persistence::ReadRuns(read.back()))
      inserted[{run.namespace_name, run.workflow_id}] = std::move(run);
  }
  // The transaction's clock, when the round trip read it: the planned starts' earliest instant.
  std::optional<TimePoint> clock;
  for (const persistence::RunRow& run : locked) {
    if (run.transaction_now) clock = run.transaction_now;
  }
  for (const auto& [key, run] : inserted) {
    if (run.transaction_now) clock = run.transaction_now;
  }
  if (clock) {
    one_write_starts_->NoteClock(*clock, work.began_at());
    for (Call* call : planned) {
      // Its planned instant where that is later: it follows every start this replica planned or
      // saw committed before (OneWriteStarts' floor), and a reckoning that led the database's
      // clock may have placed one of those after the clock read now. Not beyond kMaxLead: that
      // far ahead, the order follows the database's clock, as in PlanStart.
      const TimePoint planned_at = call->plan->run.created_at;
      const TimePoint at = planned_at > *clock && planned_at - *clock <= OneWriteStarts::kMaxLead
                               ? planned_at
                               : *clock;
      call->plan->run.created_at = call->plan->run.updated_at = at;
      call->plan->run.transaction_now = at;
    }
  }

  // 2. A task call whose task is open belongs to that task's run; any other is answered on its
  // own (a retried completion, a stale lease, an unknown task). Each run advances with its calls,
  // in call order.
  for (auto& call : calls) {
    if (!IsTaskCall(*call)) continue;
    for (const auto& [run_id, tasks] : open_tasks) {
      for (const persistence::TaskRow& task : tasks) {
        if (task.id == call->lease.task_id && task.namespace_name == call->lease.namespace_name) {
          call->run_id = run_id;
        }
      }
    }
    if (call->run_id.empty()) AnswerNotLeased(txn, *call);
  }
  for (persistence::RunRow& run : locked) {
    std::vector<Call*> on_run;
    for (auto& call : calls) {
      if (!call->reply.set && call->run_id == run.id) on_run.push_back(call.get());
    }
    if (on_run.empty()) continue;
    const std::string run_id = run.id;
    std::unique_ptr<RunTransition> tr;
    const Status opened =
        Open(*ctx, std::move(run), std::move(open_tasks[run_id]), std::nullopt, &tr);
    if (!opened.ok()) {
      for (Call* call : on_run)
        call->Answer(opened);
      continue;
    }
    bool applied = false;
    for (Call* call : on_run) {
      const persistence::TaskRow* open = tr->OpenTask(call->lease.task_id);
      if (open != nullptr) {
        if (Status s = QueueAllowed(call->lease, *open); !s.ok()) {
          call->Answer(s);
          continue;
        }
      }
      if (open == nullptr || open->state != task_state::kLeased ||
          open->lease_epoch != call->lease.lease_epoch) {
        AnswerNotLeased(txn, *call);
        continue;
      }
      const persistence::TaskRow task = *open;
      if (call->kind == Call::Kind::kComplete) {
        ctx->SetEagerRecipient(call->recipient ? &*call->recipient : nullptr);
        ApplyCompletion(*tr, task, call->lease, call->result_json, call->result);
        ctx->SetEagerRecipient(nullptr);
      } else {
        call->reply.retry =
            HandleFailedAttempt(*tr, task, events::kTaskFailed, call->lease.principal,
                                call->failure, {{"worker", call->lease.identity}});
      }
      call->Answer(Status::Ok());
      applied = true;
    }
    if (!applied) tr->Skip();  // refused or stale calls only: the run is not written at all
    tr->Flush();
  }

  // 3. The new runs start: the planned ones (nothing of theirs is in the database yet), then the
  // inserted ones.
  for (Call* call : planned) {
    const StartRunParams& p = call->start;
    const OneWriteStarts::Plan& plan = *call->plan;
    ctx->writes().InsertRun(plan.run.id, plan.routed);
    std::unique_ptr<RunTransition> tr;
    ctx->SetPlannedStart(true);
    Status s;
    try {
      s = RunTransition::Start(*ctx, plan.run, plan.definition, NewRunSpecOf(p), &tr);
    } catch (const StartNeedsDatabase&) {
      one_write_starts_->NeedsDatabase(p);
      *replan = true;
      return Status::Unavailable("a planned start needs the database");
    }
    ctx->SetPlannedStart(false);
    if (!s.ok()) {  // the ordinary way answers it as it would any start
      *replan = true;
      return s;
    }
    tr->Flush();
    ctx->facts().runs_started_in_one_write += 1;
    call->reply.run = tr->run();
    call->reply.created = true;
    call->Answer(Status::Ok());
  }
  for (Call* call : starts) {
    const StartRunParams& p = call->start;
    const auto row = inserted.find({p.namespace_name, p.workflow_id});
    if (row == inserted.end()) continue;  // answered below
    persistence::RunRow run = std::move(row->second);
    inserted.erase(row);  // a second start of the same id in this batch finds it taken
    std::shared_ptr<const dsl::Definition> def;
    Status s = definitions_.Resolve(txn, run.namespace_name, run.definition_name,
                                    run.definition_version, &def);
    if (s.ok() && p.definition_version == 0)
      definitions_.NoteLatestStarted(run.namespace_name, def, run.version_reason);
    std::unique_ptr<RunTransition> tr;
    if (s.ok()) s = RunTransition::Start(*ctx, std::move(run), def, NewRunSpecOf(p), &tr);
    if (!s.ok()) {
      call->Answer(s);
      continue;
    }
    tr->Flush();
    call->reply.run = tr->run();
    call->reply.created = true;
    call->Answer(Status::Ok());
  }

  // 4. Starts left out: the workflow id is taken — by the same run (same definition and input)
  // or by another — or the definition does not exist.
  for (Call* call : starts) {
    if (!call->reply.set) AnswerTakenWorkflowId(txn, *call);
  }

  // 5. Everything written in one statement, in one round trip with COMMIT.
  reads_done();
  if (const std::optional<persistence::Statement> writes = ctx->FlushStatement()) {
    pqxx::result written;
    try {
      written = work.Send({*writes}, /*commit=*/true).front();
    } catch (const pqxx::sql_error& e) {
      // A planned start did not hold (migration 24) or its workflow id is taken: nothing was
      // written; the batch goes again the ordinary way, which answers each call. (A taken task id
      // is Transact's to handle: new ids, the same batch again.)
      if (planned.empty() || (e.sqlstate() != "GF001" && e.sqlstate() != "23505") ||
          persistence::TaskIdPool::TakenTaskId(e)) {
        throw;
      }
      const std::string what = e.what();
      spdlog::info("planned starts refused, applying the batch the ordinary way: {}",
                   what.substr(0, what.find('\n')));
      if (e.sqlstate() == "23505") {
        for (const Call* call : planned)
          one_write_starts_->WorkflowIdTaken(call->start);
      }
      *replan = true;
      return Status::Unavailable("a planned start did not hold");
    }
    if (const auto now = persistence::WriteSet::ReadClock(written))
      one_write_starts_->NoteClock(*now, work.began_at());
    ctx->Flushed(written);
  } else {
    work.Commit();
  }
  return Status::Ok();
}

void Scheduler::AnswerTakenWorkflowId(pqxx::transaction_base& txn, Call& call) {
  const StartRunParams& p = call.start;
  auto existing = persistence::FindRun(txn, p.namespace_name, p.workflow_id);
  if (!existing) {
    std::shared_ptr<const dsl::Definition> def;
    const Status s =
        definitions_.Resolve(txn, p.namespace_name, p.definition_name, p.definition_version, &def);
    call.Answer(s.ok() ? Status::Unavailable("run insert conflicted; retry") : s);
    return;
  }
  if (Status same = SameStart(txn, p, *existing); !same.ok()) {
    call.Answer(same);
    return;
  }
  call.reply.run = std::move(*existing);
  call.reply.created = false;
  call.Answer(Status::Ok());
}

Status Scheduler::SameStart(pqxx::transaction_base& txn, const StartRunParams& p,
                            const persistence::RunRow& existing) {
  std::string difference;
  if (existing.definition_name != p.definition_name) {
    difference =
        "of definition '" + existing.definition_name + "', not '" + p.definition_name + "'";
  } else if (p.definition_version != 0 && existing.definition_version != p.definition_version) {
    difference = "of " + existing.definition_name + " version " +
                 std::to_string(existing.definition_version) + ", not version " +
                 std::to_string(p.definition_version);
  } else if (existing.revision_period != p.revision_period || existing.revision != p.revision) {
    difference = existing.revision == 0 ? std::string("that is not a revision")
                                        : "for revision " + std::to_string(existing.revision) +
                                              " of period '" + existing.revision_period + "'";
  } else if (!persistence::RunInputEquals(txn, existing.id, DumpJson(p.input))) {
    difference = "of " + existing.definition_name + " v" +
                 std::to_string(existing.definition_version) + " with a different input";
  }
  if (difference.empty()) return Status::Ok();
  return Status::AlreadyExists("workflow id '" + p.workflow_id +
                               "' is already used in namespace '" + p.namespace_name +
                               "' by a run " + difference + "; choose another workflow id");
}

}  // namespace gridflow::engine
