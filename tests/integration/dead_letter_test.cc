// The dead-letter view (docs/operations.md, "Dead letters") against a real PostgreSQL: groups
// match the failures produced, a group retry drains its group page by page (each run once), and
// the CLI shows and retries a group.
#include <set>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

class DeadLetterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One attempt: a failure is final at once.
    ASSERT_TRUE(Register(engine_, R"js({"name": "bid", "version": 1, "steps": [
      {"name": "submit", "kind": "task", "task_type": "submit_bid", "task_queue": "exchange",
       "retry": {"max_attempts": 1}},
      {"name": "nominate", "kind": "task", "task_type": "nominate", "task_queue": "tso",
       "retry": {"max_attempts": 1}}]})js")
                    .ok());
  }

  // Leases the next task of `queue` and fails it with `error_type`.
  void FailNext(const std::string& queue, const std::string& error_type) {
    const v1::LeasedTask task = LeaseOne(engine_, queue, "gateway");
    ASSERT_FALSE(task.task_id().empty());
    v1::FailTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_epoch(task.lease_epoch());
    request.set_error_type(error_type);
    request.set_message(error_type + " for " + task.workflow_id());
    v1::FailTaskResponse response;
    ASSERT_TRUE(engine_.workers().FailTask(Ctx().get(), request, &response).ok());
    WaitClosed(engine_, task.workflow_id());
  }

  v1::ListDeadLettersResponse List(const std::string& error_type = "") {
    v1::ListDeadLettersRequest request;
    request.set_error_type(error_type);
    v1::ListDeadLettersResponse response;
    const grpc::Status s = engine_.workflows().ListDeadLetters(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(DeadLetterTest, GroupsMatchTheFailuresAndAGroupRetryDrainsIt) {
  for (int i = 0; i < 5; ++i)
    Start(engine_, "venue-" + std::to_string(i), "bid");
  Start(engine_, "rejected-0", "bid");
  Start(engine_, "tso-0", "bid");
  for (int i = 0; i < 5; ++i)
    FailNext("exchange", "VenueUnavailable");
  FailNext("exchange", "Rejected");
  CompleteLeased(engine_, LeaseOne(engine_, "exchange", "gateway"), "{}");  // tso-0 submits
  FailNext("tso", "NominationRefused");

  v1::ListDeadLettersResponse groups = List();
  ASSERT_EQ(groups.groups_size(), 3);
  // Most recent failure first.
  EXPECT_EQ(groups.groups(0).task_type(), "nominate");
  EXPECT_EQ(groups.groups(0).error_type(), "NominationRefused");
  EXPECT_EQ(groups.groups(0).last_message(), "NominationRefused for tso-0");
  const v1::DeadLetterGroup& venue = groups.groups(2);
  EXPECT_EQ(venue.task_queue(), "exchange");
  EXPECT_EQ(venue.task_type(), "submit_bid");
  EXPECT_EQ(venue.error_type(), "VenueUnavailable");
  EXPECT_EQ(venue.runs(), 5);
  EXPECT_EQ(venue.tasks(), 5);
  EXPECT_EQ(venue.sample_workflow_ids_size(), 5);
  EXPECT_EQ(venue.sample_workflow_ids(0), "venue-4");
  EXPECT_LE(google::protobuf::util::TimeUtil::TimestampToMicroseconds(venue.first_failure_time()),
            google::protobuf::util::TimeUtil::TimestampToMicroseconds(venue.last_failure_time()));
  EXPECT_EQ(List("Rejected").groups_size(), 1);

  // The venue is back: retry its group, two runs per call.
  v1::RetryDeadLettersRequest retry;
  retry.set_task_queue("exchange");
  retry.set_task_type("submit_bid");
  retry.set_error_type("VenueUnavailable");
  retry.set_reason("EPEX back after the outage");
  retry.set_identity("operator-anna");
  retry.set_limit(2);
  std::set<std::string> retried;
  int calls = 0;
  do {
    v1::RetryDeadLettersResponse response;
    const grpc::Status s = engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(response.retried_workflow_ids_size(), 2);
    EXPECT_EQ(response.refused_size(), 0);
    for (const auto& id : response.retried_workflow_ids())
      EXPECT_TRUE(retried.insert(id).second) << id << " retried twice";
    retry.set_page_token(response.next_page_token());
    ++calls;
  } while (!retry.page_token().empty() && calls < 10);
  EXPECT_EQ(retried.size(), 5u);
  EXPECT_EQ(calls, 3);
  // Retried runs left the view; the other groups stay.
  groups = List();
  ASSERT_EQ(groups.groups_size(), 2);
  for (const auto& g : groups.groups())
    EXPECT_NE(g.error_type(), "VenueUnavailable");
  // Each retried run is RUNNING again at its failed step, and says who retried it and why.
  const v1::Event event = WaitForEvent(engine_, "venue-3", "RunRetried");
  EXPECT_EQ(event.actor(), "anonymous");  // the authenticated principal; the engine runs open here
  const auto payload = nlohmann::json::parse(event.payload_json());
  EXPECT_EQ(payload.value("reason", ""), "EPEX back after the outage");
  EXPECT_EQ(payload.value("from_step", ""), "submit");
  EXPECT_NE(event.payload_json().find("operator-anna"), std::string::npos) << event.payload_json();
  EXPECT_EQ(GetRun(engine_, "venue-3").status(), v1::RUN_STATUS_RUNNING);
  for (int i = 0; i < 5; ++i)
    CompleteLeased(engine_, LeaseOne(engine_, "exchange", "gateway"), "{}");
  EXPECT_EQ(GetRun(engine_, "venue-0").current_step(), "nominate");

  // Nothing left of the group: a retry does nothing.
  retry.clear_page_token();
  v1::RetryDeadLettersResponse none;
  ASSERT_TRUE(engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &none).ok());
  EXPECT_EQ(none.retried_workflow_ids_size(), 0);
  EXPECT_TRUE(none.next_page_token().empty());
}

TEST_F(DeadLetterTest, AGroupRetryCanGoOnFromANamedStep) {
  // The nomination was refused because the bid itself was wrong: submit again, then nominate.
  for (const char* id : {"n-0", "n-1"}) {
    Start(engine_, id, "bid");
    CompleteLeased(engine_, LeaseOne(engine_, "exchange", "gateway"), "{}");
    FailNext("tso", "NominationRefused");
  }
  v1::RetryDeadLettersRequest retry;
  retry.set_task_queue("tso");
  retry.set_task_type("nominate");
  retry.set_error_type("NominationRefused");
  retry.set_from_step("submit");
  retry.set_reason("bids corrected");
  v1::RetryDeadLettersResponse response;
  ASSERT_TRUE(engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &response).ok());
  EXPECT_EQ(response.retried_workflow_ids_size(), 2);
  for (const char* id : {"n-0", "n-1"}) {
    const v1::Run run = GetRun(engine_, id);
    EXPECT_EQ(run.status(), v1::RUN_STATUS_RUNNING);
    EXPECT_EQ(run.current_step(), "submit");
  }
  // A step the definition does not have: each run is refused and stays a dead letter.
  FailNext("exchange", "Rejected");
  FailNext("exchange", "Rejected");
  retry.set_task_queue("exchange");
  retry.set_task_type("submit_bid");
  retry.set_error_type("Rejected");
  retry.set_from_step("nowhere");
  v1::RetryDeadLettersResponse refused;
  ASSERT_TRUE(engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &refused).ok());
  EXPECT_EQ(refused.retried_workflow_ids_size(), 0);
  ASSERT_EQ(refused.refused_size(), 2);
  EXPECT_NE(refused.refused(0).message().find("has no step 'nowhere'"), std::string::npos)
      << refused.refused(0).message();
  EXPECT_EQ(List("Rejected").groups(0).runs(), 2);
}

