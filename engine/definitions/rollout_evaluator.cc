#include "engine/definitions/rollout_evaluator.h"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "persistence/clock.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

std::string Percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", fraction * 100);
  return text;
}

}  // namespace

RolloutEvaluator::RolloutEvaluator(persistence::ConnectionPool& pool, Millis interval,
                                   RolloutObserver* observer)
    : pool_(pool), interval_(interval), observer_(observer) {}

double RolloutEvaluator::FailureRate(int64_t failed, int64_t closed) {
  return closed == 0 ? 0.0 : static_cast<double>(failed) / static_cast<double>(closed);
}

std::string RolloutEvaluator::Decide(const persistence::RolloutRow& r, TimePoint now,
                                     std::string* reason) {
  const double candidate = FailureRate(r.candidate_failed, r.candidate_closed);
  const double stable = FailureRate(r.stable_failed, r.stable_closed);
  const bool enough = r.candidate_closed >= r.min_runs;
  const std::string rates = "version " + std::to_string(r.candidate_version) + " failed " +
                            std::to_string(r.candidate_failed) + " of " +
                            std::to_string(r.candidate_closed) + " (" + Percent(candidate) +
                            "), version " + std::to_string(r.stable_version) + " " +
                            std::to_string(r.stable_failed) + " of " +
                            std::to_string(r.stable_closed) + " (" + Percent(stable) + ")";
  if (enough && r.candidate_closed > 0 && candidate - stable > r.max_failure_increase) {
    *reason = "automatic rollback: " + rates + " over the last " +
              FormatDuration(Millis(int64_t{r.window_seconds} * 1000)) + "; the limit is +" +
              Percent(r.max_failure_increase);
    return "rolled_back";
  }
  if (r.auto_promote_seconds && enough &&
      now >= r.started_at + std::chrono::seconds(*r.auto_promote_seconds)) {
    *reason = "automatic promotion after " +
              FormatDuration(Millis(int64_t{*r.auto_promote_seconds} * 1000)) + ": " + rates;
    return "promoted";
  }
  return "";
}

Status RolloutEvaluator::EvaluateDue(int batch, int* done) {
  *done = 0;
  for (int i = 0; i < batch; ++i) {
    bool evaluated = false;
    if (Status s = EvaluateOne(&evaluated); !s.ok()) return s;
    if (!evaluated) break;
    ++*done;
  }
  return Status::Ok();
}

Status RolloutEvaluator::EvaluateOne(bool* evaluated) {
  std::optional<persistence::RolloutRow> rollout;
  std::string outcome;
  std::string reason;
  const Status s = persistence::Transact(pool_, "evaluate rollout", [&](pqxx::work& txn) {
    outcome.clear();
    rollout = persistence::LockDueRollout(txn, interval_);
    if (!rollout) return Status::Ok();
    persistence::CountRolloutOutcomes(txn, &*rollout);
    persistence::RecordRolloutEvaluation(txn, *rollout);
    outcome = Decide(*rollout, persistence::DatabaseNow(txn), &reason);
    if (!outcome.empty()) {
      persistence::EndRollout(txn, *rollout,
                              outcome == "promoted" ? persistence::rollout_state::kPromoted
                                                    : persistence::rollout_state::kRolledBack,
                              "engine", reason);
    }
    return Status::Ok();
  });
  *evaluated = s.ok() && rollout.has_value();
  if (!*evaluated) return s;
  if (observer_ != nullptr) observer_->RolloutEvaluated(*rollout);
  if (!outcome.empty()) {
    spdlog::warn("rollout {} of {}/{} v{}: {}", rollout->id, rollout->namespace_name, rollout->name,
                 rollout->candidate_version, reason);
    if (observer_ != nullptr) observer_->RolloutEnded(*rollout, outcome, true);
  }
  return Status::Ok();
}

}  // namespace gridflow::engine
