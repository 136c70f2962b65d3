// gridflow.v1.ClusterService: what operators see of the engine replicas (members) and of the
// answering replica's database.
#pragma once

#include "engine/cluster/health_monitor.h"
#include "engine/cluster/membership.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"

namespace gridflow::engine {

class ClusterServiceImpl final : public v1::ClusterService::Service {
 public:
  ClusterServiceImpl(Membership& membership, HealthMonitor& health)
      : membership_(membership), health_(health) {}

  grpc::Status GetClusterStatus(grpc::ServerContext* context,
                                const v1::GetClusterStatusRequest* request,
                                v1::GetClusterStatusResponse* response) override;

 private:
  Membership& membership_;
  HealthMonitor& health_;
};

}  // namespace gridflow::engine
