#include "console/http_reply.h"

#include "common/status.h"
#include "gridflow/v1/api_json.h"

namespace gridflow::console {
namespace {

// gRPC's code names: Status's for the codes it shares (the same numbers), and the two it lacks.
std::string CodeName(grpc::StatusCode code) {
  if (code == grpc::StatusCode::UNAUTHENTICATED) return "UNAUTHENTICATED";
  if (code == grpc::StatusCode::DATA_LOSS) return "DATA_LOSS";
  if (code < grpc::StatusCode::OK || code > grpc::StatusCode::UNAVAILABLE) return "UNKNOWN";
  return std::string(StatusCodeName(static_cast<StatusCode>(code)));
}

}  // namespace

void ReplyJson(httplib::Response& res, const nlohmann::json& body, int http_status) {
  res.status = http_status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

nlohmann::json MessageJson(const google::protobuf::Message& message) {
  return nlohmann::json::parse(v1::ApiJson(message));
}

void ReplyMessage(httplib::Response& res, const google::protobuf::Message& message) {
  res.status = 200;
  res.set_content(v1::ApiJson(message), "application/json");
}

void ReplyError(httplib::Response& res, int http_status, const std::string& code,
                const std::string& message) {
  ReplyJson(res, {{"error", {{"code", code}, {"message", message}}}}, http_status);
}

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    default:
      return 502;
  }
}

void ReplyGrpcError(httplib::Response& res, const grpc::Status& status) {
  std::string message = status.error_message();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    message = "the engine is not reachable right now (" + message + "); retrying";
  }
  ReplyError(res, HttpStatusOf(status.error_code()), CodeName(status.error_code()), message);
}

}  // namespace gridflow::console
