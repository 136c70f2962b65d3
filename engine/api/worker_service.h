// gridflow.v1.WorkerService, on the callback API (callback_service.h). LeaseTasks is a long-poll:
// a waiting worker holds a reactor, not a thread, until the dispatcher answers it; StopPolling
// answers a stopping worker's long-polls. Tasks in an answer that never reached its caller (it
// went away first) go back to their queue at once. CompleteTask and FailTask are group-committed;
// the other methods run their transaction on the RPC pool.
#pragma once

#include "common/work_pool.h"
#include "engine/api/callback_service.h"
#include "engine/api/request_validator.h"
#include "engine/dispatch/task_dispatcher.h"
#include "engine/scheduler/scheduler.h"
#include "gridflow/v1/worker_service.grpc.pb.h"

namespace gridflow::engine {

class WorkerServiceImpl final : public CallbackService<v1::WorkerService> {
 public:
  // Longest wait a LeaseTasks call may ask for.
  static constexpr Millis kMaxWait{60'000};

  WorkerServiceImpl(WorkPool& pool, Authorizer& authorizer, RequestValidator& validator,
                    TaskDispatcher& dispatcher, Scheduler& scheduler);

 private:
  void LeaseTasks(UnaryCall<v1::LeaseTasksRequest, v1::LeaseTasksResponse>* call);
  Status Heartbeat(const Caller& caller, const v1::HeartbeatRequest& req,
                   v1::HeartbeatResponse* resp);
  Status HeartbeatTasks(const Caller& caller, const v1::HeartbeatTasksRequest& req,
                        v1::HeartbeatTasksResponse* resp);
  void CompleteTask(UnaryCall<v1::CompleteTaskRequest, v1::CompleteTaskResponse>* call);
  void FailTask(UnaryCall<v1::FailTaskRequest, v1::FailTaskResponse>* call);
  Status ReleaseTask(const Caller& caller, const v1::ReleaseTaskRequest& req,
                     v1::ReleaseTaskResponse* resp);
  void StopPolling(UnaryCall<v1::StopPollingRequest, v1::StopPollingResponse>* call);
  // Puts `tasks`, leased for `call`, into its answer `out` as far as a client takes them
  // (page_budget.h); those left out, and all of them if the answer never reaches the caller, go
  // back to their queue.
  template <typename Request, typename Response>
  void Answer(UnaryCall<Request, Response>* call, const std::vector<persistence::TaskRow>& tasks,
              google::protobuf::RepeatedPtrField<v1::LeasedTask>* out);
  // Tasks `call` answers with go back to their queue if the answer never reaches the caller.
  template <typename Request, typename Response>
  void GiveBackIfUndelivered(UnaryCall<Request, Response>* call,
                             const std::vector<persistence::TaskRow>& tasks);

  // Validates the namespace, task id and identity every lease-holding call carries; the lease
  // carries the caller's principal and queues on.
  Status ReadLease(const Caller& caller, const std::string& ns, const std::string& task_id,
                   int64_t epoch, const std::string& identity, LeaseRef* lease);
  // Its two halves: the caller's (namespace, identity, principal, queues); the task's and epoch.
  Status ReadCaller(const Caller& caller, const std::string& ns, const std::string& identity,
                    LeaseRef* lease);
  Status ReadTaskLease(const std::string& task_id, int64_t epoch, LeaseRef* lease);

  RequestValidator& validator_;
  TaskDispatcher& dispatcher_;
  Scheduler& scheduler_;
};

}  // namespace gridflow::engine
