#include "engine/api/proto_convert.h"

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>

#include "engine/dsl/time_functions.h"
#include "engine/scheduler/run_status.h"

namespace gridflow::engine {

grpc::Status ToGrpcStatus(const Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), status.message());
}

void ToProto(TimePoint t, google::protobuf::Timestamp* out) {
  const int64_t micros = t.time_since_epoch().count();
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

void ToProto(const persistence::DefinitionRow& row, v1::Definition* out) {
  out->set_namespace_(row.namespace_name);
  out->set_name(row.name);
  out->set_version(row.version);
  out->set_definition_json(row.body_json);
  out->set_created_by(row.created_by);
  ToProto(row.created_at, out->mutable_create_time());
  out->set_candidate(row.withheld);
}

void ToProto(const persistence::RunRow& row, v1::Run* out) {
  out->set_namespace_(row.namespace_name);
  out->set_workflow_id(row.workflow_id);
  out->set_run_id(row.id);
  out->set_history_head(row.history_head);
  out->set_definition_name(row.definition_name);
  out->set_definition_version(row.definition_version);
  out->set_status(RunStatusToProto(row.status));
  out->set_input_json(row.input_json);
  out->set_data_json(row.data_json);
  if (row.current_step) out->set_current_step(*row.current_step);
  if (row.result_json) out->set_result_json(*row.result_json);
  if (row.failure_json) FailureToProto(*row.failure_json, out->mutable_failure());
  out->set_started_by(row.started_by);
  if (row.cancel_requested_by) out->set_cancel_requested_by(*row.cancel_requested_by);
  ToProto(row.created_at, out->mutable_create_time());
  ToProto(row.updated_at, out->mutable_update_time());
  if (row.closed_at) ToProto(*row.closed_at, out->mutable_close_time());
  out->set_history_length(row.last_event_seq);
  out->set_search_attributes_json(row.search_attributes_json);
  out->set_version_reason(row.version_reason);
  out->set_period(row.revision_period);
  out->set_revision(row.revision);
  out->set_supersedes_workflow_id(row.supersedes);
  out->set_superseded_by_workflow_id(row.superseded_by);
  out->set_fields_omitted(row.fields_omitted);
}

void ToProto(const persistence::EventRow& row, v1::Event* out) {
  out->set_sequence(row.seq);
  out->set_type(row.type);
  if (row.step) out->set_step(*row.step);
  if (row.task_id) out->set_task_id(std::to_string(*row.task_id));
  if (row.attempt) out->set_attempt(*row.attempt);
  out->set_actor(row.actor);
  out->set_payload_json(row.payload_json);
  ToProto(row.created_at, out->mutable_time());
  out->set_iteration(row.iteration);
  out->set_hash(row.hash);
}

void ToProto(const persistence::TaskRow& row, v1::LeasedTask* out) {
  out->set_task_id(std::to_string(row.id));
  out->set_lease_epoch(row.lease_epoch);
  out->set_namespace_(row.namespace_name);
  out->set_workflow_id(row.workflow_id);
  out->set_run_id(row.run_id);
  out->set_step(row.step);
  out->set_task_type(row.task_type);
  out->set_task_queue(row.queue);
  out->set_attempt(row.attempt);
  out->set_max_attempts(row.max_attempts);
  out->set_idempotency_key(row.idempotency_key);
  out->set_input_json(row.input_json);
  if (row.lease_expires_at) ToProto(*row.lease_expires_at, out->mutable_lease_expire_time());
  if (row.heartbeat_timeout_ms) {
    *out->mutable_heartbeat_timeout() =
        google::protobuf::util::TimeUtil::MillisecondsToDuration(*row.heartbeat_timeout_ms);
  }
  if (row.attempt_deadline) ToProto(*row.attempt_deadline, out->mutable_attempt_deadline());
  out->set_definition_name(row.definition_name);
  out->set_definition_version(row.definition_version);
  out->set_iteration(row.iteration);
  out->set_priority(row.base_priority);
  if (row.dispatch_deadline) ToProto(*row.dispatch_deadline, out->mutable_dispatch_deadline());
}

void FailureToProto(const std::string& failure_json, v1::Failure* out) {
  const auto f = nlohmann::json::parse(failure_json, nullptr, false);
  if (!f.is_object()) return;
  if (f.contains("step")) out->set_step(f.value("step", ""));
  out->set_error_type(f.value("error_type", ""));
  out->set_message(f.value("message", ""));
  if (f.contains("attempt")) out->set_attempt(f.value("attempt", 0));
  if (f.contains("details")) out->set_details_json(f["details"].dump());
}

void ToProto(const persistence::TaskRow& row, v1::TaskInfo* out) {
  out->set_task_id(std::to_string(row.id));
  out->set_step(row.step);
  out->set_task_type(row.task_type);
  out->set_task_queue(row.queue);
  out->set_state(row.state);
  out->set_attempt(row.attempt);
  out->set_max_attempts(row.max_attempts);
  if (row.lease_owner) out->set_lease_owner(*row.lease_owner);
  out->set_lease_epoch(row.lease_epoch);
  if (row.lease_expires_at) ToProto(*row.lease_expires_at, out->mutable_lease_expire_time());
  ToProto(row.not_before, out->mutable_not_before());
  out->set_cancel_requested(row.cancel_requested);
  out->set_kind(row.kind);
  if (row.last_failure_json) FailureToProto(*row.last_failure_json, out->mutable_last_failure());
  ToProto(row.created_at, out->mutable_create_time());
  out->set_iteration(row.iteration);
  out->set_priority(row.priority);
  out->set_base_priority(row.base_priority);
  if (row.dispatch_deadline) ToProto(*row.dispatch_deadline, out->mutable_dispatch_deadline());
  if (row.heartbeat_details_json) out->set_heartbeat_details_json(*row.heartbeat_details_json);
}

void ToProto(const persistence::TimerRow& row, const std::string& time_zone, v1::TimerInfo* out) {
  out->set_step(row.step);
  out->set_kind(row.kind);
  ToProto(row.fire_at, out->mutable_fire_time());
  std::string local;
  if (!time_zone.empty() && dsl::FormatInZone(row.fire_at, time_zone, &local).ok()) {
    out->set_fire_time_local(local);
  }
}

v1::RunStatus RunStatusToProto(std::string_view stored) {
  if (stored == run_status::kRunning) return v1::RUN_STATUS_RUNNING;
  if (stored == run_status::kCancelling) return v1::RUN_STATUS_CANCELLING;
  if (stored == run_status::kCompensating) return v1::RUN_STATUS_COMPENSATING;
  if (stored == run_status::kCompleted) return v1::RUN_STATUS_COMPLETED;
  if (stored == run_status::kFailed) return v1::RUN_STATUS_FAILED;
  if (stored == run_status::kCancelled) return v1::RUN_STATUS_CANCELLED;
  if (stored == run_status::kTerminated) return v1::RUN_STATUS_TERMINATED;
  return v1::RUN_STATUS_UNSPECIFIED;
}

std::string_view RunStatusToStored(v1::RunStatus status) {
  switch (status) {
    case v1::RUN_STATUS_RUNNING:
      return run_status::kRunning;
    case v1::RUN_STATUS_CANCELLING:
      return run_status::kCancelling;
    case v1::RUN_STATUS_COMPENSATING:
      return run_status::kCompensating;
    case v1::RUN_STATUS_COMPLETED:
      return run_status::kCompleted;
    case v1::RUN_STATUS_FAILED:
      return run_status::kFailed;
    case v1::RUN_STATUS_CANCELLED:
      return run_status::kCancelled;
    case v1::RUN_STATUS_TERMINATED:
      return run_status::kTerminated;
    default:
      return "";
  }
}

}  // namespace gridflow::engine
