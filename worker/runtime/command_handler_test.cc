#include "worker/runtime/command_handler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <thread>

namespace gridflow::worker {
namespace {

TaskContext MakeContext(const std::string& input) {
  v1::LeasedTask task;
  task.set_task_id("42");
  task.set_step("submit");
  task.set_attempt(2);
  task.set_lease_epoch(7);
  task.set_idempotency_key("run-1:submit");
  task.set_input_json(input);
  return TaskContext(task);
}

class CommandHandlerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }
  CommandOptions options_;
};

TEST_F(CommandHandlerTest, PassesInputAndEnvironmentAndReadsTheResult) {
  TaskContext ctx = MakeContext(R"({"mw": 5})");
  const TaskOutcome out = RunCommand(
      R"(python3 -c 'import json,os,sys; d=json.load(sys.stdin); print(json.dumps({"mw": d["mw"]*2, "key": os.environ["GRIDFLOW_IDEMPOTENCY_KEY"], "epoch": os.environ["GRIDFLOW_LEASE_EPOCH"], "attempt": os.environ["GRIDFLOW_ATTEMPT"]}))')",
      ctx, options_);
  ASSERT_EQ(out.kind, TaskOutcome::Kind::kSuccess) << out.message;
  const auto result = nlohmann::json::parse(out.result_json);
  EXPECT_EQ(result["mw"], 10);
  EXPECT_EQ(result["key"], "run-1:submit");
  EXPECT_EQ(result["epoch"], "7");
  EXPECT_EQ(result["attempt"], "2");
}

TEST_F(CommandHandlerTest, EmptyOutputIsANullResult) {
  TaskContext ctx = MakeContext("{}");
  const TaskOutcome out = RunCommand("true", ctx, options_);
  EXPECT_EQ(out.kind, TaskOutcome::Kind::kSuccess);
  EXPECT_EQ(out.result_json, "");
}

TEST_F(CommandHandlerTest, NonZeroExitIsARetryableFailureWithStderr) {
  TaskContext ctx = MakeContext("{}");
  const TaskOutcome out = RunCommand("echo 'exchange unreachable' >&2; exit 3", ctx, options_);
  EXPECT_EQ(out.kind, TaskOutcome::Kind::kFailure);
  EXPECT_EQ(out.error_type, "CommandFailed");
  EXPECT_EQ(out.message, "exchange unreachable");
  EXPECT_TRUE(out.retryable);
  EXPECT_EQ(nlohmann::json::parse(out.details_json)["exit_code"], 3);
}

TEST_F(CommandHandlerTest, StructuredErrorOnStdoutIsReported) {
  TaskContext ctx = MakeContext("{}");
  const TaskOutcome out = RunCommand(
      R"(echo '{"error": {"type": "BidRejected", "message": "price cap", "retryable": false}}'; exit 1)",
      ctx, options_);
  EXPECT_EQ(out.kind, TaskOutcome::Kind::kFailure);
  EXPECT_EQ(out.error_type, "BidRejected");
  EXPECT_EQ(out.message, "price cap");
  EXPECT_FALSE(out.retryable);
}

TEST_F(CommandHandlerTest, NonJsonResultIsAFailure) {
  TaskContext ctx = MakeContext("{}");
  const TaskOutcome out = RunCommand("echo not-json", ctx, options_);
  EXPECT_EQ(out.kind, TaskOutcome::Kind::kFailure);
  EXPECT_EQ(out.error_type, "gridflow.InvalidResult");
}

TEST_F(CommandHandlerTest, LargeInputToACommandThatIgnoresIt) {
  TaskContext ctx = MakeContext("\"" + std::string(1 << 20, 'x') + "\"");
  const TaskOutcome out = RunCommand("echo 1", ctx, options_);
  EXPECT_EQ(out.kind, TaskOutcome::Kind::kSuccess) << out.message;
  EXPECT_EQ(out.result_json, "1\n");
}

TEST_F(CommandHandlerTest, OutputOverTheLimitFails) {
  options_.max_output_bytes = 1000;
  TaskContext ctx = MakeContext("{}");
  const TaskOutcome out = RunCommand("head -c 5000 /dev/zero | tr '\\0' 'a'", ctx, options_);
  EXPECT_EQ(out.error_type, "gridflow.OutputTooLarge");
}

TEST_F(CommandHandlerTest, CancellationStopsTheCommand) {
  TaskContext ctx = MakeContext("{}");
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ctx.MarkCancelRequested();
  });
  const auto start = std::chrono::steady_clock::now();
  const TaskOutcome out = RunCommand("sleep 30", ctx, options_);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(out.error_type, "gridflow.Cancelled");
  EXPECT_FALSE(out.retryable);
}

}  // namespace
}  // namespace gridflow::worker
