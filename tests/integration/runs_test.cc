// Starting runs, running them to completion with an SDK worker, reading runs and history.
#include <pqxx/pqxx>

#include <atomic>
#include <set>
#include <thread>

#include "persistence/event_store.h"
#include "persistence/run_store.h"
#include "persistence/statements.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using worker::TaskContext;
using worker::TaskOutcome;

class RunsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Register(engine_, SequenceDefinition(
                                      "two-step", {{"forecast", "forecast"}, {"submit", "submit"}}))
                    .ok());
  }
  std::string RunCount() { return db_.Query("SELECT count(*) FROM runs"); }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(RunsTest, StartIsIdempotentPerWorkflowId) {
  const auto first = Start(engine_, "bid-2026-11-26", "two-step", R"({"mw": 10, "zone": "DE"})");
  EXPECT_TRUE(first.created());
  EXPECT_EQ(first.run().status(), v1::RUN_STATUS_RUNNING);
  EXPECT_EQ(first.run().current_step(), "forecast");

  // Same id, same input (other key order): the same run.
  const auto again = Start(engine_, "bid-2026-11-26", "two-step", R"({"zone": "DE", "mw": 10})");
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.run().run_id(), first.run().run_id());

  // Same id, other input: refused.
  v1::StartRunRequest request;
  request.set_workflow_id("bid-2026-11-26");
  request.set_definition_name("two-step");
  request.set_input_json(R"({"mw": 11, "zone": "DE"})");
  v1::StartRunResponse response;
  const grpc::Status s = engine_.workflows().StartRun(Ctx().get(), request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(s.error_message().find("different input"), std::string::npos) << s.error_message();

  // Same id, another definition: the message names the definition, not the input.
  ASSERT_TRUE(Register(engine_, SequenceDefinition("other", {{"a", "a"}})).ok());
  request.set_definition_name("other");
  request.set_input_json(R"({"mw": 10, "zone": "DE"})");
  const grpc::Status other = engine_.workflows().StartRun(Ctx().get(), request, &response);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_NE(other.error_message().find("of definition 'two-step', not 'other'"), std::string::npos)
      << other.error_message();
  EXPECT_EQ(RunCount(), "1");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks"), "1");
}

// Run ids are UUID version 7 (migration 18): the creation time in milliseconds first, so new runs
// land at the right edge of every index keyed by run id.
TEST_F(RunsTest, RunIdsAreTimeOrderedVersion7Uuids) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(Start(engine_, "v7-" + std::to_string(i), "two-step").run().run_id());
    std::this_thread::sleep_for(std::chrono::milliseconds(3));  // another millisecond
  }
  for (const std::string& id : ids) {
    ASSERT_EQ(id.size(), 36u) << id;
    EXPECT_EQ(id[14], '7') << "version: " << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << "variant: " << id;
  }
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
  // The leading 48 bits are the creation time (to the millisecond).
  const std::string skew = db_.Query(
      "SELECT abs(('x' || lpad(replace(left(id::text, 13), '-', ''), 16, '0'))::bit(64)::bigint"
      " - floor(extract(epoch FROM created_at) * 1000)::bigint) < 1000 FROM runs"
      " WHERE workflow_id = 'v7-2'");
  EXPECT_EQ(skew, "t");
}

