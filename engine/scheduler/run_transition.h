// RunTransition: one step of one run's state machine, inside the transaction that holds the run's
// row lock. It gathers the run's new state, the tasks to schedule and the history events, and
// Flush() writes them all; the caller's transaction then commits them together or not at all.
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

#include "engine/dsl/definition.h"
#include "persistence/rows.h"

namespace gridflow::engine {

// Where an event belongs, besides its run.
struct EventScope {
  std::optional<std::string> step;
  std::optional<int64_t> task_id;
  std::optional<int> attempt;
};

EventScope ScopeOf(const persistence::TaskRow& task);

struct RunFailure {
  std::string step;
  std::string error_type;
  std::string message;
  nlohmann::json details;  // null when none
  int attempt = 0;

  nlohmann::json ToJson() const;
};

class RunTransition {
 public:
  RunTransition(pqxx::transaction_base& txn, persistence::RunRow run,
                std::shared_ptr<const dsl::Definition> definition);

  pqxx::transaction_base& txn() { return txn_; }
  const persistence::RunRow& run() const { return run_; }
  const dsl::Definition& definition() const { return *definition_; }

  // Appends a history event; its sequence number is assigned now.
  void Record(const char* type, const std::string& actor, const nlohmann::json& payload,
              const EventScope& scope = {});

  // Stores a completed step's output under its name in run data.
  void SetStepOutput(const std::string& step, nlohmann::json output);

  // Runs `step`: schedules its task, or closes the run for succeed/fail steps.
  void EnterStep(const dsl::Step& step, const std::string& actor);
  // After `step` succeeded: enters the next step, or completes the run at the end.
  void ContinueAfter(const dsl::Step& step, const std::string& actor);

  void CompleteRun(const std::string& actor);
  void FailRun(const RunFailure& failure, const std::string& actor);
  // Records the request (RunCancelRequested). The run stays CANCELLING until the executing task's
  // outcome arrives; call FinishCancellation() when nothing executes.
  void RequestCancellation(const std::string& requested_by, const std::string& reason);
  // CANCELLED, recorded with the identity that requested it.
  void FinishCancellation();

  // Writes the run row and the events (and NOTIFYs other replicas of scheduled tasks).
  void Flush();

  // (namespace, queue) pairs that received claimable tasks in this transition; the caller wakes
  // this replica's waiting workers for them after the commit.
  const std::set<std::pair<std::string, std::string>>& queues_with_new_work() const {
    return queues_with_new_work_;
  }
  void NoteNewWork(const std::string& queue);

 private:
  nlohmann::json& Data();
  void Close(std::string_view status);

  pqxx::transaction_base& txn_;
  persistence::RunRow run_;
  std::shared_ptr<const dsl::Definition> definition_;
  std::optional<nlohmann::json> data_;  // parsed lazily from run_.data_json
  bool data_changed_ = false;
  std::vector<persistence::EventRow> events_;
  std::set<std::pair<std::string, std::string>> queues_with_new_work_;
};

}  // namespace gridflow::engine
