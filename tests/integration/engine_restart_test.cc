// A worker (the gridflow-worker binary, in a process of its own like any deployment's) across its
// engine's restart: what it finished while the engine was down is recorded once the engine is
// back, and new work reaches it within seconds (docs/worker.md).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A free port below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up by
// default): while the engine is down, nothing that binds port 0 or connects out (other tests run
// beside this one) can be given it.
int QuietPort() {
  std::mt19937 random(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = std::uniform_int_distribution<int>(20000, 32000)(random);
    const int fd = BindLoopback(port);
    if (fd >= 0) {
      close(fd);
      return port;
    }
  }
  return 0;
}

class EngineRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int port = QuietPort();
    ASSERT_NE(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
    engine::EngineConfig config = FastEngineConfig(db_.url());
    config.listen_address = address_;
    engine_ = std::make_unique<TestEngine>(config);
    // Leases far longer than a test: only the worker's own retry can record an outcome.
    ASSERT_TRUE(Register(*engine_, SequenceDefinition("restart", {{"one", "t"}},
                                                      R"({"timeouts": {"start_to_close": "10m"}})"))
                    .ok());
    // Notes each run it executes; the run "before" finishes only once the file "go" exists.
    const std::string d = dir_.string();
    const std::string handler = "echo \"$GRIDFLOW_WORKFLOW_ID\" >> " + d +
                                "/ran; if [ \"$GRIDFLOW_WORKFLOW_ID\" = before ]; then touch " + d +
                                "/entered; while [ ! -f " + d +
                                "/go ]; do sleep 0.05; done; fi; echo '{}'";
    worker_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{WorkerBinary(), "--address", address_, "--queue", "q",
                                 "--identity", "restart-worker", "--poll-wait", "2s",
                                 "--shutdown-grace", "1s", "--handler", "t=" + handler},
        (dir_ / "worker.log").string());
  }

  void TearDown() override { worker_.reset(); }

  // The engine stops; `while_down` runs; nothing listens on its port for `down`; then a new
  // engine serves there.
  void Restart(Clock::duration down, const std::function<void()>& while_down = {}) {
    engine_.reset();
    if (while_down) while_down();
    std::this_thread::sleep_for(down);
    engine::EngineConfig config = FastEngineConfig(db_.url());
    config.listen_address = address_;
    engine_ = std::make_unique<TestEngine>(config);
  }

  // How often the worker started a task of `workflow_id`.
  int Ran(const std::string& workflow_id) const {
    std::ifstream in(dir_ / "ran");
    int n = 0;
    for (std::string line; std::getline(in, line);)
      n += line == workflow_id ? 1 : 0;
    return n;
  }

  ScratchDir scratch_{"gf-restart-test"};
  const fs::path& dir_ = scratch_.path();
  TestDatabase db_;
  std::unique_ptr<TestEngine> engine_;
  std::string address_;
  std::unique_ptr<ChildProcess> worker_;
};

TEST_F(EngineRestartTest, AnOutcomeFinishedWhileTheEngineWasDownIsRecordedWhenItIsBack) {
  Start(*engine_, "before", "restart");
  ASSERT_TRUE(Eventually([&] { return fs::exists(dir_ / "entered"); }));
  // The handler finishes once its engine has gone; down for longer than the SDK used to retry an
  // outcome (8 attempts, about 11 s).
  Restart(seconds(20), [&] { std::ofstream(dir_ / "go").put('\n'); });
  EXPECT_EQ(WaitClosed(*engine_, "before", seconds(10)).status(), v1::RUN_STATUS_COMPLETED)
      << "the outcome reported while the engine was down was lost";
  EXPECT_EQ(Ran("before"), 1) << "the finished task ran again";
}

TEST_F(EngineRestartTest, AWorkerFindsItsEngineAgainWithinSecondsOfALongOutage) {
  // By 35 s down, gRPC's default reconnect backoff has grown so far that a client's next attempt
  // comes about 15 s after the engine's return; the SDK's come at most about 2 s apart.
  ASSERT_TRUE(Eventually([&] { return engine_->engine().waiting_long_polls() == 1; }));
  Restart(seconds(35));
  const Clock::time_point back = Clock::now();
  Start(*engine_, "after", "restart");
  ASSERT_TRUE(Eventually([&] { return Ran("after") == 1; }, seconds(30)));
  EXPECT_LT(Clock::now() - back, seconds(5)) << "the worker took long to find its engine again";
  EXPECT_EQ(WaitClosed(*engine_, "after").status(), v1::RUN_STATUS_COMPLETED);
}

}  // namespace
}  // namespace gridflow::testing
