// Batch operations (docs/operations.md, "Batch operations") against a real PostgreSQL: a retry of
// 500 failed runs finished by the replicas left after one is SIGKILLed, each run retried exactly
// once; cancelling an operation skips the runs not reached; a run a command does not apply to is
// recorded as refused with the engine's code; bad requests name their field.
#include <csignal>
#include <filesystem>
#include <thread>

#include "gridflow/v1/batch_service.grpc.pb.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

constexpr const char* kBid = R"js({"name": "bid", "version": 1,
  "search_attributes": {"market": {"type": "keyword", "value": "=$/input/market"}},
  "steps": [{"name": "submit", "kind": "task", "task_type": "submit_bid", "task_queue": "exchange",
             "retry": {"max_attempts": 1}},
            {"name": "confirm", "kind": "wait_signal", "signal": "confirm"}]})js";

class BatchTest : public ::testing::Test {
 protected:
  explicit BatchTest(Millis batch_interval = Millis(50)) : engine_(Config(db_, batch_interval)) {}

  static engine::EngineConfig Config(const TestDatabase& db, Millis batch_interval) {
    engine::EngineConfig config = FastEngineConfig(db.url());
    config.batch_interval = batch_interval;
    return config;
  }

  void SetUp() override {
    const grpc::Status s = Register(engine_, kBid);
    ASSERT_TRUE(s.ok()) << s.error_message();
    batches_ = v1::BatchService::NewStub(engine_.channel());
  }

  void StartBids(const std::string& market, int count) {
    for (int i = 0; i < count; ++i)
      Start(engine_, market + "-" + std::to_string(i), "bid", R"({"market": ")" + market + R"("})");
  }

  // Fails every queued submit task (the exchange is down); returns how many.
  int FailAllSubmits() {
    int failed = 0;
    for (;;) {
      v1::LeaseTasksRequest lease;
      lease.add_task_queues("exchange");
      lease.set_max_tasks(100);
      lease.set_identity("gateway");
      v1::LeaseTasksResponse leased;
      EXPECT_TRUE(engine_.workers().LeaseTasks(Ctx().get(), lease, &leased).ok());
      if (leased.tasks().empty()) return failed;
      for (const v1::LeasedTask& task : leased.tasks()) {
        v1::FailTaskRequest fail;
        fail.set_task_id(task.task_id());
        fail.set_lease_epoch(task.lease_epoch());
        fail.set_error_type("VenueUnavailable");
        fail.set_message("EPEX unreachable");
        v1::FailTaskResponse response;
        EXPECT_TRUE(engine_.workers().FailTask(Ctx().get(), fail, &response).ok());
        ++failed;
      }
    }
  }

  grpc::Status StartOp(const v1::StartBatchOperationRequest& request, v1::BatchOperation* op) {
    return batches_->StartBatchOperation(Ctx().get(), request, op);
  }

  v1::BatchOperation Get(const std::string& id) {
    v1::GetBatchOperationRequest request;
    request.set_id(id);
    v1::BatchOperation op;
    const grpc::Status s = batches_->GetBatchOperation(Ctx().get(), request, &op);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return op;
  }

  // Waits until the operation is no longer running (or `timeout` passed).
  v1::BatchOperation WaitFinished(const std::string& id,
                                  std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    v1::BatchOperation op = Get(id);
    while (op.state() == v1::BATCH_OPERATION_STATE_RUNNING &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      op = Get(id);
    }
    return op;
  }

  std::vector<v1::BatchOperationItem> Items(const std::string& id) {
    std::vector<v1::BatchOperationItem> items;
    v1::ListBatchOperationItemsRequest request;
    request.set_id(id);
    request.set_page_size(7);  // several pages
    do {
      v1::ListBatchOperationItemsResponse response;
      const grpc::Status s = batches_->ListBatchOperationItems(Ctx().get(), request, &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      items.insert(items.end(), response.items().begin(), response.items().end());
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return items;
  }

  TestDatabase db_;
  TestEngine engine_;
  std::unique_ptr<v1::BatchService::Stub> batches_;
};

// The in-process replica serves the API but never works on items (its loop runs once an hour):
// the two engine processes do, and one of them is SIGKILLed half-way.
class BatchReplicaTest : public BatchTest {
 protected:
  BatchReplicaTest() : BatchTest(Millis(3'600'000)) {}
};

TEST_F(BatchReplicaTest, RetryOf500FailedRunsSurvivesAKilledReplicaAndRetriesEachOnce) {
  StartBids("DE-LU", 500);
  StartBids("NL", 20);
  ASSERT_EQ(FailAllSubmits(), 520);

  const std::string dir = ::testing::TempDir() + "/batch-replicas-" + db_.name();
  std::filesystem::create_directories(dir);
  auto replica = [&](const std::string& name) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{EngineBinary(), "--listen", "127.0.0.1:0", "--database-url",
                                 db_.url(), "--log-format", "text"},
        dir + "/" + name + ".log");
  };
  auto doomed = replica("doomed");
  auto survivor = replica("survivor");

