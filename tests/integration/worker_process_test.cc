// The gridflow-worker binary against a real engine: external-command handlers, a worker killed
// with SIGKILL mid-task (its lease expires and another worker finishes the run), and graceful
// shutdown on SIGTERM releasing the task at once. And the C++ SDK's example worker
// (examples/cpp-worker), which docs/worker.md shows whole.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

namespace fs = std::filesystem;

class WorkerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string extras =
        R"({"timeouts": {"start_to_close": "2m", "heartbeat": "1s"},
            "retry": {"max_attempts": 3, "initial_interval": "100ms"}})";
    ASSERT_TRUE(
        Register(engine_, SequenceDefinition("dispatch", {{"setpoint", "setpoint"}}, extras)).ok());
  }

  std::unique_ptr<ChildProcess> StartWorker(const std::string& identity,
                                            const std::string& command) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{WorkerBinary(), "--address", engine_.address(), "--queue", "q",
                                 "--identity", identity, "--poll-wait", "2s", "--shutdown-grace",
                                 "1s", "--handler", "setpoint=" + command},
        (dir_ / (identity + ".log")).string());
  }

  ScratchDir scratch_{"gf-worker-test"};
  const fs::path& dir_ = scratch_.path();
  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

TEST_F(WorkerProcessTest, ExternalCommandCompletesTheTask) {
  auto worker = StartWorker(
      "cmd-worker",
      R"(python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"mw": d["input"]["mw"], "asset": "bess-7"}))')");
  Start(engine_, "act-1", "dispatch", R"({"mw": 12.5})");
  const v1::Run run = WaitClosed(engine_, "act-1");
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED);
  const auto result = nlohmann::json::parse(run.result_json());
  EXPECT_EQ(result["setpoint"]["mw"], 12.5);
  EXPECT_EQ(result["setpoint"]["asset"], "bess-7");
}

TEST_F(WorkerProcessTest, KilledWorkersTaskCompletesOnAnotherWorker) {
  // The first attempt hangs; any later one answers at once.
  const std::string command =
      "if [ \"$GRIDFLOW_ATTEMPT\" = 1 ]; then echo $$ > " + (dir_ / "hung.pid").string() +
      "; exec sleep 120; fi; echo \"{\\\"by_attempt\\\": $GRIDFLOW_ATTEMPT}\"";
  auto doomed = StartWorker("doomed-worker", command);
  Start(engine_, "act-1", "dispatch", "{}");
  // The shell creates the file before it writes the pid: wait for the whole line.
  ASSERT_TRUE(Eventually([&] {
    std::string line;
    std::ifstream(dir_ / "hung.pid") >> line;
    return !line.empty();
  }));

  doomed->Signal(SIGKILL);
  EXPECT_EQ(doomed->Wait(), -SIGKILL);
  pid_t hung = 0;
  std::ifstream(dir_ / "hung.pid") >> hung;
  ASSERT_GT(hung, 0);
  kill(hung, SIGKILL);  // the handler process of the dead worker

  auto rescuer = StartWorker("rescuer-worker", command);
  const v1::Run run = WaitClosed(engine_, "act-1", std::chrono::seconds(30));
  ASSERT_EQ(run.status(), v1::RUN_STATUS_COMPLETED);
  EXPECT_EQ(nlohmann::json::parse(run.result_json())["setpoint"]["by_attempt"], 2);

  const auto events = History(engine_, "act-1");
  EXPECT_EQ(EventTypes(events),
            (std::vector<std::string>{"RunStarted", "TaskScheduled", "TaskLeaseExpired",
                                      "TaskCompleted", "RunCompleted"}));
  EXPECT_EQ(nlohmann::json::parse(events[2].payload_json())["lease_owner"], "doomed-worker");
  EXPECT_EQ(nlohmann::json::parse(events[3].payload_json())["worker"], "rescuer-worker");
  EXPECT_EQ(events[3].attempt(), 2);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks WHERE state = 'LEASED'"), "0");
}

