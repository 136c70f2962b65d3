// gridflow.v1.RolloutService: canary rollouts of definition versions (docs/rollouts.md). Routing
// is the database's (gf_route_version); automatic decisions are the RolloutEvaluator's.
#pragma once

#include "common/work_pool.h"
#include "engine/api/callback_service.h"
#include "engine/api/request_validator.h"
#include "engine/definitions/rollout_evaluator.h"
#include "gridflow/v1/rollout_service.grpc.pb.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class RolloutServiceImpl final : public CallbackService<v1::RolloutService> {
 public:
  RolloutServiceImpl(WorkPool& pool, Authorizer& authorizer, persistence::ConnectionPool& database,
                     RequestValidator& validator, RolloutObserver* observer);

  static constexpr int kDefaultWindowSeconds = 3600;
  static constexpr int kMaxWindowSeconds = 30 * 24 * 3600;
  static constexpr double kDefaultMaxFailureIncrease = 0.05;
  static constexpr int kDefaultMinRuns = 20;

 private:
  Status StartRollout(const Caller& caller, const v1::StartRolloutRequest& req, v1::Rollout* resp);
  Status GetRollout(const v1::GetRolloutRequest& req, v1::Rollout* resp);
  Status PromoteRollout(const Caller& caller, const v1::EndRolloutRequest& req, v1::Rollout* resp);
  Status RollbackRollout(const Caller& caller, const v1::EndRolloutRequest& req, v1::Rollout* resp);
  // Ends the running rollout as `state` by hand.
  Status End(const Caller& caller, const v1::EndRolloutRequest& req, const char* state,
             v1::Rollout* resp);

  persistence::ConnectionPool& database_;
  RequestValidator& validator_;
  RolloutObserver* observer_;
};

}  // namespace gridflow::engine