  v1::StartBatchOperationRequest request;
  request.set_id("epex-outage");
  request.set_kind(v1::BATCH_OPERATION_KIND_RETRY);
  request.set_query("market = 'DE-LU' AND status = 'FAILED'");
  request.set_reason("EPEX back");
  request.set_rate_per_second(150);
  request.set_identity("operator-anna");
  v1::BatchOperation op;
  grpc::Status s = StartOp(request, &op);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(op.total(), 500);
  EXPECT_EQ(op.state(), v1::BATCH_OPERATION_STATE_RUNNING);
  // The same start again (a client that lost the answer) is the same operation.
  v1::BatchOperation again;
  ASSERT_TRUE(StartOp(request, &again).ok());
  EXPECT_EQ(again.create_time().seconds(), op.create_time().seconds());
  EXPECT_EQ(again.total(), 500);

  // Kill one replica while the operation is under way.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Get("epex-outage").succeeded() < 150 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(), -SIGKILL);
  const v1::BatchOperation at_kill = Get("epex-outage");
  EXPECT_LT(at_kill.succeeded(), 500) << "the operation ended before the kill: test nothing";

  op = WaitFinished("epex-outage");
  EXPECT_EQ(op.state(), v1::BATCH_OPERATION_STATE_COMPLETED);
  EXPECT_EQ(op.succeeded(), 500);
  EXPECT_EQ(op.failed(), 0);
  EXPECT_TRUE(op.has_finish_time());
  // Exactly one retry per DE-LU run, none for NL, each recorded as the operator's.
  EXPECT_EQ(db_.Query("SELECT count(*) FROM (SELECT e.run_id FROM events e JOIN runs r ON r.id = "
                      "e.run_id WHERE e.type = 'RunRetried' GROUP BY e.run_id HAVING count(*) = 1 "
                      "AND bool_and(r.workflow_id LIKE 'DE-LU-%')) once"),
            "500");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events WHERE type = 'RunRetried'"), "500");
  const v1::Event retried = WaitForEvent(engine_, "DE-LU-7", "RunRetried");
  EXPECT_NE(retried.payload_json().find("EPEX back (batch operation epex-outage)"),
            std::string::npos)
      << retried.payload_json();
  EXPECT_NE(retried.payload_json().find("operator-anna"), std::string::npos);
  EXPECT_EQ(GetRun(engine_, "DE-LU-7").status(), v1::RUN_STATUS_RUNNING);
  EXPECT_EQ(GetRun(engine_, "NL-3").status(), v1::RUN_STATUS_FAILED);
  // Every item says what was done, in the runs' creation order.
  const std::vector<v1::BatchOperationItem> items = Items("epex-outage");
  ASSERT_EQ(items.size(), 500u);
  for (size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].seq(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(items[i].state(), v1::BatchOperationItem::STATE_SUCCEEDED) << items[i].workflow_id();
    EXPECT_EQ(items[i].message(), "retried from submit");
  }
  EXPECT_EQ(items[0].workflow_id(), "DE-LU-0");
  EXPECT_EQ(items[499].workflow_id(), "DE-LU-499");
  // The retried runs' tasks are queued again: a new retry now matches nothing.
  request.set_id("after");
  ASSERT_TRUE(StartOp(request, &op).ok());
  EXPECT_EQ(op.total(), 0);
  EXPECT_EQ(op.state(), v1::BATCH_OPERATION_STATE_COMPLETED);
  survivor->Signal(SIGTERM);
  EXPECT_EQ(survivor->Wait(), 0);
}

