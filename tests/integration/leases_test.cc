// Leases and fencing, retries and their exhaustion, through the raw WorkerService API.
#include <prometheus/registry.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <set>
#include <thread>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

class LeasesTest : public ::testing::Test {
 protected:
  // One task step with a short heartbeat timeout and quick retries.
  void RegisterStep(int max_attempts, const std::string& extra_retry = "") {
    const std::string extras =
        R"({"timeouts": {"start_to_close": "30s", "heartbeat": "1s"},
            "retry": {"max_attempts": )" +
        std::to_string(max_attempts) +
        R"(, "initial_interval": "50ms", "backoff_coefficient": 1.0)" + extra_retry + "}}";
    ASSERT_TRUE(Register(engine_, SequenceDefinition("bid", {{"submit", "submit"}}, extras)).ok());
  }

  grpc::Status Complete(const v1::LeasedTask& task, int64_t epoch, const std::string& result,
                        const std::string& identity = "w") {
    v1::CompleteTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_epoch(epoch);
    request.set_result_json(result);
    request.set_identity(identity);
    v1::CompleteTaskResponse response;
    return engine_.workers().CompleteTask(Ctx().get(), request, &response);
  }

  grpc::Status Fail(const v1::LeasedTask& task, const std::string& type, const std::string& message,
                    bool non_retryable = false, v1::FailTaskResponse* response = nullptr) {
    v1::FailTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_epoch(task.lease_epoch());
    request.set_error_type(type);
    request.set_message(message);
    request.set_non_retryable(non_retryable);
    request.set_identity("w");
    v1::FailTaskResponse local;
    return engine_.workers().FailTask(Ctx().get(), request, response ? response : &local);
  }

