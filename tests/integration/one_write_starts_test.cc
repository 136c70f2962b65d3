// Starts written in one statement (docs/architecture.md, "A start in one write"): a replica that
// knows a start's definition and the database's clock writes the new run in its final state with
// its first events and tasks, and the run reads as any other. Where what it planned no longer
// holds — a newer latest version, a rollout, a moved clock, a taken workflow id, a first step that
// needs the database — the start is applied the ordinary way and answered as before.
// (OneWriteStarts::kTakenPause: after a taken workflow id, its definition is not planned for 10 s;
// each test here stays within that.)
#include <atomic>
#include <thread>
#include <vector>

#include "gridflow/v1/rollout_service.grpc.pb.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

// Version `version` of "bid": one task of type `task_type` on queue "q".
std::string Bid(int version, const std::string& task_type) {
  return R"({"name": "bid", "version": )" + std::to_string(version) +
         R"(, "steps": [{"name": "submit", "kind": "task", "task_type": ")" + task_type +
         R"(", "task_queue": "q"}]})";
}

class OneWriteStartsTest : public ::testing::Test {
 protected:
  OneWriteStartsTest() : engine_(Config(db_)) {}

  static engine::EngineConfig Config(const TestDatabase& db) {
    engine::EngineConfig config = FastEngineConfig(db.url());
    config.metrics_listen = "127.0.0.1:0";
    return config;
  }

  // Runs this replica wrote in one statement so far.
  double Planned() {
    return Sample(HttpGet(engine_.engine().metrics_port(), "/metrics"),
                  "gridflow_runs_started_in_one_write_total", {});
  }
  // Whether the count is (or soon becomes) `n`: a start's facts are counted just after its
  // answer.
  bool PlannedIs(double n) {
    return Eventually([&] { return Planned() == n; }, std::chrono::seconds(5));
  }
  int VersionOf(const std::string& workflow_id) {
    return std::stoi(
        db_.Query("SELECT definition_version FROM runs WHERE workflow_id = '" + workflow_id + "'"));
  }

  TestDatabase db_;
  TestEngine engine_;
};

TEST_F(OneWriteStartsTest, APlannedStartIsStoredAsAnOrdinaryOneWouldBe) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  Start(engine_, "ordinary", "bid");  // teaches the replica the latest version and the clock
  EXPECT_TRUE(PlannedIs(0)) << Planned();
  const v1::StartRunResponse started = Start(engine_, "planned", "bid", R"({"mw": 5})");
  EXPECT_TRUE(PlannedIs(1)) << Planned();
  ASSERT_TRUE(started.created());

  // The answer and the row agree: id, version and why, creation instant.
  const std::string where = " FROM runs WHERE workflow_id = 'planned'";
  EXPECT_EQ(db_.Query("SELECT id" + where), started.run().run_id());
  EXPECT_EQ(db_.Query("SELECT definition_version || ' ' || version_reason || ' ' || status ||"
                      " ' ' || current_step || ' ' || input::text" +
                      where),
            "1 latest RUNNING submit {\"mw\": 5}");
  EXPECT_EQ(db_.Query("SELECT (extract(epoch FROM created_at) * 1000000)::bigint" + where),
            std::to_string(google::protobuf::util::TimeUtil::TimestampToMicroseconds(
                started.run().create_time())));
  // Created at the transaction's clock, give or take the 100 ms the database checks.
  EXPECT_EQ(db_.Query("SELECT abs(extract(epoch FROM created_at - (SELECT created_at FROM events"
                      " e WHERE e.run_id = runs.id AND seq = 1))) < 0.1" +
                      where),
            "t");
  // Its history: in the run's partition, chained, the head on the row.
  EXPECT_EQ(db_.Query("SELECT string_agg(type, ',' ORDER BY seq) FROM events WHERE run_id = "
                      "(SELECT id" +
                      where + ")"),
            "RunStarted,TaskScheduled");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id"
                      " WHERE r.workflow_id = 'planned' AND e.history_key = r.history_key"
                      " AND r.history_key = r.created_at AND e.hash IS NOT NULL"),
            "2");
  EXPECT_EQ(db_.Query("SELECT history_head = (SELECT hash FROM events e WHERE e.run_id = runs.id"
                      " ORDER BY seq DESC LIMIT 1)" +
                      where),
            "t");
  // Found by the search index like any run, and worked like any run.
  EXPECT_TRUE(Eventually([&] {
    return db_.Query(
               "SELECT count(*) FROM run_search s JOIN runs r ON r.id = s.run_id"
               " WHERE r.workflow_id = 'planned'") == "1";
  }));
  for (int i = 0; i < 2; ++i)
    CompleteLeased(engine_, LeaseOne(engine_, "q", "w"), "{}");
  EXPECT_EQ(WaitClosed(engine_, "planned").status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(WaitClosed(engine_, "ordinary").status(), v1::RUN_STATUS_COMPLETED);
}

