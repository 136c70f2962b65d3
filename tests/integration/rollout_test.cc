// Canary rollouts (docs/rollouts.md) against a real PostgreSQL: a candidate withheld from latest,
// a share of starts routed to it by workflow id (as documented, checked for every run), each run
// recording why it got its version; a failing candidate rolled back by the engine; promotion by
// hand and after a set time; the CLI.
#include <fstream>
#include <thread>

#include "gridflow/v1/rollout_service.grpc.pb.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

// Version `version` of "bid": one task of type `task_type`, no retry.
std::string Bid(int version, const std::string& task_type) {
  return R"({"name": "bid", "version": )" + std::to_string(version) +
         R"(, "steps": [{"name": "submit", "kind": "task", "task_type": ")" + task_type +
         R"(", "task_queue": "exchange", "retry": {"max_attempts": 1}}]})";
}

class RolloutTest : public ::testing::Test {
 protected:
  RolloutTest() : engine_(Config(db_)) {}

  static engine::EngineConfig Config(const TestDatabase& db) {
    engine::EngineConfig config = FastEngineConfig(db.url());
    config.rollout_interval = Millis(100);
    return config;
  }

  void SetUp() override {
    rollouts_ = v1::RolloutService::NewStub(engine_.channel());
    ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
    ASSERT_TRUE(RegisterCandidate(Bid(2, "submit_v2")).ok());
  }

  grpc::Status RegisterCandidate(const std::string& definition) {
    v1::RegisterDefinitionRequest request;
    request.set_definition_json(definition);
    request.set_candidate(true);
    v1::RegisterDefinitionResponse response;
    return engine_.workflows().RegisterDefinition(Ctx().get(), request, &response);
  }

  grpc::Status StartRollout(int version, int percent, v1::Rollout* rollout,
                            int auto_promote_seconds = 0, int min_runs = 4) {
    v1::StartRolloutRequest request;
    request.set_definition_name("bid");
    request.set_candidate_version(version);
    request.set_percent(percent);
    request.set_min_runs(min_runs);
    request.set_max_failure_increase(0.25);
    request.set_auto_promote_seconds(auto_promote_seconds);
    request.set_identity("release-manager");
    return rollouts_->StartRollout(Ctx().get(), request, rollout);
  }

  v1::Rollout GetRollout() {
    v1::GetRolloutRequest request;
    request.set_definition_name("bid");
    v1::Rollout rollout;
    EXPECT_TRUE(rollouts_->GetRollout(Ctx().get(), request, &rollout).ok());
    return rollout;
  }

  v1::Rollout WaitEnded() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    v1::Rollout rollout = GetRollout();
    while (rollout.state() == v1::ROLLOUT_STATE_RUNNING &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      rollout = GetRollout();
    }
    return rollout;
  }

  // Completes every queued task of `complete_type` and fails those of any other type.
  void WorkAll(const std::string& complete_type) {
    for (;;) {
      v1::LeaseTasksRequest lease;
      lease.add_task_queues("exchange");
      lease.set_max_tasks(100);
      lease.set_identity("gateway");
      v1::LeaseTasksResponse leased;
      ASSERT_TRUE(engine_.workers().LeaseTasks(Ctx().get(), lease, &leased).ok());
      if (leased.tasks().empty()) return;
      for (const v1::LeasedTask& task : leased.tasks()) {
        if (task.task_type() == complete_type) {
          CompleteLeased(engine_, task, "{}");
          continue;
        }
        v1::FailTaskRequest fail;
        fail.set_task_id(task.task_id());
        fail.set_lease_epoch(task.lease_epoch());
        fail.set_error_type("OrderRejected");
        v1::FailTaskResponse response;
        ASSERT_TRUE(engine_.workers().FailTask(Ctx().get(), fail, &response).ok());
      }
    }
  }

  int LatestVersion() {
    v1::GetDefinitionRequest request;
    request.set_name("bid");
    v1::Definition definition;
    EXPECT_TRUE(engine_.workflows().GetDefinition(Ctx().get(), request, &definition).ok());
    return definition.version();
  }

  TestDatabase db_;
  TestEngine engine_;
  std::unique_ptr<v1::RolloutService::Stub> rollouts_;
};

