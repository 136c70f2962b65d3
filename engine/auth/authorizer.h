// Authorizer: the access check every gridflow.v1 call passes before its handler runs.
//
// It names the caller's principal (principal.h), finds the method's permission and where to look
// for it (the table in authorizer.cc: every served method must have an entry, which the services
// check at start-up), reads the namespace the request names, and asks the policy. Queues a
// worker-role caller names (LeaseTasks, CompleteTask's eager next tasks) must be among its
// grants' queues; tasks it reports on are checked by the scheduler (LeaseRef::queues).
// A PERMISSION_DENIED answer — from here or from deeper down — is logged with the principal and
// counted (gridflow_access_denied_total) by Denied(), which UnaryCall::Finish calls.
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/duration.h"
#include "common/reloading_file.h"
#include "common/status.h"
#include "engine/auth/access_policy.h"

namespace gridflow::engine {

class EngineMetrics;
class TokenDirectory;

// Who is calling, as far as the handler needs to know.
struct Caller {
  std::string principal = "anonymous";
  std::string namespace_name;  // the namespace the call is scoped to ("" for cluster-wide calls)
  std::optional<std::set<std::string>> queues;  // worker grants' queues; nullopt: any
};

class Authorizer {
 public:
  using PolicyFile = ReloadingFile<AccessPolicy>;
  // Reads the policy file now (INVALID_ARGUMENT when it is unusable), to be re-read when it
  // changes, every `reload`. `path` empty: *out stays null (an open engine).
  static Status LoadPolicy(const std::string& path, Millis reload,
                           std::unique_ptr<PolicyFile>* out);

  // `policy` null: open (everyone may do everything). `tokens` null: the engine takes no
  // tokens. `metrics` may be null.
  Authorizer(std::unique_ptr<PolicyFile> policy, std::shared_ptr<TokenDirectory> tokens,
             EngineMetrics* metrics)
      : policy_(std::move(policy)), tokens_(std::move(tokens)), metrics_(metrics) {}

  // Whether `method` (a gridflow.v1 method name, e.g. "StartRun") has a permission entry.
  static bool Knows(const std::string& method);

  // OK with *caller filled, or PERMISSION_DENIED. Unknown namespaces are not this check's
  // business (the handler answers NOT_FOUND).
  Status Authorize(const std::string& method, const grpc::ServerContextBase& context,
                   const google::protobuf::Message& request, Caller* caller);
  // Whether the caller may read `namespace_name` (to filter what lists show).
  bool MayRead(const Caller& caller, const std::string& namespace_name);

  // A call answered PERMISSION_DENIED: logs and counts it.
  void Denied(const std::string& method, const Caller& caller, const std::string& why);

 private:
  std::shared_ptr<const AccessPolicy> Policy();

  std::unique_ptr<PolicyFile> policy_;  // null: open
  std::shared_ptr<TokenDirectory> tokens_;
  EngineMetrics* metrics_;
};

}  // namespace gridflow::engine