// Starts a client makes one after another are created in that order, though each planned instant
// is the replica's reckoning of the database's clock, which jitters with the network's latency.
// The jitter is made certain here: every 20 starts the database's clock steps back 30 ms, so the
// reckoning after the step places the next start before the one just written, and 10 starts later
// it steps forward again. (Steps back that add up faster than time passes — a clock running
// backwards — are beyond the guarantee: a plan never leads the reckoning by more than kMaxLead.)
TEST_F(OneWriteStartsTest, StartsOneAfterAnotherAreCreatedInTheirOrder) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  Start(engine_, "warm", "bid");
  char id[16];
  for (int i = 0; i < 200; ++i) {
    if (i % 20 == 10) engine_.SetClockOffset(Millis(-30));
    if (i % 20 == 0) engine_.SetClockOffset(Millis(0));
    std::snprintf(id, sizeof id, "seq-%03d", i);
    ASSERT_TRUE(Start(engine_, id, "bid").created());
  }
  EXPECT_GE(Planned(), 150) << "the starts were not planned: this test would prove nothing";
  EXPECT_EQ(db_.Query("SELECT count(*) FROM (SELECT created_at, lag(created_at) OVER (ORDER BY"
                      " workflow_id) AS before FROM runs WHERE workflow_id LIKE 'seq-%') r"
                      " WHERE created_at <= before"),
            "0");
}

// The same while other calls keep both group-commit threads busy: a start then often shares a
// batch with completions, whose round trip reads the transaction's clock. Just after the
// database's clock stepped back, that clock precedes the start planned before; the start keeps
// its own planned instant, which follows it (up to OneWriteStarts::kMaxLead ahead of the clock).
TEST_F(OneWriteStartsTest, StartsOneAfterAnotherKeepTheirOrderInBatchesThatReadTheClock) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  constexpr int kLoaders = 4;  // each runs two-step runs of its own definition and queue
  for (int t = 0; t < kLoaders; ++t) {
    const std::string name = "load-" + std::to_string(t);
    ASSERT_TRUE(Register(engine_, R"({"name": ")" + name + R"(", "version": 1, "steps": [
        {"name": "a", "kind": "task", "task_type": "t", "task_queue": ")" +
                                      name + R"("},
        {"name": "b", "kind": "task", "task_type": "t", "task_queue": ")" +
                                      name + R"("}]})")
                    .ok());
  }
  Start(engine_, "warm", "bid");
  std::atomic<bool> stop{false};
  std::atomic<int> completed{0};
  std::vector<std::thread> load;
  for (int t = 0; t < kLoaders; ++t) {
    load.emplace_back([&, t] {
      const std::string name = "load-" + std::to_string(t);
      for (int n = 0; !stop; ++n) {
        Start(engine_, name + "-" + std::to_string(n), name);
        for (int step = 0; step < 2 && !stop; ++step) {
          const v1::LeasedTask task = LeaseOne(engine_, name, name, std::chrono::seconds(5));
          if (task.task_id().empty()) continue;
          CompleteLeased(engine_, task, "{}");
          ++completed;
        }
      }
    });
  }
  char id[16];
  for (int i = 0; i < 200; ++i) {
    if (i % 20 == 10) engine_.SetClockOffset(Millis(-30));
    if (i % 20 == 0) engine_.SetClockOffset(Millis(0));
    // The load keeps pace whatever the machine's speed: a completion per four starts at least.
    if (!Eventually([&] { return completed >= i / 4; })) {
      ADD_FAILURE() << "no load: " << completed << " completions after " << i << " starts";
      break;  // the load threads are joined below
    }
    std::snprintf(id, sizeof id, "seq-%03d", i);
    EXPECT_TRUE(Start(engine_, id, "bid").created());
  }
  stop = true;
  for (auto& t : load)
    t.join();
  EXPECT_GE(Planned(), 150) << "the starts were not planned: this test would prove nothing";
  EXPECT_EQ(db_.Query("SELECT count(*) FROM (SELECT created_at, lag(created_at) OVER (ORDER BY"
                      " workflow_id) AS before FROM runs WHERE workflow_id LIKE 'seq-%') r"
                      " WHERE created_at <= before"),
            "0");
}

