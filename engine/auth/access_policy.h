// AccessPolicy: which principal may do what in which namespace (docs/security.md).
//
// A policy is a list of grants, read from a JSON file:
//   {"grants": [{"principals": ["token:dashboard"], "namespaces": ["*"], "roles": ["reader"]},
//               {"principals": ["cert:spiffe://grid/ns/desk/sa/workers"],
//                "namespaces": ["trading"], "roles": ["worker"], "queues": ["bids"]}]}
// A principal is as PrincipalOf() names it; "*" is any authenticated principal and "anonymous"
// the unauthenticated caller. A namespace "*" is every namespace, present and future. Roles
// carry permissions (Permissions()); "queues" limits a grant's worker role to those task queues.
// Nothing is allowed unless a grant allows it. Without a policy file the engine is open
// (AccessPolicy::Open()): every caller may do everything, as before policies existed.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace gridflow::engine {

enum class Permission {
  kRead,       // definitions, runs, history, queues, cluster status
  kStart,      // StartRun
  kSignal,     // SignalRun
  kOperate,    // cancel, terminate, retry runs; pause, resume, limit dispatch
  kWork,       // lease, heartbeat, complete, fail, release tasks
  kDefine,     // register definitions
  kAdminister  // namespaces: create, update, deprecate
};

const char* PermissionName(Permission permission);

enum class Role { kReader, kStarter, kOperator, kWorker, kAdmin };

// reader: read; starter: read, start, signal; operator: read, signal, operate; worker: work;
// admin: everything.
std::set<Permission> Permissions(Role role);

struct Grant {
  std::set<std::string> principals;
  std::set<std::string> namespaces;
  std::set<Role> roles;
  std::optional<std::set<std::string>> queues;  // the worker role's queues; nullopt: any
};

// Where a call's permission is looked for.
enum class Scope {
  kNamespace,      // in the namespace the request names
  kAnyNamespace,   // in some namespace (cluster status: any role anywhere reads it)
  kAllNamespaces,  // in a grant for "*" (creating namespaces)
};

class AccessPolicy {
 public:
  // Everyone may do everything.
  static AccessPolicy Open();
  // INVALID_ARGUMENT naming the grant and field that is wrong; unknown fields and roles are
  // errors (a typo in a policy must not pass unnoticed).
  static Status Parse(const std::string& json_text, AccessPolicy* out);
  static Status Load(const std::string& path, AccessPolicy* out);

  // OK, or PERMISSION_DENIED naming the principal, the permission and the namespace. For
  // kWork, *queues receives the queues the caller may work on (nullopt: any).
  Status Check(const std::string& principal, Permission permission, Scope scope,
               const std::string& namespace_name,
               std::optional<std::set<std::string>>* queues = nullptr) const;

 private:
  bool open_ = false;
  std::vector<Grant> grants_;
};

}  // namespace gridflow::engine
