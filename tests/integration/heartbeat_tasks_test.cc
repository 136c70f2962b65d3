// HeartbeatTasks: a worker renews all its leases in one call. Each lease is answered as Heartbeat
// would answer it alone — a lease no longer held, or one entry's bad input, never fails the others
// — and bad input of the call as a whole refuses it and renews nothing. (The queue-limited caller:
// access_test.)
#include <functional>
#include <future>
#include <thread>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <pqxx/pqxx>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

class HeartbeatTasksTest : public ::testing::Test {
 protected:
  // `connections`: the engine's database pool and RPC threads.
  explicit HeartbeatTasksTest(int connections = 8) : engine_(Config(db_, connections)) {}

  static engine::EngineConfig Config(const TestDatabase& db, int connections) {
    engine::EngineConfig config = FastEngineConfig(db.url());
    config.metrics_listen = "127.0.0.1:0";
    config.database_pool_size = connections;
    return config;
  }
  double Calls(const std::string& method) {
    return Sample(HttpGet(engine_.engine().metrics_port(), "/metrics"),
                  "gridflow_rpc_duration_seconds_count",
                  {{"method", "/gridflow.v1.WorkerService/" + method}});
  }

  // Runs of one task step with a `heartbeat` timeout; leases `n` of their tasks.
  std::vector<v1::LeasedTask> LeaseTasks(int n, const std::string& heartbeat = "1s") {
    EXPECT_TRUE(Register(engine_, SequenceDefinition("settle", {{"compute", "compute"}},
                                                     R"({"timeouts": {"start_to_close": "60s",
                                                                      "heartbeat": ")" +
                                                         heartbeat + R"("}})"))
                    .ok());
    std::vector<v1::LeasedTask> tasks;
    for (int i = 0; i < n; ++i) {
      Start(engine_, "settle-" + std::to_string(i), "settle");
      tasks.push_back(LeaseOne(engine_, "q", "w"));
    }
    return tasks;
  }

  struct Beat {
    std::string task_id;
    int64_t epoch;
    std::string details_json;
  };
  grpc::Status Renew(const std::vector<Beat>& beats, v1::HeartbeatTasksResponse* response,
                     Millis timeout = std::chrono::seconds(10)) {
    v1::HeartbeatTasksRequest request;
    request.set_identity("w");
    for (const Beat& b : beats) {
      v1::TaskHeartbeat* beat = request.add_heartbeats();
      beat->set_task_id(b.task_id);
      beat->set_lease_epoch(b.epoch);
      beat->set_details_json(b.details_json);
    }
    return engine_.workers().HeartbeatTasks(Ctx(timeout).get(), request, response);
  }

  std::string StateOf(const v1::LeasedTask& task) {
    return db_.Query(
        "SELECT state || ' ' || lease_epoch || ' ' || COALESCE(heartbeat_details::text,"
        " '-') FROM tasks WHERE id = " +
        task.task_id());
  }

  // Four runs of one 2 s task (600 ms heartbeat timeout: over three of them) worked by an SDK
  // worker whose handler sets the progress `progress_of` gives for its run; waits for their end.
  // Returns the worker's metrics as Prometheus text.
  std::string RunLongTasksOnAnSdkWorker(
      std::function<std::string(const std::string&)> progress_of) {
    auto metrics = std::make_shared<prometheus::Registry>();
    EXPECT_TRUE(Register(engine_, SequenceDefinition("settle", {{"compute", "compute"}},
                                                     R"({"timeouts": {"start_to_close": "60s",
                                                                      "heartbeat": "600ms"}})"))
                    .ok());
    for (int i = 0; i < 4; ++i)
      Start(engine_, "settle-" + std::to_string(i), "settle");
    InProcessWorker worker(engine_, "w",
                           {{"compute",
                             [&](worker::TaskContext& ctx) {
                               ctx.SetProgress(progress_of(ctx.task().workflow_id()));
                               ctx.SleepFor(Millis(2000));
                               return worker::TaskOutcome::Success("{}");
                             }}},
                           4, metrics);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(WaitClosed(engine_, "settle-" + std::to_string(i)).status(),
                v1::RUN_STATUS_COMPLETED);
    }
    return prometheus::TextSerializer().Serialize(metrics->Collect());
  }

  TestDatabase db_;
  TestEngine engine_;
};

