// Scheduler: owns the runs' state machine (Temporal's "history" role). Every change to a run is a
// transition applied in a PostgreSQL transaction that holds the run's row lock: it records what
// happened (a task outcome, a signal, a timer), lets the Interpreter advance the run, and writes
// the tasks, timers, history and run state that follow — in one statement (WriteSet). A caller is
// answered only after that transaction committed (or rolled back: then nothing changed). After the
// commit it wakes this replica's waiting workers, hands out tasks leased in the transaction, and
// delivers the messages the transition left for other runs.
//
// The hot calls — StartRun, CompleteTask, FailTask — are group-committed: calls that arrive while
// a transaction is in flight are gathered and applied together in the next one (one lock
// statement for all their runs, in id order; one write statement), each answered with its own
// outcome; a lone call is never delayed. A call that cannot be applied (stale lease, unknown task,
// a taken workflow id) is answered alone and the others still commit; a batch the database
// refuses as a whole is retried call by call. Everything else is a transition of its own.
//
// Lease fencing: an outcome for a task is accepted only from the holder of its current lease
// (task id + lease epoch while the task is LEASED); anything else is FAILED_PRECONDITION.
// Thread-safe; any number of replicas may run it against the same database.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/transaction>

#include "common/duration.h"
#include "common/status.h"
#include "common/time.h"
#include "engine/definitions/definition_registry.h"
#include "engine/scheduler/actor.h"
#include "engine/scheduler/run_effects.h"
#include "engine/scheduler/transition_context.h"
#include "engine/scheduler/transition_facts.h"
#include "persistence/connection_pool.h"
#include "persistence/message_store.h"
#include "persistence/pipelined_work.h"
#include "persistence/rows.h"
#include "persistence/write_set.h"

namespace gridflow::engine {

class GroupCommitter;
class OneWriteStarts;
class RunTransition;

// Told after a commit that claimable tasks were queued (this replica's waiting workers wake).
class WorkListener {
 public:
  virtual ~WorkListener() = default;
  virtual void OnWorkAvailable(const std::string& namespace_name, const std::string& queue) = 0;
  // Work becomes claimable after `delay` (a retry's backoff).
  virtual void OnWorkAvailableAfter(const std::string& namespace_name, const std::string& queue,
                                    Millis delay) = 0;
  // A lease of this worker expired for want of heartbeats: it may be frozen or partitioned, so its
  // waiting long-polls must not be handed more work (they are answered with none; a live worker
  // simply polls again).
  virtual void OnWorkerSilent(const std::string& identity) = 0;
};

// Told after a commit which runs' histories grew (this replica's history watchers wake at once).
class HistoryListener {
 public:
  virtual ~HistoryListener() = default;
  virtual void HistoryGrew(const std::string& run_id) = 0;
};

struct StartRunParams {
  std::string namespace_name;
  std::string workflow_id;
  std::string definition_name;
  int definition_version = 0;  // 0: latest
  nlohmann::json input;
  Actor actor;
  // A settlement revision (docs/revisions.md): revision >= 1 of the series (definition_name,
  // revision_period); 0 and empty for an ordinary run.
  std::string revision_period;
  int revision = 0;
};

// The caller's claim on a leased task.
struct LeaseRef {
  std::string namespace_name;
  int64_t task_id = 0;
  int64_t lease_epoch = 0;
  std::string identity;   // the worker's name as it claims it: the lease holder
  std::string principal;  // who the engine authenticated: the events' actor
  // The queues the caller may work on (its worker grants); nullopt: any. A task of another
  // queue is PERMISSION_DENIED.
  std::optional<std::set<std::string>> queues;
};

struct TaskFailureReport {
  std::string error_type;
  std::string message;
  std::string details_json;  // valid JSON or empty
  bool non_retryable = false;
  // False when no worker ran the attempt (schedule-to-start): circuit breakers do not count it.
  bool attempt_ran = true;
};

struct RetryOutcome {
  bool will_retry = false;
  std::optional<TimePoint> retry_at;
};

// A worker's request to be handed, with its completion's answer, the tasks that completion
// schedules (eager dispatch), up to `max_tasks` of these queues and types.
struct NextTaskRequest {
  int max_tasks = 0;
  std::vector<std::string> queues;
  std::vector<std::string> task_types;  // empty: any
};

// An operator's command to one run: what CancelRun, TerminateRun, RetryRun and SignalRun do, and
// what a batch operation does to each of its runs (docs/operations.md, "Batch operations").
struct RunCommand {
  enum class Kind { kCancel, kTerminate, kRetry, kSignal };
  Kind kind = Kind::kCancel;
  std::string namespace_name;
  std::string workflow_id;
  std::string reason;  // cancel, terminate, retry: recorded in the history
  Actor actor;
  std::string from_step;     // retry: a top-level step; empty: the one where the run failed
  std::string signal_name;   // signal
  std::string payload_json;  // signal: valid JSON, or empty for null
  std::string dedup_id;      // signal: empty for none
};

struct CommandOutcome {
  std::string from_step;  // retry: the step the run goes on from
  bool accepted = true;   // signal: false when its dedup id was delivered before
};

using StartRunDone =
    std::function<void(const Status&, const persistence::RunRow& run, bool created)>;
using CompleteTaskDone = std::function<void(const Status&, bool duplicate,
                                            const std::vector<persistence::TaskRow>& next_tasks)>;
using FailTaskDone = std::function<void(const Status&, const RetryOutcome&)>;

class Scheduler {
 public:
  struct Options {
    int commit_threads = 2;  // transactions of gathered calls in flight at once, at most
    int max_batch = 256;     // calls applied in one transaction at most
    // Transactions in flight shared by the replicas applying calls (SetBusyReplicas); 0: none.
    int cluster_commit_threads = 0;
    // What one run's data and state may hold (RunDataBudget, docs/dsl.md); 0: no limit.
    size_t max_run_data_bytes = size_t{16} << 20;
  };

