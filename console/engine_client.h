// The console's connection to the engines: one channel (gRPC reconnects on its own while a
// replica restarts), the stubs, and per-call contexts that carry the signed-in user's token — the
// console has no credentials of its own to lend anybody.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/client_channel.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "gridflow/v1/namespace_service.grpc.pb.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"

namespace gridflow::console {

class EngineClient {
 public:
  EngineClient(const ClientTransport& transport, std::shared_ptr<grpc::Channel> channel,
               std::chrono::milliseconds call_timeout);

  // Whether a user's token may be sent: only over TLS, as every Gridflow client.
  bool sends_tokens() const { return uses_tls_; }
  // A context with the call timeout and, when `token` is non-empty, "authorization: Bearer".
  std::unique_ptr<grpc::ClientContext> Context(const std::string& token) const;

  v1::WorkflowService::Stub& workflows() { return *workflows_; }
  v1::ClusterService::Stub& cluster() { return *cluster_; }
  v1::NamespaceService::Stub& namespaces() { return *namespaces_; }

 private:
  bool uses_tls_;
  std::chrono::milliseconds call_timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkflowService::Stub> workflows_;
  std::unique_ptr<v1::ClusterService::Stub> cluster_;
  std::unique_ptr<v1::NamespaceService::Stub> namespaces_;
};

}  // namespace gridflow::console
