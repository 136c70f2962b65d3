// RunTransition: one step of one run's state machine, inside the transaction that holds the run's
// row lock. It loads the run's interpreter state and data, implements RunEffects in memory, and
// records what changes in its TransitionContext's WriteSet: task rows (new, completed, failed,
// retried, cancelled), timers, the run row and the history events. Nothing is written until the
// context flushes, in one statement for the whole transaction; what a transition must know of its
// run's rows — the open tasks and pending timers — it reads once (or is given by a batch) and then
// keeps up to date in memory.
// Not thread-safe; lives for one transaction attempt.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/transaction_base>

#include "engine/definitions/definition_registry.h"
#include "engine/dsl/definition.h"
#include "engine/scheduler/interpreter.h"
#include "engine/scheduler/run_effects.h"
#include "engine/scheduler/run_state.h"
#include "engine/scheduler/transition_context.h"
#include "persistence/rows.h"
#include "persistence/run_store.h"

namespace gridflow::engine {

EventScope ScopeOf(const persistence::TaskRow& task);

class RunTransition final : public RunEffects {
 public:
  // A locked run. `open_tasks` / `pending_timers`: the run's PENDING and LEASED tasks and its
  // PENDING timers when the caller loaded them (a batch does, for all its runs in one statement);
  // nullopt: read on first need. INTERNAL when the run's stored state cannot be read.
  static Status Open(TransitionContext& ctx, persistence::RunRow run,
                     std::shared_ptr<const dsl::Definition> definition,
                     std::optional<std::vector<persistence::TaskRow>> open_tasks,
                     std::optional<std::vector<persistence::TimerRow>> pending_timers,
                     std::unique_ptr<RunTransition>* out);

  // What a new run starts from; its row was just inserted (persistence::InsertRun or InsertRuns).
  struct NewRunSpec {
    nlohmann::json input;
    std::string started_by;
    std::string client_identity;  // what the starting client claimed to be, if anything
    nlohmann::json parent;        // child runs: {workflow_id, run_id, step}; else null
    int depth = 0;
  };
  // The row of a new run of `definition` (the run's data starts as {"input": input}).
  static persistence::NewRun NewRunRow(const dsl::Definition& definition,
                                       const std::string& namespace_name,
                                       const std::string& workflow_id, const nlohmann::json& input,
                                       const std::string& started_by);
  // Records RunStarted and lets the interpreter start the run (not yet flushed).
  static Status Start(TransitionContext& ctx, persistence::RunRow inserted,
                      std::shared_ptr<const dsl::Definition> definition, const NewRunSpec& spec,
                      std::unique_ptr<RunTransition>* out);

  pqxx::transaction_base& txn() { return ctx_.txn(); }
  TransitionContext& context() { return ctx_; }
  // The run as this transition leaves it once flushed (its data serialised again on demand: a
  // stored run's Flush writes only the data members that changed).
  const persistence::RunRow& run() const;
  const dsl::Definition& definition() const { return *definition_; }
  RunState& state() { return state_; }
  TransitionFacts& facts() { return ctx_.facts(); }
  // An interpreter over this run's state, data and effects, at the run's current status.
  Interpreter NewInterpreter();
  // A settlement revision's {"period", "number", "supersedes"}; null for other runs.
  static nlohmann::json RevisionOf(const persistence::RunRow& run);

  // The run's open task with this id, as known in this transition; nullptr when it is not open.
  const persistence::TaskRow* OpenTask(int64_t task_id);
  // Outcomes of a task of this run (recorded in the WriteSet; the open-task view follows).
  void TaskCompleted(const persistence::TaskRow& task, const std::string& output_json);
  void TaskFailed(const persistence::TaskRow& task, const std::string& failure_json);
  // An attempt that ran failed (for its type's circuit breaker; completions count themselves).
  void AttemptFailed(const persistence::TaskRow& task);
  void TaskRetried(const persistence::TaskRow& task, Millis delay, const std::string& failure_json);
  void TaskReleased(const persistence::TaskRow& task);
  void TaskCancelled(const persistence::TaskRow& task);
  // The run's pending timer with this id; nullopt when it is not pending.
  std::optional<persistence::TimerRow> PendingTimer(int64_t timer_id);
  // A pending timer of this run fired (recorded at once; it leaves the pending view).
  void TimerFired(const persistence::TimerRow& timer);
  // The transition found nothing to do: Flush writes nothing (the run row keeps its update time).
  void Skip() { skipped_ = true; }