  Scheduler(persistence::ConnectionPool& pool, DefinitionRegistry& definitions, Options options);
  ~Scheduler();

  // Set once, before serving.
  void SetWorkListener(WorkListener* listener) { listener_ = listener; }
  // Told what each committed transition did (metrics). Set before serving.
  void SetFactsObserver(FactsObserver* observer) { observer_ = observer; }
  void SetHistoryListener(HistoryListener* listener) { history_listener_ = listener; }
  // Long-polls on this replica that new tasks may be handed to directly. Set before serving.
  void SetPollMatcher(PollMatcher* matcher) { matcher_ = matcher; }
  // Stops taking group-committed calls (they are answered UNAVAILABLE) after the ones queued.
  void Stop();
  // `replicas` are applying calls against the database, this one included: with
  // cluster_commit_threads set, this replica keeps its share of them in flight (at least one, at
  // most commit_threads). Returns the share.
  int SetBusyReplicas(int replicas);
  int commit_concurrency() const;
  // The runs this replica holds parsed between transitions (read for gauges).
  const ParsedRunCache& parsed_runs() const { return parsed_runs_; }
  // Whether this replica applied group-committed calls since the last call.
  bool TakeBusy();
  // Called (on a committer thread) when this replica begins applying calls again after TakeBusy
  // found it idle. Set before serving.
  void SetTurningBusyObserver(std::function<void()> observer);

  // ---- group-committed; `done` runs once, after the commit, on a committer thread ----

  // Starts a run, or returns the existing one with the same workflow id (created = false) when its
  // definition and input match; ALREADY_EXISTS (saying what differs) when they do not.
  void StartRun(StartRunParams params, StartRunDone done);
  // `duplicate`: the same result was already recorded under this lease (nothing changed). A
  // different result under the same lease is FAILED_PRECONDITION.
  void CompleteTask(LeaseRef lease, nlohmann::json result, NextTaskRequest next,
                    CompleteTaskDone done);
  void FailTask(LeaseRef lease, TaskFailureReport failure, FailTaskDone done);

  // Starts revision `params.revision` of its series in a transaction of its own (not
  // group-committed: revisions are rare and each takes its series' lock). Older revisions still
  // open are cancelled in the same transaction (their compensations run) and every older one is
  // marked superseded. A revision not newer than the latest started is refused: the same one
  // ALREADY_EXISTS, an older one FAILED_PRECONDITION. The same start again (same workflow id,
  // definition, input and revision) returns the existing run (created = false).
  Status StartRevision(const StartRunParams& params, persistence::RunRow* run, bool* created);

  // ---- inside a caller's transaction ----

