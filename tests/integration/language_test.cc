// The definition language against a real PostgreSQL: timers (with the engine's test clock),
// signals, deadlines, parallel branches, fan-out, child runs, compensation and cancellation.
#include <atomic>
#include <map>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using nlohmann::json;
using worker::TaskContext;
using worker::TaskOutcome;

class LanguageTest : public ::testing::Test {
 protected:
  void Define(const std::string& name, const std::string& steps) {
    const grpc::Status s =
        Register(engine_, R"({"name": ")" + name + R"(", "version": 1, "steps": )" + steps + "}");
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // Leases the next task of queue "q" and checks its step.
  v1::LeasedTask Next(const std::string& step) {
    v1::LeasedTask task = LeaseOne(engine_, "q", "test-worker");
    EXPECT_EQ(task.step(), step);
    return task;
  }
  // Moves the engine's clock so that `instant` (RFC 3339) is `after` in the past.
  void MoveClockPast(const std::string& instant, Millis after = Millis(60'000)) {
    const int64_t ms = std::stoll(db_.Query("SELECT (extract(epoch FROM '" + instant +
                                            "'::timestamptz - now()) * 1000)::bigint"));
    engine_.SetClockOffset(Millis(ms) + after);
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(LanguageTest, DurationTimerFiresWhenTheClockReachesIt) {
  Define("pause", R"js([{"name": "a", "kind": "task", "task_type": "t", "task_queue": "q"},
                      {"name": "cool_down", "kind": "timer", "duration": "2h"},
                      {"name": "b", "kind": "task", "task_type": "t", "task_queue": "q"}])js");
  Start(engine_, "p1", "pause");
  CompleteLeased(engine_, Next("a"), "1");
  const v1::Event started = WaitForEvent(engine_, "p1", "TimerStarted");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM timers WHERE state = 'PENDING'"), "1");
  EXPECT_TRUE(LeaseOne(engine_, "q", "w", std::chrono::milliseconds(300)).task_id().empty());
  MoveClockPast(json::parse(started.payload_json())["fire_at"]);
  CompleteLeased(engine_, Next("b"), "2");
  EXPECT_EQ(WaitClosed(engine_, "p1").status(), v1::RUN_STATUS_COMPLETED);
  const auto types = EventTypes(History(engine_, "p1"));
  EXPECT_NE(std::find(types.begin(), types.end(), "TimerFired"), types.end());
}

TEST_F(LanguageTest, WallClockTimerInAMarketTimeZone) {
  // Gate closure for delivery on 2026-12-02 is 12:00 Brussels (CET) on the 1st: 11:00 UTC.
  Define("until_gate", R"js([{"name": "gate", "kind": "timer",
                            "until": "gate_closure($/input/market, $/input/day)"},
                           {"name": "done", "kind": "succeed"}])js");
  Start(engine_, "g1", "until_gate", R"({"market": "EPEX-DE-LU", "day": "2026-12-02"})");
  const v1::Event started = WaitForEvent(engine_, "g1", "TimerStarted");
  EXPECT_EQ(json::parse(started.payload_json())["fire_at"], "2026-12-01T11:00:00.000000Z");
  MoveClockPast("2026-12-01T11:00:00Z");
  EXPECT_EQ(WaitClosed(engine_, "g1").status(), v1::RUN_STATUS_COMPLETED);
}

TEST_F(LanguageTest, SignalsSentEarlyAreKeptAndConsumedInOrder) {
  Define("acks", R"js([{"name": "submit", "kind": "task", "task_type": "t", "task_queue": "q"},
                     {"name": "first_ack", "kind": "wait_signal", "signal": "ack"},
                     {"name": "second_ack", "kind": "wait_signal", "signal": "ack"}])js");
  Start(engine_, "s1", "acks");
  for (const char* n : {"1", "2"}) {
    v1::SignalRunRequest request;
    request.set_workflow_id("s1");
    request.set_signal_name("ack");
    request.set_payload_json(std::string(R"({"n": )") + n + "}");
    v1::SignalRunResponse response;
    ASSERT_TRUE(engine_.workflows().SignalRun(Ctx().get(), request, &response).ok());
  }
  CompleteLeased(engine_, Next("submit"), "{}");
  const v1::Run run = WaitClosed(engine_, "s1");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED);
  const json data = json::parse(run.data_json());
  EXPECT_EQ(data["first_ack"]["n"], 1);
  EXPECT_EQ(data["second_ack"]["n"], 2);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM signals WHERE consumed_at IS NULL"), "0");
}

