#include "engine/auth/authorizer.h"

#include <google/protobuf/descriptor.h>
#include <spdlog/spdlog.h>

#include <map>

#include "engine/auth/principal.h"
#include "engine/metrics/engine_metrics.h"

namespace gridflow::engine {
namespace {

struct MethodRule {
  Permission permission;
  Scope scope;
};

// Every gridflow.v1 method and what it needs. A method missing here cannot be served.
const std::map<std::string, MethodRule>& Rules() {
  using P = Permission;
  constexpr Scope ns = Scope::kNamespace;
  static const std::map<std::string, MethodRule> kRules = {
      // WorkflowService
      {"RegisterDefinition", {P::kDefine, ns}},
      {"GetDefinition", {P::kRead, ns}},
      {"ListDefinitions", {P::kRead, ns}},
      {"StartRun", {P::kStart, ns}},
      {"GetRun", {P::kRead, ns}},
      {"ListRuns", {P::kRead, ns}},
      {"DescribeRun", {P::kRead, ns}},
      {"GetHistory", {P::kRead, ns}},
      {"WatchHistory", {P::kRead, ns}},
      {"SignalRun", {P::kSignal, ns}},
      {"CancelRun", {P::kOperate, ns}},
      {"TerminateRun", {P::kOperate, ns}},
      {"RetryRun", {P::kOperate, ns}},
      {"ListDeadLetters", {P::kRead, ns}},
      {"RetryDeadLetters", {P::kOperate, ns}},
      // WorkerService
      {"LeaseTasks", {P::kWork, ns}},
      {"Heartbeat", {P::kWork, ns}},
      {"HeartbeatTasks", {P::kWork, ns}},
      {"CompleteTask", {P::kWork, ns}},
      {"FailTask", {P::kWork, ns}},
      {"ReleaseTask", {P::kWork, ns}},
      {"StopPolling", {P::kWork, ns}},
      // ClusterService
      {"GetClusterStatus", {P::kRead, Scope::kAnyNamespace}},
      {"ListQueues", {P::kRead, ns}},
      {"PauseDispatch", {P::kOperate, ns}},
      {"ResumeDispatch", {P::kOperate, ns}},
      {"SetRateLimit", {P::kOperate, ns}},
      {"SetCircuitBreaker", {P::kOperate, ns}},
      // NamespaceService
      {"CreateNamespace", {P::kAdminister, Scope::kAllNamespaces}},
      {"ListNamespaces", {P::kRead, Scope::kAnyNamespace}},
      {"DescribeNamespace", {P::kRead, ns}},
      {"UpdateNamespace", {P::kAdminister, ns}},
      // ScheduleService
      {"CreateSchedule", {P::kDefine, ns}},
      {"UpdateSchedule", {P::kDefine, ns}},
      {"DeleteSchedule", {P::kDefine, ns}},
      {"DescribeSchedule", {P::kRead, ns}},
      {"ListSchedules", {P::kRead, ns}},
      {"PauseSchedule", {P::kOperate, ns}},
      {"ResumeSchedule", {P::kOperate, ns}},
      {"TriggerSchedule", {P::kOperate, ns}},
      {"BackfillSchedule", {P::kOperate, ns}},
      {"PutCalendar", {P::kDefine, ns}},
      {"DeleteCalendar", {P::kDefine, ns}},
      {"GetCalendar", {P::kRead, ns}},
      {"ListCalendars", {P::kRead, ns}},
      // RolloutService
      {"StartRollout", {P::kDefine, ns}},
      {"PromoteRollout", {P::kDefine, ns}},
      {"RollbackRollout", {P::kOperate, ns}},
      {"GetRollout", {P::kRead, ns}},
      // BatchService
      {"StartBatchOperation", {P::kOperate, ns}},
      {"CancelBatchOperation", {P::kOperate, ns}},
      {"GetBatchOperation", {P::kRead, ns}},
      {"ListBatchOperations", {P::kRead, ns}},
      {"ListBatchOperationItems", {P::kRead, ns}},
  };
  return kRules;
}

// The request's `namespace` field ("" means the default namespace); "" when it has none.
std::string RequestNamespace(const google::protobuf::Message& request, bool* has_field) {
  const auto* field = request.GetDescriptor()->FindFieldByName("namespace");
  *has_field = field != nullptr &&
               field->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
               !field->is_repeated();
  if (!*has_field) return "";
  const std::string value = request.GetReflection()->GetString(request, field);
  return value.empty() ? "default" : value;
}

// The queues a request names for work (LeaseTasks' and CompleteTask's task_queues).
std::vector<std::string> RequestQueues(const google::protobuf::Message& request) {
  const auto* field = request.GetDescriptor()->FindFieldByName("task_queues");
  if (field == nullptr || !field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return {};
  }
  const auto* reflection = request.GetReflection();
  std::vector<std::string> queues;
  for (int i = 0; i < reflection->FieldSize(request, field); ++i)
    queues.push_back(reflection->GetRepeatedString(request, field, i));
  return queues;
}

// What a caller sent, fit for a log line: at most 100 bytes, control characters as '?'.
std::string Printable(std::string text) {
  if (text.size() > 100) text = text.substr(0, 100) + "...";
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return text;
}

}  // namespace

Status Authorizer::LoadPolicy(const std::string& path, Millis reload,
                              std::unique_ptr<PolicyFile>* out) {
  out->reset();
  if (path.empty()) return Status::Ok();
  AccessPolicy initial;
  if (Status s = AccessPolicy::Load(path, &initial); !s.ok()) return s;
  *out = std::make_unique<PolicyFile>("access policy", path, std::move(initial), reload,
                                      AccessPolicy::Load);
  return Status::Ok();
}

bool Authorizer::Knows(const std::string& method) {
  return Rules().count(method) > 0;
}

std::shared_ptr<const AccessPolicy> Authorizer::Policy() {
  static const auto kOpen = std::make_shared<const AccessPolicy>(AccessPolicy::Open());
  return policy_ ? policy_->Current() : kOpen;
}

Status Authorizer::Authorize(const std::string& method, const grpc::ServerContextBase& context,
                             const google::protobuf::Message& request, Caller* caller) {
  caller->principal = PrincipalOf(context, tokens_.get());
  bool has_namespace = false;
  caller->namespace_name = RequestNamespace(request, &has_namespace);
  const auto rule = Rules().find(method);
  if (rule == Rules().end()) return Status::Internal(method + " has no access rule");
  const std::shared_ptr<const AccessPolicy> policy = Policy();
  const MethodRule& r = rule->second;
  Status s = policy->Check(caller->principal, r.permission, r.scope, caller->namespace_name,
                           r.permission == Permission::kWork ? &caller->queues : nullptr);
  if (!s.ok() || !caller->queues) return s;
  for (const std::string& queue : RequestQueues(request)) {
    if (caller->queues->count(queue) == 0) {
      return Status::PermissionDenied(caller->principal + " may not work on queue '" + queue +
                                      "' in namespace '" + caller->namespace_name + "'");
    }
  }
  return Status::Ok();
}

bool Authorizer::MayRead(const Caller& caller, const std::string& namespace_name) {
  return Policy()
      ->Check(caller.principal, Permission::kRead, Scope::kNamespace, namespace_name)
      .ok();
}

void Authorizer::Denied(const std::string& method, const Caller& caller, const std::string& why) {
  spdlog::warn("access denied: principal={} method={} namespace={}: {}", caller.principal, method,
               Printable(caller.namespace_name), Printable(why));
  if (metrics_ != nullptr) metrics_->AccessDenied(method);
}

}  // namespace gridflow::engine
