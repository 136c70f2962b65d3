// Counts every RPC the server answers (gridflow_rpcs_total by method and status code) and times it
// (gridflow_rpc_duration_seconds), streams and long-polls included, as a gRPC server
// interceptor: no handler has to remember to do it.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include "engine/metrics/engine_metrics.h"

namespace gridflow::engine {

class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(EngineMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  EngineMetrics& metrics_;
};

}  // namespace gridflow::engine