  // What a commit leaves to do (wake workers, deliver messages); pass it to FollowUp.
  using AfterCommit = TransitionContext::AfterCommit;
  // Starts a run inside `txn` (a schedule's firing): the run and what the caller writes commit
  // together or not at all. *created is false when the workflow id is taken; *run is then the
  // run holding it, unchanged. After the commit, call FollowUp(*after).
  Status StartRunIn(pqxx::transaction_base& txn, const StartRunParams& params,
                    persistence::RunRow* run, bool* created, AfterCommit* after);
  // Asks an open run to cancel, inside `txn` (delivered after the commit, through *after).
  void RequestCancelIn(pqxx::transaction_base& txn, const std::string& run_id,
                       const std::string& reason, const std::string& requested_by,
                       AfterCommit* after);
  // Applies an operator's command inside `txn` (a batch operation's item, recorded in the same
  // transaction). Errors as the single calls below; after the commit, FollowUp(*after).
  Status ApplyCommandIn(pqxx::transaction_base& txn, const RunCommand& command,
                        CommandOutcome* outcome, AfterCommit* after);
  void FollowUp(AfterCommit after);
  // Answers the long-polls a commit leased tasks to (part of FollowUp; a batch calls it before
  // answering its callers).
  void DeliverPolls(AfterCommit& after);

  // ---- single transitions, answered when they return ----
  // (*run, where asked for, receives the run as the transition left it; nullptr: not read.)

  Status ReleaseTask(const LeaseRef& lease, const std::string& reason);
  Status CancelRun(const std::string& namespace_name, const std::string& workflow_id,
                   const std::string& reason, const Actor& actor, persistence::RunRow* run);
  // Ends an open run at once as TERMINATED (no compensation). Terminating it again is a no-op.
  Status TerminateRun(const std::string& namespace_name, const std::string& workflow_id,
                      const std::string& reason, const Actor& actor, persistence::RunRow* run);
  // Continues a FAILED, CANCELLED or TERMINATED run from `from_step` (a top-level step) or, when
  // empty, from the top-level step where it failed. *step receives the step used.
  Status RetryRun(const std::string& namespace_name, const std::string& workflow_id,
                  const std::string& from_step, const std::string& reason, const Actor& actor,
                  persistence::RunRow* run, std::string* step);
  Status SignalRun(const std::string& namespace_name, const std::string& workflow_id,
                   const std::string& signal_name, const std::string& payload_json,
                   const std::string& dedup_id, const Actor& actor, bool* accepted);

  // Background work, run by every replica; each counts what it did in *done.
  // Leases whose holder stopped heartbeating (or ran out of time): retried or failed.
  Status ExpireLeases(int limit, int* done);
  // Fails the attempts of queued tasks no worker started within their step's schedule-to-start
  // timeout (gridflow.ScheduleToStartTimeout; the retry policy decides what follows).
  Status FailOverdueStarts(int limit, int* done);
  // Timers whose time has come.
  Status FireDueTimers(int limit, int* done);
  // Messages between runs not yet applied (their sender's replica died before delivering them).
  Status ProcessPendingMessages(int limit, int* done);

 public:
  // A group-committed call in flight (scheduler_call.h; internal to the scheduler).
  struct Call;

 private:
  // Locks the run to change (writing it to *run), or leaves *run empty to skip the transition.
  using LockFn =
      std::function<Status(pqxx::transaction_base&, std::optional<persistence::RunRow>*)>;
  using BodyFn = std::function<Status(RunTransition&)>;