// A start locks no row of its definition or namespace (migration 21): with both rows locked by
// another transaction, starts of that definition still commit at once, and a start of a
// definition that does not exist is still refused.
TEST_F(RunsTest, StartsTakeNoLockOnTheirDefinitionOrNamespace) {
  pqxx::connection other(db_.url());
  pqxx::work holder(other);
  holder.exec(
      "SELECT 1 FROM definitions WHERE name = 'two-step' FOR UPDATE;"
      "SELECT 1 FROM namespaces WHERE name = 'default' FOR UPDATE");
  for (int i = 0; i < 3; ++i) {
    v1::StartRunRequest request;
    request.set_workflow_id("unlocked-" + std::to_string(i));
    request.set_definition_name("two-step");
    v1::StartRunResponse response;
    const grpc::Status s =
        engine_.workflows().StartRun(Ctx(std::chrono::seconds(5)).get(), request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  v1::StartRunRequest unknown;
  unknown.set_workflow_id("unlocked-unknown");
  unknown.set_definition_name("no-such-definition");
  v1::StartRunResponse response;
  EXPECT_EQ(engine_.workflows().StartRun(Ctx().get(), unknown, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  holder.abort();
  EXPECT_EQ(RunCount(), "3");
}

TEST_F(RunsTest, BadStartsAreRejectedAndChangeNothing) {
  struct Case {
    std::string workflow_id, definition, input;
    grpc::StatusCode code;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"r1", "two-step", "{not json", grpc::StatusCode::INVALID_ARGUMENT,
       "input_json: is not valid JSON"},
      {"r1", "two-step", R"({"a": "x\u0000y"})", grpc::StatusCode::INVALID_ARGUMENT, "U+0000"},
      {"r1", "no-such-definition", "{}", grpc::StatusCode::NOT_FOUND, "no-such-definition"},
      {"", "two-step", "{}", grpc::StatusCode::INVALID_ARGUMENT, "workflow_id: is required"},
      {"r\n1", "two-step", "{}", grpc::StatusCode::INVALID_ARGUMENT, "control characters"},
      {std::string(300, 'x'), "two-step", "{}", grpc::StatusCode::INVALID_ARGUMENT,
       "longer than 256"},
      {"r1", "two-step", "\"" + std::string(3 * 1024 * 1024, 'x') + "\"",
       grpc::StatusCode::INVALID_ARGUMENT, "the limit is"},
  };
  for (const Case& c : cases) {
    v1::StartRunRequest request;
    request.set_workflow_id(c.workflow_id);
    request.set_definition_name(c.definition);
    request.set_input_json(c.input);
    v1::StartRunResponse response;
    const grpc::Status s = engine_.workflows().StartRun(Ctx().get(), request, &response);
    EXPECT_EQ(s.error_code(), c.code) << c.message_part;
    EXPECT_NE(s.error_message().find(c.message_part), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(RunCount(), "0");
  v1::GetRunRequest get;
  get.set_workflow_id("r1");
  v1::Run run;
  EXPECT_EQ(engine_.workflows().GetRun(Ctx().get(), get, &run).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RunsTest, TwoStepRunCompletesWithACompleteOrderedHistory) {
  std::atomic<int> submit_input_had_forecast{-1};
  InProcessWorker worker(
      engine_, "worker-1",
      {{"forecast",
        [](TaskContext& ctx) {
          const auto data = nlohmann::json::parse(ctx.input_json());
          return TaskOutcome::Success(
              nlohmann::json{{"mw", data["input"]["mw"].get<int>() * 4}}.dump());
        }},
       {"submit", [&](TaskContext& ctx) {
          const auto data = nlohmann::json::parse(ctx.input_json());
          submit_input_had_forecast = data.contains("forecast") ? 1 : 0;
          return TaskOutcome::Success(
              nlohmann::json{{"order", "EX-1"}, {"key", ctx.idempotency_key()}}.dump());
        }}});
  const auto started = Start(engine_, "bid-1", "two-step", R"({"mw": 25})");
  const v1::Run run = WaitClosed(engine_, "bid-1");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.DebugString();
  EXPECT_EQ(submit_input_had_forecast.load(), 1);

  const auto result = nlohmann::json::parse(run.result_json());
  EXPECT_EQ(result["input"]["mw"], 25);
  EXPECT_EQ(result["forecast"]["mw"], 100);
  EXPECT_EQ(result["submit"]["order"], "EX-1");
  EXPECT_EQ(result["submit"]["key"], started.run().run_id() + ":submit");
  EXPECT_TRUE(run.has_close_time());
  EXPECT_TRUE(run.current_step().empty());

  const auto events = History(engine_, "bid-1");
  EXPECT_EQ(EventTypes(events),
            (std::vector<std::string>{"RunStarted", "TaskScheduled", "TaskCompleted",
                                      "TaskScheduled", "TaskCompleted", "RunCompleted"}));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), static_cast<int64_t>(i + 1));
    if (i > 0) {
      EXPECT_GE(google::protobuf::util::TimeUtil::TimestampToMicroseconds(events[i].time()),
                google::protobuf::util::TimeUtil::TimestampToMicroseconds(events[i - 1].time()));
    }
  }
  // No authentication here: the actor is the principal "anonymous"; what clients claimed to be
  // is kept beside it.
  EXPECT_EQ(events[0].actor(), "anonymous");
  EXPECT_EQ(nlohmann::json::parse(events[0].payload_json())["client_identity"], "test-client");
  EXPECT_EQ(events[2].actor(), "anonymous");
  EXPECT_EQ(nlohmann::json::parse(events[2].payload_json())["worker"], "worker-1");
  EXPECT_EQ(events[2].step(), "forecast");
  EXPECT_EQ(events[2].attempt(), 1);
  EXPECT_EQ(events[4].step(), "submit");
  EXPECT_EQ(run.history_length(), 6);
}

TEST_F(RunsTest, ListFiltersByStatusAndDefinitionAndPaginates) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("other", {{"s", "t"}})).ok());
  for (int i = 0; i < 5; ++i)
    Start(engine_, "run-" + std::to_string(i), "two-step");
  Start(engine_, "other-1", "other");
  v1::CancelRunRequest cancel;
  cancel.set_workflow_id("run-2");
  v1::CancelRunResponse cancelled;
  ASSERT_TRUE(engine_.workflows().CancelRun(Ctx().get(), cancel, &cancelled).ok());

  v1::ListRunsRequest request;
  request.set_definition_name("two-step");
  request.set_status(v1::RUN_STATUS_RUNNING);
  request.set_page_size(3);
  std::vector<std::string> seen;
  do {
    v1::ListRunsResponse page;
    ASSERT_TRUE(engine_.workflows().ListRuns(Ctx().get(), request, &page).ok());
    for (const auto& r : page.runs()) {
      seen.push_back(r.workflow_id());
      EXPECT_TRUE(r.data_json().empty());  // summaries
    }
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"run-4", "run-3", "run-1", "run-0"}));  // newest first

  request.set_status(v1::RUN_STATUS_CANCELLED);
  v1::ListRunsResponse page;
  ASSERT_TRUE(engine_.workflows().ListRuns(Ctx().get(), request, &page).ok());
  ASSERT_EQ(page.runs_size(), 1);
  EXPECT_EQ(page.runs(0).workflow_id(), "run-2");
}

