// The run data as stored: a stored run's transition writes only the members it set (a patch the
// write statement applies as `data || patch`), and what is stored is always the whole document
// the interpreter holds.
#include <pqxx/pqxx>

#include <algorithm>

#include "persistence/pipelined_work.h"
#include "persistence/run_store.h"
#include "persistence/transaction.h"
#include "persistence/write_set.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using nlohmann::json;

class RunDataTest : public ::testing::Test {
 protected:
  // The run's data as stored, parsed.
  json StoredData(const std::string& workflow_id) {
    return json::parse(
        db_.Query("SELECT data::text FROM runs WHERE workflow_id = '" + workflow_id + "'"));
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

// A replica keeps the runs it advanced parsed for their next transition (ParsedRunCache), found
// by their open tasks: a run another replica advanced meanwhile, through a task this replica
// never saw, is read again. Its next task is given the whole data — every step's output, the
// other replica's too — and so is the stored data.
TEST_F(RunDataTest, AReplicaReadsARunAgainThatAnotherReplicaAdvancedMeanwhile) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition(
                                    "relay", {{"a", "t"}, {"b", "t"}, {"c", "t"}, {"d", "t"}}))
                  .ok());
  TestEngine other(db_.url());
  Start(engine_, "relay-1", "relay", R"({"mw": 5})");
  const auto complete = [](TestEngine& on, const std::string& step) {
    const v1::LeasedTask task = LeaseOne(on, "q", "w");
    ASSERT_EQ(task.step(), step);
    CompleteLeased(on, task, json({{"by", step}}).dump());
  };
  complete(engine_, "a");  // this replica keeps the run parsed
  complete(other, "b");    // the other one advances it
  const v1::LeasedTask c = LeaseOne(engine_, "q", "w");
  ASSERT_EQ(c.step(), "c");
  EXPECT_EQ(json::parse(c.input_json()),
            json({{"input", {{"mw", 5}}}, {"a", {{"by", "a"}}}, {"b", {{"by", "b"}}}}));
  CompleteLeased(engine_, c, json({{"by", "c"}}).dump());
  const v1::LeasedTask d = LeaseOne(engine_, "q", "w");
  ASSERT_EQ(d.step(), "d");
  EXPECT_EQ(json::parse(d.input_json()), StoredData("relay-1"));
  EXPECT_EQ(StoredData("relay-1"), json({{"input", {{"mw", 5}}},
                                         {"a", {{"by", "a"}}},
                                         {"b", {{"by", "b"}}},
                                         {"c", {{"by", "c"}}}}));
}

// The same with a task this replica knows open all along: it completes one branch's first task
// (and keeps the run parsed, found by the run's open tasks: the other branch's task among them),
// the other replica completes that other branch's task, and then this replica the first branch's
// second task — the run it holds is a version behind, so the lock reads the run's data again.
TEST_F(RunDataTest, AReplicaReadsARunAgainThatAnotherReplicaAdvancedThroughAnotherTask) {
  ASSERT_TRUE(Register(engine_, R"js({"name": "split", "version": 1, "steps": [
      {"name": "both", "kind": "parallel", "branches": [
        {"name": "x", "steps": [
          {"name": "x1", "kind": "task", "task_type": "t", "task_queue": "qx"},
          {"name": "x2", "kind": "task", "task_type": "t", "task_queue": "qx"}]},
        {"name": "y", "steps": [
          {"name": "y1", "kind": "task", "task_type": "t", "task_queue": "qy"}]}]},
      {"name": "last", "kind": "task", "task_type": "t", "task_queue": "qx"}]})js")
                  .ok());
  TestEngine other(db_.url());
  Start(engine_, "split-1", "split");
  const auto complete = [](TestEngine& on, const std::string& queue, const std::string& step) {
    const v1::LeasedTask task = LeaseOne(on, queue, "w");
    ASSERT_EQ(task.step(), step);
    CompleteLeased(on, task, json({{"by", step}}).dump());
  };
  complete(engine_, "qx", "x1");
  complete(other, "qy", "y1");
  complete(engine_, "qx", "x2");
  const v1::LeasedTask last = LeaseOne(engine_, "qx", "w");
  ASSERT_EQ(last.step(), "last");
  const json data = json::parse(last.input_json());
  EXPECT_EQ(data["y1"], json({{"by", "y1"}}));
  EXPECT_EQ(data["x1"], json({{"by", "x1"}}));
  EXPECT_EQ(data["x2"], json({{"by", "x2"}}));
  EXPECT_EQ(data, StoredData("split-1"));
}

