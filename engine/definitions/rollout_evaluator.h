// RolloutEvaluator: watches running canary rollouts (docs/rollouts.md). Every replica runs
// EvaluateDue; each evaluation is one transaction that locks its rollout (FOR UPDATE SKIP
// LOCKED), counts the closed and FAILED runs of the candidate and stable versions within the
// rollout's window, records them, and ends the rollout when it must:
//   - rolled back when at least min_runs candidate runs closed and the candidate's failure rate
//     exceeds the stable version's by more than max_failure_increase;
//   - promoted when auto-promotion is set, its time has come and at least min_runs candidate
//     runs closed without the rollback rule firing.
// Ending a rollout changes what "latest" means in the same transaction (gf_route_version).
#pragma once

#include <string>

#include "common/duration.h"
#include "common/status.h"
#include "persistence/connection_pool.h"
#include "persistence/rollout_store.h"

namespace gridflow::engine {

// Told of every evaluation and every automatic or manual end (the engine's metrics).
class RolloutObserver {
 public:
  virtual ~RolloutObserver() = default;
  virtual void RolloutEvaluated(const persistence::RolloutRow& rollout) = 0;
  // outcome: "promoted" or "rolled_back"; automatic: by the evaluator rather than an operator.
  virtual void RolloutEnded(const persistence::RolloutRow& rollout, const std::string& outcome,
                            bool automatic) = 0;
};

class RolloutEvaluator {
 public:
  RolloutEvaluator(persistence::ConnectionPool& pool, Millis interval, RolloutObserver* observer);

  // Evaluates up to `batch` rollouts not evaluated for `interval`; *done: how many.
  Status EvaluateDue(int batch, int* done);

  // The failure rate of closed runs (0 when none closed).
  static double FailureRate(int64_t failed, int64_t closed);
  // What the rules decide for evaluated counts at `now`: "rolled_back", "promoted" or "" (go on),
  // with the reason recorded on the rollout.
  static std::string Decide(const persistence::RolloutRow& rollout, TimePoint now,
                            std::string* reason);

 private:
  // One due rollout, if any: *evaluated is false when none was due.
  Status EvaluateOne(bool* evaluated);

  persistence::ConnectionPool& pool_;
  const Millis interval_;
  RolloutObserver* observer_;
};

}  // namespace gridflow::engine