// ListRuns by queue reads a queue holding a good share of the open runs run by run, and any other
// through its tasks (run_store.cc): either way it finds the runs with a task waiting or leased
// there, newest first.
TEST_F(RunsTest, ListByQueueFindsWaitingAndLeasedTasksOnDeepAndShallowQueues) {
  ASSERT_TRUE(
      Register(engine_, SequenceDefinition("deep", {{"s", "t"}}, R"({"task_queue": "deep"})"))
          .ok());
  ASSERT_TRUE(
      Register(engine_, SequenceDefinition("shallow", {{"s", "t"}}, R"({"task_queue": "shallow"})"))
          .ok());
  std::vector<std::string> deep;
  for (int i = 0; i < 60; ++i) {
    deep.insert(deep.begin(), "deep-" + std::to_string(i));  // newest first
    Start(engine_, deep.front(), "deep");
  }
  Start(engine_, "shallow-0", "shallow");
  Start(engine_, "shallow-1", "shallow");
  db_.Query("ANALYZE runs");  // the estimate of open runs that picks the form
  // A leased task counts like a waiting one (the claim takes the oldest: deep-0, shallow-0).
  ASSERT_FALSE(LeaseOne(engine_, "deep", "w").task_id().empty());
  ASSERT_FALSE(LeaseOne(engine_, "shallow", "w").task_id().empty());

  const auto listed = [&](const std::string& queue) {
    v1::ListRunsRequest request;
    request.set_task_queue(queue);
    request.set_page_size(100);
    v1::ListRunsResponse page;
    EXPECT_TRUE(engine_.workflows().ListRuns(Ctx().get(), request, &page).ok());
    std::vector<std::string> ids;
    for (const auto& r : page.runs())
      ids.push_back(r.workflow_id());
    return ids;
  };
  EXPECT_EQ(listed("deep"), deep);
  EXPECT_EQ(listed("shallow"), (std::vector<std::string>{"shallow-1", "shallow-0"}));
  EXPECT_TRUE(listed("q").empty());
}