// Each step's output lands in the stored data beside what was there; a step visited again
// replaces its output; a task without an input template is given the whole, current data.
TEST_F(RunDataTest, EachStepAddsItsOutputToTheStoredDataAndAVisitAgainReplacesIt) {
  const grpc::Status registered = Register(engine_, R"js({"name": "rebid", "version": 1, "steps": [
      {"name": "forecast", "kind": "task", "task_type": "forecast", "task_queue": "q"},
      {"name": "bid", "kind": "task", "task_type": "bid", "task_queue": "q"},
      {"name": "again", "kind": "choice",
       "choices": [{"when": "$/bid/round < 2", "next": "rebid"}], "default": "done"},
      {"name": "rebid", "kind": "wait_signal", "signal": "rebid", "next": "bid"},
      {"name": "done", "kind": "succeed"}]})js");
  ASSERT_TRUE(registered.ok()) << registered.error_message();
  Start(engine_, "rebid-1", "rebid", R"({"mw": 10})");
  EXPECT_EQ(StoredData("rebid-1"), json({{"input", {{"mw", 10}}}}));

  CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), R"({"curve": [1.5, 2.25, -3]})");
  const json after_forecast = {{"input", {{"mw", 10}}}, {"forecast", {{"curve", {1.5, 2.25, -3}}}}};
  ASSERT_TRUE(Eventually([&] { return StoredData("rebid-1") == after_forecast; }))
      << StoredData("rebid-1").dump();

  const v1::LeasedTask first_bid = LeaseOne(engine_, "q", "w");
  ASSERT_EQ(first_bid.task_type(), "bid");
  EXPECT_EQ(json::parse(first_bid.input_json()), after_forecast);
  CompleteLeased(engine_, first_bid, R"({"round": 1, "eur": 40})");
  WaitForEvent(engine_, "rebid-1", "SignalWaitStarted");
  v1::SignalRunRequest signal;
  signal.set_workflow_id("rebid-1");
  signal.set_signal_name("rebid");
  signal.set_payload_json(R"({"reason": "price moved"})");
  v1::SignalRunResponse signalled;
  ASSERT_TRUE(engine_.workflows().SignalRun(Ctx().get(), signal, &signalled).ok());

  const v1::LeasedTask second_bid = LeaseOne(engine_, "q", "w");
  ASSERT_EQ(second_bid.task_type(), "bid");
  json expected = after_forecast;
  expected["bid"] = {{"round", 1}, {"eur", 40}};
  expected["rebid"] = {{"reason", "price moved"}};
  EXPECT_EQ(json::parse(second_bid.input_json()), expected);
  EXPECT_EQ(StoredData("rebid-1"), expected);
  CompleteLeased(engine_, second_bid, R"({"round": 2})");

  const v1::Run run = WaitClosed(engine_, "rebid-1");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED) << run.failure().message();
  expected["bid"] = {{"round", 2}};  // replaced whole, not merged with the first visit's
  EXPECT_EQ(StoredData("rebid-1"), expected);
  EXPECT_EQ(json::parse(run.data_json()), expected);
  EXPECT_EQ(json::parse(run.result_json()), expected);
}