TEST_F(RolloutTest, RoutesAShareOfLatestStartsByWorkflowIdAndRecordsWhy) {
  // A candidate is not the latest until a rollout routes starts to it.
  Start(engine_, "before", "bid");
  EXPECT_EQ(GetRun(engine_, "before").definition_version(), 1);
  EXPECT_EQ(GetRun(engine_, "before").version_reason(), "latest");
  EXPECT_EQ(LatestVersion(), 1);

  v1::Rollout rollout;
  grpc::Status s = StartRollout(2, 20, &rollout);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rollout.state(), v1::ROLLOUT_STATE_RUNNING);
  EXPECT_EQ(rollout.stable_version(), 1);
  EXPECT_EQ(rollout.candidate_version(), 2);
  EXPECT_EQ(rollout.window_seconds(), 3600);
  EXPECT_EQ(rollout.started_by(), "anonymous (release-manager)");
  // One rollout at a time.
  s = StartRollout(2, 50, &rollout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  for (int i = 0; i < 1000; ++i)
    Start(engine_, "r-" + std::to_string(i), "bid");
  // Every run got the version its workflow id's bucket says (first 7 hex digits of md5, mod 100,
  // below the percentage: candidate), and says so.
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE workflow_id LIKE 'r-%' AND"
                      " (definition_version = 2) <> (('x' || substr(md5(workflow_id), 1, 7))"
                      "::bit(28)::integer % 100 < 20)"),
            "0");
  const int canaries = std::stoi(db_.Query(
      "SELECT count(*) FROM runs WHERE workflow_id LIKE 'r-%' AND definition_version = 2"));
  EXPECT_GT(canaries, 150);  // ~20 % of 1,000
  EXPECT_LT(canaries, 250);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE workflow_id LIKE 'r-%' AND NOT ("
                      "(definition_version = 2 AND version_reason = 'canary: rollout " +
                      std::to_string(rollout.id()) +
                      " sends 20% of latest to version 2') OR (definition_version = 1 AND "
                      "version_reason LIKE 'stable: rollout %'))"),
            "0");
  // The reason is in the history too; a start that names its version is not routed.
  const v1::Event started = WaitForEvent(engine_, "r-0", "RunStarted");
  EXPECT_NE(started.payload_json().find("\"version_reason\": \""), std::string::npos)
      << started.payload_json();
  v1::StartRunRequest pinned;
  pinned.set_workflow_id("pinned");
  pinned.set_definition_name("bid");
  pinned.set_definition_version(2);
  v1::StartRunResponse response;
  ASSERT_TRUE(engine_.workflows().StartRun(Ctx().get(), pinned, &response).ok());
  EXPECT_EQ(response.run().version_reason(), "requested");
  // Without a workflow id, "latest" is still the stable version.
  EXPECT_EQ(LatestVersion(), 1);
}

TEST_F(RolloutTest, AFailingCandidateIsRolledBackByTheEngine) {
  v1::Rollout rollout;
  ASSERT_TRUE(StartRollout(2, 50, &rollout).ok());
  for (int i = 0; i < 40; ++i)
    Start(engine_, "r-" + std::to_string(i), "bid");
  WorkAll("submit");  // version 1's tasks complete, version 2's fail
  rollout = WaitEnded();
  EXPECT_EQ(rollout.state(), v1::ROLLOUT_STATE_ROLLED_BACK);
  EXPECT_EQ(rollout.ended_by(), "engine");
  EXPECT_EQ(rollout.end_reason().rfind("automatic rollback: version 2 failed ", 0), 0u)
      << rollout.end_reason();
  EXPECT_GT(rollout.candidate_closed(), 0);
  EXPECT_EQ(rollout.candidate_failed(), rollout.candidate_closed());
  EXPECT_EQ(rollout.stable_failed(), 0);
  // Version 2 is withheld again: every new start gets version 1.
  for (int i = 0; i < 20; ++i) {
    const v1::Run run = Start(engine_, "after-" + std::to_string(i), "bid").run();
    EXPECT_EQ(run.definition_version(), 1);
    EXPECT_EQ(run.version_reason(), "latest");
  }
  v1::ListDefinitionsRequest list;
  list.set_name("bid");
  v1::ListDefinitionsResponse listed;
  ASSERT_TRUE(engine_.workflows().ListDefinitions(Ctx().get(), list, &listed).ok());
  ASSERT_EQ(listed.definitions_size(), 2);
  EXPECT_FALSE(listed.definitions(0).candidate());
  EXPECT_TRUE(listed.definitions(1).candidate());
}