// The reads of a batch of completions reach the runs of their tasks through the keys whatever the
// statistics say. Written as semi joins, their generic plans, made while the statistics showed no
// open task, read every task of the table to find the few open ones (3 ms a batch at 10,000
// tasks, growing with the history).
TEST_F(RunsTest, BatchReadsFindTheRunsOfTheirTasksThroughTheKeysWhateverTheStatistics) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("one", {{"s", "t"}})).ok());
  v1::LeasedTask task;
  for (const char* run : {"one-1", "one-2"}) {
    Start(engine_, run, "one");
    task = LeaseOne(engine_, "q", "w");
    ASSERT_FALSE(task.task_id().empty());
    CompleteLeased(engine_, task, "{}");
    ASSERT_EQ(WaitClosed(engine_, run).status(), v1::RUN_STATUS_COMPLETED);
  }
  // 5000 more closed tasks of one-1, and statistics taken while none is open; the batch reads
  // for one-2's task.
  db_.Query(
      "INSERT INTO tasks (run_id, namespace, workflow_id, definition_name, definition_version,"
      " queue, task_type, step, idempotency_key, input, state, max_attempts, start_to_close)"
      " SELECT run_id, namespace, workflow_id, definition_name, definition_version, queue,"
      " task_type, step, idempotency_key || '-' || g, input, 'COMPLETED', max_attempts,"
      " start_to_close FROM tasks CROSS JOIN generate_series(1, 5000) g"
      " WHERE workflow_id = 'one-1'");
  db_.Query("ANALYZE tasks; ANALYZE runs");

  const std::string tasks = "'{" + task.task_id() + "}'";
  for (const auto& [statement, params] : std::vector<std::pair<std::string, std::string>>{
           {"task_open_of_tasks", "(" + tasks + ")"},
           {"run_lock_of_tasks", "(" + tasks + ", '{}', '{}')"}}) {
    const std::string plan = ExplainEngineStatement(db_.url(), statement, params, "(ANALYZE)");
    // Rows read and thrown away: a few of the run's own at most, never the table's.
    for (size_t at = plan.find("Rows Removed by Filter: "); at != std::string::npos;
         at = plan.find("Rows Removed by Filter: ", at + 1)) {
      EXPECT_LT(std::stoi(plan.substr(at + 24)), 10) << statement << ":\n" << plan;
    }
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << statement << ":\n" << plan;
  }
}