// A planned start whose first task got an id another replica wrote meanwhile (TaskIdPool) is
// written again with a new id — and its workflow id is not taken for refused, which would stop
// planning the definition's starts for a while.
TEST_F(OneWriteStartsTest, ATakenTaskIdIsNotATakenWorkflowId) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  Start(engine_, "a", "bid");
  Start(engine_, "b", "bid");
  ASSERT_TRUE(PlannedIs(1)) << Planned();
  TakeTaskIdsAfter(db_, std::stoll(db_.Query("SELECT max(id) FROM tasks")), 40);
  ASSERT_TRUE(Start(engine_, "c", "bid").created());
  EXPECT_TRUE(PlannedIs(2)) << Planned();
  ASSERT_TRUE(Start(engine_, "d", "bid").created());
  EXPECT_TRUE(PlannedIs(3)) << Planned();
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks WHERE state = 'PENDING'"), "4");
}

TEST_F(OneWriteStartsTest, ANewLatestVersionIsStartedThoughTheReplicaPlannedTheOldOne) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  Start(engine_, "a", "bid");
  Start(engine_, "b", "bid");
  EXPECT_TRUE(PlannedIs(1)) << Planned();
  // Registered behind this replica's back (as another replica would).
  ASSERT_TRUE(Register(engine_, Bid(2, "submit_v2")).ok());
  Start(engine_, "c", "bid");  // planned at version 1, refused by the database, started at 2
  EXPECT_EQ(VersionOf("c"), 2);
  EXPECT_TRUE(PlannedIs(1)) << Planned();
  Start(engine_, "d", "bid");  // the replica has learnt version 2
  EXPECT_EQ(VersionOf("d"), 2);
  EXPECT_TRUE(PlannedIs(2)) << Planned();
  // Asked for by number, a known version is planned too.
  v1::StartRunRequest request;
  request.set_workflow_id("e");
  request.set_definition_name("bid");
  request.set_definition_version(1);
  request.set_input_json("{}");
  v1::StartRunResponse response;
  ASSERT_TRUE(engine_.workflows().StartRun(Ctx().get(), request, &response).ok());
  EXPECT_EQ(VersionOf("e"), 1);
  EXPECT_EQ(db_.Query("SELECT version_reason FROM runs WHERE workflow_id = 'e'"), "requested");
  EXPECT_TRUE(PlannedIs(3)) << Planned();
}

TEST_F(OneWriteStartsTest, ARolloutRoutesStartsTheReplicaWouldHavePlanned) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  v1::RegisterDefinitionRequest candidate;
  candidate.set_definition_json(Bid(2, "submit_v2"));
  candidate.set_candidate(true);
  v1::RegisterDefinitionResponse registered;
  ASSERT_TRUE(engine_.workflows().RegisterDefinition(Ctx().get(), candidate, &registered).ok());
  Start(engine_, "before-1", "bid");
  Start(engine_, "before-2", "bid");
  EXPECT_TRUE(PlannedIs(1)) << Planned();

  auto rollouts = v1::RolloutService::NewStub(engine_.channel());
  v1::StartRolloutRequest start;
  start.set_definition_name("bid");
  start.set_candidate_version(2);
  start.set_percent(50);
  start.set_min_runs(1000);
  start.set_max_failure_increase(0.25);
  start.set_identity("release-manager");
  v1::Rollout rollout;
  ASSERT_TRUE(rollouts->StartRollout(Ctx().get(), start, &rollout).ok());
  int canary = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string id = "during-" + std::to_string(i);
    Start(engine_, id, "bid");
    const std::string routed =
        db_.Query("SELECT version FROM gf_route_version('default', 'bid', '" + id + "')");
    EXPECT_EQ(std::to_string(VersionOf(id)), routed) << id;
    if (routed == "2") ++canary;
  }
  EXPECT_GT(canary, 0);
  EXPECT_LT(canary, 20);
  // While the rollout routes starts, the replica leaves each to the database.
  EXPECT_TRUE(PlannedIs(1)) << Planned();
}