// Two updates of one run in one write set (WriteSet::UpdateRun): patches merge, the later
// member winning; a patch after a whole document applies to it; a run whose data is left alone
// keeps it.
TEST_F(RunDataTest, UpdatesOfOneRunInOneWriteSetMerge) {
  ASSERT_TRUE(Register(engine_, SequenceDefinition("one", {{"a", "a"}})).ok());
  Start(engine_, "patched", "one", R"({"mw": 1})");
  Start(engine_, "whole-then-patched", "one", R"({"mw": 2})");
  Start(engine_, "untouched", "one", R"({"mw": 3})");

  persistence::ConnectionPool::Options options;
  options.dsn = RuntimeUrl(db_.url());
  options.size = 1;
  persistence::ConnectionPool pool(options);
  const Status s = persistence::Transact(pool, "probe", [&](pqxx::work& txn) {
    const auto row = [&](const std::string& id) {
      return *persistence::FindRun(txn, "default", id);
    };
    persistence::WriteSet writes;
    const persistence::RunRow patched = row("patched");
    writes.UpdateRun(patched, false, R"({"a": 1, "b": [1]})");
    writes.UpdateRun(patched, false, R"({"b": {"x": 2}, "c": null})");
    persistence::RunRow whole = row("whole-then-patched");
    whole.data_json = R"({"input": {"mw": 2}, "a": "whole"})";
    writes.UpdateRun(whole, false);
    writes.UpdateRun(whole, false, R"({"b": true})");
    writes.UpdateRun(row("untouched"), false, "{}");
    persistence::Execute(txn, *writes.FlushStatement());
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(StoredData("patched"), json::parse(R"({"input": {"mw": 1}, "a": 1,
                                                   "b": {"x": 2}, "c": null})"));
  EXPECT_EQ(StoredData("whole-then-patched"),
            json::parse(R"({"input": {"mw": 2}, "a": "whole", "b": true})"));
  EXPECT_EQ(StoredData("untouched"), json::parse(R"({"input": {"mw": 3}})"));
}

// What one run stores is bounded (--max-run-data-bytes): a foreach whose collected outputs would
// take the run's data and state past the limit fails the run, naming the step, and what is stored
// stays under the limit; the workers' completions are all accepted.
TEST(RunDataLimitTest, OutputsPastTheLimitFailTheRunAndAreNotStored) {
  TestDatabase db;
  engine::EngineConfig config = FastEngineConfig(db.url());
  config.max_run_data_bytes = size_t{1} << 20;
  TestEngine engine(config);
  const grpc::Status registered = Register(engine, R"js({"name": "curves", "version": 1, "steps": [
      {"name": "assets", "kind": "foreach", "items": "=$/input/assets", "max_concurrency": 8,
       "steps": [{"name": "curve", "kind": "task", "task_type": "curve", "task_queue": "q"}]},
      {"name": "nominate", "kind": "task", "task_type": "nominate", "task_queue": "q"}]})js");
  ASSERT_TRUE(registered.ok()) << registered.error_message();
  Start(engine, "curves-1", "curves", R"({"assets": [1, 2, 3, 4, 5, 6, 7, 8]})");

  const std::string curve = "\"" + std::string(200 * 1024, 'q') + "\"";  // 200 kB each
  for (int i = 0; i < 8; ++i) {
    const v1::LeasedTask task = LeaseOne(engine, "q", "w", std::chrono::milliseconds(300));
    if (task.task_type().empty()) break;  // the run failed: its open tasks were cancelled
    ASSERT_EQ(task.task_type(), "curve");
    CompleteLeased(engine, task, curve);
  }
  const v1::Run run = WaitClosed(engine, "curves-1");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(run.failure().error_type(), "gridflow.RunDataLimit");
  EXPECT_NE(run.failure().message().find("--max-run-data-bytes"), std::string::npos)
      << run.failure().message();
  const auto stored =
      std::stoul(db.Query("SELECT octet_length(data::text) + octet_length(state::text) FROM runs "
                          "WHERE workflow_id = 'curves-1'"));
  EXPECT_LT(stored, config.max_run_data_bytes);
  EXPECT_FALSE(json::parse(run.data_json()).contains("assets"));
  const std::vector<std::string> types = EventTypes(History(engine, "curves-1"));
  EXPECT_EQ(types.back(), "RunFailed");
  EXPECT_EQ(std::count(types.begin(), types.end(), "TaskScheduled"), 8);  // no nomination
}

}  // namespace
}  // namespace gridflow::testing