TEST_F(RunsTest, HistoryPagesCoverEveryEventOnce) {
  for (int i = 0; i < 7; ++i) {
    v1::SignalRunRequest signal;
    signal.set_workflow_id("paged");
    signal.set_signal_name("tick");
    if (i == 0) Start(engine_, "paged", "two-step");
    v1::SignalRunResponse response;
    ASSERT_TRUE(engine_.workflows().SignalRun(Ctx().get(), signal, &response).ok());
  }
  v1::GetHistoryRequest request;
  request.set_workflow_id("paged");
  request.set_page_size(4);
  std::vector<int64_t> seqs;
  do {
    v1::GetHistoryResponse page;
    ASSERT_TRUE(engine_.workflows().GetHistory(Ctx().get(), request, &page).ok());
    for (const auto& e : page.events())
      seqs.push_back(e.sequence());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

// A payload of `bytes` characters, as a JSON object.
std::string LargeJson(size_t bytes) {
  return nlohmann::json({{"blob", std::string(bytes, 'q')}}).dump();
}

// Seven runs of about 1 MB each: a page of them all would be over the 4 MiB a gRPC client takes
// by default (this test's channel), so pages end early and their tokens carry on.
TEST_F(RunsTest, ListPagesOfLargeRunsStayUnderTheClientsLimit) {
  for (int i = 0; i < 7; ++i) {
    Start(engine_, "large-" + std::to_string(i), "two-step", LargeJson(1'000'000));
  }
  v1::ListRunsRequest request;
  request.set_definition_name("two-step");
  request.set_page_size(10);
  std::set<std::string> listed;
  int pages = 0;
  do {
    v1::ListRunsResponse page;
    const grpc::Status s = engine_.workflows().ListRuns(Ctx().get(), request, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_GT(page.runs_size(), 0);
    EXPECT_LE(page.ByteSizeLong(), size_t{3} * 1024 * 1024 + 1024);
    for (const auto& run : page.runs())
      EXPECT_TRUE(listed.insert(run.workflow_id()).second) << run.workflow_id() << " twice";
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty());
  EXPECT_EQ(listed.size(), 7u);
  EXPECT_GE(pages, 3);
}

// A completed run with a 2 MB input has a 2.25 MB result (its data, the input in it): its summary
// alone would pass the 4 MiB this test's channel takes, and a client listing past it would be
// stuck on that page. It is listed without them, and its neighbours whole, on one page.
TEST_F(RunsTest, ListOmitsTheLargeFieldsOfARunThatAlonePassesThePage) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("one-step", {{"s", "t"}})).ok());
  Start(engine_, "small-old", "one-step", R"({"mw": 1})");
  Start(engine_, "huge", "one-step", LargeJson(2'000'000));
  Start(engine_, "small-new", "one-step", R"({"mw": 2})");
  for (int i = 0; i < 3; ++i) {
    const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
    ASSERT_FALSE(task.task_id().empty());
    CompleteLeased(engine_, task, task.workflow_id() == "huge" ? LargeJson(250'000) : "{}");
  }
  // Not GetRun: the whole run (input, data, result) is more than this channel takes.
  ASSERT_TRUE(Eventually(
      [&] { return db_.Query("SELECT count(*) FROM runs WHERE status = 'COMPLETED'") == "3"; }));

  v1::ListRunsRequest request;
  request.set_definition_name("one-step");
  v1::ListRunsResponse page;
  const grpc::Status s = engine_.workflows().ListRuns(Ctx().get(), request, &page);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(page.runs_size(), 3);
  EXPECT_TRUE(page.next_page_token().empty());
  EXPECT_EQ(page.runs(0).workflow_id(), "small-new");
  EXPECT_FALSE(page.runs(0).fields_omitted());
  EXPECT_EQ(nlohmann::json::parse(page.runs(0).input_json()), nlohmann::json({{"mw", 2}}));
  EXPECT_FALSE(page.runs(0).result_json().empty());
  const v1::Run& huge = page.runs(1);
  EXPECT_EQ(huge.workflow_id(), "huge");
  EXPECT_TRUE(huge.fields_omitted());
  EXPECT_EQ(huge.status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_TRUE(huge.input_json().empty());
  EXPECT_TRUE(huge.result_json().empty());
  EXPECT_EQ(page.runs(2).workflow_id(), "small-old");
  EXPECT_EQ(nlohmann::json::parse(page.runs(2).input_json()), nlohmann::json({{"mw", 1}}));
}

// A run whose input and data pass the 4 MiB this test's channel takes (a gRPC client's default):
// its summary view still reads, without them; the whole run does not.
TEST_F(RunsTest, ASummaryViewReadsARunTooLargeForAClient) {
  Start(engine_, "large-data", "two-step", LargeJson(1'500'000));
  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), LargeJson(2'000'000));  // forecast
  ASSERT_TRUE(Eventually([&] {
    return db_.Query(
               "SELECT count(*) FROM tasks t JOIN runs r ON r.id = t.run_id WHERE "
               "r.workflow_id = 'large-data' AND t.step = 'submit'") == "1";
  }));

  v1::GetRunRequest get;
  get.set_workflow_id("large-data");
  v1::Run run;
  EXPECT_EQ(engine_.workflows().GetRun(Ctx().get(), get, &run).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);  // the client refuses the whole run
  get.set_view(v1::RUN_VIEW_SUMMARY);
  run.Clear();
  grpc::Status s = engine_.workflows().GetRun(Ctx().get(), get, &run);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(run.fields_omitted());
  EXPECT_EQ(run.status(), v1::RUN_STATUS_RUNNING);
  EXPECT_EQ(run.current_step(), "submit");
  EXPECT_TRUE(run.input_json().empty());
  EXPECT_TRUE(run.data_json().empty());
  EXPECT_GE(run.history_length(), 4);

  v1::DescribeRunRequest describe;
  describe.set_workflow_id("large-data");
  describe.set_view(v1::RUN_VIEW_SUMMARY);
  v1::DescribeRunResponse described;
  s = engine_.workflows().DescribeRun(Ctx().get(), describe, &described);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(described.run().fields_omitted());
  EXPECT_TRUE(described.run().data_json().empty());
  ASSERT_EQ(described.active_steps_size(), 1);
  EXPECT_EQ(described.active_steps(0), "submit");
  ASSERT_EQ(described.open_tasks_size(), 1);
  EXPECT_EQ(described.open_tasks(0).step(), "submit");
  {  // GetRun's summary reads not even the state; DescribeRun's reads it for the active steps
    pqxx::connection c(db_.url());
    persistence::PrepareStatements(c);
    pqxx::work txn(c);
    const auto summary =
        persistence::FindRun(txn, "default", "large-data", persistence::RunFields::kSummary);
    ASSERT_TRUE(summary.has_value());
    EXPECT_EQ(summary->state_json, "{}");  // RunRow's default: nothing read
    EXPECT_TRUE(summary->data_json.empty());
    const auto with_state = persistence::FindRun(txn, "default", "large-data",
                                                 persistence::RunFields::kSummaryAndState);
    ASSERT_TRUE(with_state.has_value());
    EXPECT_NE(with_state->state_json, "{}");
    EXPECT_TRUE(with_state->data_json.empty());
  }

  // A small run's full view is whole, and an unknown view is refused by name.
  Start(engine_, "small", "two-step", R"({"mw": 3})");
  get.set_workflow_id("small");
  get.set_view(v1::RUN_VIEW_UNSPECIFIED);
  run.Clear();
  ASSERT_TRUE(engine_.workflows().GetRun(Ctx().get(), get, &run).ok());
  EXPECT_FALSE(run.fields_omitted());
  EXPECT_EQ(nlohmann::json::parse(run.input_json()), nlohmann::json({{"mw", 3}}));
  get.set_view(static_cast<v1::RunView>(7));
  s = engine_.workflows().GetRun(Ctx().get(), get, &run);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("view"), std::string::npos) << s.error_message();
}