TEST_F(WorkerProcessTest, SigtermReleasesARunningTaskForAnotherWorker) {
  // The first execution hangs (a release keeps the attempt number, so a marker file tells).
  const std::string started = (dir_ / "started").string();
  const std::string command = "if [ ! -e " + started + " ]; then touch " + started +
                              "; exec sleep 120; fi; echo '{\"ok\": true}'";
  auto leaving = StartWorker("leaving-worker", command);
  Start(engine_, "act-1", "dispatch", "{}");
  ASSERT_TRUE(Eventually([&] { return fs::exists(dir_ / "started"); }));
  leaving->Signal(SIGTERM);
  EXPECT_EQ(leaving->Wait(std::chrono::seconds(20)), 0);  // grace 1 s, release, kill the command

  const auto types = EventTypes(History(engine_, "act-1"));
  EXPECT_EQ(types.back(), "TaskReleased");
  EXPECT_EQ(db_.Query("SELECT state || ' ' || attempt FROM tasks"), "PENDING 1");

  auto staying = StartWorker("staying-worker", command);
  EXPECT_EQ(WaitClosed(engine_, "act-1").status(), v1::RUN_STATUS_COMPLETED);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(CppWorkerExample, DocsShowTheProgramAsItIs) {
  const std::string doc = ReadFile(fs::path(GRIDFLOW_SOURCE_DIR) / "docs" / "worker.md");
  const size_t section = doc.find("## In C++");
  ASSERT_NE(section, std::string::npos);
  const size_t begin = doc.find("```cpp\n", section);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = doc.find("```\n", begin + 7);
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(doc.substr(begin + 7, end - begin - 7),
            ReadFile(fs::path(GRIDFLOW_EXAMPLES_DIR) / "cpp-worker" / "setpoint_worker.cc"))
      << "docs/worker.md must show examples/cpp-worker/setpoint_worker.cc as it is";
}

TEST(CppWorkerExample, ServesSetpointStepsAndStopsOnSigterm) {
  TestDatabase db;
  TestEngine engine(db.url());
  ScratchDir dir("gf-cpp-example");
  ASSERT_TRUE(Register(engine, R"({"name": "order", "version": 1, "steps": [
      {"name": "setpoint", "kind": "task", "task_type": "setpoint", "task_queue": "assets",
       "priority": "urgent", "retry": {"max_attempts": 1},
       "input": {"asset": "=$/input/asset", "mw": "=$/input/mw", "activation_id": "a-1"}}]})")
                  .ok());
  ChildProcess worker(
      {"/usr/bin/env", "GRIDFLOW_ADDRESS=" + engine.address(), ExampleWorkerBinary()},
      (dir.path() / "worker.log").string());

  Start(engine, "act-1", "order", R"({"asset": "bess-1", "mw": 12.5})");
  const v1::Run done = WaitClosed(engine, "act-1");
  ASSERT_EQ(done.status(), v1::RUN_STATUS_COMPLETED) << ReadFile(dir.path() / "worker.log");
  const auto setpoint = nlohmann::json::parse(done.data_json())["setpoint"];
  EXPECT_EQ(setpoint["asset"], "bess-1");
  EXPECT_EQ(setpoint["mw"], 12.5);
  EXPECT_EQ(setpoint["acknowledged"], true);
  EXPECT_EQ(setpoint["command_id"], done.run_id() + ":setpoint");  // the idempotency key

  // Input it cannot use fails the step at once (not retryable).
  Start(engine, "act-2", "order", R"({"asset": "bess-1", "mw": "twelve"})");
  const v1::Run refused = WaitClosed(engine, "act-2");
  EXPECT_EQ(refused.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(refused.failure().error_type(), "BadSetpoint") << refused.failure().message();

  worker.Signal(SIGTERM);
  EXPECT_EQ(worker.Wait(std::chrono::seconds(20)), 0);
}

}  // namespace
}  // namespace gridflow::testing
