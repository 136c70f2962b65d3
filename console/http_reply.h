// How the console's JSON API answers: a gridflow.v1 message as the API's JSON (proto field
// names, as gridflowctl -o json prints it), or an error {"error": {"code", "message"}} with the
// HTTP status that matches the engine's gRPC status.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

namespace gridflow::console {

void ReplyJson(httplib::Response& res, const nlohmann::json& body, int http_status = 200);
void ReplyMessage(httplib::Response& res, const google::protobuf::Message& message);
// `code`: a gRPC code name ("INVALID_ARGUMENT") or the console's own ("CSRF").
void ReplyError(httplib::Response& res, int http_status, const std::string& code,
                const std::string& message);
// An engine call that failed: 400, 401, 403, 404, 409, 429, 503, 504 or 502 by its code.
void ReplyGrpcError(httplib::Response& res, const grpc::Status& status);
int HttpStatusOf(grpc::StatusCode code);

// A message as the API's JSON, parsed (to put several in one reply).
nlohmann::json MessageJson(const google::protobuf::Message& message);

}  // namespace gridflow::console
