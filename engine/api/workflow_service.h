// gridflow.v1.WorkflowService: validates requests and hands them to the registry, scheduler and
// reader (Temporal's "frontend" role). Synchronous handlers: each call does a bounded amount of
// database work on gRPC's thread pool. WatchHistory is the exception: a callback stream fed by
// the HistoryWatchHub, holding no thread while it waits.
#pragma once

#include "engine/api/history_watch.h"
#include "engine/api/request_validator.h"
#include "engine/definitions/definition_registry.h"
#include "engine/scheduler/run_reader.h"
#include "engine/scheduler/scheduler.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"

namespace gridflow::engine {

class WorkflowServiceImpl final
    : public v1::WorkflowService::WithCallbackMethod_WatchHistory<v1::WorkflowService::Service> {
 public:
  WorkflowServiceImpl(RequestValidator& validator, DefinitionRegistry& definitions,
                      Scheduler& scheduler, RunReader& reader, HistoryWatchHub& watches)
      : validator_(validator),
        definitions_(definitions),
        scheduler_(scheduler),
        reader_(reader),
        watches_(watches) {}

  grpc::Status RegisterDefinition(grpc::ServerContext* context,
                                  const v1::RegisterDefinitionRequest* request,
                                  v1::RegisterDefinitionResponse* response) override;
  grpc::Status GetDefinition(grpc::ServerContext* context, const v1::GetDefinitionRequest* request,
                             v1::Definition* response) override;
  grpc::Status ListDefinitions(grpc::ServerContext* context,
                               const v1::ListDefinitionsRequest* request,
                               v1::ListDefinitionsResponse* response) override;
  grpc::Status StartRun(grpc::ServerContext* context, const v1::StartRunRequest* request,
                        v1::StartRunResponse* response) override;
  grpc::Status GetRun(grpc::ServerContext* context, const v1::GetRunRequest* request,
                      v1::Run* response) override;
  grpc::Status ListRuns(grpc::ServerContext* context, const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override;
  grpc::Status DescribeRun(grpc::ServerContext* context, const v1::DescribeRunRequest* request,
                           v1::DescribeRunResponse* response) override;
  grpc::Status GetHistory(grpc::ServerContext* context, const v1::GetHistoryRequest* request,
                          v1::GetHistoryResponse* response) override;
  grpc::ServerWriteReactor<v1::Event>* WatchHistory(
      grpc::CallbackServerContext* context, const v1::WatchHistoryRequest* request) override;
  grpc::Status SignalRun(grpc::ServerContext* context, const v1::SignalRunRequest* request,
                         v1::SignalRunResponse* response) override;
  grpc::Status CancelRun(grpc::ServerContext* context, const v1::CancelRunRequest* request,
                         v1::CancelRunResponse* response) override;
  grpc::Status TerminateRun(grpc::ServerContext* context, const v1::TerminateRunRequest* request,
                            v1::TerminateRunResponse* response) override;
  grpc::Status RetryRun(grpc::ServerContext* context, const v1::RetryRunRequest* request,
                        v1::RetryRunResponse* response) override;

 private:
  // Operators' interventions must say why: the reason is what auditors read later.
  Status RequiredReason(const std::string& reason);

  RequestValidator& validator_;
  DefinitionRegistry& definitions_;
  Scheduler& scheduler_;
  RunReader& reader_;
  HistoryWatchHub& watches_;
};

}  // namespace gridflow::engine
