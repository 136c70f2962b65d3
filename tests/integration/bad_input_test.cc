// Input no caller should be able to use against a replica: JSON nested far deeper than anything
// real (which once crashed the engine through a stack overflow), strings that are not UTF-8,
// out-of-range times, oversized values. Each is INVALID_ARGUMENT naming the field, with a short
// message, changes nothing, and the replica goes on serving.
#include <grpcpp/generic/generic_stub.h>

#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

const std::string& DeepJson() {
  static const std::string deep = std::string(60'000, '[') + std::string(60'000, ']');
  return deep;
}

// Sends `bytes` as the request of `method` ("/gridflow.v1.WorkflowService/StartRun").
grpc::Status RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status result;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
    std::lock_guard lock(mu);
    result = std::move(s);
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return result;
}

// `message` serialized, with the UTF-8 placeholder "@@@@" replaced by bytes that are not UTF-8.
std::string WithInvalidUtf8(const google::protobuf::Message& message) {
  std::string bytes = message.SerializeAsString();
  const size_t at = bytes.find("@@@@");
  EXPECT_NE(at, std::string::npos);
  bytes.replace(at, 4, "\xff\xfe\xc0\xaf");
  return bytes;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Register(engine_, SequenceDefinition("two-step", {{"a", "a"}, {"b", "b"}})).ok());
  }

  // The replica still serves, and the state is what it was.
  void ExpectUnchanged(const std::string& runs, const std::string& events) {
    EXPECT_EQ(db_.Query("SELECT count(*) FROM runs"), runs);
    EXPECT_EQ(db_.Query("SELECT count(*) FROM events"), events);
    v1::ListRunsRequest list;
    v1::ListRunsResponse listed;
    EXPECT_TRUE(engine_.workflows().ListRuns(Ctx().get(), list, &listed).ok());
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
};

void ExpectInvalid(const grpc::Status& s, const std::string& prefix) {
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message().rfind(prefix, 0), 0u) << s.error_message().substr(0, 300);
  EXPECT_LT(s.error_message().size(), 400u);
}

TEST_F(BadInputTest, DeeplyNestedJsonIsRefusedInEveryJsonField) {
  Start(engine_, "open", "two-step");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
  ASSERT_FALSE(task.task_id().empty());
  const std::string runs = db_.Query("SELECT count(*) FROM runs");
  const std::string events = db_.Query("SELECT count(*) FROM events");
  const std::string nested = "input_json: is nested more than 64 levels deep";

  v1::StartRunRequest start;
  start.set_workflow_id("deep");
  start.set_definition_name("two-step");
  start.set_input_json(DeepJson());
  v1::StartRunResponse started;
  ExpectInvalid(engine_.workflows().StartRun(Ctx().get(), start, &started), nested);

  v1::SignalRunRequest signal;
  signal.set_workflow_id("open");
  signal.set_signal_name("go");
  signal.set_payload_json(DeepJson());
  v1::SignalRunResponse signalled;
  ExpectInvalid(engine_.workflows().SignalRun(Ctx().get(), signal, &signalled),
                "payload_json: is nested more than 64 levels deep");

  v1::RegisterDefinitionRequest define;
  define.set_definition_json(R"({"name": "d", "version": 1, "steps": [)" + DeepJson() + "]}");
  v1::RegisterDefinitionResponse defined;
  ExpectInvalid(engine_.workflows().RegisterDefinition(Ctx().get(), define, &defined),
                "definition_json: is nested more than 64 levels deep");

  v1::CompleteTaskRequest complete;
  complete.set_task_id(task.task_id());
  complete.set_lease_epoch(task.lease_epoch());
  complete.set_result_json(DeepJson());
  v1::CompleteTaskResponse completed;
  ExpectInvalid(engine_.workers().CompleteTask(Ctx().get(), complete, &completed),
                "result_json: is nested more than 64 levels deep");

  v1::FailTaskRequest fail;
  fail.set_task_id(task.task_id());
  fail.set_lease_epoch(task.lease_epoch());
  fail.set_error_type("X");
  fail.set_details_json(DeepJson());
  v1::FailTaskResponse failed;
  ExpectInvalid(engine_.workers().FailTask(Ctx().get(), fail, &failed),
                "details_json: is nested more than 64 levels deep");

  v1::HeartbeatRequest beat;
  beat.set_task_id(task.task_id());
  beat.set_lease_epoch(task.lease_epoch());
  beat.set_details_json(DeepJson());
  v1::HeartbeatResponse beaten;
  ExpectInvalid(engine_.workers().Heartbeat(Ctx().get(), beat, &beaten),
                "details_json: is nested more than 64 levels deep");

  ExpectUnchanged(runs, events);
  EXPECT_EQ(db_.Query("SELECT state FROM tasks"), "LEASED");
}

