// gridflow.v1.ClusterService: what operators see of the engine replicas (members), of the
// answering replica's database, and of the task queues.
#pragma once

#include "engine/api/request_validator.h"
#include "engine/cluster/health_monitor.h"
#include "engine/cluster/membership.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"

namespace gridflow::engine {

class ClusterServiceImpl final : public v1::ClusterService::Service {
 public:
  ClusterServiceImpl(persistence::ConnectionPool& pool, RequestValidator& validator,
                     Membership& membership, HealthMonitor& health)
      : pool_(pool), validator_(validator), membership_(membership), health_(health) {}

  grpc::Status GetClusterStatus(grpc::ServerContext* context,
                                const v1::GetClusterStatusRequest* request,
                                v1::GetClusterStatusResponse* response) override;
  grpc::Status ListQueues(grpc::ServerContext* context, const v1::ListQueuesRequest* request,
                          v1::ListQueuesResponse* response) override;

 private:
  persistence::ConnectionPool& pool_;
  RequestValidator& validator_;
  Membership& membership_;
  HealthMonitor& health_;
};

}  // namespace gridflow::engine
