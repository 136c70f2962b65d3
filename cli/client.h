// Client: gridflowctl's connection to an engine, and the one place gRPC errors become messages
// and exit codes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "common/duration.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"

namespace gridflow::cli {

struct ClientOptions {
  std::string address = "localhost:7233";
  std::string namespace_name;  // empty: the engine's default namespace
  std::string identity;        // recorded as the actor of signals, cancellations, starts
  std::string output = "table";
  Millis timeout{30'000};
  // TLS: set tls_ca (PEM file of the CA that signed the engine's certificate) to connect with
  // TLS; tls_cert and tls_key for mutual TLS. tls_server_name overrides the name checked.
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  // Sent as "authorization: Bearer <token>" on every call. Never printed.
  std::string token;
};

class Client {
 public:
  // Unreadable TLS files are reported on stderr; the calls then fail UNAVAILABLE.
  explicit Client(const ClientOptions& options);

  const ClientOptions& options() const { return options_; }
  bool json_output() const { return options_.output == "json"; }
  v1::WorkflowService::Stub& workflows() { return *workflows_; }
  v1::ClusterService::Stub& cluster() { return *cluster_; }
  // A context with the token and the per-call timeout (none for streams that last as long as
  // what they follow).
  std::unique_ptr<grpc::ClientContext> NewContext(bool with_timeout = true) const;

  // Prints a failed call's error to stderr and returns the matching exit code.
  int Fail(const grpc::Status& status, const std::string& what) const;

 private:
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkflowService::Stub> workflows_;
  std::unique_ptr<v1::ClusterService::Stub> cluster_;
};

// A protobuf message as JSON with proto field names (stable for scripts): indented, or on one
// line (for streams of JSON lines).
std::string ToJson(const google::protobuf::Message& message, bool indented = true);

// Reads a whole file; on failure prints why to stderr and returns false.
bool ReadFile(const std::string& path, std::string* text);

// Default identity for operator actions: "<user>@<host>".
std::string DefaultIdentity();

}  // namespace gridflow::cli