// Found by fuzz/fuzz_json_text.cc: a number beyond double's range ended the replica.
TEST_F(BadInputTest, NumbersBeyondRangeAreRefusedInEveryJsonField) {
  Start(engine_, "open", "two-step");
  const v1::LeasedTask task = LeaseOne(engine_, "q", "w");
  ASSERT_FALSE(task.task_id().empty());
  const std::string runs = db_.Query("SELECT count(*) FROM runs");
  const std::string events = db_.Query("SELECT count(*) FROM events");
  const std::string huge = R"({"mw": 888888888888e850956297025341212})";

  v1::StartRunRequest start;
  start.set_workflow_id("huge");
  start.set_definition_name("two-step");
  start.set_input_json(huge);
  v1::StartRunResponse started;
  ExpectInvalid(engine_.workflows().StartRun(Ctx().get(), start, &started),
                "input_json: is not valid JSON");
  v1::RegisterDefinitionRequest define;
  define.set_definition_json(R"({"name": "d", "version": 1e999, "steps": []})");
  v1::RegisterDefinitionResponse defined;
  ExpectInvalid(engine_.workflows().RegisterDefinition(Ctx().get(), define, &defined),
                "definition_json: is not valid JSON");
  v1::CompleteTaskRequest complete;
  complete.set_task_id(task.task_id());
  complete.set_lease_epoch(task.lease_epoch());
  complete.set_result_json("-1e400");
  v1::CompleteTaskResponse completed;
  ExpectInvalid(engine_.workers().CompleteTask(Ctx().get(), complete, &completed),
                "result_json: is not valid JSON");
  ExpectUnchanged(runs, events);
  EXPECT_EQ(db_.Query("SELECT state FROM tasks"), "LEASED");
  // The replica is still serving.
  EXPECT_EQ(GetRun(engine_, "open").status(), v1::RUN_STATUS_RUNNING);
}