TEST_F(BatchTest, CancellingAnOperationSkipsTheRunsNotReached) {
  StartBids("FR", 12);
  v1::StartBatchOperationRequest request;
  request.set_id("confirm-fr");
  request.set_kind(v1::BATCH_OPERATION_KIND_SIGNAL);
  request.set_query("market = 'FR'");
  request.set_signal_name("confirm");
  request.set_signal_payload_json(R"({"by": "desk"})");
  request.set_rate_per_second(4);
  v1::BatchOperation op;
  ASSERT_TRUE(StartOp(request, &op).ok());
  ASSERT_EQ(op.total(), 12);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Get("confirm-fr").succeeded() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));

  v1::CancelBatchOperationRequest cancel;
  cancel.set_id("confirm-fr");
  cancel.set_identity("operator-ben");
  ASSERT_TRUE(batches_->CancelBatchOperation(Ctx().get(), cancel, &op).ok());
  EXPECT_EQ(op.state(), v1::BATCH_OPERATION_STATE_CANCELLED);
  EXPECT_GE(op.succeeded(), 2);
  EXPECT_GT(op.skipped(), 0);
  EXPECT_EQ(op.succeeded() + op.failed() + op.skipped(), 12);
  EXPECT_EQ(op.cancelled_by(), "anonymous (operator-ben)");
  // Cancelled is final: no more items are done, and a second cancel is refused.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(Get("confirm-fr").succeeded(), op.succeeded());
  grpc::Status s = batches_->CancelBatchOperation(Ctx().get(), cancel, &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  int signalled = 0;
  int skipped = 0;
  for (const v1::BatchOperationItem& item : Items("confirm-fr")) {
    if (item.state() == v1::BatchOperationItem::STATE_SUCCEEDED) {
      ++signalled;
      const v1::Event event = WaitForEvent(engine_, item.workflow_id(), "SignalReceived");
      EXPECT_NE(event.payload_json().find("batch:confirm-fr"), std::string::npos);
    } else {
      EXPECT_EQ(item.state(), v1::BatchOperationItem::STATE_SKIPPED);
      ++skipped;
    }
  }
  EXPECT_EQ(signalled, op.succeeded());
  EXPECT_EQ(skipped, op.skipped());
  // One signal per signalled run, none for the skipped ones.
  EXPECT_EQ(db_.Query("SELECT count(*) FROM signals"), std::to_string(signalled));

  v1::ListBatchOperationsRequest list;
  list.set_state(v1::BATCH_OPERATION_STATE_CANCELLED);
  v1::ListBatchOperationsResponse listed;
  ASSERT_TRUE(batches_->ListBatchOperations(Ctx().get(), list, &listed).ok());
  ASSERT_EQ(listed.operations_size(), 1);
  EXPECT_EQ(listed.operations(0).id(), "confirm-fr");
}

TEST_F(BatchTest, RunsACommandDoesNotApplyToAreRecordedAsRefused) {
  StartBids("BE", 3);
  v1::TerminateRunRequest terminate;
  terminate.set_workflow_id("BE-1");
  terminate.set_reason("test");
  v1::TerminateRunResponse terminated;
  ASSERT_TRUE(engine_.workflows().TerminateRun(Ctx().get(), terminate, &terminated).ok());

  v1::StartBatchOperationRequest request;
  request.set_kind(v1::BATCH_OPERATION_KIND_CANCEL);
  request.set_query("market = 'BE'");
  request.set_reason("portfolio withdrawn");
  v1::BatchOperation op;
  ASSERT_TRUE(StartOp(request, &op).ok());
  EXPECT_EQ(op.id().rfind("batch-", 0), 0u) << op.id();
  op = WaitFinished(op.id());
  EXPECT_EQ(op.state(), v1::BATCH_OPERATION_STATE_COMPLETED);
  EXPECT_EQ(op.succeeded(), 2);
  EXPECT_EQ(op.failed(), 1);
  const std::vector<v1::BatchOperationItem> items = Items(op.id());
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[1].workflow_id(), "BE-1");
  EXPECT_EQ(items[1].state(), v1::BatchOperationItem::STATE_FAILED);
  EXPECT_EQ(items[1].code(), "FAILED_PRECONDITION");
  EXPECT_NE(items[1].message().find("already TERMINATED"), std::string::npos) << items[1].message();
  EXPECT_EQ(WaitClosed(engine_, "BE-0").status(), v1::RUN_STATUS_CANCELLED);
  EXPECT_EQ(WaitClosed(engine_, "BE-2").status(), v1::RUN_STATUS_CANCELLED);
}

