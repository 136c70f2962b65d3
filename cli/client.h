// Client: gridflowctl's connection to an engine, and the one place gRPC errors become messages
// and exit codes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/client_channel.h"
#include "common/duration.h"
#include "gridflow/v1/batch_service.grpc.pb.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "gridflow/v1/namespace_service.grpc.pb.h"
#include "gridflow/v1/rollout_service.grpc.pb.h"
#include "gridflow/v1/schedule_service.grpc.pb.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"

namespace gridflow::cli {

struct ClientOptions {
  ClientTransport transport;   // address, TLS, token (never printed)
  std::string namespace_name;  // empty: the engine's default namespace
  std::string identity;        // recorded as the actor of signals, cancellations, starts
  std::string output = "table";
  Millis timeout{30'000};
};

class Client {
 public:
  // `channel`: opened from options.transport (OpenClientChannel).
  Client(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel);

  const ClientOptions& options() const { return options_; }
  bool json_output() const { return options_.output == "json"; }
  v1::WorkflowService::Stub& workflows() { return *workflows_; }
  v1::ClusterService::Stub& cluster() { return *cluster_; }
  v1::NamespaceService::Stub& namespaces() { return *namespaces_; }
  v1::ScheduleService::Stub& schedules() { return *schedules_; }
  v1::BatchService::Stub& batches() { return *batches_; }
  v1::RolloutService::Stub& rollouts() { return *rollouts_; }
  // A context with the per-call timeout (none for streams that last as long as what they
  // follow).
  std::unique_ptr<grpc::ClientContext> NewContext(bool with_timeout = true) const;

  // Prints a failed call's error to stderr and returns the matching exit code.
  int Fail(const grpc::Status& status, const std::string& what) const;

 private:
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkflowService::Stub> workflows_;
  std::unique_ptr<v1::ClusterService::Stub> cluster_;
  std::unique_ptr<v1::NamespaceService::Stub> namespaces_;
  std::unique_ptr<v1::ScheduleService::Stub> schedules_;
  std::unique_ptr<v1::BatchService::Stub> batches_;
  std::unique_ptr<v1::RolloutService::Stub> rollouts_;
};

// A protobuf message as JSON with proto field names (stable for scripts): indented, or on one
// line (for streams of JSON lines).
std::string ToJson(const google::protobuf::Message& message, bool indented = true);

// Reads a whole file; on failure prints why to stderr and returns false.
bool ReadFile(const std::string& path, std::string* text);

// Default identity for operator actions: "<user>@<host>".
std::string DefaultIdentity();

}  // namespace gridflow::cli