  // Lock, open, body and flush in `ctx`'s transaction: what every transition of a run does.
  Status ApplyIn(TransitionContext& ctx, const LockFn& lock, const BodyFn& body);
  // The one path of every single transition: ApplyIn in a transaction of its own, commit, follow
  // up.
  Status Transition(const char* what, const LockFn& lock, const BodyFn& body);
  // The same without the follow-up, which is left in *after.
  Status ApplyTransition(const char* what, const LockFn& lock, const BodyFn& body,
                         AfterCommit* after);
  // Opens a locked run's transition (its definition resolved). `open_tasks`, `pending_timers`:
  // when the caller loaded them; nullopt: read on first need.
  Status Open(TransitionContext& ctx, persistence::RunRow run,
              std::optional<std::vector<persistence::TaskRow>> open_tasks,
              std::optional<std::vector<persistence::TimerRow>> pending_timers,
              std::unique_ptr<RunTransition>* out);
  Status ProcessMessage(const persistence::PendingMessage& message, AfterCommit* after);
  // An operator's command: applied in `ctx` (ApplyCommand), or in a transaction of its own and
  // followed up, reading the run into *run when it is not null (Command).
  Status ApplyCommand(TransitionContext& ctx, const RunCommand& command, CommandOutcome* outcome);
  Status Command(const char* what, const RunCommand& command, CommandOutcome* outcome,
                 persistence::RunRow* run);
  Status CancelIn(TransitionContext& ctx, const RunCommand& command);
  Status TerminateIn(TransitionContext& ctx, const RunCommand& command);
  Status RetryIn(TransitionContext& ctx, const RunCommand& command, std::string* step);
  Status SignalIn(TransitionContext& ctx, const RunCommand& command, bool* accepted);
  Status ReadRun(const std::string& namespace_name, const std::string& workflow_id,
                 persistence::RunRow* run);
  Status ExpireLease(int64_t task_id, const std::string& run_id, bool* expired);
  Status FailOverdueStart(int64_t task_id, const std::string& run_id, bool* failed);

  // Group commit (scheduler_batch.cc): applies `calls` in one transaction and answers each.
  // `reads_done` (if set) is called once, when the transaction has read what it needs and sends
  // its writes with COMMIT (or has failed): the committer lets the next batch begin then.
  // With `plan_starts`, the starts OneWriteStarts can plan are written by the write statement
  // alone; when one does not hold, ApplyBatch sets *replan and the batch goes again without.
  void RunBatch(std::vector<std::unique_ptr<Call>> calls,
                const std::function<void()>& reads_done = {}, bool plan_starts = true);
  Status ApplyBatch(persistence::PipelinedWork& work, std::vector<std::unique_ptr<Call>>& calls,
                    std::optional<TransitionContext>& ctx, const std::function<void()>& reads_done,
                    bool plan_starts, bool* replan);
  // A start whose run was not inserted: the same run started before (answered with it), a taken
  // workflow id (ALREADY_EXISTS naming the difference) or an unknown definition.
  void AnswerTakenWorkflowId(pqxx::transaction_base& txn, Call& call);
  // OK when `existing` is what `params` would start (a repeated start); else ALREADY_EXISTS
  // naming what differs.
  static Status SameStart(pqxx::transaction_base& txn, const StartRunParams& params,
                          const persistence::RunRow& existing);
  // Resolves the definition, inserts the run and starts it in `ctx`. *run is left empty when
  // the workflow id is taken.
  Status StartIn(TransitionContext& ctx, const StartRunParams& params,
                 const std::string& supersedes, std::optional<persistence::RunRow>* run);
  void Submit(std::unique_ptr<Call> call);

  // What a completion does to its run (shared by the batch and by tests of it). `result_json` is
  // DumpJson(result): the history event takes it as it is.
  static void ApplyCompletion(RunTransition& tr, const persistence::TaskRow& task,
                              const LeaseRef& lease, const std::string& result_json,
                              const nlohmann::json& result);
  // A failed attempt (reported, or a lost lease): retry per the policy, or let the run handle it.
  static RetryOutcome HandleFailedAttempt(RunTransition& tr, const persistence::TaskRow& task,
                                          const char* event_type, const std::string& actor,
                                          const TaskFailureReport& failure,
                                          nlohmann::json event_payload);

  persistence::ConnectionPool& pool_;
  DefinitionRegistry& definitions_;
  const Options options_;
  WorkListener* listener_ = nullptr;
  FactsObserver* observer_ = nullptr;
  HistoryListener* history_listener_ = nullptr;
  PollMatcher* matcher_ = nullptr;
  persistence::TaskIdPool task_ids_;
  // Runs parsed by the group-committed transitions, for the runs' next ones here: the calls of a
  // run's tasks come back to the replica that handed them out (docs/worker.md). 4 MiB of JSON
  // text (about five times that parsed) or 4096 runs hold the runs in flight of a busy replica.
  ParsedRunCache parsed_runs_{size_t{4} << 20, 4096};
  std::unique_ptr<OneWriteStarts> one_write_starts_;
  std::unique_ptr<GroupCommitter> committer_;
};

}  // namespace gridflow::engine
