// Canary rollouts of definition versions (table definition_rollouts, migration 14;
// docs/rollouts.md). Routing itself is the database function gf_route_version, read where runs
// are inserted; these are the rollouts' own reads and writes. Rare calls: plain parameterised
// statements.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "common/duration.h"
#include "common/time.h"

namespace gridflow::persistence {

namespace rollout_state {
inline constexpr const char* kRunning = "RUNNING";
inline constexpr const char* kPromoted = "PROMOTED";
inline constexpr const char* kRolledBack = "ROLLED_BACK";
}  // namespace rollout_state

struct RolloutRow {
  std::string namespace_name;
  std::string name;  // the definition's
  int64_t id = 0;
  int stable_version = 0;
  int candidate_version = 0;
  int percent = 0;
  int window_seconds = 0;
  double max_failure_increase = 0;  // a fraction: 0.05 = five percentage points
  int min_runs = 0;
  std::optional<int> auto_promote_seconds;
  std::string state;  // rollout_state
  std::string started_by;
  TimePoint started_at;
  std::optional<std::string> ended_by;
  std::optional<TimePoint> ended_at;
  std::string end_reason;
  // The last evaluation (closed runs and failures within the window).
  std::optional<TimePoint> evaluated_at;
  int64_t candidate_closed = 0;
  int64_t candidate_failed = 0;
  int64_t stable_closed = 0;
  int64_t stable_failed = 0;
};

// Inserts a RUNNING rollout (its id into row.id); false when the definition has one running.
bool InsertRollout(pqxx::transaction_base& txn, RolloutRow* row);
// The definition's running rollout, or else its newest; `lock`: FOR UPDATE.
std::optional<RolloutRow> FindRollout(pqxx::transaction_base& txn,
                                      const std::string& namespace_name, const std::string& name,
                                      bool lock);
// A running rollout not evaluated for `interval`, locked (FOR UPDATE SKIP LOCKED).
std::optional<RolloutRow> LockDueRollout(pqxx::transaction_base& txn, Millis interval);
// Closed runs and FAILED ones of the rollout's two versions within its window, into *row.
void CountRolloutOutcomes(pqxx::transaction_base& txn, RolloutRow* row);
void RecordRolloutEvaluation(pqxx::transaction_base& txn, const RolloutRow& row);
// Ends a running rollout as PROMOTED (the candidate is no longer withheld: it is the latest) or
// ROLLED_BACK (the candidate is withheld again: the stable version is the latest).
void EndRollout(pqxx::transaction_base& txn, const RolloutRow& row, const std::string& state,
                const std::string& by, const std::string& reason);

}  // namespace gridflow::persistence