TEST_F(LanguageTest, SignalTimeoutTakesTheTimeoutBranch) {
  Define("wait_ack", R"js([{"name": "ack", "kind": "wait_signal", "signal": "ack", "timeout": "10m",
                          "on_timeout": "escalate"},
                         {"name": "done", "kind": "succeed"},
                         {"name": "escalate", "kind": "task", "task_type": "t", "task_queue": "q"}])js");
  Start(engine_, "w1", "wait_ack");
  const v1::Event waiting = WaitForEvent(engine_, "w1", "SignalWaitStarted");
  MoveClockPast(json::parse(waiting.payload_json())["timeout_at"]);
  CompleteLeased(engine_, Next("escalate"), "{}");
  EXPECT_EQ(WaitClosed(engine_, "w1").status(), v1::RUN_STATUS_COMPLETED);
  WaitForEvent(engine_, "w1", "SignalTimedOut");
}

TEST_F(LanguageTest, MissedDeadlineCancelsTheTaskAndTakesTheFallback) {
  Define("deadline", R"js([
      {"name": "submit", "kind": "task", "task_type": "t", "task_queue": "q",
       "timeouts": {"start_to_close": "1d", "heartbeat": "1d"},
       "deadline": "time_add(now(), '30m')", "on_deadline": "fallback"},
      {"name": "done", "kind": "succeed", "result": "normal"},
      {"name": "fallback", "kind": "task", "task_type": "t", "task_queue": "q", "next": "fell_back"},
      {"name": "fell_back", "kind": "succeed", "result": "fallback"}])js");
  Start(engine_, "d1", "deadline");
  const v1::LeasedTask slow = Next("submit");
  engine_.SetClockOffset(Millis(31 * 60'000));
  const v1::LeasedTask fallback = Next("fallback");
  // The worker still holding `submit` is told to stop; its late completion is recorded only.
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_task_id(slow.task_id());
  heartbeat.set_lease_epoch(slow.lease_epoch());
  v1::HeartbeatResponse told;
  ASSERT_TRUE(engine_.workers().Heartbeat(Ctx().get(), heartbeat, &told).ok());
  EXPECT_TRUE(told.cancel_requested());
  CompleteLeased(engine_, slow, R"("too late")");
  CompleteLeased(engine_, fallback, "{}");
  const v1::Run run = WaitClosed(engine_, "d1");
  EXPECT_EQ(run.result_json(), R"("fallback")");
  const auto events = History(engine_, "d1");
  const auto types = EventTypes(events);
  EXPECT_NE(std::find(types.begin(), types.end(), "DeadlinePassed"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "TaskCancelRequested"), types.end());
  int completions = 0;
  for (const auto& e : events) {
    if (e.type() != "TaskCompleted") continue;
    ++completions;
    const json payload = json::parse(e.payload_json());
    EXPECT_TRUE(payload["worker"].is_string() && !payload["worker"].get<std::string>().empty());
    if (e.step() == "submit") {
      EXPECT_TRUE(payload["cancel_requested"].get<bool>());
      EXPECT_EQ(payload["result"], "too late");
      EXPECT_EQ(payload["lease_epoch"], slow.lease_epoch());
      EXPECT_EQ(payload.size(), 4U) << e.payload_json();
    } else {
      EXPECT_EQ(payload["result"], json::object());
      EXPECT_EQ(payload["lease_epoch"], fallback.lease_epoch());
      EXPECT_FALSE(payload.contains("cancel_requested")) << e.payload_json();
      EXPECT_EQ(payload.size(), 3U) << e.payload_json();
    }
  }
  EXPECT_EQ(completions, 2);
}

TEST_F(LanguageTest, ParallelBranchesAndForeachRunWithRealWorkers) {
  Define("fanout", R"js([
      {"name": "dispatch", "kind": "parallel", "branches": [
        {"name": "battery", "steps": [{"name": "bess", "kind": "task", "task_type": "setpoint",
                                       "task_queue": "q", "input": {"asset": "bess", "mw": "=$/input/mw"}}]},
        {"name": "chp", "steps": [{"name": "chp_unit", "kind": "task", "task_type": "setpoint",
                                   "task_queue": "q", "input": {"asset": "chp", "mw": "=$/input/mw / 2"}}]}]},
      {"name": "per_qh", "kind": "foreach", "items": "range(12)", "max_concurrency": 4,
       "steps": [{"name": "price", "kind": "task", "task_type": "price", "task_queue": "q",
                  "input": {"qh": "=$/item"}}],
       "output": "=$/price.eur"}])js");
  std::atomic<int> running{0}, max_running{0};
  InProcessWorker worker(
      engine_, "w",
      {{"setpoint",
        [](TaskContext& ctx) {
          const json in = json::parse(ctx.input_json());
          return TaskOutcome::Success(json{{"set", in["asset"]}, {"mw", in["mw"]}}.dump());
        }},
       {"price",
        [&](TaskContext& ctx) {
          max_running = std::max(max_running.load(), ++running);
          ctx.SleepFor(Millis(20));
          --running;
          const int qh = json::parse(ctx.input_json())["qh"];
          return TaskOutcome::Success(json{{"eur", 40 + qh}}.dump());
        }}},
      /*concurrency=*/8);
  Start(engine_, "f1", "fanout", R"({"mw": 10})");
  const v1::Run run = WaitClosed(engine_, "f1");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.failure().message();
  const json data = json::parse(run.data_json());
  EXPECT_EQ(data["dispatch"]["battery"]["mw"], 10);
  EXPECT_EQ(data["dispatch"]["chp"]["mw"], 5);
  ASSERT_EQ(data["per_qh"].size(), 12u);
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(data["per_qh"][i], 40 + i);
  EXPECT_LE(max_running.load(), 4);  // the foreach's concurrency limit held
  // Each iteration's history events name their item; steps outside the foreach none.
  std::map<std::string, int> completed;
  for (const v1::Event& e : History(engine_, "f1")) {
    if (e.type() == "TaskCompleted") ++completed[e.step() + e.iteration()];
  }
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(completed["price[" + std::to_string(i) + "]"], 1) << i;
  EXPECT_EQ(completed["bess"], 1);
  EXPECT_EQ(completed["chp_unit"], 1);
}

