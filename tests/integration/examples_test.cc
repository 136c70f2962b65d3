// The shipped energy definitions (examples/) on a real engine, driven through the API with the
// test clock: the paths the end-to-end test cannot reach in real time.
#include <fstream>
#include <sstream>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using nlohmann::json;

std::string ReadExample(const std::string& relative) {
  std::ifstream in(std::string(GRIDFLOW_EXAMPLES_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Register(engine_, ReadExample("day-ahead/definition.json")).ok());
  }
  v1::LeasedTask Next(const std::string& queue, const std::string& step) {
    const v1::LeasedTask task = LeaseOne(engine_, queue, "test-worker");
    EXPECT_EQ(task.step(), step);
    return task;
  }
  void Signal(const std::string& workflow_id, const std::string& name, const json& payload) {
    v1::SignalRunRequest request;
    request.set_workflow_id(workflow_id);
    request.set_signal_name(name);
    request.set_payload_json(payload.dump());
    v1::SignalRunResponse response;
    ASSERT_TRUE(engine_.workflows().SignalRun(Ctx().get(), request, &response).ok());
  }
  // Runs forecast and optimise with `n` quarter-hours of bids.
  void ForecastAndOptimise(size_t n) {
    const v1::LeasedTask forecast = Next("trading", "forecast");
    const json input = json::parse(forecast.input_json());
    EXPECT_EQ(input["quarter_hours"].size(), n);
    CompleteLeased(engine_, forecast,
                   json{{"forecast_mw", json(std::vector<double>(n, 10.0))}}.dump());
    json all = json::array();
    for (size_t i = 0; i < n; ++i)
      all.push_back({{"qh", i}, {"volume_mw", 10.0}});
    CompleteLeased(engine_, Next("trading", "optimise"), json{{"bids", all}}.dump());
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(ExamplesTest, DayAheadMissesItsSafetyDeadlineDuringSubmissionAndFallsBack) {
  // Delivery the day after tomorrow: gate closure tomorrow 12:00 Brussels, safety deadline 30
  // minutes before it (both in the future whenever the test runs).
  const json input = json::parse(ReadExample("day-ahead/input.json"));
  json run_input = input;
  const std::string delivery_day = db_.Query(  // not a DST day: 96 quarter-hours
      "SELECT d::text FROM generate_series(current_date + 2, current_date + 4, interval '1 day') "
      "g, LATERAL (SELECT g::date AS d) x WHERE ((d + 1)::timestamp AT TIME ZONE "
      "'Europe/Berlin') - (d::timestamp AT TIME ZONE 'Europe/Berlin') = interval '24 hours' "
      "ORDER BY d LIMIT 1");
  run_input["delivery_day"] = delivery_day;
  Start(engine_, "dab-late", "day-ahead-bid", run_input.dump());
  ForecastAndOptimise(96);
  const v1::LeasedTask submit = Next("exchange", "submit");  // the exchange hangs...
  const int64_t ms = std::stoll(
      db_.Query("SELECT (extract(epoch FROM ((date '" + delivery_day +
                "' - 1 + time '12:00') AT TIME ZONE 'Europe/Brussels') - interval '29 minutes' - "
                "now()) * 1000)::bigint"));
  engine_.SetClockOffset(Millis(ms));  // ...past the safety deadline

  // A re-queued submission (see below) may be leased first; the fallback must follow regardless.
  v1::LeasedTask fallback;
  for (int i = 0; i < 5 && fallback.step() != "fallback"; ++i) {
    fallback = LeaseOne(engine_, "exchange", "test-worker");
  }
  ASSERT_EQ(fallback.step(), "fallback");
  EXPECT_EQ(json::parse(fallback.input_json())["bids"].size(), 96u);  // the last valid bid
  CompleteLeased(engine_, fallback, R"({"order_id": "EX-FALLBACK", "fallback": true})");
  const v1::LeasedTask alert = Next("ops", "alert");
  EXPECT_NE(json::parse(alert.input_json())["message"].get<std::string>().find("fallback"),
            std::string::npos);
  CompleteLeased(engine_, alert, "{}");
  Signal("dab-late", "auction_results",
         {{"order_id", "EX-FALLBACK"}, {"cleared_mw", {9.0}}, {"cleared_mwh", 2.25}});
  CompleteLeased(engine_, Next("trading", "nominate"), "{}");

  const v1::Run run = WaitClosed(engine_, "dab-late");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.failure().message();
  EXPECT_EQ(json::parse(run.result_json())["fallback"], true);
  const auto types = EventTypes(History(engine_, "dab-late"));
  EXPECT_NE(std::find(types.begin(), types.end(), "DeadlinePassed"), types.end());
  // Moving the clock also ends the submission's lease (start-to-close): the reaper may re-queue it
  // before the deadline timer fires. Either way the submission is stopped, queued or running.
  EXPECT_TRUE(std::find(types.begin(), types.end(), "TaskCancelRequested") != types.end() ||
              std::find(types.begin(), types.end(), "TaskCancelled") != types.end());
  // The hanging submission's worker is told to stop.
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_task_id(submit.task_id());
  heartbeat.set_lease_epoch(submit.lease_epoch());
  v1::HeartbeatResponse told;
  const grpc::Status s = engine_.workers().Heartbeat(Ctx().get(), heartbeat, &told);
  EXPECT_TRUE(!s.ok() || told.cancel_requested());  // cancelled, or its lease ended with the run
}

TEST_F(ExamplesTest, DayAheadOnTheAutumnDstDayBidsOneHundredQuarterHours) {
  json input = json::parse(ReadExample("day-ahead/input.json"));
  input["delivery_day"] = "2027-10-31";
  Start(engine_, "dab-autumn", "day-ahead-bid", input.dump());
  ForecastAndOptimise(100);
  const v1::LeasedTask submit = Next("exchange", "submit");
  EXPECT_EQ(json::parse(submit.input_json())["bids"].size(), 100u);
  CompleteLeased(engine_, submit, R"({"order_id": "EX-1"})");
  Signal("dab-autumn", "exchange_ack", {{"accepted", true}});
  Signal("dab-autumn", "auction_results",
         {{"order_id", "EX-1"}, {"cleared_mw", {1.0}}, {"cleared_mwh", 0.25}});
  CompleteLeased(engine_, Next("trading", "nominate"), "{}");
  const v1::Run run = WaitClosed(engine_, "dab-autumn");
  EXPECT_EQ(json::parse(run.result_json())["quarter_hours"], 100);
  EXPECT_EQ(json::parse(run.result_json())["fallback"], false);
}

TEST_F(ExamplesTest, DayAheadWithdrawsItsBidWhenTheRunIsCancelledAfterSubmission) {
  json input = json::parse(ReadExample("day-ahead/input.json"));
  input["delivery_day"] = "2027-06-15";
  Start(engine_, "dab-cancel", "day-ahead-bid", input.dump());
  ForecastAndOptimise(96);
  CompleteLeased(engine_, Next("exchange", "submit"), R"({"order_id": "EX-7"})");
  WaitForEvent(engine_, "dab-cancel", "SignalWaitStarted");
  v1::CancelRunRequest cancel;
  cancel.set_workflow_id("dab-cancel");
  cancel.set_identity("trader-jo");
  cancel.set_reason("portfolio sold bilaterally");
  v1::CancelRunResponse response;
  ASSERT_TRUE(engine_.workflows().CancelRun(Ctx().get(), cancel, &response).ok());
  EXPECT_EQ(response.run().status(), v1::RUN_STATUS_COMPENSATING);
  const v1::LeasedTask withdraw = Next("exchange", "submit");  // the compensation of `submit`
  EXPECT_EQ(withdraw.task_type(), "withdraw_bid");
  EXPECT_EQ(json::parse(withdraw.input_json())["order_id"], "EX-7");
  CompleteLeased(engine_, withdraw, "{}");
  EXPECT_EQ(WaitClosed(engine_, "dab-cancel").status(), v1::RUN_STATUS_CANCELLED);
}

}  // namespace
}  // namespace gridflow::testing