  // Queues claimable work of `queue` for the post-commit wake-up (and NOTIFY at commit).
  void NoteNewWork(const std::string& queue);
  void NoteDelayedWork(const std::string& queue, Millis delay);
  // Hands the run row and its events to the WriteSet: a stored run's data as a patch of the
  // members the interpreter set, a new run's whole. The last thing a transition does: its data
  // and state as flushed go to the context's parsed runs when it ends (ParsedRunCache).
  void Flush();
  ~RunTransition() override;

  // Record with the payload already JSON text, as DumpJson writes it (a completion's result is
  // spliced in as the text stored for its task, not copied into a tree and written again).
  void RecordText(const char* type, const std::string& actor, std::string payload_json,
                  const EventScope& scope);

  // RunEffects
  TimePoint Now() override;
  void Record(const char* type, const std::string& actor, const nlohmann::json& payload,
              const EventScope& scope) override;
  void ScheduleTask(TaskRequest request) override;
  void CancelTask(const std::string& frame, int64_t activation) override;
  void StartTimer(const TimerRequest& request) override;
  void CancelTimers(const std::string& frame, int64_t activation) override;
  std::optional<ConsumedSignal> TakeSignal(const std::string& name,
                                           const std::string& step) override;
  Status StartChildRun(const ChildRunRequest& request, std::string* child_run_id) override;
  void CancelChildRun(const std::string& child_run_id, const std::string& reason) override;
  int CountExecutingTasks() override;
  void DataMemberSet(const std::string& name) override;
  void SetStatus(std::string_view status) override;
  void CloseRun(std::string_view status, const nlohmann::json& result,
                const nlohmann::json& failure) override;

  // Child runs may nest this deep at most (a definition cycle A -> B -> A would not end).
  static constexpr int kMaxChildDepth = 16;

 private:
  // A pending timer: loaded (id) or started in this transaction (WriteSet handle).
  struct OpenTimer {
    persistence::TimerRow row;
    std::optional<size_t> inserted;
  };

  RunTransition(TransitionContext& ctx, persistence::RunRow run,
                std::shared_ptr<const dsl::Definition> definition);
  std::vector<persistence::TaskRow>& OpenTasks();
  std::vector<OpenTimer>& PendingTimers();
  void Forget(int64_t task_id);
  // Re-evaluates the definition's search attributes over the run data; writes those that changed.
  void UpdateSearchAttributes();
  // The data members set since the last Flush, as a JSON object (WriteSet::UpdateRun's patch).
  std::string DataPatch() const;
  void CancelPendingTimers(const std::function<bool(const persistence::TimerRow&)>& which);

  TransitionContext& ctx_;
  // mutable: run() serialises data_ into run_.data_json when a Flush left it behind.
  mutable persistence::RunRow run_;
  std::shared_ptr<const dsl::Definition> definition_;
  RunState state_;
  nlohmann::json data_;
  RunDataBudget budget_;  // the run's data and state as read, and what the interpreter adds
  std::set<std::string> data_members_set_;  // since the last Flush
  bool data_stored_ = true;                 // false for a new run: its data is written whole
  mutable bool data_json_behind_ = false;   // run_.data_json is older than data_
  std::vector<persistence::EventRow> events_;
  std::optional<std::vector<persistence::TaskRow>> open_tasks_;
  std::optional<std::vector<OpenTimer>> pending_timers_;
  bool skipped_ = false;
  bool wrote_ = false;  // Flush gave the WriteSet the run's row
};

}  // namespace gridflow::engine