TEST_F(DeadLetterTest, BadRequestsNameTheField) {
  v1::RetryDeadLettersRequest retry;
  retry.set_task_queue("exchange");
  retry.set_task_type("submit_bid");
  retry.set_reason("x");
  v1::RetryDeadLettersResponse out;
  grpc::Status s = engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "error_type: is required");
  retry.set_error_type("VenueUnavailable");
  retry.set_reason(" ");
  s = engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &out);
  EXPECT_EQ(s.error_message(), "reason: is required (it is recorded in the run's history)");
  retry.set_reason("x");
  retry.set_limit(5000);
  s = engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &out);
  EXPECT_EQ(s.error_message(), "limit: must be between 0 (the default, 100) and 1000");
  retry.set_limit(0);
  retry.set_page_token("garbage");
  s = engine_.workflows().RetryDeadLetters(Ctx().get(), retry, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListDeadLettersRequest list;
  list.set_task_queue("no such queue!");
  v1::ListDeadLettersResponse listed;
  s = engine_.workflows().ListDeadLetters(Ctx().get(), list, &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("task_queue: ", 0), 0u) << s.error_message();
}

TEST_F(DeadLetterTest, TheCliListsAndRetriesAGroup) {
  Start(engine_, "venue-0", "bid");
  Start(engine_, "venue-1", "bid");
  FailNext("exchange", "VenueUnavailable");
  FailNext("exchange", "VenueUnavailable");
  std::string out, err;
  ASSERT_EQ(
      RunCommand({CtlBinary(), "--address", engine_.address(), "tasks", "dead-letter"}, &out, &err),
      0)
      << err;
  EXPECT_NE(out.find("VenueUnavailable"), std::string::npos) << out;
  EXPECT_NE(out.find("venue-1 venue-0"), std::string::npos) << out;
  EXPECT_NE(out.find("latest error: VenueUnavailable: VenueUnavailable for venue-1"),
            std::string::npos)
      << out;
  EXPECT_EQ(RunCommand({CtlBinary(), "--address", engine_.address(), "tasks", "dead-letter",
                        "--retry", "--reason", "back"},
                       &out, &err),
            2);
  EXPECT_NE(err.find("--retry needs the group"), std::string::npos) << err;
  ASSERT_EQ(RunCommand({CtlBinary(), "--address", engine_.address(), "tasks", "dead-letter",
                        "--queue", "exchange", "--task-type", "submit_bid", "--error-type",
                        "VenueUnavailable", "--retry", "--reason", "venue back"},
                       &out, &err),
            0)
      << err;
  EXPECT_NE(out.find("retried 2 runs of exchange/submit_bid/VenueUnavailable"), std::string::npos)
      << out;
  ASSERT_EQ(
      RunCommand({CtlBinary(), "--address", engine_.address(), "tasks", "dead-letter"}, &out, &err),
      0);
  EXPECT_NE(out.find("no dead letters"), std::string::npos) << out;
}

}  // namespace
}  // namespace gridflow::testing
