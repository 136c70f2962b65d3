#include "cli/client.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/exit_codes.h"
#include "common/file.h"
#include "gridflow/v1/api_json.h"

namespace gridflow::cli {

Client::Client(const ClientOptions& options, std::shared_ptr<grpc::Channel> channel)
    : options_(options),
      channel_(std::move(channel)),
      workflows_(v1::WorkflowService::NewStub(channel_)),
      cluster_(v1::ClusterService::NewStub(channel_)),
      namespaces_(v1::NamespaceService::NewStub(channel_)),
      schedules_(v1::ScheduleService::NewStub(channel_)),
      batches_(v1::BatchService::NewStub(channel_)),
      rollouts_(v1::RolloutService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext(bool with_timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (with_timeout) context->set_deadline(std::chrono::system_clock::now() + options_.timeout);
  return context;
}

int Client::Fail(const grpc::Status& status, const std::string& what) const {
  switch (status.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      std::cerr << "gridflowctl: " << what << ": not found: " << status.error_message() << "\n";
      return kExitNotFound;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      std::cerr << "gridflowctl: " << what << ": " << status.error_message()
                << " (check --token / GRIDFLOW_TOKEN)\n";
      return kExitRejected;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "gridflowctl: " << what << ": the engine at " << options_.transport.address
                << " is unavailable (" << status.error_message()
                << "); check --address / GRIDFLOW_ADDRESS and that the engine is running\n";
      return kExitUnavailable;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::DATA_LOSS:
      std::cerr << "gridflowctl: " << what << ": engine error: " << status.error_message() << "\n";
      return kExitInternal;
    default:
      std::cerr << "gridflowctl: " << what << ": " << status.error_message() << "\n";
      return kExitRejected;
  }
}

std::string ToJson(const google::protobuf::Message& message, bool indented) {
  return v1::ApiJson(message, indented);
}

bool ReadFile(const std::string& path, std::string* text) {
  if (!ReadTextFile("file", path, text).ok()) {
    std::cerr << "gridflowctl: cannot read " << path << "\n";
    return false;
  }
  return true;
}

std::string DefaultIdentity() {
  std::string user;
  if (const char* env = std::getenv("USER"); env != nullptr && *env != '\0') {
    user = env;
  } else if (const passwd* pw = getpwuid(getuid()); pw != nullptr) {
    user = pw->pw_name;
  } else {
    user = "uid" + std::to_string(getuid());
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return user + "@" + host;
}

}  // namespace gridflow::cli
