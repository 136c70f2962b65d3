// gridflow.v1.NamespaceService: namespaces as managed objects — create, list, describe, update,
// deprecate (docs/security.md, "Namespaces"). A deprecated namespace takes no new runs or
// definitions; its open runs go on.
#pragma once

#include "common/work_pool.h"
#include "engine/api/callback_service.h"
#include "engine/api/request_validator.h"
#include "gridflow/v1/namespace_service.grpc.pb.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class NamespaceServiceImpl final : public CallbackService<v1::NamespaceService> {
 public:
  NamespaceServiceImpl(WorkPool& pool, Authorizer& authorizer,
                       persistence::ConnectionPool& database, RequestValidator& validator);

 private:
  Status CreateNamespace(const Caller& caller, const v1::CreateNamespaceRequest& req,
                         v1::Namespace* resp);
  Status ListNamespaces(const Caller& caller, const v1::ListNamespacesRequest& req,
                        v1::ListNamespacesResponse* resp);
  Status DescribeNamespace(const v1::DescribeNamespaceRequest& req, v1::Namespace* resp);
  Status UpdateNamespace(const Caller& caller, const v1::UpdateNamespaceRequest& req,
                         v1::Namespace* resp);

  Authorizer& authorizer_;
  persistence::ConnectionPool& database_;
  RequestValidator& validator_;
};

}  // namespace gridflow::engine