TEST_F(RolloutTest, PromotionByHandAndAfterASetTime) {
  v1::Rollout rollout;
  ASSERT_TRUE(StartRollout(2, 10, &rollout).ok());
  v1::EndRolloutRequest end;
  end.set_definition_name("bid");
  grpc::Status s = rollouts_->RollbackRollout(Ctx().get(), end, &rollout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << "a rollback needs a reason";
  ASSERT_TRUE(rollouts_->PromoteRollout(Ctx().get(), end, &rollout).ok());
  EXPECT_EQ(rollout.state(), v1::ROLLOUT_STATE_PROMOTED);
  EXPECT_EQ(rollout.ended_by(), "anonymous");
  EXPECT_EQ(LatestVersion(), 2);
  EXPECT_EQ(Start(engine_, "promoted", "bid").run().definition_version(), 2);
  s = rollouts_->PromoteRollout(Ctx().get(), end, &rollout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // The latest cannot be its own candidate.
  s = StartRollout(2, 10, &rollout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("already the latest"), std::string::npos) << s.error_message();
  s = StartRollout(1, 10, &rollout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("older than the latest"), std::string::npos)
      << s.error_message();

  // Version 3 promotes itself a second after its start, once one of its runs closed.
  ASSERT_TRUE(RegisterCandidate(Bid(3, "submit_v3")).ok());
  ASSERT_TRUE(StartRollout(3, 100, &rollout, /*auto_promote_seconds=*/1, /*min_runs=*/1).ok());
  EXPECT_EQ(Start(engine_, "v3-run", "bid").run().definition_version(), 3);
  WorkAll("submit_v3");
  rollout = WaitEnded();
  EXPECT_EQ(rollout.state(), v1::ROLLOUT_STATE_PROMOTED);
  EXPECT_EQ(rollout.ended_by(), "engine");
  EXPECT_EQ(rollout.end_reason().rfind("automatic promotion after 1s", 0), 0u)
      << rollout.end_reason();
  EXPECT_EQ(LatestVersion(), 3);
}

// Found by the API probe: ending a rollout that had ended quoted its whole stored reason (up to
// 4 kB) in the error.
TEST_F(RolloutTest, EndingAnEndedRolloutQuotesAShortPrefixOfItsReason) {
  v1::Rollout rollout;
  ASSERT_TRUE(StartRollout(2, 10, &rollout).ok());
  v1::EndRolloutRequest end;
  end.set_definition_name("bid");
  end.set_reason("bids rejected: " + std::string(4000, 'r'));
  ASSERT_TRUE(rollouts_->RollbackRollout(Ctx().get(), end, &rollout).ok());
  EXPECT_EQ(rollout.end_reason(), end.reason());  // kept whole
  const grpc::Status s = rollouts_->PromoteRollout(Ctx().get(), end, &rollout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("already ended ROLLED_BACK: bids rejected: rrr"),
            std::string::npos)
      << s.error_message();
  EXPECT_LT(s.error_message().size(), 300u);
}

TEST_F(RolloutTest, CliRegistersACandidateAndRunsARollout) {
  auto ctl = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {CtlBinary(), "--address", engine_.address()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string err;
    const int code = RunCommand(argv, out, &err);
    *out += err;
    return code;
  };
  const std::string file = ::testing::TempDir() + "/bid-v4-" + db_.name() + ".json";
  std::ofstream(file) << Bid(4, "submit");
  std::string out;
  ASSERT_EQ(ctl({"definitions", "apply", "--candidate", file}, &out), 0) << out;
  EXPECT_NE(out.find("registered bid v4 as a candidate"), std::string::npos) << out;
  ASSERT_EQ(ctl({"definitions", "list"}, &out), 0) << out;
  EXPECT_NE(out.find("withheld from latest"), std::string::npos) << out;
  ASSERT_EQ(ctl({"definitions", "rollout", "start", "bid", "--version", "4", "--percent", "25",
                 "--window", "30m", "--max-failure-increase", "10"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("25% of latest to version 4, the rest to version 1"), std::string::npos)
      << out;
  EXPECT_NE(out.find("fails more than 10 points above version 1 over 30m"), std::string::npos)
      << out;
  ASSERT_EQ(ctl({"definitions", "rollout", "status", "bid"}, &out), 0) << out;
  EXPECT_NE(out.find("RUNNING"), std::string::npos) << out;
  EXPECT_EQ(ctl({"definitions", "rollout", "rollback", "bid"}, &out), 2) << "--reason required";
  ASSERT_EQ(ctl({"definitions", "rollout", "rollback", "bid", "--reason", "bad bids"}, &out), 0)
      << out;
  EXPECT_NE(out.find("ROLLED_BACK"), std::string::npos) << out;
  EXPECT_NE(out.find("bad bids"), std::string::npos) << out;
  EXPECT_EQ(ctl({"definitions", "rollout", "promote", "bid"}, &out), 1) << out;
  EXPECT_EQ(LatestVersion(), 1);
}

}  // namespace
}  // namespace gridflow::testing
