// Cancellation reaching a heartbeating worker, and signals.
#include <atomic>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using worker::TaskContext;
using worker::TaskOutcome;

class CancelSignalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string extras = R"({"timeouts": {"start_to_close": "1m", "heartbeat": "600ms"}})";
    ASSERT_TRUE(
        Register(engine_, SequenceDefinition("activation", {{"dispatch", "dispatch"}}, extras))
            .ok());
  }

  grpc::Status Cancel(const std::string& workflow_id, const std::string& identity,
                      v1::CancelRunResponse* response) {
    v1::CancelRunRequest request;
    request.set_workflow_id(workflow_id);
    request.set_identity(identity);
    request.set_reason("TSO withdrew the activation");
    return engine_.workflows().CancelRun(Ctx().get(), request, response);
  }

  grpc::Status Signal(const std::string& workflow_id, const std::string& dedup_id,
                      v1::SignalRunResponse* response) {
    v1::SignalRunRequest request;
    request.set_workflow_id(workflow_id);
    request.set_signal_name("exchange_ack");
    request.set_payload_json(R"({"accepted": true})");
    request.set_dedup_id(dedup_id);
    request.set_identity("exchange-gateway");
    return engine_.workflows().SignalRun(Ctx().get(), request, response);
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(CancelSignalTest, CancellationReachesAHeartbeatingWorker) {
  std::atomic<bool> started{false};
  std::atomic<bool> saw_cancel{false};
  InProcessWorker worker(engine_, "dispatcher-1", {{"dispatch", [&](TaskContext& ctx) {
                                                      started = true;
                                                      while (ctx.SleepFor(Millis(50))) {
                                                      }
                                                      saw_cancel = ctx.cancel_requested();
                                                      return TaskOutcome::Cancelled();
                                                    }}});
  Start(engine_, "afrr-1", "activation");
  ASSERT_TRUE(Eventually([&] { return started.load(); }));

  v1::CancelRunResponse response;
  ASSERT_TRUE(Cancel("afrr-1", "operator-anna", &response).ok());
  EXPECT_EQ(response.run().status(), v1::RUN_STATUS_CANCELLING);
  // No authentication on this engine: the principal is "anonymous", the claim a detail.
  EXPECT_EQ(response.run().cancel_requested_by(), "anonymous");

  const v1::Run run = WaitClosed(engine_, "afrr-1");
  EXPECT_EQ(run.status(), v1::RUN_STATUS_CANCELLED);
  EXPECT_TRUE(saw_cancel.load());
  const auto events = History(engine_, "afrr-1");
  EXPECT_EQ(EventTypes(events),
            (std::vector<std::string>{"RunStarted", "TaskScheduled", "RunCancelRequested",
                                      "TaskCancelRequested", "TaskFailed", "RunCancelled"}));
  EXPECT_EQ(events[2].actor(), "anonymous");
  EXPECT_EQ(nlohmann::json::parse(events[2].payload_json())["client_identity"], "operator-anna");
  EXPECT_EQ(nlohmann::json::parse(events[2].payload_json())["reason"],
            "TSO withdrew the activation");
  EXPECT_EQ(nlohmann::json::parse(events[3].payload_json())["worker"], "dispatcher-1");
  EXPECT_EQ(nlohmann::json::parse(events[4].payload_json())["error_type"], "gridflow.Cancelled");
  EXPECT_EQ(events[5].actor(), "anonymous");

  // Cancelling again is a no-op; the history does not grow.
  ASSERT_TRUE(Cancel("afrr-1", "operator-bob", &response).ok());
  EXPECT_EQ(History(engine_, "afrr-1").size(), events.size());
}

TEST_F(CancelSignalTest, CancellingAQueuedRunEndsItAtOnce) {
  Start(engine_, "queued", "activation");
  v1::CancelRunResponse response;
  ASSERT_TRUE(Cancel("queued", "", &response).ok());
  EXPECT_EQ(response.run().status(), v1::RUN_STATUS_CANCELLED);
  const auto events = History(engine_, "queued");
  EXPECT_EQ(EventTypes(events),
            (std::vector<std::string>{"RunStarted", "TaskScheduled", "RunCancelRequested",
                                      "TaskCancelled", "RunCancelled"}));
  EXPECT_EQ(events.back().actor(), "anonymous");
  EXPECT_TRUE(LeaseOne(engine_, "q", "w", std::chrono::milliseconds(300)).task_id().empty());
}

TEST_F(CancelSignalTest, ClosedAndUnknownRunsCannotBeCancelledOrSignalled) {
  Start(engine_, "done", "activation");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
  v1::CompleteTaskRequest complete;
  complete.set_task_id(task.task_id());
  complete.set_lease_epoch(task.lease_epoch());
  v1::CompleteTaskResponse completed;
  ASSERT_TRUE(engine_.workers().CompleteTask(Ctx().get(), complete, &completed).ok());

  v1::CancelRunResponse cancel;
  EXPECT_EQ(Cancel("done", "op", &cancel).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Cancel("missing", "op", &cancel).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::SignalRunResponse signal;
  EXPECT_EQ(Signal("done", "", &signal).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Signal("missing", "", &signal).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM signals"), "0");
}

TEST_F(CancelSignalTest, SignalsAreRecordedOncePerDedupId) {
  Start(engine_, "bid", "activation");
  v1::SignalRunResponse response;
  ASSERT_TRUE(Signal("bid", "ack-42", &response).ok());
  EXPECT_TRUE(response.accepted());
  ASSERT_TRUE(Signal("bid", "ack-42", &response).ok());
  EXPECT_FALSE(response.accepted());
  ASSERT_TRUE(Signal("bid", "", &response).ok());  // no dedup id: every delivery counts
  EXPECT_TRUE(response.accepted());

  const auto events = History(engine_, "bid");
  const auto types = EventTypes(events);
  EXPECT_EQ(std::count(types.begin(), types.end(), "SignalReceived"), 2);
  const auto payload = nlohmann::json::parse(events[2].payload_json());
  EXPECT_EQ(payload["signal_name"], "exchange_ack");
  EXPECT_EQ(payload["payload"]["accepted"], true);
  EXPECT_EQ(payload["dedup_id"], "ack-42");
  EXPECT_EQ(events[2].actor(), "anonymous");
  EXPECT_EQ(payload["client_identity"], "exchange-gateway");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM signals"), "2");

  v1::SignalRunRequest bad;
  bad.set_workflow_id("bid");
  bad.set_signal_name("ack");
  bad.set_payload_json("{oops");
  EXPECT_EQ(engine_.workflows().SignalRun(Ctx().get(), bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM signals"), "2");
}

}  // namespace
}  // namespace gridflow::testing
