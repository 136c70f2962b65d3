#include "engine/api/worker_service.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>

#include "engine/api/proto_convert.h"
#include "engine/api/rpc_boundary.h"

namespace gridflow::engine {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kMaxTasksPerLease = 100;
// Answer a long-poll this long before the caller's own deadline, so the answer still reaches it.
constexpr std::chrono::milliseconds kDeadlineMargin{200};

Status ValidateLeaseRequest(RequestValidator& validator, const v1::LeaseTasksRequest& req,
                            LeaseRequest* out) {
  Status s = validator.Namespace(req.namespace_(), &out->namespace_name);
  if (!s.ok()) return s;
  if (req.task_queues().empty())
    return Status::InvalidArgument("task_queues: name at least one queue");
  for (const std::string& q : req.task_queues()) {
    if (s = validator.Name("task_queues", q); !s.ok()) return s;
    out->queues.push_back(q);
  }
  for (const std::string& t : req.task_types()) {
    if (s = validator.Name("task_types", t); !s.ok()) return s;
    out->task_types.push_back(t);
  }
  if (req.max_tasks() < 0 || req.max_tasks() > kMaxTasksPerLease) {
    return Status::InvalidArgument("max_tasks: must be between 0 and " +
                                   std::to_string(kMaxTasksPerLease));
  }
  out->max_tasks = std::max(1, req.max_tasks());
  if (req.wait().seconds() < 0 || req.wait().nanos() < 0) {
    return Status::InvalidArgument("wait: must not be negative");
  }
  if (s = validator.Identifier("identity", req.identity(), false); !s.ok()) return s;
  out->identity = validator.Actor(req.identity());
  return Status::Ok();
}

// Answers one LeaseTasks call when the dispatcher has an answer for it.
class LeaseReactor final : public grpc::ServerUnaryReactor {
 public:
  LeaseReactor(TaskDispatcher& dispatcher, v1::LeaseTasksResponse* response)
      : dispatcher_(dispatcher), response_(response) {}

  void Start(LeaseRequest request, std::chrono::steady_clock::time_point deadline) {
    lease_ = dispatcher_.Prepare(
        std::move(request), deadline,
        [this](const Status& status, const std::vector<persistence::TaskRow>& tasks) {
          for (const auto& task : tasks)
            ToProto(task, response_->add_tasks());
          Finish(ToGrpcStatus(status));
        });
    dispatcher_.Submit(lease_);  // `this` may be gone once the answer was sent: touch nothing after
  }

  void OnCancel() override { dispatcher_.Cancel(lease_); }
  void OnDone() override { delete this; }

 private:
  TaskDispatcher& dispatcher_;
  v1::LeaseTasksResponse* response_;
  std::shared_ptr<TaskDispatcher::PendingLease> lease_;
};

}  // namespace

grpc::ServerUnaryReactor* WorkerServiceImpl::LeaseTasks(grpc::CallbackServerContext* context,
                                                        const v1::LeaseTasksRequest* request,
                                                        v1::LeaseTasksResponse* response) {
  LeaseRequest lease;
  Status s;
  try {
    s = ValidateLeaseRequest(validator_, *request, &lease);
  } catch (const std::exception& e) {
    s = Status::Internal(std::string("LeaseTasks failed unexpectedly: ") + e.what());
  }
  if (!s.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  const auto now_steady = std::chrono::steady_clock::now();
  auto wait = std::chrono::milliseconds(TimeUtil::DurationToMilliseconds(request->wait()));
  wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxWait));
  const auto caller_left = std::chrono::duration_cast<std::chrono::milliseconds>(
      context->deadline() - std::chrono::system_clock::now());
  wait = std::max(std::chrono::milliseconds(0), std::min(wait, caller_left - kDeadlineMargin));
  auto* reactor = new LeaseReactor(dispatcher_, response);
  reactor->Start(std::move(lease), now_steady + wait);
  return reactor;
}

