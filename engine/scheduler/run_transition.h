// RunTransition: one step of one run's state machine, inside the transaction that holds the run's
// row lock. It loads the run's interpreter state and data, implements RunEffects on the database
// (tasks, timers, signals, child runs, messages, history), and Flush() writes the run row and
// the events; the caller's transaction then commits all of it or nothing.
// Not thread-safe; lives for one transaction attempt.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/transaction_base>

#include "engine/definitions/definition_registry.h"
#include "engine/dsl/definition.h"
#include "engine/scheduler/interpreter.h"
#include "engine/scheduler/run_effects.h"
#include "engine/scheduler/run_state.h"
#include "engine/scheduler/transition_facts.h"
#include "persistence/message_store.h"
#include "persistence/rows.h"

namespace gridflow::engine {

EventScope ScopeOf(const persistence::TaskRow& task);

class RunTransition final : public RunEffects {
 public:
  // INTERNAL when the run's stored state cannot be read.
  static Status Open(pqxx::transaction_base& txn, persistence::RunRow run,
                     std::shared_ptr<const dsl::Definition> definition,
                     DefinitionRegistry& registry, std::unique_ptr<RunTransition>* out);

  // What a new run starts from; the workflow id must be free (else *out stays empty).
  struct NewRunSpec {
    std::string namespace_name;
    std::string workflow_id;
    nlohmann::json input;
    std::string started_by;
    nlohmann::json parent;  // child runs: {workflow_id, run_id, step}; else null
    std::optional<std::string> parent_run_id;
    std::string parent_frame;
    int64_t parent_activation = 0;
    int depth = 0;
  };
  // Inserts the run, records RunStarted and lets the interpreter start it (not yet flushed).
  static Status Create(pqxx::transaction_base& txn,
                       std::shared_ptr<const dsl::Definition> definition,
                       DefinitionRegistry& registry, const NewRunSpec& spec,
                       std::unique_ptr<RunTransition>* out);

  pqxx::transaction_base& txn() { return txn_; }
  const persistence::RunRow& run() const { return run_; }
  const dsl::Definition& definition() const { return *definition_; }
  RunState& state() { return state_; }
  // An interpreter over this run's state, data and effects, at the run's current status.
  Interpreter NewInterpreter();

  // Queues claimable work of `queue` for the post-commit wake-up (and NOTIFY at Flush).
  void NoteNewWork(const std::string& queue);
  void NoteDelayedWork(const std::string& queue, Millis delay);
  // Writes the run row (status, data, state, result/failure) and the events.
  void Flush();

  // Queues that received claimable tasks, and messages left for other runs, in this transition
  // (including child runs it started); the caller acts on them after the commit.
  const std::set<std::pair<std::string, std::string>>& queues_with_new_work() const {
    return queues_with_new_work_;
  }
  const std::vector<DelayedWork>& delayed_work() const { return delayed_work_; }
  const std::vector<persistence::PendingMessage>& messages() const { return messages_; }
  // Runs whose history this transition appended to (its own, and child runs it started).
  const std::set<std::string>& runs_with_new_events() const { return runs_with_new_events_; }
  // What this transition did, for metrics after the commit (child runs' facts included).
  TransitionFacts& facts() { return facts_; }
  const TransitionFacts& facts() const { return facts_; }

  // RunEffects
  TimePoint Now() override;
  void Record(const char* type, const std::string& actor, const nlohmann::json& payload,
              const EventScope& scope) override;
  void ScheduleTask(const TaskRequest& request) override;
  void CancelTask(const std::string& frame, int64_t activation) override;
  void StartTimer(const TimerRequest& request) override;
  void CancelTimers(const std::string& frame, int64_t activation) override;
  std::optional<ConsumedSignal> TakeSignal(const std::string& name,
                                           const std::string& step) override;
  Status StartChildRun(const ChildRunRequest& request, std::string* child_run_id) override;
  void CancelChildRun(const std::string& child_run_id, const std::string& reason) override;
  int CountExecutingTasks() override;
  void SetStatus(std::string_view status) override;
  void CloseRun(std::string_view status, const nlohmann::json& result,
                const nlohmann::json& failure) override;

  // Child runs may nest this deep at most (a definition cycle A -> B -> A would not end).
  static constexpr int kMaxChildDepth = 16;

 private:
  RunTransition(pqxx::transaction_base& txn, persistence::RunRow run,
                std::shared_ptr<const dsl::Definition> definition, DefinitionRegistry& registry);

  pqxx::transaction_base& txn_;
  persistence::RunRow run_;
  std::shared_ptr<const dsl::Definition> definition_;
  DefinitionRegistry& registry_;
  RunState state_;
  nlohmann::json data_;
  std::optional<TimePoint> now_;
  std::vector<persistence::EventRow> events_;
  std::set<std::pair<std::string, std::string>> queues_with_new_work_;
  std::vector<DelayedWork> delayed_work_;
  std::vector<persistence::PendingMessage> messages_;
  std::set<std::string> runs_with_new_events_;
  TransitionFacts facts_;
};

}  // namespace gridflow::engine