TEST_F(LanguageTest, ChildRunsReturnTheirResultToTheParent) {
  Define("settle_period", R"js([{"name": "compute", "kind": "task", "task_type": "compute",
                               "task_queue": "q", "input": "=$/input"}])js");
  Define("settlement", R"js([
      {"name": "period", "kind": "child", "definition": "settle_period", "input": {"period": "=$/input/period"}},
      {"name": "done", "kind": "succeed", "result": "=$/period/compute/eur"}])js");
  Start(engine_, "parent-1", "settlement", R"({"period": 7})");
  const v1::LeasedTask task = Next("compute");
  EXPECT_EQ(task.workflow_id(), "parent-1/period");
  EXPECT_EQ(json::parse(task.input_json())["period"], 7);
  CompleteLeased(engine_, task, R"({"eur": 1234.5})");
  const v1::Run parent = WaitClosed(engine_, "parent-1");
  EXPECT_EQ(parent.status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(parent.result_json(), "1234.5");
  EXPECT_EQ(GetRun(engine_, "parent-1/period").status(), v1::RUN_STATUS_COMPLETED);
  const auto types = EventTypes(History(engine_, "parent-1"));
  EXPECT_NE(std::find(types.begin(), types.end(), "ChildRunStarted"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "ChildRunClosed"), types.end());
}

TEST_F(LanguageTest, CancellingAParentCancelsItsChild) {
  Define("child_def",
         R"js([{"name": "wait_forever", "kind": "wait_signal", "signal": "never"}])js");
  Define("parent_def", R"js([{"name": "kid", "kind": "child", "definition": "child_def"}])js");
  Start(engine_, "p", "parent_def");
  WaitForEvent(engine_, "p", "ChildRunStarted");
  v1::CancelRunRequest cancel;
  cancel.set_workflow_id("p");
  cancel.set_identity("operator");
  v1::CancelRunResponse response;
  ASSERT_TRUE(engine_.workflows().CancelRun(Ctx().get(), cancel, &response).ok());
  EXPECT_EQ(WaitClosed(engine_, "p").status(), v1::RUN_STATUS_CANCELLED);
  EXPECT_EQ(WaitClosed(engine_, "p/kid").status(), v1::RUN_STATUS_CANCELLED);
}

TEST_F(LanguageTest, FailureRunsCompensationsInReverseOrderAndTheHistoryShowsThem) {
  Define("saga", R"js([
      {"name": "reserve", "kind": "task", "task_type": "reserve", "task_queue": "q",
       "compensate": {"task_type": "release", "task_queue": "q", "input": {"id": "=$/reserve/id"}}},
      {"name": "submit", "kind": "task", "task_type": "submit", "task_queue": "q",
       "compensate": {"task_type": "withdraw", "task_queue": "q", "input": {"order": "=$/submit/order"}}},
      {"name": "confirm", "kind": "task", "task_type": "confirm", "task_queue": "q",
       "retry": {"max_attempts": 1}}])js");
  Start(engine_, "saga-1", "saga");
  CompleteLeased(engine_, Next("reserve"), R"({"id": "R-9"})");
  CompleteLeased(engine_, Next("submit"), R"({"order": "EX-4"})");
  const v1::LeasedTask confirm = Next("confirm");
  v1::FailTaskRequest fail;
  fail.set_task_id(confirm.task_id());
  fail.set_lease_epoch(confirm.lease_epoch());
  fail.set_error_type("ExchangeRejected");
  fail.set_message("price outside limits");
  v1::FailTaskResponse failed;
  ASSERT_TRUE(engine_.workers().FailTask(Ctx().get(), fail, &failed).ok());
  EXPECT_EQ(GetRun(engine_, "saga-1").status(), v1::RUN_STATUS_COMPENSATING);

  const v1::LeasedTask withdraw = LeaseOne(engine_, "q", "w");
  EXPECT_EQ(withdraw.task_type(), "withdraw");
  EXPECT_EQ(json::parse(withdraw.input_json())["order"], "EX-4");
  EXPECT_EQ(withdraw.idempotency_key(), withdraw.run_id() + ":submit:compensate");
  CompleteLeased(engine_, withdraw, "{}");
  const v1::LeasedTask release = LeaseOne(engine_, "q", "w");
  EXPECT_EQ(release.task_type(), "release");
  EXPECT_EQ(json::parse(release.input_json())["id"], "R-9");
  CompleteLeased(engine_, release, "{}");

  const v1::Run run = WaitClosed(engine_, "saga-1");
  EXPECT_EQ(run.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(run.failure().error_type(), "ExchangeRejected");
  const auto types = EventTypes(History(engine_, "saga-1"));
  const auto started = std::find(types.begin(), types.end(), "CompensationStarted");
  ASSERT_NE(started, types.end());
  EXPECT_EQ(types.back(), "RunFailed");
}