  grpc::Status Heartbeat(const v1::LeasedTask& task, int64_t epoch,
                         v1::HeartbeatResponse* response = nullptr,
                         const std::string& details_json = "") {
    v1::HeartbeatRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_epoch(epoch);
    request.set_details_json(details_json);
    v1::HeartbeatResponse local;
    return engine_.workers().Heartbeat(Ctx().get(), request, response ? response : &local);
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(LeasesTest, LeasedTaskCarriesWhatAHandlerNeeds) {
  RegisterStep(3);
  const auto run = Start(engine_, "bid-1", "bid", R"({"mw": 5})").run();
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w1");
  ASSERT_FALSE(task.task_id().empty());
  EXPECT_GT(task.lease_epoch(), 0);
  EXPECT_EQ(task.attempt(), 1);
  EXPECT_EQ(task.max_attempts(), 3);
  EXPECT_EQ(task.workflow_id(), "bid-1");
  EXPECT_EQ(task.run_id(), run.run_id());
  EXPECT_EQ(task.step(), "submit");
  EXPECT_EQ(task.task_type(), "submit");
  EXPECT_EQ(task.idempotency_key(), run.run_id() + ":submit");
  EXPECT_EQ(nlohmann::json::parse(task.input_json())["input"]["mw"], 5);
  EXPECT_EQ(task.heartbeat_timeout().seconds(), 1);
  EXPECT_EQ(db_.Query("SELECT lease_owner FROM tasks"), "w1");
  // Nothing else to lease: an empty answer after the wait.
  EXPECT_TRUE(LeaseOne(engine_, "q", "w2", std::chrono::milliseconds(300)).task_id().empty());
}

TEST_F(LeasesTest, StaleEpochIsRejectedAndChangesNothing) {
  RegisterStep(3);
  Start(engine_, "bid-1", "bid");
  const v1::LeasedTask first = LeaseOne(engine_, "q", "slow-worker");
  ASSERT_GT(first.lease_epoch(), 0);
  // No heartbeat: the lease expires, the task is retried and leased again at epoch 2.
  v1::LeasedTask second;
  ASSERT_TRUE(Eventually([&] {
    second = LeaseOne(engine_, "q", "fast-worker", std::chrono::milliseconds(500));
    return !second.task_id().empty();
  }));
  EXPECT_EQ(second.task_id(), first.task_id());
  EXPECT_GT(second.lease_epoch(), first.lease_epoch());
  EXPECT_EQ(second.attempt(), 2);
  EXPECT_EQ(second.idempotency_key(), first.idempotency_key());

  const size_t events_before = History(engine_, "bid-1").size();
  const std::string data_before = db_.Query("SELECT data::text FROM runs");
  const grpc::Status stale =
      Complete(first, first.lease_epoch(), R"({"order": "from the old lease"})", "slow-worker");
  EXPECT_EQ(stale.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(stale.error_message().find("stale"), std::string::npos) << stale.error_message();
  EXPECT_EQ(Heartbeat(first, first.lease_epoch()).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Fail(first, "X", "late").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(History(engine_, "bid-1").size(), events_before);
  EXPECT_EQ(db_.Query("SELECT data::text FROM runs"), data_before);
  EXPECT_EQ(db_.Query("SELECT state FROM tasks"), "LEASED");

  ASSERT_TRUE(Complete(second, second.lease_epoch(), R"({"order": "EX-2"})", "fast-worker").ok());
  const v1::Run run = WaitClosed(engine_, "bid-1");
  EXPECT_EQ(run.status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(nlohmann::json::parse(run.result_json())["submit"]["order"], "EX-2");
  const auto events = History(engine_, "bid-1");
  EXPECT_EQ(EventTypes(events),
            (std::vector<std::string>{"RunStarted", "TaskScheduled", "TaskLeaseExpired",
                                      "TaskCompleted", "RunCompleted"}));
  const auto expired = nlohmann::json::parse(events[2].payload_json());
  EXPECT_EQ(expired["lease_owner"], "slow-worker");
  EXPECT_EQ(expired["error_type"], "gridflow.HeartbeatTimeout");
  EXPECT_EQ(expired["will_retry"], true);
  EXPECT_EQ(events[2].actor(), "engine");
  EXPECT_EQ(events[3].actor(), "anonymous");  // the principal; the worker's claim is a detail
  EXPECT_EQ(nlohmann::json::parse(events[3].payload_json())["worker"], "fast-worker");
}

TEST_F(LeasesTest, UnknownTasksAndMalformedLeasesAreRejected) {
  RegisterStep(3);
  v1::LeasedTask unknown;
  unknown.set_task_id("999999");
  EXPECT_EQ(Complete(unknown, 1, "{}").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Heartbeat(unknown, 1).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  unknown.set_task_id("not-a-number");
  EXPECT_EQ(Complete(unknown, 1, "{}").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  unknown.set_task_id("1");
  EXPECT_EQ(Complete(unknown, 0, "{}").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  Start(engine_, "bid-1", "bid");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
  EXPECT_EQ(Complete(task, task.lease_epoch(), "{broken").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(db_.Query("SELECT state FROM tasks"), "LEASED");
}

TEST_F(LeasesTest, RepeatedCompletionUnderTheSameLeaseIsAcknowledgedOnce) {
  RegisterStep(3);
  Start(engine_, "bid-1", "bid");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
  ASSERT_TRUE(Complete(task, task.lease_epoch(), R"({"n": 1})").ok());
  // The retry of a lost answer: acknowledged, and said to be a duplicate.
  v1::CompleteTaskRequest again;
  again.set_task_id(task.task_id());
  again.set_lease_epoch(task.lease_epoch());
  again.set_result_json(R"({ "n" : 1 })");
  v1::CompleteTaskResponse answer;
  ASSERT_TRUE(engine_.workers().CompleteTask(Ctx().get(), again, &answer).ok());
  EXPECT_TRUE(answer.duplicate());
  // A different result under the same lease contradicts the recorded one: refused, not silently
  // acknowledged, and the first result stands.
  const grpc::Status conflict = Complete(task, task.lease_epoch(), R"({"n": 2})");
  EXPECT_EQ(conflict.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(conflict.error_message().find("different result"), std::string::npos)
      << conflict.error_message();
  const auto types = EventTypes(History(engine_, "bid-1"));
  EXPECT_EQ(std::count(types.begin(), types.end(), "TaskCompleted"), 1);
  EXPECT_EQ(db_.Query("SELECT output->>'n' FROM tasks"), "1");
}

TEST_F(LeasesTest, HeartbeatsKeepTheLeaseAlive) {
  RegisterStep(3);
  Start(engine_, "bid-1", "bid");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
  while (std::chrono::steady_clock::now() < deadline) {  // > 3 heartbeat timeouts
    v1::HeartbeatResponse response;
    ASSERT_TRUE(Heartbeat(task, task.lease_epoch(), &response).ok());
    EXPECT_FALSE(response.cancel_requested());
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // a worker's heartbeat pace
  }
  EXPECT_TRUE(Complete(task, task.lease_epoch(), "{}").ok());
  EXPECT_EQ(WaitClosed(engine_, "bid-1").status(), v1::RUN_STATUS_COMPLETED);
}

// Progress a heartbeat carries stays until a later heartbeat carries other progress.
TEST_F(LeasesTest, HeartbeatDetailsStayUntilReplaced) {
  RegisterStep(3);
  Start(engine_, "bid-1", "bid");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
  ASSERT_TRUE(Heartbeat(task, task.lease_epoch(), nullptr, R"({"done": 0.5})").ok());
  EXPECT_EQ(db_.Query("SELECT heartbeat_details->>'done' FROM tasks"), "0.5");
  ASSERT_TRUE(Heartbeat(task, task.lease_epoch()).ok());  // no details: the last ones stay
  EXPECT_EQ(db_.Query("SELECT heartbeat_details->>'done' FROM tasks"), "0.5");
  ASSERT_TRUE(Heartbeat(task, task.lease_epoch(), nullptr, R"({"done": 0.9})").ok());
  EXPECT_EQ(db_.Query("SELECT heartbeat_details->>'done' FROM tasks"), "0.9");
  EXPECT_EQ(Heartbeat(task, task.lease_epoch() + 1, nullptr, R"({"done": 1})").error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);  // a stale lease changes nothing
  EXPECT_EQ(db_.Query("SELECT heartbeat_details->>'done' FROM tasks"), "0.9");
}

// An attempt that outlives its start-to-close timeout loses its lease even while it heartbeats;
// the attempt fails with gridflow.StartToCloseTimeout and the retry policy applies.
TEST_F(LeasesTest, AnAttemptPastItsStartToCloseTimeoutIsRetried) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("slow", {{"work", "work"}},
                                                   R"({"timeouts": {"start_to_close": "10m"},
                                                       "retry": {"max_attempts": 2}})"))
                  .ok());
  Start(engine_, "slow-1", "slow");
  const v1::LeasedTask first = LeaseOne(engine_, "q", "slow-worker");
  ASSERT_FALSE(first.task_id().empty());
  ASSERT_TRUE(Heartbeat(first, first.lease_epoch()).ok());
  engine_.SetClockOffset(Millis(10 * 60'000 + 1'000));
  const v1::Event expired = WaitForEvent(engine_, "slow-1", "TaskLeaseExpired");
  const auto payload = nlohmann::json::parse(expired.payload_json());
  EXPECT_EQ(payload["error_type"], "gridflow.StartToCloseTimeout");
  EXPECT_EQ(payload["timeout"], "start_to_close");
  EXPECT_EQ(payload["will_retry"], true);
  EXPECT_EQ(Heartbeat(first, first.lease_epoch()).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  const v1::LeasedTask second = LeaseOne(engine_, "q", "w");
  EXPECT_EQ(second.attempt(), 2);
  ASSERT_TRUE(Complete(second, second.lease_epoch(), "{}").ok());
  EXPECT_EQ(WaitClosed(engine_, "slow-1").status(), v1::RUN_STATUS_COMPLETED);
}

TEST_F(LeasesTest, ExhaustedRetriesFailTheRunWithTheLastError) {
  RegisterStep(3);
  Start(engine_, "bid-1", "bid");
  for (int attempt = 1; attempt <= 3; ++attempt) {
    v1::LeasedTask task;
    ASSERT_TRUE(Eventually([&] {
      task = LeaseOne(engine_, "q", "w", std::chrono::milliseconds(500));
      return !task.task_id().empty();
    }));
    EXPECT_EQ(task.attempt(), attempt);
    v1::FailTaskResponse response;
    ASSERT_TRUE(Fail(task, "ExchangeUnavailable",
                     "gateway down, attempt " + std::to_string(attempt), false, &response)
                    .ok());
    EXPECT_EQ(response.will_retry(), attempt < 3);
  }
  const v1::Run run = WaitClosed(engine_, "bid-1");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(run.failure().step(), "submit");
  EXPECT_EQ(run.failure().error_type(), "ExchangeUnavailable");
  EXPECT_EQ(run.failure().message(), "gateway down, attempt 3");
  EXPECT_EQ(run.failure().attempt(), 3);

  const auto events = History(engine_, "bid-1");
  EXPECT_EQ(EventTypes(events),
            (std::vector<std::string>{"RunStarted", "TaskScheduled", "TaskFailed", "TaskFailed",
                                      "TaskFailed", "RunFailed"}));
  EXPECT_EQ(nlohmann::json::parse(events[4].payload_json())["reason"],
            "attempts exhausted (3 of 3)");
  EXPECT_EQ(db_.Query("SELECT state FROM tasks"), "FAILED");
}

TEST_F(LeasesTest, NonRetryableFailuresFailTheRunAtOnce) {
  RegisterStep(5, R"(, "non_retryable_error_types": ["BidRejected"])");
  Start(engine_, "by-type", "bid");
  Start(engine_, "by-verdict", "bid");
  const v1::LeasedTask a = LeaseOne(engine_, "q", "w");
  const v1::LeasedTask b = LeaseOne(engine_, "q", "w");
  ASSERT_TRUE(Fail(a.workflow_id() == "by-type" ? a : b, "BidRejected", "price cap").ok());
  ASSERT_TRUE(Fail(a.workflow_id() == "by-type" ? b : a, "Whatever", "no point", true).ok());
  EXPECT_EQ(WaitClosed(engine_, "by-type").failure().error_type(), "BidRejected");
  EXPECT_EQ(WaitClosed(engine_, "by-verdict").status(), v1::RUN_STATUS_FAILED);
}

// Six tasks of about 1 MB each (a task without an input template is given the run's data): an
// answer of all of them would be over the 4 MiB a gRPC client takes by default (this test's
// channel). Each answer carries what fits; the rest go back to the queue for the next poll.
TEST_F(LeasesTest, AnswersOfLargeTasksStayUnderTheClientsLimitAndTheRestAreLeasedLater) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("curve", {{"s", "t"}})).ok());
  const std::string input = nlohmann::json({{"blob", std::string(1'000'000, 'c')}}).dump();
  for (int i = 0; i < 6; ++i)
    Start(engine_, "curve-" + std::to_string(i), "curve", input);
  v1::LeaseTasksRequest request;
  request.add_task_queues("q");
  request.set_max_tasks(10);
  request.set_identity("w");
  request.mutable_wait()->set_seconds(2);
  std::vector<std::string> leased;
  for (int poll = 0; poll < 10 && leased.size() < 6; ++poll) {
    v1::LeaseTasksResponse response;
    const grpc::Status s = engine_.workers().LeaseTasks(Ctx().get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_LE(response.tasks_size(), 3);
    for (const auto& task : response.tasks())
      leased.push_back(task.task_id());
  }
  std::sort(leased.begin(), leased.end());
  EXPECT_EQ(leased.size(), 6u);
  EXPECT_EQ(std::unique(leased.begin(), leased.end()), leased.end()) << "a task leased twice";
  // Given back without an attempt counted, and the history says why.
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks WHERE attempt = 1 AND state = 'LEASED'"), "6");
  EXPECT_NE(db_.Query("SELECT count(*) FROM events WHERE type = 'TaskReleased'"
                      " AND payload->>'reason' LIKE 'no room in the answer%'"),
            "0");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events WHERE type = 'TaskReleased'"
                      " AND payload->>'reason' NOT LIKE 'no room in the answer%'"),
            "0");
}

TEST_F(LeasesTest, ReleasedTaskIsLeasedAgainForTheSameAttempt) {
  RegisterStep(3);
  Start(engine_, "bid-1", "bid");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "leaving");
  v1::ReleaseTaskRequest release;
  release.set_task_id(task.task_id());
  release.set_lease_epoch(task.lease_epoch());
  release.set_reason("shutting down");
  release.set_identity("leaving");
  v1::ReleaseTaskResponse released;
  ASSERT_TRUE(engine_.workers().ReleaseTask(Ctx().get(), release, &released).ok());
  const v1::LeasedTask again = LeaseOne(engine_, "q", "staying");
  EXPECT_EQ(again.task_id(), task.task_id());
  EXPECT_EQ(again.attempt(), 1);
  EXPECT_GT(again.lease_epoch(), task.lease_epoch());
  const auto types = EventTypes(History(engine_, "bid-1"));
  EXPECT_EQ(types.back(), "TaskReleased");
}

TEST_F(LeasesTest, AWaitingLeaseIsAnsweredAsSoonAsWorkArrives) {
  // A fallback poll far longer than the bound below: only the wake-up can answer in time.
  auto config = FastEngineConfig(db_.url());
  config.dispatch_fallback_poll = Millis(60'000);
  TestEngine engine(config);
  ASSERT_TRUE(Register(engine, SequenceDefinition("wake", {{"s", "t"}})).ok());
  v1::LeasedTask task;
  std::thread poller([&] { task = LeaseOne(engine, "q", "w", std::chrono::seconds(30)); });
  ASSERT_TRUE(Eventually([&] { return engine.engine().waiting_long_polls() == 1; }));
  const auto started = std::chrono::steady_clock::now();
  Start(engine, "wake-1", "wake");
  poller.join();
  const auto latency = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(task.task_id().empty());
  EXPECT_LT(latency, std::chrono::seconds(2));  // woken by the commit, not by a poll or the wait
}

// A stopping worker ends its long-polls with StopPolling instead of cancelling them: the polls are
// answered (nothing was taken for them), a poll of the same worker that arrives later is answered
// at once, and a run started meanwhile goes to a worker that still polls, never to the stopped one.
TEST_F(LeasesTest, StopPollingAnswersAStoppingWorkersPollsAndHandsItNothingMore) {
  auto config = FastEngineConfig(db_.url());
  config.dispatch_fallback_poll = Millis(60'000);  // nothing but StopPolling answers early
  TestEngine engine(config);
  ASSERT_TRUE(Register(engine, SequenceDefinition("stop", {{"s", "t"}})).ok());
  auto poll = [&](const std::string& key, const std::string& identity, v1::LeaseTasksResponse* r) {
    v1::LeaseTasksRequest request;
    request.add_task_queues("q");
    request.set_identity(identity);
    request.set_worker_instance_key(key);
    request.mutable_wait()->set_seconds(30);
    return engine.workers().LeaseTasks(Ctx(std::chrono::seconds(40)).get(), request, r);
  };
  auto stop = [&](const std::string& key, v1::StopPollingResponse* r) {
    v1::StopPollingRequest request;
    request.set_worker_instance_key(key);
    request.set_identity("leaving");
    return engine.workers().StopPolling(Ctx().get(), request, r);
  };
  v1::LeaseTasksResponse leaving, staying;
  grpc::Status leaving_status, staying_status;
  std::thread leaving_poll([&] { leaving_status = poll("k-leaving", "leaving", &leaving); });
  ASSERT_TRUE(Eventually([&] { return engine.engine().waiting_long_polls() == 1; }));
  std::thread staying_poll([&] { staying_status = poll("k-staying", "staying", &staying); });
  ASSERT_TRUE(Eventually([&] { return engine.engine().waiting_long_polls() == 2; }));

  const auto stopped = std::chrono::steady_clock::now();
  v1::StopPollingResponse ended;
  ASSERT_TRUE(stop("k-leaving", &ended).ok());
  EXPECT_EQ(ended.polls_ended(), 1);
  leaving_poll.join();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, std::chrono::seconds(5));
  EXPECT_TRUE(leaving_status.ok()) << leaving_status.error_message();
  EXPECT_EQ(leaving.tasks_size(), 0);
  EXPECT_EQ(engine.engine().waiting_long_polls(), 1u);  // the other worker's poll waits on

  // A poll the stopped worker sent before it stopped, arriving now: answered at once.
  const auto late = std::chrono::steady_clock::now();
  v1::LeaseTasksResponse late_answer;
  ASSERT_TRUE(poll("k-leaving", "leaving", &late_answer).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - late, std::chrono::seconds(5));
  EXPECT_EQ(late_answer.tasks_size(), 0);

  // Work that arrives goes to the worker still polling.
  Start(engine, "stop-1", "stop");
  staying_poll.join();
  ASSERT_TRUE(staying_status.ok()) << staying_status.error_message();
  ASSERT_EQ(staying.tasks_size(), 1);
  EXPECT_EQ(staying.tasks(0).workflow_id(), "stop-1");
  EXPECT_EQ(db_.Query("SELECT lease_owner FROM tasks"), "staying");

  v1::StopPollingResponse unused;
  const grpc::Status bad = stop("", &unused);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("worker_instance_key"), std::string::npos);
}

// The C++ SDK's worker stops that way: its waiting poll is answered (an empty poll), never
// cancelled (which its metrics count as a failed poll).
TEST_F(LeasesTest, AnSdkWorkerEndsItsPollsWithStopPollingWhenItStops) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto worker = std::make_unique<InProcessWorker>(
      engine_, "sdk-leaving",
      std::map<std::string, worker::Handler>{
          {"t", [](worker::TaskContext&) { return worker::TaskOutcome::Success("{}"); }}},
      1, registry);
  ASSERT_TRUE(Eventually([&] { return engine_.engine().waiting_long_polls() == 1; }));
  worker.reset();  // Shutdown(), then Run() returns
  double empty = 0, failed = 0;
  for (const prometheus::MetricFamily& family : registry->Collect()) {
    if (family.name != "gridflow_worker_polls_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name != "result") continue;
        if (label.value == "empty") empty += metric.counter.value;
        if (label.value == "error") failed += metric.counter.value;
      }
    }
  }
  EXPECT_GE(empty, 1);
  EXPECT_EQ(failed, 0) << "the worker cancelled its poll instead of asking the engine to end it";
}

// The next task a completion hands its worker (eager dispatch) goes back to the queue when the
// answer cannot reach the worker: here its deadline passed while the completion waited for a lock.
TEST_F(LeasesTest, ANextTaskWhoseAnswerNeverArrivesIsQueuedAgainAtOnce) {
  // Leases far longer than the test: only giving the task back lets another worker have it.
  ASSERT_TRUE(Register(engine_, SequenceDefinition("two", {{"a", "t"}, {"b", "t"}},
                                                   R"({"timeouts": {"start_to_close": "10m"}})"))
                  .ok());
  Start(engine_, "two-1", "two");
  const v1::LeasedTask a = LeaseOne(engine_, "q", "gone");
  ASSERT_EQ(a.step(), "a");

  pqxx::connection sql(db_.url());
  pqxx::work hold(sql);  // the run's row, locked: the completion waits past its caller's deadline
  hold.exec("SELECT 1 FROM runs WHERE workflow_id = 'two-1' FOR UPDATE");
  v1::CompleteTaskRequest request;
  request.set_task_id(a.task_id());
  request.set_lease_epoch(a.lease_epoch());
  request.set_result_json("{}");
  request.set_identity("gone");
  request.set_max_next_tasks(1);
  request.add_task_queues("q");
  v1::CompleteTaskResponse response;
  const grpc::Status s =
      engine_.workers().CompleteTask(Ctx(std::chrono::milliseconds(500)).get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  hold.commit();

  const v1::LeasedTask b = LeaseOne(engine_, "q", "other", std::chrono::seconds(10));
  ASSERT_EQ(b.step(), "b") << "the next task stayed leased to the worker that never heard of it";
  EXPECT_EQ(b.attempt(), 1);
  const auto types = EventTypes(History(engine_, "two-1"));
  EXPECT_NE(std::find(types.begin(), types.end(), "TaskReleased"), types.end());
}

// A worker polling several queues gets the oldest pending tasks among all of them, at most
// max_tasks per claim.
TEST_F(LeasesTest, ClaimsTheOldestTasksAcrossQueuesUpToTheBatchSize) {
  for (const std::string queue : {"qa", "qb"}) {
    nlohmann::json def = {{"name", "def-" + queue}, {"version", 1}};
    def["steps"] = {{{"name", "s"}, {"kind", "task"}, {"task_type", "t"}, {"task_queue", queue}}};
    ASSERT_TRUE(Register(engine_, def.dump()).ok());
  }
  for (const std::string id : {"a1", "b1", "a2", "b2", "a3"}) {
    Start(engine_, id, id[0] == 'a' ? "def-qa" : "def-qb");
  }
  auto claim = [&](int max_tasks) {
    v1::LeaseTasksRequest request;
    request.add_task_queues("qa");
    request.add_task_queues("qb");
    request.set_max_tasks(max_tasks);
    request.set_identity("w");
    request.mutable_wait()->set_nanos(200'000'000);
    v1::LeaseTasksResponse response;
    EXPECT_TRUE(engine_.workers().LeaseTasks(Ctx().get(), request, &response).ok());
    std::set<std::string> ids;
    for (const auto& task : response.tasks())
      ids.insert(task.workflow_id());
    return ids;
  };
  EXPECT_EQ(claim(3), (std::set<std::string>{"a1", "b1", "a2"}));
  EXPECT_EQ(claim(10), (std::set<std::string>{"b2", "a3"}));
  EXPECT_TRUE(claim(10).empty());
}

TEST_F(LeasesTest, BadLeaseRequestsAreRejected) {
  v1::LeaseTasksRequest request;
  v1::LeaseTasksResponse response;
  EXPECT_EQ(engine_.workers().LeaseTasks(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.add_task_queues("bad queue");
  EXPECT_EQ(engine_.workers().LeaseTasks(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_task_queues(0, "q");
  request.set_max_tasks(1000);
  EXPECT_EQ(engine_.workers().LeaseTasks(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace gridflow::testing
