// gridflow.v1.ClusterService: what operators see of the engine replicas (members), of the
// answering replica's database, and of the task queues.
#pragma once

#include <functional>

#include <pqxx/transaction_base>

#include "common/work_pool.h"
#include "engine/api/callback_service.h"
#include "engine/api/request_validator.h"
#include "engine/cluster/health_monitor.h"
#include "engine/cluster/membership.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"

namespace gridflow::engine {

class ClusterServiceImpl final : public CallbackService<v1::ClusterService> {
 public:
  ClusterServiceImpl(WorkPool& pool, Authorizer& authorizer, persistence::ConnectionPool& database,
                     RequestValidator& validator, Membership& membership, HealthMonitor& health);

 private:
  Status GetClusterStatus(const v1::GetClusterStatusRequest& req,
                          v1::GetClusterStatusResponse* resp);
  Status ListQueues(const v1::ListQueuesRequest& req, v1::ListQueuesResponse* resp);
  Status PauseDispatch(const Caller& caller, const v1::PauseDispatchRequest& req,
                       v1::DispatchControlResponse* resp);
  Status ResumeDispatch(const Caller& caller, const v1::ResumeDispatchRequest& req,
                        v1::DispatchControlResponse* resp);
  Status SetRateLimit(const Caller& caller, const v1::SetRateLimitRequest& req,
                      v1::DispatchControlResponse* resp);
  Status SetCircuitBreaker(const Caller& caller, const v1::SetCircuitBreakerRequest& req,
                           v1::DispatchControlResponse* resp);
  // Runs `change` on the control (scope, name) of namespace `ns` in one transaction and answers
  // with the control as it is afterwards.
  Status ChangeControl(const char* what, const std::string& ns, const std::string& scope,
                       const std::string& name,
                       const std::function<void(pqxx::transaction_base&)>& change,
                       v1::DispatchControlResponse* resp);

  persistence::ConnectionPool& database_;
  RequestValidator& validator_;
  Membership& membership_;
  HealthMonitor& health_;
};

}  // namespace gridflow::engine