// What a page of history reads ends with the event whose payload reaches the byte budget, so a
// page of a thousand large events costs the engine no more memory than it can send.
TEST_F(RunsTest, AHistoryReadEndsWithTheEventThatReachesItsByteBudget) {
  Start(engine_, "signalled", "two-step");  // RunStarted, TaskScheduled: 1, 2
  for (int i = 0; i < 4; ++i)               // 3 to 6, about 1 MB each
    SendSignal(engine_, "signalled", "curve", LargeJson(1'000'000));
  pqxx::connection c(db_.url());
  persistence::PrepareStatements(c);
  pqxx::work txn(c);
  const std::string run_id =
      txn.exec1("SELECT id FROM runs WHERE workflow_id = 'signalled'")[0].as<std::string>();
  const auto read = [&](int64_t after, int64_t max_bytes) {
    std::vector<int64_t> seqs;
    for (const auto& e : persistence::ListEvents(txn, run_id, after, 1000, max_bytes))
      seqs.push_back(e.seq);
    return seqs;
  };
  EXPECT_EQ(read(0, 2'500'000), (std::vector<int64_t>{1, 2, 3, 4, 5}));  // 5 reaches it
  EXPECT_EQ(read(2, 1), (std::vector<int64_t>{3}));  // the first event always comes
  EXPECT_EQ(read(0, std::numeric_limits<int64_t>::max()).size(), 6u);
}

TEST_F(RunsTest, HistoryPagesOfLargeEventsStayUnderTheClientsLimit) {
  Start(engine_, "signalled", "two-step");
  for (int i = 0; i < 6; ++i)
    SendSignal(engine_, "signalled", "curve", LargeJson(1'000'000));
  v1::GetHistoryRequest request;
  request.set_workflow_id("signalled");
  std::vector<int64_t> seqs;
  int pages = 0;
  do {
    v1::GetHistoryResponse page;
    const grpc::Status s = engine_.workflows().GetHistory(Ctx().get(), request, &page);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_GT(page.events_size(), 0);
    for (const auto& e : page.events())
      seqs.push_back(e.sequence());
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty());
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_GE(pages, 2);  // 6 MB of signals: at least two pages under 3 MiB
}

}  // namespace
}  // namespace gridflow::testing