TEST_F(HeartbeatTasksTest, OneCallKeepsEveryLeaseAliveAndAnswersEachOnItsOwn) {
  const std::vector<v1::LeasedTask> tasks = LeaseTasks(3);
  CompleteLeased(engine_, tasks[2], "{}");  // no longer leased
  const std::vector<Beat> beats = {{tasks[0].task_id(), tasks[0].lease_epoch(), R"({"done": 0.5})"},
                                   {tasks[1].task_id(), tasks[1].lease_epoch(), ""},
                                   {tasks[2].task_id(), tasks[2].lease_epoch(), ""},
                                   {"987654321", 1, ""}};
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  while (std::chrono::steady_clock::now() < until) {  // > 2 heartbeat timeouts
    v1::HeartbeatTasksResponse response;
    const grpc::Status s = Renew(beats, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(response.results_size(), 4);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(response.results(i).task_id(), beats[i].task_id);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(response.results(i).code(), grpc::StatusCode::OK) << response.results(i).message();
      EXPECT_GT(response.results(i).lease_expire_time().seconds(), 0);
      EXPECT_FALSE(response.results(i).cancel_requested());
    }
    EXPECT_EQ(response.results(2).code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(response.results(2).message().find("is already COMPLETED"), std::string::npos)
        << response.results(2).message();
    EXPECT_EQ(response.results(3).code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(response.results(3).message().find("does not exist"), std::string::npos)
        << response.results(3).message();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a worker's heartbeat pace
  }
  // Renewed throughout: still leased at their first epoch, the progress kept with its task.
  EXPECT_EQ(StateOf(tasks[0]),
            "LEASED " + std::to_string(tasks[0].lease_epoch()) + R"( {"done": 0.5})");
  EXPECT_EQ(StateOf(tasks[1]), "LEASED " + std::to_string(tasks[1].lease_epoch()) + " -");
  // The progress is shown to operators (DescribeRun, as gridflowctl and the console show it).
  v1::DescribeRunRequest describe;
  describe.set_workflow_id("settle-0");
  v1::DescribeRunResponse described;
  ASSERT_TRUE(engine_.workflows().DescribeRun(Ctx().get(), describe, &described).ok());
  ASSERT_EQ(described.open_tasks_size(), 1);
  EXPECT_EQ(described.open_tasks(0).heartbeat_details_json(), R"({"done": 0.5})");
  describe.set_workflow_id("settle-1");
  ASSERT_TRUE(engine_.workflows().DescribeRun(Ctx().get(), describe, &described).ok());
  ASSERT_EQ(described.open_tasks_size(), 1);
  EXPECT_EQ(described.open_tasks(0).heartbeat_details_json(), "");
  CompleteLeased(engine_, tasks[0], "{}");
  CompleteLeased(engine_, tasks[1], "{}");
  EXPECT_EQ(WaitClosed(engine_, "settle-0").status(), v1::RUN_STATUS_COMPLETED);
}

// A lease whose row a transaction holds (a transition completing or cancelling tasks) is not
// waited for while the others' rows are held — it is renewed on its own once the row is free, and
// answered as renewed; the others are renewed at once.
TEST_F(HeartbeatTasksTest, ALeaseWhoseRowIsHeldIsRenewedOnceItIsFree) {
  const std::vector<v1::LeasedTask> tasks = LeaseTasks(2);
  pqxx::connection holder(db_.url());
  pqxx::work held(holder);
  held.exec("SELECT 1 FROM tasks WHERE id = " + tasks[0].task_id() + " FOR UPDATE");
  auto renewed = std::async(std::launch::async, [&] {
    v1::HeartbeatTasksResponse response;
    const grpc::Status s = Renew({{tasks[0].task_id(), tasks[0].lease_epoch(), R"({"n": 1})"},
                                  {tasks[1].task_id(), tasks[1].lease_epoch(), R"({"n": 2})"}},
                                 &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  });
  // The free lease is renewed while the other row is still held.
  EXPECT_TRUE(Eventually(
      [&] {
        return db_.Query("SELECT heartbeat_details->>'n' FROM tasks WHERE id = " +
                         tasks[1].task_id()) == "2";
      },
      std::chrono::seconds(5)));
  EXPECT_EQ(renewed.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  held.commit();
  const v1::HeartbeatTasksResponse response = renewed.get();
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_EQ(response.results(0).code(), grpc::StatusCode::OK) << response.results(0).message();
  EXPECT_EQ(response.results(1).code(), grpc::StatusCode::OK) << response.results(1).message();
  EXPECT_EQ(StateOf(tasks[0]), "LEASED " + std::to_string(tasks[0].lease_epoch()) + R"( {"n": 1})");
}

// A lease the database refuses to renew (here a trigger standing for any value it rejects) is
// answered with that failure alone; the others of the call are renewed all the same.
TEST_F(HeartbeatTasksTest, ALeaseTheDatabaseRefusesCostsTheOthersNothing) {
  const std::vector<v1::LeasedTask> tasks = LeaseTasks(3);
  db_.Query(
      "CREATE FUNCTION refuse_renewal() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
      " RAISE EXCEPTION 'refused for the test'; END $$");
  db_.Query("CREATE TRIGGER refuse_renewal BEFORE UPDATE ON tasks FOR EACH ROW WHEN (NEW.id = " +
            tasks[1].task_id() + ") EXECUTE FUNCTION refuse_renewal()");
  v1::HeartbeatTasksResponse response;
  const grpc::Status s = Renew({{tasks[0].task_id(), tasks[0].lease_epoch(), R"({"n": 0})"},
                                {tasks[1].task_id(), tasks[1].lease_epoch(), R"({"n": 1})"},
                                {tasks[2].task_id(), tasks[2].lease_epoch(), R"({"n": 2})"}},
                               &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).code(), grpc::StatusCode::OK) << response.results(0).message();
  EXPECT_NE(response.results(1).code(), grpc::StatusCode::OK);
  EXPECT_NE(response.results(1).code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(response.results(2).code(), grpc::StatusCode::OK) << response.results(2).message();
  EXPECT_EQ(db_.Query("SELECT string_agg(COALESCE(heartbeat_details->>'n', '-'), ',' ORDER BY id)"
                      " FROM tasks"),
            "0,-,2");
}

TEST_F(HeartbeatTasksTest, ACancelledRunIsToldToItsLeaseAlone) {
  const std::vector<v1::LeasedTask> tasks = LeaseTasks(2);
  v1::CancelRunRequest cancel;
  cancel.set_workflow_id("settle-1");
  v1::CancelRunResponse cancelled;
  ASSERT_TRUE(engine_.workflows().CancelRun(Ctx().get(), cancel, &cancelled).ok());
  v1::HeartbeatTasksResponse response;
  ASSERT_TRUE(Renew({{tasks[0].task_id(), tasks[0].lease_epoch(), ""},
                     {tasks[1].task_id(), tasks[1].lease_epoch(), ""}},
                    &response)
                  .ok());
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_EQ(response.results(0).code(), grpc::StatusCode::OK);
  EXPECT_FALSE(response.results(0).cancel_requested());
  EXPECT_EQ(response.results(1).code(), grpc::StatusCode::OK);
  EXPECT_TRUE(response.results(1).cancel_requested());
}

// A run whose open tasks carry large progress is still described to a default gRPC client (4 MiB
// answers at most): past 3 MiB the tasks come without their details, each one still listed.
TEST_F(HeartbeatTasksTest, ARunWhoseTasksCarryLargeProgressIsDescribedWithinAnAnswerAClientTakes) {
  ASSERT_TRUE(Register(engine_, ForeachDefinition("meters", "read", 4)).ok());
  Start(engine_, "meters-1", "meters", R"({"items": [1, 2, 3, 4]})");
  std::vector<Beat> beats;
  for (int i = 0; i < 4; ++i) {
    const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
    ASSERT_FALSE(task.task_id().empty());
    beats.push_back({task.task_id(), task.lease_epoch(),
                     R"({"readings": ")" + std::string(1500 * 1024, '7') + R"("})"});
  }
  v1::HeartbeatTasksResponse renewed;
  ASSERT_TRUE(Renew(beats, &renewed).ok());

  v1::DescribeRunRequest describe;
  describe.set_workflow_id("meters-1");
  v1::DescribeRunResponse described;
  const grpc::Status s = engine_.workflows().DescribeRun(Ctx().get(), describe, &described);
  ASSERT_TRUE(s.ok()) << s.error_message();  // 6 MB of progress would be refused by the client
  ASSERT_EQ(described.open_tasks_size(), 4);
  EXPECT_EQ(described.open_tasks_omitted(), 0);
  EXPECT_EQ(described.open_tasks(0).heartbeat_details_json(), beats[0].details_json);
  EXPECT_FALSE(described.open_tasks(0).details_omitted());
  for (int i = 2; i < 4; ++i) {
    EXPECT_TRUE(described.open_tasks(i).details_omitted()) << i;
    EXPECT_EQ(described.open_tasks(i).heartbeat_details_json(), "");
    EXPECT_EQ(described.open_tasks(i).task_id(), beats[static_cast<size_t>(i)].task_id);
  }
  EXPECT_LT(described.ByteSizeLong(), size_t{4} << 20);
}

TEST_F(HeartbeatTasksTest, BadInputOfTheCallRefusesItAndRenewsNothing) {
  const std::vector<v1::LeasedTask> tasks = LeaseTasks(1);
  const std::string before =
      StateOf(tasks[0]) + db_.Query("SELECT lease_expires_at::text FROM tasks");
  const Beat good{tasks[0].task_id(), tasks[0].lease_epoch(), R"({"done": 0.1})"};
  const std::vector<std::pair<std::vector<Beat>, std::string>> refused = {
      {{}, "heartbeats: name at least one"},
      {std::vector<Beat>(1001, good), "heartbeats: at most 1000"},
  };
  for (const auto& [beats, field] : refused) {
    v1::HeartbeatTasksResponse response;
    const grpc::Status s = Renew(beats, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_EQ(s.error_message().rfind(field, 0), 0u) << s.error_message();
    EXPECT_EQ(response.results_size(), 0);
  }
  EXPECT_EQ(StateOf(tasks[0]) + db_.Query("SELECT lease_expires_at::text FROM tasks"), before);
}

// An entry's bad input is answered INVALID_ARGUMENT alone, naming its field; nothing of it is
// written and its lease is not renewed, while the good entries of the same call are.
TEST_F(HeartbeatTasksTest, AnEntrysBadInputIsRefusedAloneNamingItsField) {
  const std::vector<v1::LeasedTask> tasks = LeaseTasks(2);
  const auto expiry = [&](const v1::LeasedTask& task) {  // in microseconds
    return std::stoll(
        db_.Query("SELECT (extract(epoch FROM lease_expires_at) * 1e6)::bigint"
                  " FROM tasks WHERE id = " +
                  task.task_id()));
  };
  const std::string deep = std::string(600, '[') + std::string(600, ']');
  const std::vector<std::pair<Beat, std::string>> bad = {
      {{tasks[1].task_id(), 0, ""}, "heartbeats[1].lease_epoch"},
      {{"twelve", 1, ""}, "heartbeats[1].task_id"},
      {{tasks[1].task_id(), tasks[1].lease_epoch(), "{not json"}, "heartbeats[1].details_json"},
      {{tasks[1].task_id(), tasks[1].lease_epoch(), deep}, "heartbeats[1].details_json"},
      {{tasks[0].task_id(), tasks[0].lease_epoch(), ""}, "heartbeats[1].task_id"},  // twice
  };
  int n = 0;
  for (const auto& [beat, field] : bad) {
    const std::string untouched = StateOf(tasks[1]) + std::to_string(expiry(tasks[1]));
    const int64_t renewed_before = expiry(tasks[0]);
    const std::string progress = R"({"done": )" + std::to_string(++n) + "}";
    v1::HeartbeatTasksResponse response;
    const grpc::Status s =
        Renew({{tasks[0].task_id(), tasks[0].lease_epoch(), progress}, beat}, &response);
    ASSERT_TRUE(s.ok()) << field << ": " << s.error_message();
    ASSERT_EQ(response.results_size(), 2) << field;
    EXPECT_EQ(response.results(0).code(), grpc::StatusCode::OK) << response.results(0).message();
    EXPECT_EQ(response.results(1).code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_EQ(response.results(1).message().rfind(field, 0), 0u) << response.results(1).message();
    EXPECT_EQ(response.results(1).task_id(), beat.task_id);
    EXPECT_FALSE(response.results(1).has_lease_expire_time()) << field;
    EXPECT_EQ(StateOf(tasks[0]), "LEASED " + std::to_string(tasks[0].lease_epoch()) + " " +
                                     R"({"done": )" + std::to_string(n) + "}");
    EXPECT_GT(expiry(tasks[0]), renewed_before) << field;
    EXPECT_EQ(StateOf(tasks[1]) + std::to_string(expiry(tasks[1])), untouched) << field;
    // Renewed properly before the next case, so that it never expires (1 s) during the test.
    v1::HeartbeatTasksResponse renewal;
    ASSERT_TRUE(Renew({{tasks[1].task_id(), tasks[1].lease_epoch(), ""}}, &renewal).ok());
    EXPECT_EQ(renewal.results(0).code(), grpc::StatusCode::OK);
  }
}

// A replica whose RPC threads are all busy does not run a renewal whose caller gave up while it
// waited for a thread: the caller already has DEADLINE_EXCEEDED, and a worker resends its leases
// the next round (timed-out calls run anyway would pile up behind the ones that made them late).
class HeartbeatTasksOnABusyReplicaTest : public HeartbeatTasksTest {
 protected:
  HeartbeatTasksOnABusyReplicaTest() : HeartbeatTasksTest(2) {}
};

TEST_F(HeartbeatTasksOnABusyReplicaTest, ARenewalWhoseCallerGaveUpWhileQueuedIsNotRun) {
  const std::vector<v1::LeasedTask> tasks = LeaseTasks(3, "60s");
  pqxx::connection holder(db_.url());
  pqxx::work hold(holder);  // the first two tasks' rows: their single heartbeats wait for them
  hold.exec("SELECT id FROM tasks WHERE id IN (" + tasks[0].task_id() + ", " + tasks[1].task_id() +
            ") FOR UPDATE");
  std::vector<std::future<grpc::Status>> waiting;
  for (int i = 0; i < 2; ++i) {
    waiting.push_back(std::async(std::launch::async, [&, i] {
      v1::HeartbeatTasksResponse response;
      const grpc::Status s = Renew({{tasks[i].task_id(), tasks[i].lease_epoch(), ""}}, &response);
      return s.ok() ? grpc::Status(static_cast<grpc::StatusCode>(response.results(0).code()),
                                   response.results(0).message())
                    : s;
    }));
  }
  ASSERT_TRUE(Eventually([&] {  // both RPC threads wait for a row lock
    return db_.Query(
               "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
               " AND application_name = 'gridflow-engine'") == "2";
  }));
  v1::HeartbeatTasksResponse response;
  EXPECT_EQ(Renew({{tasks[2].task_id(), tasks[2].lease_epoch(), R"({"late": true})"}}, &response,
                  Millis(300))
                .error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  std::this_thread::sleep_for(Millis(200));  // the engine notices the caller left
  hold.commit();
  for (auto& call : waiting)
    EXPECT_TRUE(call.get().ok());
  // The late call reaches a free thread right after them; run, it would write its progress.
  std::this_thread::sleep_for(Millis(500));
  EXPECT_EQ(StateOf(tasks[2]), "LEASED " + std::to_string(tasks[2].lease_epoch()) + " -");
  EXPECT_EQ(StateOf(tasks[0]), "LEASED " + std::to_string(tasks[0].lease_epoch()) + " -");
}

// The SDK renews its running tasks' leases with HeartbeatTasks: long handlers outlive several
// heartbeat timeouts, and the progress they report reaches their tasks.
TEST_F(HeartbeatTasksTest, AnSdkWorkerRenewsItsLeasesTogether) {
  RunLongTasksOnAnSdkWorker([](const std::string&) { return R"({"stage": "computing"})"; });
  // Each attempt kept its first lease (none expired and ran again) and reported its progress.
  EXPECT_EQ(db_.Query("SELECT string_agg(DISTINCT attempt || ' ' || (heartbeat_details->>'stage'),"
                      " ',') FROM tasks"),
            "1 computing");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events WHERE type = 'TaskFailed'"), "0");
  EXPECT_GT(Calls("HeartbeatTasks"), 0);
  EXPECT_LE(Calls("Heartbeat"), 0);  // never called (no sample at all)
}

// One handler's progress is not JSON: the engine refuses that entry alone, so the SDK drops the
// progress and renews that lease at once without it; every attempt keeps its lease and no
// heartbeat counts as failed.
TEST_F(HeartbeatTasksTest, ProgressTheEngineRefusesCostsNoLease) {
  const std::string metrics = RunLongTasksOnAnSdkWorker([](const std::string& workflow_id) {
    return workflow_id == "settle-0" ? R"({"stage": )" : R"({"stage": "computing"})";
  });
  EXPECT_NE(metrics.find("gridflow_worker_tasks_total"), std::string::npos);
  EXPECT_LE(Sample(metrics, "gridflow_worker_heartbeat_failures_total"), 0) << metrics;
  EXPECT_GT(Calls("Heartbeat"), 0);  // the refused lease, renewed alone
  EXPECT_EQ(db_.Query("SELECT string_agg(r.workflow_id || ' ' || t.attempt || ' ' ||"
                      " COALESCE(t.heartbeat_details->>'stage', '-'), ',' ORDER BY r.workflow_id)"
                      " FROM tasks t JOIN runs r ON r.id = t.run_id"),
            "settle-0 1 -,settle-1 1 computing,settle-2 1 computing,settle-3 1 computing");
  EXPECT_EQ(db_.Query("SELECT count(*) FROM events WHERE type = 'TaskFailed'"), "0");
}

}  // namespace
}  // namespace gridflow::testing