TEST_F(BadInputTest, StringsThatAreNotUtf8AreRefusedNamingTheField) {
  v1::StartRunRequest start;
  start.set_workflow_id("@@@@");
  start.set_definition_name("two-step");
  ExpectInvalid(
      RawCall(engine_.channel(), "/gridflow.v1.WorkflowService/StartRun", WithInvalidUtf8(start)),
      "workflow_id: is not valid UTF-8");

  v1::LeaseTasksRequest lease;
  lease.add_task_queues("q");
  lease.add_task_queues("@@@@");
  ExpectInvalid(
      RawCall(engine_.channel(), "/gridflow.v1.WorkerService/LeaseTasks", WithInvalidUtf8(lease)),
      "task_queues[1]: is not valid UTF-8");

  v1::WatchHistoryRequest watch;
  watch.set_workflow_id("@@@@");
  grpc::GenericStub stub(engine_.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&context, "/gridflow.v1.WorkflowService/WatchHistory", &cq);
  const auto step = [&cq](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    return cq.Next(&got, &ok) && ok && reinterpret_cast<intptr_t>(got) == tag;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  grpc::Slice slice(WithInvalidUtf8(watch));
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  ASSERT_TRUE(step(4));
  ExpectInvalid(status, "workflow_id: is not valid UTF-8");

  // Bytes that are no message at all.
  ExpectInvalid(
      RawCall(engine_.channel(), "/gridflow.v1.WorkflowService/GetRun", "\xff\xff\xff\xff"),
      "the request is not a valid gridflow.v1.GetRunRequest message");
  ExpectUnchanged("0", "0");
}

TEST_F(BadInputTest, TimesOutOfRangeAreRefused) {
  v1::ListRunsRequest list;
  list.mutable_created_after()->set_seconds(int64_t{1} << 62);
  v1::ListRunsResponse listed;
  ExpectInvalid(engine_.workflows().ListRuns(Ctx().get(), list, &listed),
                "created_after: is not a valid timestamp");
  list.clear_created_after();
  list.mutable_created_before()->set_nanos(-5);
  ExpectInvalid(engine_.workflows().ListRuns(Ctx().get(), list, &listed),
                "created_before: is not a valid timestamp");

  v1::LeaseTasksRequest lease;
  lease.add_task_queues("q");
  lease.mutable_wait()->set_seconds(1);
  lease.mutable_wait()->set_nanos(2'000'000'000);
  v1::LeaseTasksResponse leased;
  ExpectInvalid(engine_.workers().LeaseTasks(Ctx().get(), lease, &leased),
                "wait: is not a valid duration");
  lease.mutable_wait()->set_seconds(-1);
  lease.mutable_wait()->set_nanos(0);
  ExpectInvalid(engine_.workers().LeaseTasks(Ctx().get(), lease, &leased),
                "wait: must not be negative");
  lease.mutable_wait()->set_seconds(0);
  lease.set_worker_instance_key(std::string("key\n", 4));
  ExpectInvalid(engine_.workers().LeaseTasks(Ctx().get(), lease, &leased), "worker_instance_key");

  v1::StopPollingRequest stop;
  v1::StopPollingResponse stopped;
  ExpectInvalid(engine_.workers().StopPolling(Ctx().get(), stop, &stopped), "worker_instance_key");
  stop.set_worker_instance_key(std::string(5000, 'k'));
  ExpectInvalid(engine_.workers().StopPolling(Ctx().get(), stop, &stopped), "worker_instance_key");
}

// An error that quoted a whole oversized value would exceed gRPC's metadata limit (~16 KB) and
// reach the caller as RESOURCE_EXHAUSTED instead of the real error.
TEST_F(BadInputTest, ErrorsQuoteAShortPrefixOfOversizedValues) {
  const std::string huge(200'000, 'x');
  const std::string bad_name = "1" + huge;  // not a valid name: it starts with a digit

  v1::SignalRunRequest signal;
  signal.set_workflow_id("r");
  signal.set_signal_name(bad_name);
  v1::SignalRunResponse signalled;
  ExpectInvalid(engine_.workflows().SignalRun(Ctx().get(), signal, &signalled), "signal_name: '1x");

  v1::LeaseTasksRequest lease;
  lease.add_task_queues(bad_name);
  v1::LeaseTasksResponse leased;
  ExpectInvalid(engine_.workers().LeaseTasks(Ctx().get(), lease, &leased), "task_queues: '1x");

  v1::CompleteTaskRequest complete;
  complete.set_task_id(huge);
  complete.set_lease_epoch(1);
  v1::CompleteTaskResponse completed;
  ExpectInvalid(engine_.workers().CompleteTask(Ctx().get(), complete, &completed),
                "task_id: 'xxxx");

  v1::RegisterDefinitionRequest define;
  define.set_definition_json(R"({"name": ")" + bad_name + R"(", "version": 1, "steps": []})");
  v1::RegisterDefinitionResponse defined;
  const grpc::Status s = engine_.workflows().RegisterDefinition(Ctx().get(), define, &defined);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message().size();
  EXPECT_LT(s.error_message().size(), 400u);

  v1::StartRunRequest start;
  start.set_workflow_id("r");
  start.set_definition_name("two-step");
  start.set_input_json("\"" + huge);  // unterminated string
  v1::StartRunResponse started;
  ExpectInvalid(engine_.workflows().StartRun(Ctx().get(), start, &started),
                "input_json: is not valid JSON");

  v1::ListRunsRequest list;  // the whole value was quoted until 2026-12-07
  list.set_order_by(huge);
  v1::ListRunsResponse listed;
  ExpectInvalid(engine_.workflows().ListRuns(Ctx().get(), list, &listed), "order_by: 'xxxx");
  ExpectUnchanged("0", "0");
}

}  // namespace
}  // namespace gridflow::testing
