// RegisterDefinition / GetDefinition / ListDefinitions through the real API.
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

class DefinitionsTest : public ::testing::Test {
 protected:
  TestDatabase db_;
  TestEngine engine_{db_.url()};

  grpc::Status RegisterResponse(const std::string& json, v1::RegisterDefinitionResponse* response) {
    v1::RegisterDefinitionRequest request;
    request.set_definition_json(json);
    request.set_identity("alice");
    return engine_.workflows().RegisterDefinition(Ctx().get(), request, response);
  }
  std::string Count() { return db_.Query("SELECT count(*) FROM definitions"); }
};

TEST_F(DefinitionsTest, RegisteringIsIdempotentAndVersionsAreImmutable) {
  const std::string v1 = SequenceDefinition("bid", {{"a", "t"}});
  v1::RegisterDefinitionResponse response;
  ASSERT_TRUE(RegisterResponse(v1, &response).ok());
  EXPECT_TRUE(response.created());
  EXPECT_EQ(response.definition().created_by(), "anonymous (alice)");

  // Same content, other key order and spacing: unchanged.
  auto doc = nlohmann::json::parse(v1);
  ASSERT_TRUE(RegisterResponse(doc.dump(2), &response).ok());
  EXPECT_FALSE(response.created());

  // Same version, other content: refused, nothing stored.
  doc["steps"][0]["task_type"] = "other";
  const grpc::Status s = RegisterResponse(doc.dump(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("register version 2"), std::string::npos) << s.error_message();
  EXPECT_EQ(Count(), "1");

  doc["version"] = 2;
  ASSERT_TRUE(RegisterResponse(doc.dump(), &response).ok());
  EXPECT_TRUE(response.created());
  EXPECT_EQ(Count(), "2");
}

TEST_F(DefinitionsTest, InvalidDefinitionsAreRejectedWithThePathAndStoreNothing) {
  v1::RegisterDefinitionResponse response;
  struct Case {
    std::string json;
    std::string message_prefix;
  };
  const std::vector<Case> cases = {
      {"{\"name\": \"x\"", "definition_json: is not valid JSON"},
      // PostgreSQL's jsonb cannot hold U+0000: refused before the database sees it.
      {R"({"name":"x\u0000","version":1,"steps":[{"name":"a","kind":"succeed"}]})",
       "definition_json: must not contain the character U+0000"},
      {R"({"name":"x","version":1,"steps":[{"name":"a","kind":"wait","task_type":"t"}]})",
       "steps[0].kind: unknown step kind 'wait'"},
      {R"({"name":"x","version":1,"steps":[{"name":"a","kind":"task","task_type":"t","next":"b"}]})",
       "steps[0].next: names no step: 'b'"},
      {R"({"name":"x","version":1,"steps":[{"name":"a","kind":"task","task_type":"t"},{"name":"a","kind":"succeed"}]})",
       "steps[1].name: duplicate step name 'a'"},
      {"", "definition_json: is required"},
  };
  for (const Case& c : cases) {
    const grpc::Status s = RegisterResponse(c.json, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.json;
    EXPECT_EQ(s.error_message().rfind(c.message_prefix, 0), 0u) << s.error_message();
  }
  EXPECT_EQ(Count(), "0");
}

TEST_F(DefinitionsTest, OversizedDefinitionIsRejected) {
  auto doc = nlohmann::json::parse(SequenceDefinition("big", {{"a", "t"}}));
  doc["description"] = std::string(2 * 1024 * 1024, 'x');
  v1::RegisterDefinitionResponse response;
  const grpc::Status s = RegisterResponse(doc.dump(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("the limit is"), std::string::npos) << s.error_message();
  EXPECT_EQ(Count(), "0");
}

TEST_F(DefinitionsTest, GetReturnsLatestOrAnyVersionAndNotFoundOtherwise) {
  auto doc = nlohmann::json::parse(SequenceDefinition("bid", {{"a", "t"}}));
  ASSERT_TRUE(Register(engine_, doc.dump()).ok());
  doc["version"] = 2;
  doc["steps"][0]["task_type"] = "t2";
  ASSERT_TRUE(Register(engine_, doc.dump()).ok());

  v1::GetDefinitionRequest request;
  request.set_name("bid");
  v1::Definition d;
  ASSERT_TRUE(engine_.workflows().GetDefinition(Ctx().get(), request, &d).ok());
  EXPECT_EQ(d.version(), 2);
  request.set_version(1);
  ASSERT_TRUE(engine_.workflows().GetDefinition(Ctx().get(), request, &d).ok());
  EXPECT_EQ(nlohmann::json::parse(d.definition_json())["steps"][0]["task_type"], "t");
  request.set_version(3);
  EXPECT_EQ(engine_.workflows().GetDefinition(Ctx().get(), request, &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
  request.set_namespace_("nowhere");
  EXPECT_EQ(engine_.workflows().GetDefinition(Ctx().get(), request, &d).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(DefinitionsTest, ListPaginatesInNameAndVersionOrder) {
  for (const char* name : {"c", "a", "b"}) {
    for (int version = 1; version <= 2; ++version) {
      auto doc = nlohmann::json::parse(SequenceDefinition(name, {{"s", "t"}}));
      doc["version"] = version;
      ASSERT_TRUE(Register(engine_, doc.dump()).ok());
    }
  }
  v1::ListDefinitionsRequest request;
  request.set_page_size(4);
  std::vector<std::string> seen;
  int pages = 0;
  do {
    v1::ListDefinitionsResponse page;
    ASSERT_TRUE(engine_.workflows().ListDefinitions(Ctx().get(), request, &page).ok());
    for (const auto& d : page.definitions())
      seen.push_back(d.name() + std::to_string(d.version()));
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty());
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen, (std::vector<std::string>{"a1", "a2", "b1", "b2", "c1", "c2"}));

  request.set_page_token("garbage");
  v1::ListDefinitionsResponse page;
  EXPECT_EQ(engine_.workflows().ListDefinitions(Ctx().get(), request, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace gridflow::testing
