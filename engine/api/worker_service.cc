#include "engine/api/worker_service.h"

#include <spdlog/spdlog.h>

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "engine/api/page_budget.h"
#include "engine/api/proto_convert.h"
#include "engine/dsl/definition.h"

namespace gridflow::engine {
namespace {

constexpr int kMaxTasksPerLease = 100;
constexpr int kMaxHeartbeatsPerCall = 1000;
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
  if (req.reserved_slots() < 0 || req.reserved_slots() > kMaxTasksPerLease) {
    return Status::InvalidArgument("reserved_slots: must be between 0 and " +
                                   std::to_string(kMaxTasksPerLease));
  }
  if (req.reserved_priority() < dsl::kUrgentPriority ||
      req.reserved_priority() > dsl::kLowestPriority) {
    return Status::InvalidArgument(
        "reserved_priority: must be a class from 0 (urgent) to 4 (bulk)");
  }
  // 0 means 1 for callers that reserve nothing; with reserved slots, 0 is "only those".
  if (req.max_tasks() == 0 && req.reserved_slots() > 0) out->max_tasks = 0;
  out->reserved_slots = req.reserved_slots();
  out->reserved_class = req.reserved_priority();
  if (s = validator.Identifier("identity", req.identity(), false); !s.ok()) return s;
  out->identity = validator.WorkerName(req.identity());
  s = validator.Identifier("worker_instance_key", req.worker_instance_key(), false);
  if (!s.ok()) return s;
  out->worker_instance_key = req.worker_instance_key();
  return Status::Ok();
}

}  // namespace

WorkerServiceImpl::WorkerServiceImpl(WorkPool& pool, Authorizer& authorizer,
                                     RequestValidator& validator, TaskDispatcher& dispatcher,
                                     Scheduler& scheduler)
    : CallbackService(authorizer),
      validator_(validator),
      dispatcher_(dispatcher),
      scheduler_(scheduler) {
  using Self = WorkerServiceImpl;
  Unary<v1::LeaseTasksRequest, v1::LeaseTasksResponse>("LeaseTasks",
                                                       [this](auto* call) { LeaseTasks(call); });
  UnaryOnPool("Heartbeat", pool, this, &Self::Heartbeat);
  UnaryOnPool("HeartbeatTasks", pool, this, &Self::HeartbeatTasks);
  Unary<v1::CompleteTaskRequest, v1::CompleteTaskResponse>(
      "CompleteTask", [this](auto* call) { CompleteTask(call); });
  Unary<v1::FailTaskRequest, v1::FailTaskResponse>("FailTask",
                                                   [this](auto* call) { FailTask(call); });
  UnaryOnPool("ReleaseTask", pool, this, &Self::ReleaseTask);
  Unary<v1::StopPollingRequest, v1::StopPollingResponse>("StopPolling",
                                                         [this](auto* call) { StopPolling(call); });
  VerifyAllServed();
}

void WorkerServiceImpl::LeaseTasks(UnaryCall<v1::LeaseTasksRequest, v1::LeaseTasksResponse>* call) {
  const v1::LeaseTasksRequest& request = call->request();
  LeaseRequest lease;
  Millis wait{0};
  Status s = ValidateLeaseRequest(validator_, request, &lease);
  if (s.ok()) s = validator_.NonNegativeDuration("wait", request.wait(), &wait);
  if (!s.ok()) {
    call->Finish(s);
    return;
  }
  const auto now_steady = std::chrono::steady_clock::now();
  wait = std::min(wait, kMaxWait);
  const auto caller_left = std::chrono::duration_cast<Millis>(call->context().deadline() -
                                                              std::chrono::system_clock::now());
  wait = std::max(Millis(0), std::min(wait, caller_left - kDeadlineMargin));
  auto pending = dispatcher_.Prepare(
      std::move(lease), now_steady + wait,
      [this, call](const Status& status, const std::vector<persistence::TaskRow>& tasks) {
        Answer(call, tasks, call->response().mutable_tasks());
        call->Finish(status);
      });
  call->OnCancelled([this, pending] { dispatcher_.Cancel(pending); });
  dispatcher_.Submit(pending);  // the call may be answered (and gone) once this returns
}

template <typename Request, typename Response>
void WorkerServiceImpl::Answer(UnaryCall<Request, Response>* call,
                               const std::vector<persistence::TaskRow>& tasks,
                               google::protobuf::RepeatedPtrField<v1::LeasedTask>* out) {
  const size_t sent = FillPage(tasks, out);
  if (sent < tasks.size()) {
    // More than a client takes in one answer (large inputs): the rest go back to their queue
    // for the next poll, without an attempt counted.
    dispatcher_.ReleaseUndeliveredLater(validator_.WorkerName(call->request().identity()),
                                        {tasks.begin() + static_cast<ptrdiff_t>(sent), tasks.end()},
                                        TaskDispatcher::kNoRoomInAnswer);
  }
  GiveBackIfUndelivered(call, {tasks.begin(), tasks.begin() + static_cast<ptrdiff_t>(sent)});
}