Status WorkerServiceImpl::ReadLease(const std::string& ns, const std::string& task_id,
                                    int64_t epoch, const std::string& identity, LeaseRef* lease) {
  Status s = validator_.Namespace(ns, &lease->namespace_name);
  if (!s.ok()) return s;
  if (s = validator_.TaskId(task_id, &lease->task_id); !s.ok()) return s;
  if (epoch <= 0) return Status::InvalidArgument("lease_epoch: must be the epoch of a lease (> 0)");
  lease->lease_epoch = epoch;
  if (s = validator_.Identifier("identity", identity, false); !s.ok()) return s;
  lease->identity = validator_.Actor(identity);
  return Status::Ok();
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req,
                                          v1::HeartbeatResponse* resp) {
  return ServeRpc("Heartbeat", [&]() -> Status {
    LeaseRef lease;
    Status s =
        ReadLease(req->namespace_(), req->task_id(), req->lease_epoch(), req->identity(), &lease);
    if (!s.ok()) return s;
    if (s = validator_.Json("details_json", req->details_json(), true); !s.ok()) return s;
    std::optional<std::string> details;
    if (!req->details_json().empty()) details = req->details_json();
    persistence::LeaseExtension extension;
    if (s = dispatcher_.Heartbeat(lease, details, &extension); !s.ok()) return s;
    resp->set_cancel_requested(extension.cancel_requested);
    ToProto(extension.lease_expires_at, resp->mutable_lease_expire_time());
    return Status::Ok();
  });
}

grpc::Status WorkerServiceImpl::CompleteTask(grpc::ServerContext*,
                                             const v1::CompleteTaskRequest* req,
                                             v1::CompleteTaskResponse*) {
  return ServeRpc("CompleteTask", [&]() -> Status {
    LeaseRef lease;
    Status s =
        ReadLease(req->namespace_(), req->task_id(), req->lease_epoch(), req->identity(), &lease);
    if (!s.ok()) return s;
    if (s = validator_.Json("result_json", req->result_json(), true); !s.ok()) return s;
    return scheduler_.CompleteTask(lease, req->result_json());
  });
}

grpc::Status WorkerServiceImpl::FailTask(grpc::ServerContext*, const v1::FailTaskRequest* req,
                                         v1::FailTaskResponse* resp) {
  return ServeRpc("FailTask", [&]() -> Status {
    LeaseRef lease;
    Status s =
        ReadLease(req->namespace_(), req->task_id(), req->lease_epoch(), req->identity(), &lease);
    if (!s.ok()) return s;
    if (s = validator_.Name("error_type", req->error_type()); !s.ok()) return s;
    if (s = validator_.Text("message", req->message()); !s.ok()) return s;
    if (s = validator_.Json("details_json", req->details_json(), true); !s.ok()) return s;
    TaskFailureReport failure{req->error_type(), req->message(), req->details_json(),
                              req->non_retryable()};
    RetryOutcome outcome;
    if (s = scheduler_.FailTask(lease, failure, &outcome); !s.ok()) return s;
    resp->set_will_retry(outcome.will_retry);
    if (outcome.retry_at) ToProto(*outcome.retry_at, resp->mutable_retry_time());
    return Status::Ok();
  });
}

grpc::Status WorkerServiceImpl::ReleaseTask(grpc::ServerContext*, const v1::ReleaseTaskRequest* req,
                                            v1::ReleaseTaskResponse*) {
  return ServeRpc("ReleaseTask", [&]() -> Status {
    LeaseRef lease;
    Status s =
        ReadLease(req->namespace_(), req->task_id(), req->lease_epoch(), req->identity(), &lease);
    if (!s.ok()) return s;
    if (s = validator_.Text("reason", req->reason()); !s.ok()) return s;
    return scheduler_.ReleaseTask(lease, req->reason());
  });
}

}  // namespace gridflow::engine
