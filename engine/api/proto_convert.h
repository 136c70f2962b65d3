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
void ToProto(const persistence::TaskRow& row, v1::TaskInfo* out);
// `time_zone` (IANA, may be empty) gives fire_time_local.
void ToProto(const persistence::TimerRow& row, const std::string& time_zone, v1::TimerInfo* out);
// A failure as stored (run failure, a task's last failure, a TaskFailed payload); `step` and
// `attempt` fill in what the JSON lacks.
void FailureToProto(const std::string& failure_json, v1::Failure* out);

v1::RunStatus RunStatusToProto(std::string_view stored);
// The stored text of a status; empty for RUN_STATUS_UNSPECIFIED.
std::string_view RunStatusToStored(v1::RunStatus status);

}  // namespace gridflow::engine