TEST_F(LanguageTest, DaylightSavingDaysHaveTheirQuarterHourCounts) {
  Define("qh", R"js([{"name": "each", "kind": "foreach",
                    "items": "quarter_hours($/input/day, 'Europe/Berlin')", "max_concurrency": 100,
                    "steps": [{"name": "bid", "kind": "task", "task_type": "bid", "task_queue": "q",
                               "input": {"start": "=$/item/start"}}]}])js");
  InProcessWorker worker(
      engine_, "w",
      {{"bid",
        [](TaskContext& ctx) {
          return TaskOutcome::Success(json::parse(ctx.input_json())["start"].dump());
        }}},
      16);
  for (const auto& [day, expected] :
       std::map<std::string, size_t>{{"2026-03-29", 92}, {"2026-10-25", 100}, {"2026-06-15", 96}}) {
    Start(engine_, "qh-" + day, "qh", R"({"day": ")" + day + R"("})");
    const v1::Run run = WaitClosed(engine_, "qh-" + day, std::chrono::seconds(60));
    ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << day;
    EXPECT_EQ(json::parse(run.data_json())["each"].size(), expected) << day;
  }
}

TEST_F(LanguageTest, RunsStayPinnedToTheirDefinitionVersion) {
  Define("versioned", R"js([{"name": "a", "kind": "task", "task_type": "t", "task_queue": "q"},
                            {"name": "old_b", "kind": "task", "task_type": "t", "task_queue": "q"}])js");
  Start(engine_, "v1-run", "versioned");
  const v1::LeasedTask a = Next("a");
  // Version 2 renames the second step; the running run keeps version 1's steps.
  ASSERT_TRUE(Register(engine_, R"js({"name": "versioned", "version": 2, "steps": [
      {"name": "a", "kind": "task", "task_type": "t", "task_queue": "q"},
      {"name": "new_b", "kind": "task", "task_type": "t", "task_queue": "q"}]})js")
                  .ok());
  CompleteLeased(engine_, a, "1");
  CompleteLeased(engine_, Next("old_b"), "2");
  EXPECT_EQ(WaitClosed(engine_, "v1-run").definition_version(), 1);
  Start(engine_, "v2-run", "versioned");
  CompleteLeased(engine_, Next("a"), "1");
  CompleteLeased(engine_, Next("new_b"), "2");
  EXPECT_EQ(WaitClosed(engine_, "v2-run").definition_version(), 2);
}

// A retry is dispatched when its backoff ends, not at the next fallback poll.
TEST(Dispatch, RetryIsDispatchedWhenItsBackoffEnds) {
  TestDatabase db;
  engine::EngineConfig config = FastEngineConfig(db.url());
  config.dispatch_fallback_poll = Millis(20'000);
  TestEngine engine(config);
  ASSERT_TRUE(Register(engine, SequenceDefinition("r", {{"s", "t"}},
                                                  R"({"retry": {"initial_interval": "300ms"}})"))
                  .ok());
  Start(engine, "r1", "r");
  const v1::LeasedTask first = LeaseOne(engine, "q", "w");
  v1::FailTaskRequest fail;
  fail.set_task_id(first.task_id());
  fail.set_lease_epoch(first.lease_epoch());
  fail.set_error_type("Transient");
  v1::FailTaskResponse failed;
  ASSERT_TRUE(engine.workers().FailTask(Ctx().get(), fail, &failed).ok());
  const auto before = std::chrono::steady_clock::now();
  const v1::LeasedTask second = LeaseOne(engine, "q", "w", std::chrono::seconds(10));
  EXPECT_EQ(second.attempt(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
}

}  // namespace
}  // namespace gridflow::testing
