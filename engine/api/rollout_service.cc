#include "engine/api/rollout_service.h"

#include <spdlog/spdlog.h>

#include "common/json_text.h"
#include "engine/api/proto_convert.h"
#include "engine/scheduler/actor.h"
#include "persistence/definition_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {
namespace {

v1::RolloutState StateToProto(const std::string& state) {
  if (state == persistence::rollout_state::kRunning) return v1::ROLLOUT_STATE_RUNNING;
  if (state == persistence::rollout_state::kPromoted) return v1::ROLLOUT_STATE_PROMOTED;
  if (state == persistence::rollout_state::kRolledBack) return v1::ROLLOUT_STATE_ROLLED_BACK;
  return v1::ROLLOUT_STATE_UNSPECIFIED;
}

void RolloutToProto(const persistence::RolloutRow& r, v1::Rollout* out) {
  out->set_namespace_(r.namespace_name);
  out->set_definition_name(r.name);
  out->set_id(r.id);
  out->set_stable_version(r.stable_version);
  out->set_candidate_version(r.candidate_version);
  out->set_percent(r.percent);
  out->set_window_seconds(r.window_seconds);
  out->set_max_failure_increase(r.max_failure_increase);
  out->set_min_runs(r.min_runs);
  out->set_auto_promote_seconds(r.auto_promote_seconds.value_or(0));
  out->set_state(StateToProto(r.state));
  out->set_started_by(r.started_by);
  ToProto(r.started_at, out->mutable_start_time());
  out->set_ended_by(r.ended_by.value_or(""));
  if (r.ended_at) ToProto(*r.ended_at, out->mutable_end_time());
  out->set_end_reason(r.end_reason);
  if (r.evaluated_at) ToProto(*r.evaluated_at, out->mutable_evaluate_time());
  out->set_candidate_closed(r.candidate_closed);
  out->set_candidate_failed(r.candidate_failed);
  out->set_stable_closed(r.stable_closed);
  out->set_stable_failed(r.stable_failed);
}

Status NoRollout(const std::string& ns, const std::string& name) {
  return Status::NotFound("definition '" + name + "' has no rollout in namespace '" + ns + "'");
}

}  // namespace

RolloutServiceImpl::RolloutServiceImpl(WorkPool& pool, Authorizer& authorizer,
                                       persistence::ConnectionPool& database,
                                       RequestValidator& validator, RolloutObserver* observer)
    : CallbackService(authorizer), database_(database), validator_(validator), observer_(observer) {
  using Self = RolloutServiceImpl;
  UnaryOnPool("StartRollout", pool, this, &Self::StartRollout);
  UnaryOnPool("GetRollout", pool, this, &Self::GetRollout);
  UnaryOnPool("PromoteRollout", pool, this, &Self::PromoteRollout);
  UnaryOnPool("RollbackRollout", pool, this, &Self::RollbackRollout);
  VerifyAllServed();
}