template <typename Request, typename Response>
void WorkerServiceImpl::GiveBackIfUndelivered(UnaryCall<Request, Response>* call,
                                              const std::vector<persistence::TaskRow>& tasks) {
  if (tasks.empty()) return;
  call->OnUndelivered([this, identity = validator_.WorkerName(call->request().identity()), tasks] {
    dispatcher_.ReleaseUndeliveredLater(identity, tasks);
  });
}

// Answered at once: no database work, only the dispatcher's waiting requests.
void WorkerServiceImpl::StopPolling(
    UnaryCall<v1::StopPollingRequest, v1::StopPollingResponse>* call) {
  const v1::StopPollingRequest& req = call->request();
  std::string ns;
  Status s = validator_.Namespace(req.namespace_(), &ns);
  if (s.ok()) s = validator_.Identifier("worker_instance_key", req.worker_instance_key(), true);
  if (s.ok()) s = validator_.Identifier("identity", req.identity(), false);
  if (!s.ok()) {
    call->Finish(s);
    return;
  }
  const int ended = dispatcher_.StopPolling(ns, req.worker_instance_key());
  spdlog::info("worker {} stopped polling: {} waiting poll(s) answered",
               validator_.WorkerName(req.identity()), ended);
  call->response().set_polls_ended(ended);
  call->Finish(Status::Ok());
}

Status WorkerServiceImpl::ReadLease(const Caller& caller, const std::string& ns,
                                    const std::string& task_id, int64_t epoch,
                                    const std::string& identity, LeaseRef* lease) {
  Status s = ReadCaller(caller, ns, identity, lease);
  if (s.ok()) s = ReadTaskLease(task_id, epoch, lease);
  return s;
}

Status WorkerServiceImpl::ReadCaller(const Caller& caller, const std::string& ns,
                                     const std::string& identity, LeaseRef* lease) {
  Status s = validator_.Namespace(ns, &lease->namespace_name);
  if (!s.ok()) return s;
  if (s = validator_.Identifier("identity", identity, false); !s.ok()) return s;
  lease->identity = validator_.WorkerName(identity);
  lease->principal = caller.principal;
  lease->queues = caller.queues;
  return Status::Ok();
}

Status WorkerServiceImpl::ReadTaskLease(const std::string& task_id, int64_t epoch,
                                        LeaseRef* lease) {
  if (Status s = validator_.TaskId(task_id, &lease->task_id); !s.ok()) return s;
  if (epoch <= 0) return Status::InvalidArgument("lease_epoch: must be the epoch of a lease (> 0)");
  lease->lease_epoch = epoch;
  return Status::Ok();
}

Status WorkerServiceImpl::Heartbeat(const Caller& caller, const v1::HeartbeatRequest& req,
                                    v1::HeartbeatResponse* resp) {
  LeaseRef lease;
  Status s =
      ReadLease(caller, req.namespace_(), req.task_id(), req.lease_epoch(), req.identity(), &lease);
  if (!s.ok()) return s;
  if (s = validator_.Json("details_json", req.details_json(), true); !s.ok()) return s;
  persistence::LeaseBeat beat{lease.task_id, lease.lease_epoch, std::nullopt};
  if (!req.details_json().empty()) beat.details_json = req.details_json();
  std::vector<TaskDispatcher::BeatResult> results;
  if (s = dispatcher_.Heartbeat(lease, {beat}, &results); !s.ok()) return s;
  const TaskDispatcher::BeatResult& result = results.front();
  if (!result.status.ok()) return result.status;
  resp->set_cancel_requested(result.extension.cancel_requested);
  ToProto(result.extension.lease_expires_at, resp->mutable_lease_expire_time());
  return Status::Ok();
}

Status WorkerServiceImpl::HeartbeatTasks(const Caller& caller, const v1::HeartbeatTasksRequest& req,
                                         v1::HeartbeatTasksResponse* resp) {
  if (req.heartbeats().empty()) return Status::InvalidArgument("heartbeats: name at least one");
  if (req.heartbeats_size() > kMaxHeartbeatsPerCall) {
    return Status::InvalidArgument("heartbeats: at most " + std::to_string(kMaxHeartbeatsPerCall) +
                                   " per call");
  }
  LeaseRef lease;  // the caller's; each entry's task and epoch
  if (Status s = ReadCaller(caller, req.namespace_(), req.identity(), &lease); !s.ok()) return s;
  // Each entry is answered on its own, as Heartbeat would answer it alone: one entry's bad input
  // (a handler's progress that is not JSON, say) is refused alone and costs the others nothing.
  std::vector<TaskDispatcher::BeatResult> answers(req.heartbeats_size());
  std::vector<int> renewed;  // the entries sent to the database, in the order of `beats`
  std::vector<persistence::LeaseBeat> beats;
  std::set<int64_t> seen;
  for (int i = 0; i < req.heartbeats_size(); ++i) {
    const v1::TaskHeartbeat& h = req.heartbeats(i);
    Status s = ReadTaskLease(h.task_id(), h.lease_epoch(), &lease);
    if (s.ok()) s = validator_.Json("details_json", h.details_json(), true);
    if (s.ok() && !seen.insert(lease.task_id).second) {
      s = Status::InvalidArgument("task_id: task " + h.task_id() +
                                  " is named twice; renew each lease once per call");
    }
    if (!s.ok()) {
      answers[i].status = Status(s.code(), "heartbeats[" + std::to_string(i) + "]." + s.message());
      continue;
    }
    renewed.push_back(i);
    beats.push_back({lease.task_id, lease.lease_epoch, std::nullopt});
    if (!h.details_json().empty()) beats.back().details_json = h.details_json();
  }
  if (!beats.empty()) {
    std::vector<TaskDispatcher::BeatResult> results;
    if (Status s = dispatcher_.Heartbeat(lease, beats, &results); !s.ok()) return s;
    for (size_t at = 0; at < renewed.size(); ++at)
      answers[renewed[at]] = results[at];
  }
  for (int i = 0; i < req.heartbeats_size(); ++i) {
    const TaskDispatcher::BeatResult& answer = answers[i];
    v1::TaskHeartbeatResult* out = resp->add_results();
    out->set_task_id(req.heartbeats(i).task_id());
    out->set_code(static_cast<int32_t>(answer.status.code()));
    out->set_message(answer.status.message());
    if (!answer.status.ok()) continue;
    out->set_cancel_requested(answer.extension.cancel_requested);
    ToProto(answer.extension.lease_expires_at, out->mutable_lease_expire_time());
  }
  return Status::Ok();
}

