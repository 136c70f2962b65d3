#include "console/engine_client.h"

namespace gridflow::console {

EngineClient::EngineClient(const ClientTransport& transport, std::shared_ptr<grpc::Channel> channel,
                           std::chrono::milliseconds call_timeout)
    : uses_tls_(transport.uses_tls()),
      call_timeout_(call_timeout),
      channel_(std::move(channel)),
      workflows_(v1::WorkflowService::NewStub(channel_)),
      cluster_(v1::ClusterService::NewStub(channel_)),
      namespaces_(v1::NamespaceService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> EngineClient::Context(const std::string& token) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + call_timeout_);
  if (!token.empty() && uses_tls_) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

}  // namespace gridflow::console
