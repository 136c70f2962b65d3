// The boundary every RPC handler crosses: a handler body returns a Status; exceptions that escape
// it (a bug, or an allocation failure) become INTERNAL here and are logged, so none crosses into
// gRPC's threads.
#pragma once

#include <grpcpp/support/status.h>
#include <spdlog/spdlog.h>

#include <exception>

#include "common/status.h"
#include "engine/api/proto_convert.h"

namespace gridflow::engine {

template <typename Body>
grpc::Status ServeRpc(const char* method, Body&& body) {
  try {
    const Status status = body();
    if (status.code() == StatusCode::kInternal) {
      spdlog::error("{}: {}", method, status.message());
    }
    return ToGrpcStatus(status);
  } catch (const std::exception& e) {
    spdlog::error("{}: unexpected exception: {}", method, e.what());
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string(method) + " failed unexpectedly");
  }
}

}  // namespace gridflow::engine