Status RolloutServiceImpl::StartRollout(const Caller& caller, const v1::StartRolloutRequest& req,
                                        v1::Rollout* resp) {
  persistence::RolloutRow row;
  Status s = validator_.Namespace(req.namespace_(), &row.namespace_name);
  if (s.ok()) s = validator_.Name("definition_name", req.definition_name());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  if (req.candidate_version() <= 0) {
    return Status::InvalidArgument("candidate_version: is required (a registered version)");
  }
  if (req.percent() < 1 || req.percent() > 100) {
    return Status::InvalidArgument("percent: must be between 1 and 100");
  }
  if (req.window_seconds() < 0 || req.window_seconds() > kMaxWindowSeconds) {
    return Status::InvalidArgument("window_seconds: must be between 0 (one hour) and 30 days");
  }
  if (!(req.max_failure_increase() >= 0 && req.max_failure_increase() <= 1)) {
    return Status::InvalidArgument(
        "max_failure_increase: must be a fraction between 0 (the default, 0.05) and 1");
  }
  if (req.min_runs() < 0) return Status::InvalidArgument("min_runs: must not be negative");
  if (req.auto_promote_seconds() < 0) {
    return Status::InvalidArgument("auto_promote_seconds: must not be negative");
  }
  row.name = req.definition_name();
  row.candidate_version = req.candidate_version();
  row.percent = req.percent();
  row.window_seconds = req.window_seconds() == 0 ? kDefaultWindowSeconds : req.window_seconds();
  row.max_failure_increase =
      req.max_failure_increase() == 0 ? kDefaultMaxFailureIncrease : req.max_failure_increase();
  row.min_runs = req.min_runs() == 0 ? kDefaultMinRuns : req.min_runs();
  if (req.auto_promote_seconds() > 0) row.auto_promote_seconds = req.auto_promote_seconds();
  row.started_by = Actor{caller.principal, req.identity()}.Describe();
  s = persistence::Transact(database_, "start rollout", [&](pqxx::work& txn) -> Status {
    const std::string& ns = row.namespace_name;
    if (!persistence::FindDefinition(txn, ns, row.name, row.candidate_version)) {
      return Status::NotFound("candidate_version: definition '" + row.name + "' version " +
                              std::to_string(row.candidate_version) +
                              " is not registered in namespace '" + ns + "'");
    }
    const auto running = persistence::FindRollout(txn, ns, row.name, true);
    if (running && running->state == persistence::rollout_state::kRunning) {
      return Status::FailedPrecondition("definition '" + row.name + "' already has rollout " +
                                        std::to_string(running->id) + " of version " +
                                        std::to_string(running->candidate_version) +
                                        " running; promote or roll it back first");
    }
    const auto stable =
        persistence::LatestDefinitionVersion(txn, ns, row.name, std::nullopt, nullptr);
    if (!stable) {
      return Status::FailedPrecondition("definition '" + row.name +
                                        "' has no latest version to compare the candidate with");
    }
    if (*stable == row.candidate_version) {
      return Status::FailedPrecondition(
          "candidate_version: version " + std::to_string(row.candidate_version) +
          " is already the latest; register the new version as a candidate (gridflowctl "
          "definitions register FILE --candidate) and roll that out");
    }
    if (row.candidate_version < *stable) {
      // Promoting it could not make it the latest (the higher stable version would stay so).
      return Status::FailedPrecondition(
          "candidate_version: version " + std::to_string(row.candidate_version) +
          " is older than the latest, version " + std::to_string(*stable) +
          "; to go back to it, register its definition again as a new version");
    }
    row.stable_version = *stable;
    if (!persistence::InsertRollout(txn, &row)) {
      return Status::FailedPrecondition("definition '" + row.name +
                                        "' already has a running rollout");
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  spdlog::info("rollout {} of {}/{}: {}% of latest to version {} (stable {}) by {}", row.id,
               row.namespace_name, row.name, row.percent, row.candidate_version, row.stable_version,
               row.started_by);
  RolloutToProto(row, resp);
  return Status::Ok();
}

Status RolloutServiceImpl::GetRollout(const v1::GetRolloutRequest& req, v1::Rollout* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.Name("definition_name", req.definition_name());
  if (!s.ok()) return s;
  std::optional<persistence::RolloutRow> row;
  s = persistence::Transact(database_, "get rollout", [&](pqxx::work& txn) {
    row = persistence::FindRollout(txn, ns, req.definition_name(), false);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!row) return NoRollout(ns, req.definition_name());
  RolloutToProto(*row, resp);
  return Status::Ok();
}

Status RolloutServiceImpl::PromoteRollout(const Caller& caller, const v1::EndRolloutRequest& req,
                                          v1::Rollout* resp) {
  return End(caller, req, persistence::rollout_state::kPromoted, resp);
}

Status RolloutServiceImpl::RollbackRollout(const Caller& caller, const v1::EndRolloutRequest& req,
                                           v1::Rollout* resp) {
  if (req.reason().find_first_not_of(" \t\n") == std::string::npos) {
    return Status::InvalidArgument("reason: is required (it is recorded with the rollout)");
  }
  return End(caller, req, persistence::rollout_state::kRolledBack, resp);
}

Status RolloutServiceImpl::End(const Caller& caller, const v1::EndRolloutRequest& req,
                               const char* state, v1::Rollout* resp) {
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.Name("definition_name", req.definition_name());
  if (s.ok()) s = validator_.Text("reason", req.reason());
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) return s;
  const std::string by = Actor{caller.principal, req.identity()}.Describe();
  const bool promote = std::string(state) == persistence::rollout_state::kPromoted;
  const std::string reason =
      req.reason().empty() ? (promote ? "promoted by hand" : "rolled back by hand") : req.reason();
  std::optional<persistence::RolloutRow> row;
  s = persistence::Transact(database_, "end rollout", [&](pqxx::work& txn) -> Status {
    row = persistence::FindRollout(txn, ns, req.definition_name(), true);
    if (!row) return NoRollout(ns, req.definition_name());
    if (row->state != persistence::rollout_state::kRunning) {
      return Status::FailedPrecondition("rollout " + std::to_string(row->id) + " of '" + row->name +
                                        "' already ended " + row->state + ": " +
                                        QuotePrefix(row->end_reason, 160));
    }
    persistence::EndRollout(txn, *row, state, by, reason);
    row = persistence::FindRollout(txn, ns, req.definition_name(), false);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  spdlog::warn("rollout {} of {}/{} v{} {} by {}: {}", row->id, ns, row->name,
               row->candidate_version, row->state, by, reason);
  if (observer_ != nullptr)
    observer_->RolloutEnded(*row, promote ? "promoted" : "rolled_back", false);
  RolloutToProto(*row, resp);
  return Status::Ok();
}

}  // namespace gridflow::engine