TEST_F(BatchTest, BadRequestsNameTheFieldAndChangeNothing) {
  auto error = [&](const std::function<void(v1::StartBatchOperationRequest*)>& edit) {
    v1::StartBatchOperationRequest request;
    request.set_kind(v1::BATCH_OPERATION_KIND_TERMINATE);
    request.set_query("status = 'RUNNING'");
    request.set_reason("test");
    edit(&request);
    v1::BatchOperation op;
    const grpc::Status s = StartOp(request, &op);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    return s.error_message();
  };
  EXPECT_EQ(
      error([](auto* r) { r->set_kind(v1::BATCH_OPERATION_KIND_UNSPECIFIED); }).rfind("kind:"), 0u);
  EXPECT_EQ(error([](auto* r) { r->set_query(" "); }).rfind("query: is required", 0), 0u);
  EXPECT_EQ(error([](auto* r) { r->set_query("market = "); }).rfind("query: column", 0), 0u);
  EXPECT_EQ(error([](auto* r) { r->set_reason(""); }).rfind("reason: is required", 0), 0u);
  EXPECT_EQ(error([](auto* r) { r->set_from_step("submit"); }).rfind("from_step:", 0), 0u);
  EXPECT_EQ(error([](auto* r) { r->set_signal_name("confirm"); }).rfind("signal_name:", 0), 0u);
  EXPECT_EQ(error([](auto* r) { r->set_rate_per_second(5000); }).rfind("rate_per_second:", 0), 0u);
  EXPECT_EQ(error([](auto* r) { r->set_id("no spaces"); }).rfind("id:", 0), 0u);
  EXPECT_EQ(error([](auto* r) {
              r->set_kind(v1::BATCH_OPERATION_KIND_SIGNAL);
              r->set_signal_name("confirm");
              r->set_signal_payload_json("{");
            }).rfind("signal_payload_json:", 0),
            0u);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM batch_operations"), "0");

  // An id taken by a different operation.
  v1::StartBatchOperationRequest request;
  request.set_id("once");
  request.set_kind(v1::BATCH_OPERATION_KIND_TERMINATE);
  request.set_query("market = 'none'");
  request.set_reason("test");
  v1::BatchOperation op;
  ASSERT_TRUE(StartOp(request, &op).ok());
  request.set_query("market = 'other'");
  grpc::Status s = StartOp(request, &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  v1::GetBatchOperationRequest get;
  get.set_id("missing");
  s = batches_->GetBatchOperation(Ctx().get(), get, &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(BatchTest, CliStartsFollowsListsShowsAndCancels) {
  StartBids("PL", 3);
  StartBids("CZ", 2);
  auto ctl = [&](std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {CtlBinary(), "--address", engine_.address(), "--identity",
                                     "operator-anna"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string err;
    const int code = RunCommand(argv, out, &err);
    *out += err;
    return code;
  };
  std::string out;
  ASSERT_EQ(ctl({"ops", "start", "--kind", "terminate", "--query", "market = 'PL'", "--reason",
                 "portfolio closed", "--id", "close-pl", "--wait"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("[##############################] 3/3  100%  failed 0"), std::string::npos)
      << out;
  EXPECT_NE(out.find("operation close-pl COMPLETED: 3 done, 0 refused, 0 skipped of 3"),
            std::string::npos)
      << out;
  EXPECT_EQ(GetRun(engine_, "PL-2").status(), v1::RUN_STATUS_TERMINATED);
  EXPECT_EQ(GetRun(engine_, "CZ-0").status(), v1::RUN_STATUS_RUNNING);

  // Cancelling them now: each refuses (already terminated); the exit code says so.
  ASSERT_EQ(ctl({"ops", "start", "--kind", "cancel", "--query", "market = 'PL'", "--reason",
                 "again", "--id", "close-pl-again", "--wait"},
                &out),
            1)
      << out;
  EXPECT_NE(out.find("0 done, 3 refused"), std::string::npos) << out;
  ASSERT_EQ(ctl({"ops", "show", "close-pl-again", "--failed"}, &out), 0) << out;
  EXPECT_NE(out.find("PL-1"), std::string::npos) << out;
  EXPECT_NE(out.find("FAILED_PRECONDITION"), std::string::npos) << out;

  ASSERT_EQ(ctl({"ops", "start", "--kind", "signal", "--query", "market = 'CZ'", "--signal",
                 "confirm", "--rate", "0.01", "--id", "slow"},
                &out),
            0)
      << out;
  EXPECT_NE(out.find("batch operation slow started: signal of 2 runs"), std::string::npos) << out;
  ASSERT_EQ(ctl({"ops", "list"}, &out), 0) << out;
  for (const char* id : {"close-pl", "close-pl-again", "slow"})
    EXPECT_NE(out.find(id), std::string::npos) << out;
  EXPECT_NE(out.find("RUNNING"), std::string::npos) << out;
  ASSERT_EQ(ctl({"ops", "cancel", "slow"}, &out), 0) << out;
  EXPECT_NE(out.find("skipped of 2"), std::string::npos) << out;
  ASSERT_EQ(ctl({"ops", "show", "slow", "--items"}, &out), 0) << out;
  EXPECT_NE(out.find("CANCELLED"), std::string::npos) << out;
  EXPECT_NE(out.find("SKIPPED"), std::string::npos) << out;
  EXPECT_EQ(ctl({"ops", "cancel", "slow"}, &out), 1) << out;
  EXPECT_EQ(ctl({"ops", "show", "nope"}, &out), 3) << out;
  EXPECT_EQ(ctl({"ops", "start", "--kind", "pause", "--query", "status = 'RUNNING'"}, &out), 2)
      << out;
}

}  // namespace
}  // namespace gridflow::testing