// Group-committed: validated here, answered by the scheduler once its transaction committed.
void WorkerServiceImpl::CompleteTask(
    UnaryCall<v1::CompleteTaskRequest, v1::CompleteTaskResponse>* call) {
  const v1::CompleteTaskRequest& req = call->request();
  LeaseRef lease;
  nlohmann::json result;
  NextTaskRequest next;
  Status s = ReadLease(call->caller(), req.namespace_(), req.task_id(), req.lease_epoch(),
                       req.identity(), &lease);
  if (s.ok()) s = validator_.Json("result_json", req.result_json(), true, &result);
  if (s.ok() && (req.max_next_tasks() < 0 || req.max_next_tasks() > kMaxTasksPerLease)) {
    s = Status::InvalidArgument("max_next_tasks: must be between 0 and " +
                                std::to_string(kMaxTasksPerLease));
  }
  if (s.ok() && req.max_next_tasks() > 0) {
    next.max_tasks = req.max_next_tasks();
    if (req.task_queues().empty()) {
      s = Status::InvalidArgument("task_queues: name the queues this worker takes next tasks of");
    }
    for (const std::string& q : req.task_queues()) {
      if (s.ok()) s = validator_.Name("task_queues", q);
      next.queues.push_back(q);
    }
    for (const std::string& t : req.task_types()) {
      if (s.ok()) s = validator_.Name("task_types", t);
      next.task_types.push_back(t);
    }
  }
  if (!s.ok()) {
    call->Finish(s);
    return;
  }
  scheduler_.CompleteTask(std::move(lease), std::move(result), std::move(next),
                          [this, call](const Status& status, bool duplicate,
                                       const std::vector<persistence::TaskRow>& next_tasks) {
                            // A call that failed committed nothing: no next task was leased.
                            if (status.ok()) {
                              call->response().set_duplicate(duplicate);
                              Answer(call, next_tasks, call->response().mutable_next_tasks());
                            }
                            call->Finish(status);
                          });
}

void WorkerServiceImpl::FailTask(UnaryCall<v1::FailTaskRequest, v1::FailTaskResponse>* call) {
  const v1::FailTaskRequest& req = call->request();
  LeaseRef lease;
  Status s = ReadLease(call->caller(), req.namespace_(), req.task_id(), req.lease_epoch(),
                       req.identity(), &lease);
  if (s.ok()) s = validator_.Name("error_type", req.error_type());
  if (s.ok()) s = validator_.Text("message", req.message());
  if (s.ok()) s = validator_.Json("details_json", req.details_json(), true);
  if (!s.ok()) {
    call->Finish(s);
    return;
  }
  TaskFailureReport failure{req.error_type(), req.message(), req.details_json(),
                            req.non_retryable()};
  scheduler_.FailTask(std::move(lease), std::move(failure),
                      [call](const Status& status, const RetryOutcome& outcome) {
                        if (status.ok()) {
                          call->response().set_will_retry(outcome.will_retry);
                          if (outcome.retry_at) {
                            ToProto(*outcome.retry_at, call->response().mutable_retry_time());
                          }
                        }
                        call->Finish(status);
                      });
}

Status WorkerServiceImpl::ReleaseTask(const Caller& caller, const v1::ReleaseTaskRequest& req,
                                      v1::ReleaseTaskResponse*) {
  LeaseRef lease;
  Status s =
      ReadLease(caller, req.namespace_(), req.task_id(), req.lease_epoch(), req.identity(), &lease);
  if (!s.ok()) return s;
  if (s = validator_.Text("reason", req.reason()); !s.ok()) return s;
  return scheduler_.ReleaseTask(lease, req.reason());
}

}  // namespace gridflow::engine
