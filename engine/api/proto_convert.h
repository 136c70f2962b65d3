// Conversions between stored rows and gridflow.v1 messages, and between Status and grpc::Status.
#pragma once

#include <grpcpp/support/status.h>

#include <string_view>

#include "common/status.h"
#include "common/time.h"
#include "gridflow/v1/types.pb.h"
#include "persistence/rows.h"

namespace gridflow::engine {

grpc::Status ToGrpcStatus(const Status& status);

void ToProto(TimePoint t, google::protobuf::Timestamp* out);
void ToProto(const persistence::DefinitionRow& row, v1::Definition* out);
void ToProto(const persistence::RunRow& row, v1::Run* out);
void ToProto(const persistence::EventRow& row, v1::Event* out);
void ToProto(const persistence::TaskRow& row, v1::LeasedTask* out);

v1::RunStatus RunStatusToProto(std::string_view stored);
// The stored text of a status; empty for RUN_STATUS_UNSPECIFIED.
std::string_view RunStatusToStored(v1::RunStatus status);

}  // namespace gridflow::engine
