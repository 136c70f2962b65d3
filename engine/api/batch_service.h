// gridflow.v1.BatchService: batch operations as API objects (docs/operations.md, "Batch
// operations"). Creating one snapshots the runs its query matches; working through them is the
// BatchRunner's, on every replica.
#pragma once

#include "common/work_pool.h"
#include "engine/api/callback_service.h"
#include "engine/api/request_validator.h"
#include "gridflow/v1/batch_service.grpc.pb.h"
#include "persistence/batch_store.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class BatchServiceImpl final : public CallbackService<v1::BatchService> {
 public:
  BatchServiceImpl(WorkPool& pool, Authorizer& authorizer, persistence::ConnectionPool& database,
                   RequestValidator& validator);

  static constexpr double kDefaultRate = 50;
  static constexpr double kMinRate = 0.01;
  static constexpr double kMaxRate = 1000;

 private:
  Status StartBatchOperation(const Caller& caller, const v1::StartBatchOperationRequest& req,
                             v1::BatchOperation* resp);
  Status GetBatchOperation(const v1::GetBatchOperationRequest& req, v1::BatchOperation* resp);
  Status ListBatchOperations(const v1::ListBatchOperationsRequest& req,
                             v1::ListBatchOperationsResponse* resp);
  Status ListBatchOperationItems(const v1::ListBatchOperationItemsRequest& req,
                                 v1::ListBatchOperationItemsResponse* resp);
  Status CancelBatchOperation(const Caller& caller, const v1::CancelBatchOperationRequest& req,
                              v1::BatchOperation* resp);

  // The operation as requested (INVALID_ARGUMENT naming the field), its id still to be made when
  // the request has none.
  Status Requested(const Caller& caller, const v1::StartBatchOperationRequest& req,
                   persistence::BatchOperationRow* row);
  Status Find(const std::string& namespace_name, const std::string& id,
              persistence::BatchOperationRow* row);

  persistence::ConnectionPool& database_;
  RequestValidator& validator_;
};

}  // namespace gridflow::engine
