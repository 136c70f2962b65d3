// Search attributes and the run query language (docs/search.md) against a real PostgreSQL:
// values set from the input and by steps, queries that combine them with run fields, errors that
// name the column, values that stay data, and types fixed per namespace.
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

class SearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const grpc::Status s = Register(engine_, R"js({"name": "bid", "version": 1,
      "search_attributes": {
        "market": {"type": "keyword", "value": "=$/input/market"},
        "delivery_day": {"type": "date", "value": "=$/input/delivery_day"},
        "volume_mw": {"type": "number", "value": "=$/input/volume_mw"},
        "gate": {"type": "datetime", "value": "=gate_closure('EPEX-DE-LU', $/input/delivery_day)"},
        "accepted": {"type": "bool", "value": "=$/submit/accepted"},
        "order_state": {"type": "keyword", "value": "=$/submit/state"}},
      "steps": [{"name": "submit", "kind": "task", "task_type": "submit_bid",
                 "task_queue": "exchange"}]})js");
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void StartBid(const std::string& id, const std::string& market, const std::string& day,
                double volume) {
    Start(engine_, id, "bid",
          R"({"market": ")" + market + R"(", "delivery_day": ")" + day + R"(", "volume_mw": )" +
              std::to_string(volume) + "}");
  }

  grpc::Status Query(const std::string& query, std::vector<std::string>* ids) {
    v1::ListRunsRequest request;
    request.set_query(query);
    request.set_order_by("create_time asc");
    v1::ListRunsResponse response;
    const grpc::Status s = engine_.workflows().ListRuns(Ctx().get(), request, &response);
    ids->clear();
    for (const auto& run : response.runs())
      ids->push_back(run.workflow_id());
    return s;
  }

  std::vector<std::string> Find(const std::string& query) {
    std::vector<std::string> ids;
    const grpc::Status s = Query(query, &ids);
    EXPECT_TRUE(s.ok()) << query << ": " << s.error_message();
    return ids;
  }

  std::string QueryError(const std::string& query) {
    std::vector<std::string> ids;
    const grpc::Status s = Query(query, &ids);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << query;
    return s.error_message();
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

using Ids = std::vector<std::string>;  // workflow ids, oldest first

TEST_F(SearchTest, AttributesFromTheInputAndFromStepsAreSearchable) {
  StartBid("de-03-a", "DE-LU", "2026-12-03", 50);
  StartBid("de-03-b", "DE-LU", "2026-12-03", 120.5);
  StartBid("de-04", "DE-LU", "2026-12-04", 80);
  StartBid("fr-03", "FR", "2026-12-03", 10);

  // Set from the input when the run starts; steps that have not run leave theirs unset.
  const v1::Run run = GetRun(engine_, "de-03-b");
  const auto attributes = nlohmann::json::parse(run.search_attributes_json());
  EXPECT_EQ(attributes, (nlohmann::json{{"market", "DE-LU"},
                                        {"delivery_day", "2026-12-03"},
                                        {"volume_mw", 120.5},
                                        {"gate", "2026-12-02T11:00:00.000000Z"}}));

  EXPECT_EQ(Find("market = 'DE-LU' AND delivery_day = '2026-12-03'"), (Ids{"de-03-a", "de-03-b"}));
  EXPECT_EQ(Find("market = 'DE-LU' AND volume_mw > 60"), (Ids{"de-03-b", "de-04"}));
  EXPECT_EQ(Find("delivery_day >= '2026-12-04' OR market IN ('FR', 'NL')"),
            (Ids{"de-04", "fr-03"}));
  EXPECT_EQ(Find("NOT market = 'DE-LU' AND status = 'running'"), (Ids{"fr-03"}));
  EXPECT_EQ(Find("market NOT IN ('DE-LU')"), (Ids{"fr-03"}));
  EXPECT_EQ(Find("gate < '2026-12-03T00:00:00Z'"), (Ids{"de-03-a", "de-03-b", "fr-03"}));
  EXPECT_EQ(Find("(market = 'FR' OR volume_mw <= 50) AND definition = 'bid' AND version = 1"),
            (Ids{"de-03-a", "fr-03"}));
  EXPECT_TRUE(Find("order_state = 'accepted'").empty());

  // A step's output sets the attributes that read it; the run's failure is searchable with them.
  for (int i = 0; i < 4; ++i) {
    const v1::LeasedTask task = LeaseOne(engine_, "exchange", "gateway");
    ASSERT_FALSE(task.task_id().empty());
    const bool rejected = task.workflow_id() == "de-03-a";
    CompleteLeased(engine_, task,
                   rejected ? R"({"state": "rejected", "accepted": false})"
                            : R"({"state": "accepted", "accepted": true})");
  }
  for (const char* id : {"de-03-a", "de-03-b", "de-04", "fr-03"})
    WaitClosed(engine_, id);
  EXPECT_EQ(Find("order_state = 'rejected'"), (Ids{"de-03-a"}));
  EXPECT_EQ(Find("accepted = true AND delivery_day = '2026-12-03'"), (Ids{"de-03-b", "fr-03"}));
  EXPECT_EQ(Find("status = 'COMPLETED' AND market = 'DE-LU' AND accepted != true"),
            (Ids{"de-03-a"}));
  EXPECT_EQ(nlohmann::json::parse(GetRun(engine_, "de-03-a").search_attributes_json())
                .value("order_state", ""),
            "rejected");

  // The query combines with the request's other filters.
  v1::ListRunsRequest request;
  request.set_query("market = 'DE-LU'");
  request.set_workflow_id_contains("-b");
  v1::ListRunsResponse response;
  ASSERT_TRUE(engine_.workflows().ListRuns(Ctx().get(), request, &response).ok());
  ASSERT_EQ(response.runs_size(), 1);
  EXPECT_EQ(response.runs(0).workflow_id(), "de-03-b");
}

TEST_F(SearchTest, BadQueriesAreRefusedNamingTheColumn) {
  StartBid("de-03", "DE-LU", "2026-12-03", 50);
  EXPECT_EQ(QueryError("markt = 'DE-LU'"),
            "query: column 1: unknown field 'markt' (run fields: closed_at, created_at, "
            "definition, started_by, status, updated_at, version, workflow_id; search "
            "attributes: accepted, delivery_day, gate, market, order_state, volume_mw)");
  EXPECT_EQ(QueryError("market = DE"),
            "query: column 10: 'market' is a keyword: compare it with a string in single quotes, "
            "not 'DE'");
  EXPECT_EQ(QueryError("market > 'DE'"),
            "query: column 8: 'market' is a keyword: compare it with =, != or IN, not >");
  EXPECT_EQ(QueryError("delivery_day = '2026-13-01'"),
            "query: column 16: 'delivery_day' is a date: compare it with a date such as "
            "'2026-12-03', not '2026-13-01'");
  EXPECT_EQ(QueryError("volume_mw = '50'"),
            "query: column 13: 'volume_mw' is a number: compare it with a number, not '50'");
  EXPECT_EQ(QueryError("status = 'DONE'"),
            "query: column 10: unknown status 'DONE' (RUNNING, CANCELLING, COMPENSATING, "
            "COMPLETED, FAILED, CANCELLED, TERMINATED)");
  EXPECT_EQ(QueryError("market = 'DE-LU' AND"),
            "query: column 21: expected a field name, found 'end of query'");
  EXPECT_EQ(QueryError("(market = 'DE-LU'"),
            "query: column 18: expected ')' to close the '(' at column 1, found 'end of query'");
  EXPECT_EQ(QueryError("market = 'DE-LU"), "query: column 10: a string is not closed (missing ')");
  EXPECT_EQ(QueryError("market = 'DE-LU'; DROP TABLE runs"),
            "query: column 17: unexpected character ';' (strings are written in single quotes)");
}

TEST_F(SearchTest, ValuesStayDataWhateverTheyContain) {
  // A keyword that looks like SQL is stored and matched as text, never run.
  const std::string sneaky = "x' OR '1'='1";
  Start(engine_, "sneaky", "bid",
        nlohmann::json{{"market", sneaky}, {"delivery_day", "2026-12-03"}}.dump());
  StartBid("plain", "DE-LU", "2026-12-03", 1);
  EXPECT_EQ(Find("market = 'x'' OR ''1''=''1'"), (Ids{"sneaky"}));
  // The same text unquoted is not SQL either: a query error.
  EXPECT_EQ(QueryError("market = 'x' OR '1'='1'"),
            "query: column 17: expected a field name, found '1'");
  EXPECT_EQ(Find("market = '%' OR market = '_'"), Ids{});
  EXPECT_EQ(Find("workflow_id IN ('plain', 'sneaky')"), (Ids{"sneaky", "plain"}));
  // The runs table is still there and whole.
  EXPECT_EQ(Find("delivery_day = '2026-12-03'").size(), 2u);
}

TEST_F(SearchTest, ValuesOfTheWrongTypeLeaveTheAttributeUnsetAndTypesAreFixedPerNamespace) {
  Start(engine_, "odd", "bid", R"({"market": 7, "delivery_day": "tomorrow", "volume_mw": "lots"})");
  EXPECT_EQ(nlohmann::json::parse(GetRun(engine_, "odd").search_attributes_json()),
            (nlohmann::json{{"market", "7"}}));
  EXPECT_EQ(Find("market = '7'"), (Ids{"odd"}));

  // Another definition may share an attribute with the same type, never with another.
  EXPECT_TRUE(Register(engine_, R"js({"name": "nomination", "version": 1,
      "search_attributes": {"market": {"type": "keyword", "value": "=$/input/area"}},
      "steps": [{"name": "n", "kind": "task", "task_type": "t", "task_queue": "q"}]})js")
                  .ok());
  const grpc::Status s = Register(engine_, R"js({"name": "settle", "version": 1,
      "search_attributes": {"delivery_day": {"type": "keyword", "value": "=$/input/day"}},
      "steps": [{"name": "n", "kind": "task", "task_type": "t", "task_queue": "q"}]})js");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "search_attributes.delivery_day.type: 'delivery_day' is a date attribute in "
            "namespace 'default' (declared by definition 'bid' version 1), not a keyword; use "
            "another name");
  // Refused as a whole: the definition was not registered.
  v1::GetDefinitionRequest get;
  get.set_name("settle");
  v1::Definition definition;
  EXPECT_EQ(engine_.workflows().GetDefinition(Ctx().get(), get, &definition).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace gridflow::testing
