// Decoding request bytes into their message, for the callback services (callback_service.h).
// gRPC's own decoding answers a proto3 string field that is not valid UTF-8 with INTERNAL and an
// empty message; this one names the field: INVALID_ARGUMENT "workflow_id: is not valid UTF-8".
// Any other malformed message is INVALID_ARGUMENT as well.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace gridflow::engine {

Status DecodeMessage(const grpc::ByteBuffer& bytes, google::protobuf::Message* out);

// The path ("task_queues[1]", "filter.name") of the first string field of a `type` message in
// `bytes` that is not valid UTF-8; "" when there is none (or the bytes are not a message).
std::string FindInvalidUtf8(const google::protobuf::Descriptor& type, std::string_view bytes);

// Serializes `message` into `out` (a response).
void EncodeMessage(const google::protobuf::Message& message, grpc::ByteBuffer* out);

}  // namespace gridflow::engine
