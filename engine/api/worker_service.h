// gridflow.v1.WorkerService. LeaseTasks is a long-poll served on gRPC's callback API: a waiting
// worker holds a reactor, not a thread, until the dispatcher answers it. The other methods are
// short synchronous calls.
#pragma once

#include "engine/api/request_validator.h"
#include "engine/dispatch/task_dispatcher.h"
#include "engine/scheduler/scheduler.h"
#include "gridflow/v1/worker_service.grpc.pb.h"

namespace gridflow::engine {

class WorkerServiceImpl final
    : public v1::WorkerService::WithCallbackMethod_LeaseTasks<v1::WorkerService::Service> {
 public:
  // Longest wait a LeaseTasks call may ask for.
  static constexpr Millis kMaxWait{60'000};

  WorkerServiceImpl(RequestValidator& validator, TaskDispatcher& dispatcher, Scheduler& scheduler)
      : validator_(validator), dispatcher_(dispatcher), scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* LeaseTasks(grpc::CallbackServerContext* context,
                                       const v1::LeaseTasksRequest* request,
                                       v1::LeaseTasksResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status CompleteTask(grpc::ServerContext* context, const v1::CompleteTaskRequest* request,
                            v1::CompleteTaskResponse* response) override;
  grpc::Status FailTask(grpc::ServerContext* context, const v1::FailTaskRequest* request,
                        v1::FailTaskResponse* response) override;
  grpc::Status ReleaseTask(grpc::ServerContext* context, const v1::ReleaseTaskRequest* request,
                           v1::ReleaseTaskResponse* response) override;

 private:
  // Validates the namespace, task id and identity every lease-holding call carries.
  Status ReadLease(const std::string& ns, const std::string& task_id, int64_t epoch,
                   const std::string& identity, LeaseRef* lease);

  RequestValidator& validator_;
  TaskDispatcher& dispatcher_;
  Scheduler& scheduler_;
};

}  // namespace gridflow::engine
