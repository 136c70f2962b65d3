// The operators' API: DescribeRun, TerminateRun, RetryRun, WatchHistory, ListRuns' filters and
// orders, ListQueues, and health following the schema version.
#include <google/protobuf/util/time_util.h>
#include <pqxx/pqxx>

#include <sstream>

#include "engine/api/page_budget.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "gridflow/v1/namespace_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "persistence/archive_store.h"
#include "persistence/migrations.h"
#include "persistence/run_search_store.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using json = nlohmann::json;
using google::protobuf::util::TimeUtil;

// The workflow ids of one page of ListRuns; `next` (if given) gets the next page's token.
std::vector<std::string> ListWorkflowIds(TestEngine& engine, const v1::ListRunsRequest& request,
                                         std::string* next = nullptr) {
  v1::ListRunsResponse response;
  const grpc::Status s = engine.workflows().ListRuns(Ctx().get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> ids;
  for (const auto& run : response.runs())
    ids.push_back(run.workflow_id());
  if (next != nullptr) *next = response.next_page_token();
  return ids;
}

class OperationsTest : public ::testing::Test {
 protected:
  void Define(const std::string& name, const std::string& body) {
    const grpc::Status s =
        Register(engine_, R"({"name": ")" + name + R"(", "version": 1, )" + body + "}");
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // a → b → c on queue "q", one attempt each.
  void DefineThreeSteps() {
    Define("three", R"js("steps": [
      {"name": "a", "kind": "task", "task_type": "t", "task_queue": "q", "retry": {"max_attempts": 1}},
      {"name": "b", "kind": "task", "task_type": "t", "task_queue": "q", "retry": {"max_attempts": 1}},
      {"name": "c", "kind": "task", "task_type": "t", "task_queue": "q", "retry": {"max_attempts": 1}}
    ])js");
  }
  v1::LeasedTask Next(const std::string& step) {
    v1::LeasedTask task = LeaseOne(engine_, "q", "worker-7");
    EXPECT_EQ(task.step(), step);
    return task;
  }
  grpc::Status Fail(const v1::LeasedTask& task, const std::string& type) {
    v1::FailTaskRequest request;
    request.set_task_id(task.task_id());
    request.set_lease_epoch(task.lease_epoch());
    request.set_error_type(type);
    request.set_message("exchange said no");
    request.set_identity("worker-7");
    v1::FailTaskResponse response;
    return engine_.workers().FailTask(Ctx().get(), request, &response);
  }
  v1::DescribeRunResponse Describe(const std::string& workflow_id) {
    v1::DescribeRunRequest request;
    request.set_workflow_id(workflow_id);
    v1::DescribeRunResponse response;
    const grpc::Status s = engine_.workflows().DescribeRun(Ctx().get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }
  grpc::Status Terminate(const std::string& workflow_id, const std::string& reason,
                         v1::TerminateRunResponse* response) {
    v1::TerminateRunRequest request;
    request.set_workflow_id(workflow_id);
    request.set_reason(reason);
    request.set_identity("operator-anna");
    return engine_.workflows().TerminateRun(Ctx().get(), request, response);
  }
  grpc::Status Retry(const std::string& workflow_id, const std::string& from_step,
                     const std::string& reason, v1::RetryRunResponse* response) {
    v1::RetryRunRequest request;
    request.set_workflow_id(workflow_id);
    request.set_from_step(from_step);
    request.set_reason(reason);
    request.set_identity("operator-anna");
    return engine_.workflows().RetryRun(Ctx().get(), request, response);
  }
  std::vector<std::string> ListIds(const v1::ListRunsRequest& request,
                                   std::string* next = nullptr) {
    return ListWorkflowIds(engine_, request, next);
  }
  // Every page of `request`, following its tokens, in order.
  std::vector<std::string> AllPages(v1::ListRunsRequest request) {
    std::vector<std::string> all;
    std::string token;
    do {
      request.set_page_token(token);
      const auto page = ListIds(request, &token);
      all.insert(all.end(), page.begin(), page.end());
    } while (!token.empty());
    return all;
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(OperationsTest, DescribeShowsStepsTasksTimersAndTheLastFailure) {
  Define("gate", R"js("time_zone": "Europe/Berlin", "steps": [
    {"name": "bid", "kind": "parallel", "branches": [
      {"name": "price", "steps": [{"name": "price_it", "kind": "task", "task_type": "t",
        "task_queue": "q", "retry": {"max_attempts": 3, "initial_interval": "10ms"}}]},
      {"name": "gate_wait", "steps": [{"name": "until_gate", "kind": "timer",
        "until": "'2036-12-01T11:00:00Z'"}]}]},
    {"name": "done", "kind": "succeed"}])js");
  Start(engine_, "gate-1", "gate");
  const v1::LeasedTask first = Next("price_it");
  ASSERT_TRUE(Fail(first, "ExchangeUnavailable").ok());
  const v1::LeasedTask second = Next("price_it");

  const v1::DescribeRunResponse d = Describe("gate-1");
  EXPECT_EQ(d.run().status(), v1::RUN_STATUS_RUNNING);
  EXPECT_EQ(d.time_zone(), "Europe/Berlin");
  std::vector<std::string> steps(d.active_steps().begin(), d.active_steps().end());
  std::sort(steps.begin(), steps.end());
  EXPECT_EQ(steps, (std::vector<std::string>{"bid", "price_it", "until_gate"}));
  ASSERT_EQ(d.open_tasks_size(), 1);
  const v1::TaskInfo& task = d.open_tasks(0);
  EXPECT_EQ(task.task_id(), second.task_id());
  EXPECT_EQ(task.state(), "LEASED");
  EXPECT_EQ(task.attempt(), 2);
  EXPECT_EQ(task.max_attempts(), 3);
  EXPECT_EQ(task.lease_owner(), "worker-7");
  EXPECT_EQ(task.lease_epoch(), second.lease_epoch());
  EXPECT_EQ(task.last_failure().error_type(), "ExchangeUnavailable");
  ASSERT_EQ(d.pending_timers_size(), 1);
  EXPECT_EQ(d.pending_timers(0).step(), "until_gate");
  EXPECT_EQ(d.pending_timers(0).kind(), "timer");
  EXPECT_EQ(TimeUtil::ToString(d.pending_timers(0).fire_time()), "2036-12-01T11:00:00Z");
  EXPECT_EQ(d.pending_timers(0).fire_time_local(), "2036-12-01T12:00:00+01:00");
  EXPECT_EQ(d.last_task_failure().step(), "price_it");
  EXPECT_EQ(d.last_task_failure().error_type(), "ExchangeUnavailable");
  EXPECT_EQ(d.last_task_failure().message(), "exchange said no");
  EXPECT_EQ(d.last_task_failure().attempt(), 1);

  v1::DescribeRunRequest unknown;
  unknown.set_workflow_id("nope");
  v1::DescribeRunResponse ignored;
  EXPECT_EQ(engine_.workflows().DescribeRun(Ctx().get(), unknown, &ignored).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(OperationsTest, TerminateEndsTheRunAtOnceAndRefusesItsWorkers) {
  DefineThreeSteps();
  Start(engine_, "t-1", "three");
  const v1::LeasedTask a = Next("a");

  v1::TerminateRunResponse response;
  EXPECT_EQ(Terminate("t-1", "  ", &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetRun(engine_, "t-1").status(), v1::RUN_STATUS_RUNNING);

  ASSERT_TRUE(Terminate("t-1", "exchange halted trading", &response).ok());
  EXPECT_EQ(response.run().status(), v1::RUN_STATUS_TERMINATED);
  EXPECT_EQ(response.run().failure().message(), "exchange halted trading");
  EXPECT_TRUE(response.run().has_close_time());  // closed like any other final status
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks WHERE state IN ('PENDING', 'LEASED')"), "0");

  // The worker still holding the lease is refused.
  v1::CompleteTaskRequest complete;
  complete.set_task_id(a.task_id());
  complete.set_lease_epoch(a.lease_epoch());
  complete.set_result_json("{}");
  v1::CompleteTaskResponse completed;
  EXPECT_EQ(engine_.workers().CompleteTask(Ctx().get(), complete, &completed).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  const auto history = History(engine_, "t-1");
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.back().type(), "RunTerminated");
  EXPECT_EQ(history.back().actor(), "anonymous");
  EXPECT_EQ(json::parse(history.back().payload_json())["client_identity"], "operator-anna");
  EXPECT_EQ(json::parse(history.back().payload_json())["reason"], "exchange halted trading");

  // Again: a no-op. A completed run cannot be terminated.
  ASSERT_TRUE(Terminate("t-1", "again", &response).ok());
  EXPECT_EQ(History(engine_, "t-1").size(), history.size());
  Start(engine_, "t-2", "three");
  for (const char* step : {"a", "b", "c"})
    CompleteLeased(engine_, Next(step), "{}");
  WaitClosed(engine_, "t-2");
  EXPECT_EQ(Terminate("t-2", "too late", &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(OperationsTest, AClosingRunLeavesNoTimerPending) {
  // A deadline timer and a parallel timer branch: both pending when the run is terminated.
  Define("timed", R"js("steps": [{"name": "both", "kind": "parallel", "branches": [
      {"name": "work", "steps": [{"name": "a", "kind": "task", "task_type": "t",
        "task_queue": "q", "deadline": "time_add(now(), '1h')"}]},
      {"name": "wait", "steps": [{"name": "later", "kind": "timer", "duration": "2h"}]}]}])js");
  Start(engine_, "timed-1", "timed");
  const std::string run = GetRun(engine_, "timed-1").run_id();
  EXPECT_EQ(
      db_.Query("SELECT count(*) FROM timers WHERE state = 'PENDING' AND run_id = '" + run + "'"),
      "2");
  v1::TerminateRunResponse response;
  ASSERT_TRUE(Terminate("timed-1", "venue closed", &response).ok());
  EXPECT_EQ(
      db_.Query("SELECT count(*) FROM timers WHERE state = 'PENDING' AND run_id = '" + run + "'"),
      "0");
  EXPECT_EQ(
      db_.Query("SELECT count(*) FROM timers WHERE state = 'CANCELLED' AND run_id = '" + run + "'"),
      "2");
}

TEST_F(OperationsTest, RetryContinuesAFailedRunFromTheFailedStep) {
  DefineThreeSteps();
  Start(engine_, "r-1", "three");
  CompleteLeased(engine_, Next("a"), R"({"forecast": 42})");
  const v1::LeasedTask failed = Next("b");
  ASSERT_TRUE(Fail(failed, "ExchangeRejected").ok());
  ASSERT_EQ(WaitClosed(engine_, "r-1").status(), v1::RUN_STATUS_FAILED);

  v1::RetryRunResponse response;
  EXPECT_EQ(Retry("r-1", "", "", &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Retry("r-1", "no_such_step", "fixed", &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetRun(engine_, "r-1").status(), v1::RUN_STATUS_FAILED);

  ASSERT_TRUE(Retry("r-1", "", "exchange fixed the price limits", &response).ok());
  EXPECT_EQ(response.from_step(), "b");
  EXPECT_EQ(response.run().status(), v1::RUN_STATUS_RUNNING);
  EXPECT_FALSE(response.run().has_failure());
  // A running run cannot be retried.
  EXPECT_EQ(Retry("r-1", "", "twice", &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  // The retried step keeps its idempotency key and gets a higher fencing token than any lease
  // the key had before: a venue deduplicating on (key, highest token) accepts it.
  const v1::LeasedTask again = Next("b");
  EXPECT_EQ(again.idempotency_key(), failed.idempotency_key());
  EXPECT_NE(again.task_id(), failed.task_id());
  EXPECT_GT(again.lease_epoch(), failed.lease_epoch());
  CompleteLeased(engine_, again, "{}");
  CompleteLeased(engine_, Next("c"), "{}");
  const v1::Run run = WaitClosed(engine_, "r-1");
  EXPECT_EQ(run.status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(json::parse(run.data_json())["a"]["forecast"], 42);  // a's output stands

  bool recorded = false;
  for (const auto& e : History(engine_, "r-1")) {
    if (e.type() != "RunRetried") continue;
    recorded = true;
    EXPECT_EQ(e.actor(), "anonymous");
    const auto payload = json::parse(e.payload_json());
    EXPECT_EQ(payload["client_identity"], "operator-anna");
    EXPECT_EQ(payload["from_step"], "b");
    EXPECT_EQ(payload["reason"], "exchange fixed the price limits");
    EXPECT_EQ(payload["previous_status"], "FAILED");
  }
  EXPECT_TRUE(recorded);
}

TEST_F(OperationsTest, RetryATerminatedRunFromANamedStep) {
  DefineThreeSteps();
  Start(engine_, "r-2", "three");
  CompleteLeased(engine_, Next("a"), "{}");
  Next("b");
  v1::TerminateRunResponse terminated;
  ASSERT_TRUE(Terminate("r-2", "stuck worker", &terminated).ok());
  v1::RetryRunResponse response;
  ASSERT_TRUE(Retry("r-2", "a", "rerun the forecast", &response).ok());
  EXPECT_EQ(response.from_step(), "a");
  for (const char* step : {"a", "b", "c"})
    CompleteLeased(engine_, Next(step), "{}");
  EXPECT_EQ(WaitClosed(engine_, "r-2").status(), v1::RUN_STATUS_COMPLETED);
}

// Reads a WatchHistory stream on its own thread until it ends.
struct StreamReader {
  // `held`: the caller reads nothing until Resume().
  StreamReader(TestEngine& engine, const std::string& workflow_id, int64_t after, bool held = false)
      : hold(held) {
    request.set_workflow_id(workflow_id);
    request.set_after_sequence(after);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    thread = std::thread([this, &engine] {
      auto reader = engine.workflows().WatchHistory(&context, request);
      v1::Event event;
      while (hold)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      while (reader->Read(&event)) {
        std::lock_guard lock(mu);
        events.push_back(event);
      }
      status = reader->Finish();
      ended = true;
    });
  }
  ~StreamReader() {
    context.TryCancel();
    Wait();
  }
  // Until the stream ends.
  void Wait() {
    if (thread.joinable()) thread.join();
  }
  size_t count() {
    std::lock_guard lock(mu);
    return events.size();
  }
  void Resume() { hold = false; }

  std::atomic<bool> hold;
  v1::WatchHistoryRequest request;
  grpc::ClientContext context;
  std::mutex mu;
  std::vector<v1::Event> events;
  grpc::Status status;
  std::atomic<bool> ended{false};
  std::thread thread;
};

TEST_F(OperationsTest, WatchHistoryStreamsEventsFromAnyReplicaUntilTheRunEnds) {
  DefineThreeSteps();
  TestEngine other(db_.url());  // the run advances on another replica
  Start(engine_, "w-1", "three");
  auto stream = std::make_unique<StreamReader>(engine_, "w-1", 0);
  ASSERT_TRUE(Eventually([&] { return stream->count() == 2; }));  // RunStarted, TaskScheduled
  for (const char* step : {"a", "b", "c"}) {
    const v1::LeasedTask task = LeaseOne(other, "q", "w");
    ASSERT_EQ(task.step(), step);
    CompleteLeased(other, task, "{}");
  }
  stream->Wait();
  EXPECT_TRUE(stream->status.ok()) << stream->status.error_message();
  const auto history = History(engine_, "w-1");
  ASSERT_EQ(stream->events.size(), history.size());
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(stream->events[i].sequence(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(stream->events[i].type(), history[i].type());
  }
  EXPECT_EQ(stream->events.back().type(), "RunCompleted");

  // Resuming after a sequence on a closed run: the rest, then the end.
  StreamReader resumed(engine_, "w-1", static_cast<int64_t>(history.size()) - 2);
  resumed.Wait();
  EXPECT_TRUE(resumed.status.ok());
  ASSERT_EQ(resumed.events.size(), 2u);
  EXPECT_EQ(resumed.events[0].sequence(), static_cast<int64_t>(history.size()) - 1);

  StreamReader unknown(engine_, "no-such-run", 0);
  unknown.Wait();
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND);
  StreamReader bad(engine_, "", 0);
  bad.Wait();
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// A stream holds back what it has not written beyond about 3 MiB, and reads on as it writes:
// a history of 8 MB comes whole and in order, and the stream ends after the final event.
TEST_F(OperationsTest, WatchHistoryStreamsAHistoryLargerThanWhatAStreamHolds) {
  DefineThreeSteps();
  Start(engine_, "w-large", "three");
  for (int i = 0; i < 8; ++i) {
    SendSignal(engine_, "w-large", "curve",
               nlohmann::json({{"blob", std::string(1'000'000, 'q')}}).dump());
  }
  for (const char* step : {"a", "b", "c"}) {
    const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
    ASSERT_EQ(task.step(), step);
    CompleteLeased(engine_, task, "{}");
  }
  StreamReader stream(engine_, "w-large", 0);
  stream.Wait();
  EXPECT_TRUE(stream.status.ok()) << stream.status.error_message();
  const auto history = History(engine_, "w-large");
  ASSERT_EQ(stream.events.size(), history.size());
  for (size_t i = 0; i < history.size(); ++i)
    EXPECT_EQ(stream.events[i].sequence(), static_cast<int64_t>(i + 1));
  EXPECT_EQ(stream.events.back().type(), "RunCompleted");
}

// A run that closes between a stream's two reads (the run row, then its events: separate
// snapshots) must still end the stream. The close is committed exactly there: the events table
// is locked, so the stream's read of them waits while the transaction closing the run commits.
TEST_F(OperationsTest, WatchHistoryEndsWhenTheRunClosesBetweenItsReads) {
  DefineThreeSteps();
  Start(engine_, "w-race", "three");  // RunStarted, TaskScheduled
  pqxx::connection sql(db_.url());
  pqxx::work closing(sql);
  closing.exec("LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
  const std::string run_id =
      closing.exec1("SELECT id FROM runs WHERE workflow_id = 'w-race'")[0].as<std::string>();
  closing.exec("INSERT INTO events (run_id, seq, type, actor) VALUES ('" + run_id +
               "', 3, 'RunCompleted', 'test')");
  closing.exec("UPDATE runs SET status = 'COMPLETED', last_event_seq = 3, closed_at = now() " +
               std::string("WHERE id = '") + run_id + "'");

  auto stream = std::make_unique<StreamReader>(engine_, "w-race", 2);
  pqxx::connection observer(db_.url());
  ASSERT_TRUE(Eventually([&] {  // the stream read the run (RUNNING) and waits to read events
    pqxx::nontransaction look(observer);
    return look.exec1(
                   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND query LIKE '%FROM events WHERE run_id%'")[0]
               .as<int>() > 0;
  }));
  closing.commit();
  ASSERT_TRUE(Eventually([&] { return stream->ended.load(); }, std::chrono::seconds(5)))
      << "the stream stayed open after the run's final event";
  EXPECT_TRUE(stream->status.ok()) << stream->status.error_message();
  ASSERT_EQ(stream->events.size(), 1u);
  EXPECT_EQ(stream->events[0].type(), "RunCompleted");
}

TEST(WatchLimits, AClientHoldsAtMostItsShareOfHistoryStreams) {
  TestDatabase db;
  engine::EngineConfig config = FastEngineConfig(db.url());
  config.limits.max_watches_per_client = 2;
  TestEngine engine(config);
  ASSERT_TRUE(Register(engine, SequenceDefinition("bid", {{"submit", "t"}})).ok());
  Start(engine, "w-1", "bid");
  auto first = std::make_unique<StreamReader>(engine, "w-1", 0);
  StreamReader second(engine, "w-1", 0);
  ASSERT_TRUE(Eventually([&] { return first->count() == 2 && second.count() == 2; }));
  {
    StreamReader third(engine, "w-1", 0);
    third.Wait();
    EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(third.status.error_message().find("--max-watches-per-client"), std::string::npos);
  }
  first.reset();  // one closes: the client may open another
  std::unique_ptr<StreamReader> fourth;
  ASSERT_TRUE(Eventually([&] {
    fourth = std::make_unique<StreamReader>(engine, "w-1", 0);
    return Eventually([&] { return fourth->count() == 2; }, std::chrono::milliseconds(500));
  }));
}

// A caller that reads nothing: the replica reads the run's history ahead of it only up to about a
// page (kPageByteBudget), not the whole history into memory; once it reads, it gets all of it,
// each page read as soon as the one before went out (the hub's poll, for other replicas' events,
// is a minute here: a stream that waited for it would not end in time).
TEST(WatchLimits, AStreamWhoseCallerDoesNotReadHoldsAboutAPageOfHistory) {
  TestDatabase db;
  engine::EngineConfig config = FastEngineConfig(db.url());
  config.metrics_listen = "127.0.0.1:0";
  config.metrics_refresh = Millis(50);
  config.history_watch_poll = Millis(60'000);
  TestEngine engine(config);
  ASSERT_TRUE(Register(engine, SequenceDefinition("bid", {{"submit", "t"}})).ok());
  Start(engine, "w-held", "bid");
  constexpr int kCurves = 16;
  for (int i = 0; i < kCurves; ++i) {
    SendSignal(engine, "w-held", "curve",
               nlohmann::json({{"blob", std::string(1'000'000, 'q')}}).dump());
  }
  CompleteLeased(engine, LeaseOne(engine, "q", "w"), "{}");
  const auto held_bytes = [&] {
    return Sample(HttpGet(engine.engine().metrics_port(), "/metrics"),
                  "gridflow_history_stream_bytes", {});
  };

  StreamReader stream(engine, "w-held", 0, /*held=*/true);
  ASSERT_TRUE(Eventually([&] { return held_bytes() > 2e6; }));
  // Several of the hub's polls (every 250 ms): time enough to read the rest, were it read ahead.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_LE(held_bytes(), static_cast<double>(engine::kPageByteBudget) + 2 * 1.1e6)
      << "a stream whose caller reads nothing held more than a page of events";
  stream.Resume();
  ASSERT_TRUE(Eventually([&] { return stream.ended.load(); }, std::chrono::seconds(10)))
      << "the stream stalled after its caller took what it held";
  stream.Wait();
  EXPECT_TRUE(stream.status.ok()) << stream.status.error_message();
  const auto history = History(engine, "w-held");
  ASSERT_EQ(stream.events.size(), history.size());
  EXPECT_GE(history.size(), static_cast<size_t>(kCurves));
  EXPECT_EQ(stream.events.back().type(), "RunCompleted");
  EXPECT_TRUE(Eventually([&] { return held_bytes() == 0; }));
}

TEST_F(OperationsTest, ListRunsFiltersOrdersAndPages) {
  DefineThreeSteps();
  Define("other", R"js("steps": [{"name": "x", "kind": "task", "task_type": "t",
                                   "task_queue": "elsewhere"}])js");
  for (const char* id : {"bid-DE-1", "bid-DE-2", "bid-FR-1", "settle-1"})
    Start(engine_, id, "three");
  Start(engine_, "other-1", "other");
  // bid-DE-1 moves on: it is now the most recently updated.
  CompleteLeased(engine_, Next("a"), "{}");

  v1::ListRunsRequest request;
  request.set_workflow_id_contains("de-");
  EXPECT_EQ(ListIds(request), (std::vector<std::string>{"bid-DE-2", "bid-DE-1"}));
  request.set_order_by("create_time asc");
  EXPECT_EQ(ListIds(request), (std::vector<std::string>{"bid-DE-1", "bid-DE-2"}));

  request = {};
  request.set_order_by("update_time desc");
  EXPECT_EQ(ListIds(request).front(), "bid-DE-1");

  request = {};
  request.set_task_queue("elsewhere");
  EXPECT_EQ(ListIds(request), (std::vector<std::string>{"other-1"}));

  request = {};
  request.set_definition_name("three");
  request.set_definition_version(1);
  EXPECT_EQ(ListIds(request).size(), 4u);
  request.set_definition_version(2);
  EXPECT_TRUE(ListIds(request).empty());

  request = {};
  *request.mutable_created_after() = TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(60);
  EXPECT_TRUE(ListIds(request).empty());
  request = {};
  *request.mutable_created_before() = TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(60);
  EXPECT_EQ(ListIds(request).size(), 5u);

  // Pages in ascending order cover every run once; a token is only good for its order.
  request = {};
  request.set_order_by("create_time asc");
  request.set_page_size(2);
  const std::vector<std::string> all = AllPages(request);
  EXPECT_EQ(all,
            (std::vector<std::string>{"bid-DE-1", "bid-DE-2", "bid-FR-1", "settle-1", "other-1"}));
  std::string token;
  ListIds(request, &token);
  request.set_page_token(token);
  request.set_order_by("update_time asc");
  v1::ListRunsResponse response;
  EXPECT_EQ(engine_.workflows().ListRuns(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  request = {};
  request.set_order_by("workflow_id");
  EXPECT_EQ(engine_.workflows().ListRuns(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request = {};
  request.set_definition_version(1);
  EXPECT_EQ(engine_.workflows().ListRuns(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(OperationsTest, ListRunsByUpdateMergesOpenAndClosedRuns) {
  DefineThreeSteps();
  Define("other", R"js("steps": [{"name": "x", "kind": "task", "task_type": "t",
                                   "task_queue": "elsewhere"}])js");
  Start(engine_, "u-open-early", "other");  // never moves
  Start(engine_, "u-closed", "three");
  for (const char* step : {"a", "b", "c"})
    CompleteLeased(engine_, Next(step), "{}");
  WaitClosed(engine_, "u-closed");
  Start(engine_, "u-open-late", "three");
  CompleteLeased(engine_, Next("a"), "{}");  // the latest change of all

  v1::ListRunsRequest request;
  request.set_order_by("update_time desc");
  const std::vector<std::string> newest_first = {"u-open-late", "u-closed", "u-open-early"};
  EXPECT_EQ(ListIds(request), newest_first);
  request.set_order_by("update_time asc");
  EXPECT_EQ(ListIds(request),
            (std::vector<std::string>{"u-open-early", "u-closed", "u-open-late"}));

  // Pages of one, across the open and the closed runs, in order and each once.
  request.set_order_by("update_time desc");
  request.set_page_size(1);
  const std::vector<std::string> all = AllPages(request);
  EXPECT_EQ(all, newest_first);

  // A closed run's last change is its closing.
  const v1::Run closed = GetRun(engine_, "u-closed");
  EXPECT_EQ(closed.update_time().seconds(), closed.close_time().seconds());
  EXPECT_EQ(closed.update_time().nanos(), closed.close_time().nanos());

  // Search text is matched literally: LIKE's wildcards are not wildcards here.
  request = {};
  request.set_workflow_id_contains("%");
  EXPECT_TRUE(ListIds(request).empty());
  request.set_workflow_id_contains("u_open");
  EXPECT_TRUE(ListIds(request).empty());
  request.set_workflow_id_contains("U-OPEN");
  EXPECT_EQ(ListIds(request).size(), 2u);
}

// Open runs are found by last change through the second of it (migration 20): runs changed in
// many seconds, several in one second and two at the same instant, open and closed, changed by
// any writer (here SQL, as an older engine would) — every page in either order is the one an
// exact sort of all runs gives.
TEST_F(OperationsTest, ListRunsByUpdateFollowsLastChangeAcrossSecondsAndPages) {
  Define("idle", R"js("steps": [{"name": "x", "kind": "task", "task_type": "t",
                                  "task_queue": "nobody-polls"}])js");
  constexpr int kRuns = 16;
  for (int i = 0; i < kRuns; ++i)
    Start(engine_, "r-" + std::to_string(i), "idle");
  for (const char* id : {"r-3", "r-8", "r-12"}) {
    v1::TerminateRunResponse terminated;
    ASSERT_TRUE(Terminate(id, "test", &terminated).ok());
  }
  // Run i changed (i*7 mod 16)/3 seconds ago plus a tenth per remainder: three per second, in an
  // order unrelated to their starts; r-0 and r-1 at the same instant. A closed run's last change
  // is its closing.
  db_.Query(
      "UPDATE runs SET updated_at = t, closed_at = CASE WHEN closed_at IS NULL THEN NULL ELSE t "
      "END FROM (SELECT id AS run, date_trunc('second', now()) - ((k / 3) * interval '1 second')"
      " + (k % 3) * interval '100 milliseconds' AS t FROM (SELECT id, CASE WHEN workflow_id = "
      "'r-1' THEN 0 ELSE (substr(workflow_id, 3)::int * 7) % 16 END AS k FROM runs) ks) times"
      " WHERE runs.id = times.run");
  ASSERT_EQ(db_.Query("SELECT count(*) FROM runs WHERE closed_at IS NULL AND updated_second <> "
                      "floor(date_part('epoch', updated_at))"),
            "0");
  const auto expected = [this](const std::string& where, const std::string& dir) {
    const std::string joined = db_.Query("SELECT string_agg(workflow_id, ',' ORDER BY updated_at " +
                                         dir + ", id " + dir + ") FROM runs WHERE " + where);
    std::vector<std::string> ids;
    std::stringstream list(joined);
    for (std::string id; std::getline(list, id, ',');)
      ids.push_back(id);
    return ids;
  };
  for (const char* dir : {"desc", "asc"}) {
    for (int page : {1, 2, 3, 4, 5, 100}) {
      v1::ListRunsRequest request;
      request.set_order_by(std::string("update_time ") + dir);
      request.set_page_size(page);
      EXPECT_EQ(AllPages(request), expected("true", dir)) << dir << ", pages of " << page;
      request.set_status(v1::RUN_STATUS_RUNNING);
      EXPECT_EQ(AllPages(request), expected("status = 'RUNNING'", dir))
          << dir << ", running, pages of " << page;
    }
  }
}

// The workflow-id search index is filled in the background (migration 19): a run is found from
// the moment its start committed, whether or not it was indexed yet, and leaves the index with
// the run.
TEST(Search, FindsRunsBeforeAndAfterTheyAreIndexedAndForgetsDeletedOnes) {
  TestDatabase db;
  auto config = FastEngineConfig(db.url());
  config.search_index_interval = Millis(3'600'000);  // only the tick at start: this test indexes
  config.metrics_listen = "127.0.0.1:0";
  TestEngine engine(config);
  ASSERT_TRUE(AwaitFirstTransaction(engine, "search index"));
  ASSERT_TRUE(Register(engine, SequenceDefinition("one", {{"a", "t"}})).ok());
  for (const char* id : {"nom-DE-1", "nom-FR-1", "settle-DE"})
    Start(engine, id, "one");
  // A run of another namespace matching the same text: found there only.
  auto namespaces = v1::NamespaceService::NewStub(engine.channel());
  v1::CreateNamespaceRequest desk;
  desk.set_name("desk-b");
  v1::Namespace made;
  ASSERT_TRUE(namespaces->CreateNamespace(Ctx().get(), desk, &made).ok());
  {
    v1::RegisterDefinitionRequest request;
    request.set_namespace_("desk-b");
    request.set_definition_json(SequenceDefinition("one", {{"a", "t"}}));
    v1::RegisterDefinitionResponse response;
    ASSERT_TRUE(engine.workflows().RegisterDefinition(Ctx().get(), request, &response).ok());
    v1::StartRunRequest start;
    start.set_namespace_("desk-b");
    start.set_workflow_id("nom-DE-9");
    start.set_definition_name("one");
    v1::StartRunResponse started;
    ASSERT_TRUE(engine.workflows().StartRun(Ctx().get(), start, &started).ok());
  }

  pqxx::connection owner(db.url());
  const auto counts = [&owner] {
    pqxx::work txn(owner);
    return std::pair{txn.exec1("SELECT count(*) FROM run_search_pending")[0].as<int>(),
                     txn.exec1("SELECT count(*) FROM run_search")[0].as<int>()};
  };
  const auto search = [&engine](const std::string& text,
                                const std::string& namespace_name = "default") {
    v1::ListRunsRequest request;
    request.set_namespace_(namespace_name);
    request.set_workflow_id_contains(text);
    request.set_order_by("create_time asc");
    return ListWorkflowIds(engine, request);
  };
  const auto index = [&owner](int limit) {
    pqxx::work txn(owner);
    const int taken = persistence::IndexQueuedRuns(txn, limit);
    txn.commit();
    return taken;
  };
  using Ids = std::vector<std::string>;

  // Queued, not indexed: found through the queue, in its namespace only.
  EXPECT_EQ(counts(), (std::pair{4, 0}));
  EXPECT_EQ(search("nom-"), (Ids{"nom-DE-1", "nom-FR-1"}));
  EXPECT_EQ(search("nom-", "desk-b"), (Ids{"nom-DE-9"}));

  // One indexed, two queued: found through both, each once.
  EXPECT_EQ(index(1), 1);
  EXPECT_EQ(counts(), (std::pair{3, 1}));
  EXPECT_EQ(search("-de"), (Ids{"nom-DE-1", "settle-DE"}));
  EXPECT_EQ(search("NOM"), (Ids{"nom-DE-1", "nom-FR-1"}));

  // All indexed: the queue is empty and every search answers as before.
  EXPECT_EQ(index(100), 3);
  EXPECT_EQ(counts(), (std::pair{0, 4}));
  EXPECT_EQ(search("-de"), (Ids{"nom-DE-1", "settle-DE"}));
  EXPECT_EQ(search("nom-", "desk-b"), (Ids{"nom-DE-9"}));
  EXPECT_EQ(search("fr-1"), (Ids{"nom-FR-1"}));
  EXPECT_TRUE(search("nom-NL").empty());

  // A deleted run (retention) leaves the index with it; one deleted while queued leaves the
  // queue at the next indexing.
  Start(engine, "nom-NL-1", "one");
  {
    pqxx::work txn(owner);
    const auto ids = [&txn](const char* wid) {
      return txn.exec_params1("SELECT id::text FROM runs WHERE workflow_id = $1", wid)[0]
          .as<std::string>();
    };
    persistence::DeleteRuns(txn, {ids("nom-DE-1"), ids("nom-NL-1")});
    txn.commit();
  }
  EXPECT_EQ(counts(), (std::pair{1, 3}));
  EXPECT_EQ(index(100), 1);
  EXPECT_EQ(counts(), (std::pair{0, 3}));
  EXPECT_EQ(search("nom-"), (Ids{"nom-FR-1"}));
}

TEST(Queues, ListQueuesShowsDepthAgeLeasesAndWaitingWorkers) {
  TestDatabase db;
  auto config = FastEngineConfig(db.url());
  config.membership_heartbeat = Millis(200);
  TestEngine engine(config);
  ASSERT_TRUE(Register(engine, SequenceDefinition("one", {{"a", "t"}})).ok());
  for (const char* id : {"q-1", "q-2", "q-3"})
    Start(engine, id, "one");
  LeaseOne(engine, "q", "w");
  // A worker long-polling another queue.
  std::thread poller([&] { LeaseOne(engine, "idle", "w2", std::chrono::seconds(3)); });

  auto stub = v1::ClusterService::NewStub(engine.channel());
  v1::ListQueuesResponse response;
  const auto queue = [&](const std::string& name) -> const v1::QueueInfo* {
    for (const auto& q : response.queues())
      if (q.name() == name) return &q;
    return nullptr;
  };
  ASSERT_TRUE(Eventually([&] {
    response.Clear();
    v1::ListQueuesRequest request;
    return stub->ListQueues(Ctx().get(), request, &response).ok() && queue("idle") != nullptr &&
           queue("idle")->waiting_polls() == 1;
  }));
  ASSERT_NE(queue("q"), nullptr);
  EXPECT_EQ(queue("q")->pending(), 2);
  EXPECT_EQ(queue("q")->due(), 2);
  EXPECT_EQ(queue("q")->leased(), 1);
  EXPECT_GT(TimeUtil::DurationToMilliseconds(queue("q")->oldest_due_age()), 0);
  EXPECT_EQ(queue("idle")->pending(), 0);
  poller.join();

  v1::ListQueuesRequest bad;
  bad.set_namespace_("no-such-namespace");
  EXPECT_EQ(stub->ListQueues(Ctx().get(), bad, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST(HealthSchema, NotServingWhileTheSchemaIsBehindThisBinary) {
  TestDatabase db;
  TestEngine engine(db.url());
  auto health = grpc::health::v1::Health::NewStub(engine.channel());
  const auto status = [&] {
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    return health->Check(Ctx().get(), request, &response).ok()
               ? response.status()
               : grpc::health::v1::HealthCheckResponse::UNKNOWN;
  };
  ASSERT_TRUE(
      Eventually([&] { return status() == grpc::health::v1::HealthCheckResponse::SERVING; }));
  const int latest = persistence::EmbeddedMigrations().back().version;
  db.Query(
      "CREATE TABLE saved_migration AS SELECT * FROM gridflow_schema_migrations WHERE version = " +
      std::to_string(latest));
  db.Query("DELETE FROM gridflow_schema_migrations WHERE version = " + std::to_string(latest));
  EXPECT_TRUE(
      Eventually([&] { return status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING; }));
  db.Query("INSERT INTO gridflow_schema_migrations SELECT * FROM saved_migration");
  EXPECT_TRUE(
      Eventually([&] { return status() == grpc::health::v1::HealthCheckResponse::SERVING; }));
}

}  // namespace
}  // namespace gridflow::testing
