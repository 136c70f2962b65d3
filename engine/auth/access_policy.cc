#include "engine/auth/access_policy.h"

#include <map>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/json_text.h"
#include "engine/auth/principal.h"

namespace gridflow::engine {
namespace {

const std::map<std::string, Role>& RoleNames() {
  static const std::map<std::string, Role> kRoles = {{"reader", Role::kReader},
                                                     {"starter", Role::kStarter},
                                                     {"operator", Role::kOperator},
                                                     {"worker", Role::kWorker},
                                                     {"admin", Role::kAdmin}};
  return kRoles;
}

Status Invalid(size_t index, const std::string& message) {
  return Status::InvalidArgument("access policy: grants[" + std::to_string(index) + "]." + message);
}

// A non-empty array of non-empty strings.
Status StringSet(const nlohmann::json& grant, size_t index, const char* field,
                 std::set<std::string>* out) {
  const auto it = grant.find(field);
  if (it == grant.end() || !it->is_array() || it->empty()) {
    return Invalid(index, std::string(field) + ": must be a non-empty array of strings");
  }
  for (const auto& item : *it) {
    if (!item.is_string() || item.get<std::string>().empty()) {
      return Invalid(index, std::string(field) + ": must hold non-empty strings");
    }
    out->insert(item.get<std::string>());
  }
  return Status::Ok();
}

bool Matches(const std::set<std::string>& names, const std::string& name) {
  return names.count(name) > 0 || names.count("*") > 0;
}

}  // namespace

const char* PermissionName(Permission permission) {
  switch (permission) {
    case Permission::kRead:
      return "read";
    case Permission::kStart:
      return "start runs";
    case Permission::kSignal:
      return "signal runs";
    case Permission::kOperate:
      return "operate";
    case Permission::kWork:
      return "work on tasks";
    case Permission::kDefine:
      return "register definitions";
    case Permission::kAdminister:
      return "administer namespaces";
  }
  return "?";
}

std::set<Permission> Permissions(Role role) {
  using P = Permission;
  switch (role) {
    case Role::kReader:
      return {P::kRead};
    case Role::kStarter:
      return {P::kRead, P::kStart, P::kSignal};
    case Role::kOperator:
      return {P::kRead, P::kSignal, P::kOperate};
    case Role::kWorker:
      return {P::kWork};
    case Role::kAdmin:
      return {P::kRead, P::kStart, P::kSignal, P::kOperate, P::kWork, P::kDefine, P::kAdminister};
  }
  return {};
}

AccessPolicy AccessPolicy::Open() {
  AccessPolicy policy;
  policy.open_ = true;
  return policy;
}

Status AccessPolicy::Parse(const std::string& json_text, AccessPolicy* out) {
  nlohmann::json doc;
  if (Status s = ParseJsonText("access policy", json_text, JsonLimits{}, &doc); !s.ok()) {
    return s;
  }
  if (!doc.is_object() || !doc.contains("grants") || !doc["grants"].is_array()) {
    return Status::InvalidArgument("access policy: must be an object with a \"grants\" array");
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "grants" && key != "description") {
      return Status::InvalidArgument("access policy: unknown field \"" + key + "\"");
    }
  }
  AccessPolicy policy;
  const auto& grants = doc["grants"];
  for (size_t i = 0; i < grants.size(); ++i) {
    const auto& g = grants[i];
    if (!g.is_object()) return Invalid(i, " must be an object");
    for (const auto& [key, value] : g.items()) {
      if (key != "principals" && key != "namespaces" && key != "roles" && key != "queues" &&
          key != "description") {
        return Invalid(i, key + ": unknown field");
      }
    }
    Grant grant;
    std::set<std::string> roles;
    Status s = StringSet(g, i, "principals", &grant.principals);
    if (s.ok()) s = StringSet(g, i, "namespaces", &grant.namespaces);
    if (s.ok()) s = StringSet(g, i, "roles", &roles);
    if (!s.ok()) return s;
    for (const std::string& role : roles) {
      const auto known = RoleNames().find(role);
      if (known == RoleNames().end()) {
        return Invalid(
            i, "roles: unknown role \"" + role + "\" (reader, starter, operator, worker, admin)");
      }
      grant.roles.insert(known->second);
    }
    if (g.contains("queues")) {
      if (grant.roles.count(Role::kWorker) == 0) {
        return Invalid(i, "queues: limits the worker role, which this grant does not give");
      }
      grant.queues.emplace();
      if (s = StringSet(g, i, "queues", &*grant.queues); !s.ok()) return s;
    }
    policy.grants_.push_back(std::move(grant));
  }
  *out = std::move(policy);
  return Status::Ok();
}

Status AccessPolicy::Load(const std::string& path, AccessPolicy* out) {
  std::string text;
  if (Status s = ReadTextFile("access policy", path, &text); !s.ok()) return s;
  return Parse(text, out);
}

Status AccessPolicy::Check(const std::string& principal, Permission permission, Scope scope,
                           const std::string& namespace_name,
                           std::optional<std::set<std::string>>* queues) const {
  if (queues != nullptr) queues->reset();
  if (open_) return Status::Ok();
  const bool anonymous = principal == kAnonymousPrincipal;
  bool allowed = false;
  std::optional<std::set<std::string>> allowed_queues = std::set<std::string>{};
  for (const Grant& grant : grants_) {
    const bool who =
        grant.principals.count(principal) > 0 || (!anonymous && grant.principals.count("*") > 0);
    if (!who) continue;
    const bool where = scope == Scope::kAnyNamespace ||
                       (scope == Scope::kAllNamespaces ? grant.namespaces.count("*") > 0
                                                       : Matches(grant.namespaces, namespace_name));
    if (!where) continue;
    for (Role role : grant.roles) {
      if (Permissions(role).count(permission) == 0) continue;
      allowed = true;
      // A worker grant without queues, or any other role that carries the permission (admin),
      // allows every queue; otherwise the grants' queues add up.
      if (role == Role::kWorker && grant.queues) {
        if (allowed_queues) allowed_queues->insert(grant.queues->begin(), grant.queues->end());
      } else {
        allowed_queues.reset();
      }
    }
  }
  if (!allowed) {
    std::string where = scope == Scope::kNamespace       ? " in namespace '" + namespace_name + "'"
                        : scope == Scope::kAllNamespaces ? " in every namespace"
                                                         : " in any namespace";
    return Status::PermissionDenied(principal + " may not " + PermissionName(permission) + where);
  }
  if (queues != nullptr) *queues = std::move(allowed_queues);
  return Status::Ok();
}

}  // namespace gridflow::engine