TEST_F(OneWriteStartsTest, AStartAfterTheClockMovedGetsTheDatabasesClock) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  Start(engine_, "a", "bid");
  Start(engine_, "b", "bid");
  EXPECT_TRUE(PlannedIs(1)) << Planned();
  engine_.SetClockOffset(Millis(2 * 3600 * 1000));
  Start(engine_, "c", "bid");  // planned at the old clock: refused, started the ordinary way
  const std::string two_hours_ahead =
      "SELECT abs(extract(epoch FROM created_at - now()) - 7200) < 60 FROM runs"
      " WHERE workflow_id = ";
  EXPECT_EQ(db_.Query(two_hours_ahead + "'c'"), "t");
  EXPECT_TRUE(PlannedIs(1)) << Planned();
  Start(engine_, "d", "bid");  // planned at the clock the database gave
  EXPECT_EQ(db_.Query(two_hours_ahead + "'d'"), "t");
  EXPECT_TRUE(PlannedIs(2)) << Planned();
}

// After the database's clock stepped back (a failover to a server whose clock is behind, an NTP
// step), starts are planned again at once: what the replica planned before does not hold them
// ahead of the clock the write statement accepts.
TEST_F(OneWriteStartsTest, StartsArePlannedAgainAfterTheClockSteppedBack) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  engine_.SetClockOffset(Millis(1000));
  Start(engine_, "a", "bid");
  Start(engine_, "b", "bid");
  Start(engine_, "c", "bid");
  ASSERT_TRUE(PlannedIs(2)) << Planned();
  engine_.SetClockOffset(Millis(0));
  Start(engine_, "d", "bid");  // planned a second ahead: refused, started the ordinary way
  EXPECT_TRUE(PlannedIs(2)) << Planned();
  Start(engine_, "e", "bid");
  Start(engine_, "f", "bid");
  EXPECT_TRUE(PlannedIs(4)) << Planned();
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE workflow_id IN ('d', 'e', 'f')"
                      " AND abs(extract(epoch FROM created_at - now())) < 60"),
            "3");
}

TEST_F(OneWriteStartsTest, ATakenWorkflowIdIsAnsweredAsBefore) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  Start(engine_, "a", "bid");
  const v1::StartRunResponse first = Start(engine_, "dup", "bid", R"({"x": 1})");
  EXPECT_TRUE(PlannedIs(1)) << Planned();
  const v1::StartRunResponse again = Start(engine_, "dup", "bid", R"({"x": 1})");
  EXPECT_FALSE(again.created());
  EXPECT_EQ(again.run().run_id(), first.run().run_id());

  v1::StartRunRequest other;
  other.set_workflow_id("dup");
  other.set_definition_name("bid");
  other.set_input_json(R"({"x": 2})");
  v1::StartRunResponse response;
  const grpc::Status s = engine_.workflows().StartRun(Ctx().get(), other, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE workflow_id = 'dup'"), "1");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks t JOIN runs r ON r.id = t.run_id"
                      " WHERE r.workflow_id = 'dup'"),
            "1");
  // A definition whose starts reuse workflow ids is not planned for a while: each refused
  // write would cost a transaction.
  Start(engine_, "fresh", "bid");
  EXPECT_TRUE(PlannedIs(1)) << Planned();
}

TEST_F(OneWriteStartsTest, AStartWhoseFirstStepNeedsTheDatabaseGoesTheOrdinaryWay) {
  ASSERT_TRUE(Register(engine_, Bid(1, "submit")).ok());
  ASSERT_TRUE(Register(engine_, R"({"name": "portfolio", "version": 1, "steps": [
      {"name": "each", "kind": "child", "definition": "bid"}]})")
                  .ok());
  for (const char* id : {"p1", "p2", "p3"})
    Start(engine_, id, "portfolio");
  for (const char* id : {"p1", "p2", "p3"}) {
    EXPECT_EQ(db_.Query("SELECT count(*) FROM runs c JOIN runs p ON p.id = c.parent_run_id"
                        " WHERE p.workflow_id = '" +
                        std::string(id) + "' AND c.definition_name = 'bid'"),
              "1")
        << id;
  }
  EXPECT_TRUE(PlannedIs(0)) << Planned();
}

}  // namespace
}  // namespace gridflow::testing
