#include "engine/auth/access_policy.h"

#include <gtest/gtest.h>

namespace gridflow::engine {
namespace {

AccessPolicy Parsed(const std::string& text) {
  AccessPolicy policy;
  const Status s = AccessPolicy::Parse(text, &policy);
  EXPECT_TRUE(s.ok()) << s.message();
  return policy;
}

TEST(AccessPolicy, RolesApplyInTheirNamespacesOnly) {
  const AccessPolicy policy = Parsed(R"({"grants": [
      {"principals": ["token:desk"], "namespaces": ["trading"], "roles": ["starter"]},
      {"principals": ["*"], "namespaces": ["*"], "roles": ["reader"]}]})");
  EXPECT_TRUE(policy.Check("token:desk", Permission::kStart, Scope::kNamespace, "trading").ok());
  EXPECT_TRUE(policy.Check("token:desk", Permission::kSignal, Scope::kNamespace, "trading").ok());
  const Status denied = policy.Check("token:desk", Permission::kStart, Scope::kNamespace, "grid");
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(), "token:desk may not start runs in namespace 'grid'");
  EXPECT_EQ(policy.Check("token:desk", Permission::kOperate, Scope::kNamespace, "trading").code(),
            StatusCode::kPermissionDenied);
  // "*" is any authenticated principal, never the anonymous caller.
  EXPECT_TRUE(policy.Check("cert:CN=x", Permission::kRead, Scope::kNamespace, "grid").ok());
  EXPECT_EQ(policy.Check("anonymous", Permission::kRead, Scope::kNamespace, "grid").code(),
            StatusCode::kPermissionDenied);
  EXPECT_FALSE(policy.Check("token:desk", Permission::kAdminister, Scope::kAllNamespaces, "").ok());
}

TEST(AccessPolicy, WorkerQueuesAddUpAndAnUnlimitedGrantLiftsThem) {
  const AccessPolicy policy = Parsed(R"({"grants": [
      {"principals": ["token:w"], "namespaces": ["a"], "roles": ["worker"], "queues": ["bids"]},
      {"principals": ["token:w"], "namespaces": ["a"], "roles": ["worker"], "queues": ["acks"]},
      {"principals": ["token:w"], "namespaces": ["b"], "roles": ["worker"]}]})");
  std::optional<std::set<std::string>> queues;
  ASSERT_TRUE(policy.Check("token:w", Permission::kWork, Scope::kNamespace, "a", &queues).ok());
  ASSERT_TRUE(queues.has_value());
  EXPECT_EQ(*queues, (std::set<std::string>{"acks", "bids"}));
  ASSERT_TRUE(policy.Check("token:w", Permission::kWork, Scope::kNamespace, "b", &queues).ok());
  EXPECT_FALSE(queues.has_value());
  EXPECT_FALSE(policy.Check("token:w", Permission::kRead, Scope::kNamespace, "a").ok());
}

TEST(AccessPolicy, OpenAllowsEverything) {
  const AccessPolicy open = AccessPolicy::Open();
  EXPECT_TRUE(open.Check("anonymous", Permission::kAdminister, Scope::kAllNamespaces, "").ok());
}

TEST(AccessPolicy, MistakesAreRefusedNamingTheField) {
  auto error = [](const std::string& text) {
    AccessPolicy policy;
    return AccessPolicy::Parse(text, &policy).message();
  };
  EXPECT_EQ(
      error(R"({"grants": [{"principals": ["a"], "namespaces": ["*"], "roles": ["reeder"]}]})"),
      "access policy: grants[0].roles: unknown role \"reeder\" (reader, starter, operator, "
      "worker, admin)");
  EXPECT_EQ(error(R"({"grants": [{"principals": [], "namespaces": ["*"], "roles": ["reader"]}]})"),
            "access policy: grants[0].principals: must be a non-empty array of strings");
  EXPECT_EQ(error(R"({"grants": [{"principals": ["a"], "namespaces": ["*"], "roles": ["reader"],
                     "queues": ["q"]}]})"),
            "access policy: grants[0].queues: limits the worker role, which this grant does not "
            "give");
  EXPECT_EQ(error(R"({"grant": []})"), "access policy: must be an object with a \"grants\" array");
  EXPECT_EQ(error(R"({"grants": [{"principal": ["a"]}]})"),
            "access policy: grants[0].principal: unknown field");
  EXPECT_NE(error("{").find("access policy"), std::string::npos);
}

}  // namespace
}  // namespace gridflow::engine
