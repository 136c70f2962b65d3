// gridflow.v1.WorkflowService: validates requests and hands them to the registry, scheduler and
// reader (Temporal's "frontend" role). Served on the callback API (callback_service.h): bodies
// that read or write the database run on the RPC pool; WatchHistory is a stream fed by the
// HistoryWatchHub, holding no thread while it waits.
#pragma once

#include "common/work_pool.h"
#include "engine/api/callback_service.h"
#include "engine/api/history_watch.h"
#include "engine/api/request_validator.h"
#include "engine/definitions/definition_registry.h"
#include "engine/scheduler/run_reader.h"
#include "engine/scheduler/scheduler.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"

namespace gridflow::engine {

class WorkflowServiceImpl final : public CallbackService<v1::WorkflowService> {
 public:
  WorkflowServiceImpl(WorkPool& pool, Authorizer& authorizer, RequestValidator& validator,
                      DefinitionRegistry& definitions, Scheduler& scheduler, RunReader& reader,
                      HistoryWatchHub& watches);

 private:
  Status RegisterDefinition(const Caller& caller, const v1::RegisterDefinitionRequest& req,
                            v1::RegisterDefinitionResponse* resp);
  Status GetDefinition(const v1::GetDefinitionRequest& req, v1::Definition* resp);
  Status ListDefinitions(const v1::ListDefinitionsRequest& req, v1::ListDefinitionsResponse* resp);
  void StartRun(UnaryCall<v1::StartRunRequest, v1::StartRunResponse>* call);
  Status GetRun(const v1::GetRunRequest& req, v1::Run* resp);
  Status ListRuns(const v1::ListRunsRequest& req, v1::ListRunsResponse* resp);
  Status DescribeRun(const v1::DescribeRunRequest& req, v1::DescribeRunResponse* resp);
  Status GetHistory(const v1::GetHistoryRequest& req, v1::GetHistoryResponse* resp);
  // `client`: the caller's address, for the per-client stream limit.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchHistory(const v1::WatchHistoryRequest& req,
                                                           const std::string& client);
  Status SignalRun(const Caller& caller, const v1::SignalRunRequest& req,
                   v1::SignalRunResponse* resp);
  Status CancelRun(const Caller& caller, const v1::CancelRunRequest& req,
                   v1::CancelRunResponse* resp);
  Status TerminateRun(const Caller& caller, const v1::TerminateRunRequest& req,
                      v1::TerminateRunResponse* resp);
  Status RetryRun(const Caller& caller, const v1::RetryRunRequest& req, v1::RetryRunResponse* resp);
  Status ListDeadLetters(const v1::ListDeadLettersRequest& req, v1::ListDeadLettersResponse* resp);
  Status RetryDeadLetters(const Caller& caller, const v1::RetryDeadLettersRequest& req,
                          v1::RetryDeadLettersResponse* resp);

  // A start's period and revision: both or neither (docs/revisions.md).
  static Status RevisionOfStart(const v1::StartRunRequest& req);
  // Operators' interventions must say why: the reason is what auditors read later.
  Status RequiredReason(const std::string& reason);

  WorkPool& pool_;
  RequestValidator& validator_;
  DefinitionRegistry& definitions_;
  Scheduler& scheduler_;
  RunReader& reader_;
  HistoryWatchHub& watches_;
};

}  // namespace gridflow::engine
