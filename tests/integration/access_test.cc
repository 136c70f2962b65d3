// Who may do what: every RPC against every role of an access policy (and the anonymous caller),
// principals from tokens and client certificates in history, and workers limited to queues.
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/create_channel.h>
#include <nlohmann/json.hpp>

#include "common/client_channel.h"
#include "gridflow/v1/batch_service.grpc.pb.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "gridflow/v1/namespace_service.grpc.pb.h"
#include "gridflow/v1/rollout_service.grpc.pb.h"
#include "gridflow/v1/schedule_service.grpc.pb.h"
#include "tests/integration/test_certificates.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using json = nlohmann::json;

constexpr const char* kPolicy = R"({
  "description": "the access test's policy",
  "grants": [
    {"principals": ["token:reader"], "namespaces": ["default"], "roles": ["reader"]},
    {"principals": ["token:starter"], "namespaces": ["default"], "roles": ["starter"]},
    {"principals": ["token:operator"], "namespaces": ["default"], "roles": ["operator"]},
    {"principals": ["token:worker"], "namespaces": ["default"], "roles": ["worker"]},
    {"principals": ["token:bids-worker"], "namespaces": ["default"], "roles": ["worker"],
     "queues": ["bids"]},
    {"principals": ["token:admin"], "namespaces": ["*"], "roles": ["admin"]},
    {"principals": ["token:elsewhere"], "namespaces": ["other"], "roles": ["admin"]},
    {"principals": ["cert:spiffe://gridflow.test/ops/bert"], "namespaces": ["default"],
     "roles": ["operator"]},
    {"principals": ["anonymous"], "namespaces": ["default"], "roles": ["reader"]}
  ]})";

constexpr const char* kTokens =
    "t-reader reader\nt-starter starter\nt-operator operator\nt-worker worker\n"
    "t-bids bids-worker\nt-admin admin\nt-none nobody\nt-elsewhere elsewhere\n";

// What each role may call, written out from the documented table (docs/security.md), not from
// the engine's code.
const std::set<std::string> kRead = {"GetDefinition",
                                     "ListDefinitions",
                                     "GetRun",
                                     "ListRuns",
                                     "DescribeRun",
                                     "GetHistory",
                                     "WatchHistory",
                                     "ListQueues",
                                     "GetClusterStatus",
                                     "ListNamespaces",
                                     "DescribeNamespace",
                                     "DescribeSchedule",
                                     "ListSchedules",
                                     "GetCalendar",
                                     "ListCalendars",
                                     "ListDeadLetters",
                                     "GetBatchOperation",
                                     "ListBatchOperations",
                                     "ListBatchOperationItems",
                                     "GetRollout"};
const std::set<std::string> kWork = {"LeaseTasks", "Heartbeat",   "HeartbeatTasks", "CompleteTask",
                                     "FailTask",   "ReleaseTask", "StopPolling"};
const std::set<std::string> kOperate = {
    "CancelRun",           "TerminateRun",         "RetryRun",          "PauseDispatch",
    "ResumeDispatch",      "SetRateLimit",         "SetCircuitBreaker", "PauseSchedule",
    "ResumeSchedule",      "TriggerSchedule",      "BackfillSchedule",  "RetryDeadLetters",
    "StartBatchOperation", "CancelBatchOperation", "RollbackRollout"};

std::set<std::string> Allowed(const std::string& role) {
  std::set<std::string> allowed;
  auto add = [&](const std::set<std::string>& some) { allowed.insert(some.begin(), some.end()); };
  if (role == "reader" || role == "anonymous") add(kRead);
  if (role == "starter") {
    add(kRead);
    add({"StartRun", "SignalRun"});
  }
  if (role == "operator") {
    add(kRead);
    add(kOperate);
    add({"SignalRun"});
  }
  if (role == "worker") add(kWork);
  if (role == "admin") {
    add(kRead);
    add(kWork);
    add(kOperate);
    add({"StartRun", "SignalRun", "RegisterDefinition", "CreateNamespace", "UpdateNamespace",
         "CreateSchedule", "UpdateSchedule", "DeleteSchedule", "PutCalendar", "DeleteCalendar",
         "StartRollout", "PromoteRollout"});
  }
  // Read in some namespace is enough to see the cluster and the list of namespaces.
  if (role == "elsewhere") add({"GetClusterStatus", "ListNamespaces"});
  return allowed;
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(certs_.Path("policy.json")) << kPolicy;
    std::ofstream(certs_.Path("role-tokens")) << kTokens;
    auto config = FastEngineConfig(db_.url());
    config.security.tls_cert_file = certs_.Path("server.pem");
    config.security.tls_key_file = certs_.Path("server.key");
    config.security.tls_client_ca_file = certs_.Path("ca.pem");
    config.security.tokens_file = certs_.Path("role-tokens");
    config.access_policy_file = certs_.Path("policy.json");
    config.metrics_listen = "127.0.0.1:0";
    secure_ = std::make_unique<TestEngine>(config);
    // The same database behind a plaintext port: its callers are anonymous.
    auto open_config = FastEngineConfig(db_.url());
    open_config.access_policy_file = certs_.Path("policy.json");
    plain_ = std::make_unique<TestEngine>(open_config);
    secure_channel_ = Channel("client");
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& client_cert) {
    ClientTransport transport;
    transport.address = secure_->address();
    transport.tls_ca = certs_.Path("ca.pem");
    transport.tls_cert = certs_.Path(client_cert + ".pem");
    transport.tls_key = certs_.Path(client_cert + ".key");
    std::shared_ptr<grpc::Channel> channel;
    EXPECT_TRUE(OpenClientChannel(transport, false, &channel).ok());
    return channel;
  }

  // A context carrying `token` (none when empty).
  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = Ctx(std::chrono::seconds(5));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  // What a denied call must leave untouched.
  std::string Fingerprint() const {
    return db_.Query(
        "SELECT concat_ws('|',"
        " (SELECT md5(string_agg(r::text, ',' ORDER BY r.id)) FROM runs r),"
        " (SELECT count(*) FROM events),"
        " (SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM tasks t),"
        " (SELECT count(*) FROM definitions), (SELECT count(*) FROM signals),"
        " (SELECT md5(string_agg(d::text, ',' ORDER BY d.name)) FROM dispatch_controls d),"
        " (SELECT md5(string_agg(n::text, ',' ORDER BY n.name)) FROM namespaces n),"
        " (SELECT md5(string_agg(s::text, ',' ORDER BY s.id)) FROM schedules s),"
        " (SELECT count(*) FROM schedule_firings),"
        " (SELECT md5(string_agg(c::text, ',' ORDER BY c.name)) FROM calendars c),"
        " (SELECT md5(string_agg(b::text, ',' ORDER BY b.id)) FROM batch_operations b),"
        " (SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM definition_rollouts o))");
  }

  Certificates certs_;
  TestDatabase db_;
  std::unique_ptr<TestEngine> secure_;
  std::unique_ptr<TestEngine> plain_;
  std::shared_ptr<grpc::Channel> secure_channel_;
};

using Call = std::function<grpc::Status(grpc::ClientContext*)>;

// Every gridflow.v1 method, each with a request that would change something when allowed.
std::map<std::string, Call> EveryMethod(const std::shared_ptr<grpc::Channel>& channel,
                                        const v1::LeasedTask& task) {
  auto workflows = std::shared_ptr(v1::WorkflowService::NewStub(channel));
  auto workers = std::shared_ptr(v1::WorkerService::NewStub(channel));
  auto cluster = std::shared_ptr(v1::ClusterService::NewStub(channel));
  auto namespaces = std::shared_ptr(v1::NamespaceService::NewStub(channel));
  auto schedules = std::shared_ptr(v1::ScheduleService::NewStub(channel));
  auto batches = std::shared_ptr(v1::BatchService::NewStub(channel));
  auto rollouts = std::shared_ptr(v1::RolloutService::NewStub(channel));
  std::map<std::string, Call> calls;
  calls["RegisterDefinition"] = [=](grpc::ClientContext* c) {
    v1::RegisterDefinitionRequest r;
    r.set_definition_json(SequenceDefinition("other-def", {{"a", "t"}}));
    v1::RegisterDefinitionResponse out;
    return workflows->RegisterDefinition(c, r, &out);
  };
  calls["GetDefinition"] = [=](grpc::ClientContext* c) {
    v1::GetDefinitionRequest r;
    r.set_name("bid");
    v1::Definition out;
    return workflows->GetDefinition(c, r, &out);
  };
  calls["ListDefinitions"] = [=](grpc::ClientContext* c) {
    v1::ListDefinitionsRequest r;
    v1::ListDefinitionsResponse out;
    return workflows->ListDefinitions(c, r, &out);
  };
  calls["StartRun"] = [=](grpc::ClientContext* c) {
    v1::StartRunRequest r;
    r.set_workflow_id("started-in-matrix");
    r.set_definition_name("bid");
    v1::StartRunResponse out;
    return workflows->StartRun(c, r, &out);
  };
  calls["GetRun"] = [=](grpc::ClientContext* c) {
    v1::GetRunRequest r;
    r.set_workflow_id("bid-1");
    v1::Run out;
    return workflows->GetRun(c, r, &out);
  };
  calls["ListRuns"] = [=](grpc::ClientContext* c) {
    v1::ListRunsRequest r;
    v1::ListRunsResponse out;
    return workflows->ListRuns(c, r, &out);
  };
  calls["DescribeRun"] = [=](grpc::ClientContext* c) {
    v1::DescribeRunRequest r;
    r.set_workflow_id("bid-1");
    v1::DescribeRunResponse out;
    return workflows->DescribeRun(c, r, &out);
  };
  calls["GetHistory"] = [=](grpc::ClientContext* c) {
    v1::GetHistoryRequest r;
    r.set_workflow_id("bid-1");
    v1::GetHistoryResponse out;
    return workflows->GetHistory(c, r, &out);
  };
  calls["WatchHistory"] = [=](grpc::ClientContext* c) {
    v1::WatchHistoryRequest r;
    r.set_workflow_id("bid-1");
    auto stream = workflows->WatchHistory(c, r);
    v1::Event event;
    if (stream->Read(&event)) {
      c->TryCancel();
      stream->Finish();
      return grpc::Status::OK;
    }
    return stream->Finish();
  };
  calls["SignalRun"] = [=](grpc::ClientContext* c) {
    v1::SignalRunRequest r;
    r.set_workflow_id("bid-1");
    r.set_signal_name("ack");
    v1::SignalRunResponse out;
    return workflows->SignalRun(c, r, &out);
  };
  calls["CancelRun"] = [=](grpc::ClientContext* c) {
    v1::CancelRunRequest r;
    r.set_workflow_id("bid-2");
    v1::CancelRunResponse out;
    return workflows->CancelRun(c, r, &out);
  };
  calls["TerminateRun"] = [=](grpc::ClientContext* c) {
    v1::TerminateRunRequest r;
    r.set_workflow_id("bid-3");
    r.set_reason("matrix");
    v1::TerminateRunResponse out;
    return workflows->TerminateRun(c, r, &out);
  };
  calls["RetryRun"] = [=](grpc::ClientContext* c) {
    v1::RetryRunRequest r;
    r.set_workflow_id("bid-3");
    r.set_from_step("a");
    r.set_reason("matrix");
    v1::RetryRunResponse out;
    return workflows->RetryRun(c, r, &out);
  };
  calls["ListDeadLetters"] = [=](grpc::ClientContext* c) {
    v1::ListDeadLettersRequest r;
    v1::ListDeadLettersResponse out;
    return workflows->ListDeadLetters(c, r, &out);
  };
  calls["RetryDeadLetters"] = [=](grpc::ClientContext* c) {
    v1::RetryDeadLettersRequest r;
    r.set_task_queue("bids");
    r.set_task_type("t");
    r.set_error_type("Matrix");
    r.set_reason("matrix");
    v1::RetryDeadLettersResponse out;
    return workflows->RetryDeadLetters(c, r, &out);
  };
  calls["LeaseTasks"] = [=](grpc::ClientContext* c) {
    v1::LeaseTasksRequest r;
    r.add_task_queues("bids");
    v1::LeaseTasksResponse out;
    return workers->LeaseTasks(c, r, &out);
  };
  calls["Heartbeat"] = [=](grpc::ClientContext* c) {
    v1::HeartbeatRequest r;
    r.set_task_id(task.task_id());
    r.set_lease_epoch(task.lease_epoch());
    v1::HeartbeatResponse out;
    return workers->Heartbeat(c, r, &out);
  };
  calls["HeartbeatTasks"] = [=](grpc::ClientContext* c) {
    v1::HeartbeatTasksRequest r;
    v1::TaskHeartbeat* beat = r.add_heartbeats();
    beat->set_task_id(task.task_id());
    beat->set_lease_epoch(task.lease_epoch());
    v1::HeartbeatTasksResponse out;
    return workers->HeartbeatTasks(c, r, &out);
  };
  calls["CompleteTask"] = [=](grpc::ClientContext* c) {
    v1::CompleteTaskRequest r;
    r.set_task_id(task.task_id());
    r.set_lease_epoch(task.lease_epoch() + 100);  // stale: allowed callers get FAILED_PRECONDITION
    v1::CompleteTaskResponse out;
    return workers->CompleteTask(c, r, &out);
  };
  calls["FailTask"] = [=](grpc::ClientContext* c) {
    v1::FailTaskRequest r;
    r.set_task_id(task.task_id());
    r.set_lease_epoch(task.lease_epoch() + 100);
    r.set_error_type("Matrix");
    v1::FailTaskResponse out;
    return workers->FailTask(c, r, &out);
  };
  calls["ReleaseTask"] = [=](grpc::ClientContext* c) {
    v1::ReleaseTaskRequest r;
    r.set_task_id(task.task_id());
    r.set_lease_epoch(task.lease_epoch() + 100);
    v1::ReleaseTaskResponse out;
    return workers->ReleaseTask(c, r, &out);
  };
  calls["StopPolling"] = [=](grpc::ClientContext* c) {
    v1::StopPollingRequest r;
    r.set_worker_instance_key("access-test-worker");
    v1::StopPollingResponse out;
    return workers->StopPolling(c, r, &out);
  };
  calls["GetClusterStatus"] = [=](grpc::ClientContext* c) {
    v1::GetClusterStatusRequest r;
    v1::GetClusterStatusResponse out;
    return cluster->GetClusterStatus(c, r, &out);
  };
  calls["ListQueues"] = [=](grpc::ClientContext* c) {
    v1::ListQueuesRequest r;
    v1::ListQueuesResponse out;
    return cluster->ListQueues(c, r, &out);
  };
  calls["PauseDispatch"] = [=](grpc::ClientContext* c) {
    v1::PauseDispatchRequest r;
    r.set_scope(v1::DISPATCH_SCOPE_QUEUE);
    r.set_name("paused-in-matrix");
    v1::DispatchControlResponse out;
    return cluster->PauseDispatch(c, r, &out);
  };
  calls["ResumeDispatch"] = [=](grpc::ClientContext* c) {
    v1::ResumeDispatchRequest r;
    r.set_scope(v1::DISPATCH_SCOPE_QUEUE);
    r.set_name("resumed-in-matrix");
    v1::DispatchControlResponse out;
    return cluster->ResumeDispatch(c, r, &out);
  };
  calls["SetRateLimit"] = [=](grpc::ClientContext* c) {
    v1::SetRateLimitRequest r;
    r.set_scope(v1::DISPATCH_SCOPE_QUEUE);
    r.set_name("limited-in-matrix");
    r.set_rate_per_second(5);
    v1::DispatchControlResponse out;
    return cluster->SetRateLimit(c, r, &out);
  };
  calls["SetCircuitBreaker"] = [=](grpc::ClientContext* c) {
    v1::SetCircuitBreakerRequest r;
    r.set_task_type("broken-in-matrix");
    r.set_min_attempts(3);
    v1::DispatchControlResponse out;
    return cluster->SetCircuitBreaker(c, r, &out);
  };
  calls["CreateNamespace"] = [=](grpc::ClientContext* c) {
    v1::CreateNamespaceRequest r;
    static int created = 0;
    r.set_name("made-in-matrix-" + std::to_string(++created));
    v1::Namespace out;
    return namespaces->CreateNamespace(c, r, &out);
  };
  calls["ListNamespaces"] = [=](grpc::ClientContext* c) {
    v1::ListNamespacesRequest r;
    v1::ListNamespacesResponse out;
    return namespaces->ListNamespaces(c, r, &out);
  };
  calls["DescribeNamespace"] = [=](grpc::ClientContext* c) {
    v1::DescribeNamespaceRequest r;
    v1::Namespace out;
    return namespaces->DescribeNamespace(c, r, &out);
  };
  calls["UpdateNamespace"] = [=](grpc::ClientContext* c) {
    v1::UpdateNamespaceRequest r;
    r.set_description("changed in the matrix");
    v1::Namespace out;
    return namespaces->UpdateNamespace(c, r, &out);
  };
  const std::string spec = R"({"workflow": {"definition": "bid"}, "trigger": {"every": "1h"},
                                "start_at": "2100-01-01T00:00:00Z", "overlap": "allow_all"})";
  calls["CreateSchedule"] = [=](grpc::ClientContext* c) {
    v1::CreateScheduleRequest r;
    static int created = 0;
    r.set_id("made-in-matrix-" + std::to_string(++created));
    r.set_spec_json(spec);
    v1::Schedule out;
    return schedules->CreateSchedule(c, r, &out);
  };
  calls["UpdateSchedule"] = [=](grpc::ClientContext* c) {
    v1::UpdateScheduleRequest r;
    r.set_id("hourly");
    r.set_spec_json(spec);
    r.set_description("changed in the matrix");
    v1::Schedule out;
    return schedules->UpdateSchedule(c, r, &out);
  };
  calls["DeleteSchedule"] = [=](grpc::ClientContext* c) {
    v1::DeleteScheduleRequest r;
    r.set_id("doomed");
    v1::DeleteScheduleResponse out;
    return schedules->DeleteSchedule(c, r, &out);
  };
  calls["DescribeSchedule"] = [=](grpc::ClientContext* c) {
    v1::DescribeScheduleRequest r;
    r.set_id("hourly");
    v1::Schedule out;
    return schedules->DescribeSchedule(c, r, &out);
  };
  calls["ListSchedules"] = [=](grpc::ClientContext* c) {
    v1::ListSchedulesRequest r;
    v1::ListSchedulesResponse out;
    return schedules->ListSchedules(c, r, &out);
  };
  calls["PauseSchedule"] = [=](grpc::ClientContext* c) {
    v1::PauseScheduleRequest r;
    r.set_id("hourly");
    r.set_note("paused in the matrix");
    v1::Schedule out;
    return schedules->PauseSchedule(c, r, &out);
  };
  calls["ResumeSchedule"] = [=](grpc::ClientContext* c) {
    v1::ResumeScheduleRequest r;
    r.set_id("hourly");
    r.set_note("resumed in the matrix");
    v1::Schedule out;
    return schedules->ResumeSchedule(c, r, &out);
  };
  calls["TriggerSchedule"] = [=](grpc::ClientContext* c) {
    v1::TriggerScheduleRequest r;
    r.set_id("hourly");
    v1::TriggerScheduleResponse out;
    return schedules->TriggerSchedule(c, r, &out);
  };
  calls["BackfillSchedule"] = [=](grpc::ClientContext* c) {
    v1::BackfillScheduleRequest r;
    r.set_id("hourly");
    static int day = 0;
    r.mutable_from()->set_seconds(1'700'000'000 + 86'400 * ++day);
    r.mutable_to()->set_seconds(r.from().seconds() + 7'200);
    v1::BackfillScheduleResponse out;
    return schedules->BackfillSchedule(c, r, &out);
  };
  calls["PutCalendar"] = [=](grpc::ClientContext* c) {
    v1::PutCalendarRequest r;
    r.set_name("exchange");
    r.set_body_json(R"({"holidays": ["2026-12-25"]})");
    v1::Calendar out;
    return schedules->PutCalendar(c, r, &out);
  };
  calls["GetCalendar"] = [=](grpc::ClientContext* c) {
    v1::GetCalendarRequest r;
    r.set_name("fixed");
    v1::Calendar out;
    return schedules->GetCalendar(c, r, &out);
  };
  calls["ListCalendars"] = [=](grpc::ClientContext* c) {
    v1::ListCalendarsRequest r;
    v1::ListCalendarsResponse out;
    return schedules->ListCalendars(c, r, &out);
  };
  calls["DeleteCalendar"] = [=](grpc::ClientContext* c) {
    v1::DeleteCalendarRequest r;
    r.set_name("fixed");
    v1::DeleteCalendarResponse out;
    return schedules->DeleteCalendar(c, r, &out);
  };
  calls["StartBatchOperation"] = [=](grpc::ClientContext* c) {
    v1::StartBatchOperationRequest r;
    r.set_kind(v1::BATCH_OPERATION_KIND_TERMINATE);
    // Matches no run: nothing acts in the background while denied calls are checked.
    r.set_query("workflow_id = 'no-such-run'");
    r.set_reason("access test");
    v1::BatchOperation out;
    return batches->StartBatchOperation(c, r, &out);
  };
  calls["CancelBatchOperation"] = [=](grpc::ClientContext* c) {
    v1::CancelBatchOperationRequest r;
    r.set_id("fixed-op");
    v1::BatchOperation out;
    return batches->CancelBatchOperation(c, r, &out);
  };
  calls["GetBatchOperation"] = [=](grpc::ClientContext* c) {
    v1::GetBatchOperationRequest r;
    r.set_id("fixed-op");
    v1::BatchOperation out;
    return batches->GetBatchOperation(c, r, &out);
  };
  calls["ListBatchOperations"] = [=](grpc::ClientContext* c) {
    v1::ListBatchOperationsRequest r;
    v1::ListBatchOperationsResponse out;
    return batches->ListBatchOperations(c, r, &out);
  };
  calls["ListBatchOperationItems"] = [=](grpc::ClientContext* c) {
    v1::ListBatchOperationItemsRequest r;
    r.set_id("fixed-op");
    v1::ListBatchOperationItemsResponse out;
    return batches->ListBatchOperationItems(c, r, &out);
  };
  calls["StartRollout"] = [=](grpc::ClientContext* c) {
    v1::StartRolloutRequest r;
    r.set_definition_name("bid");
    r.set_candidate_version(1);  // the latest: refused after the check, changing nothing
    r.set_percent(10);
    v1::Rollout out;
    return rollouts->StartRollout(c, r, &out);
  };
  calls["GetRollout"] = [=](grpc::ClientContext* c) {
    v1::GetRolloutRequest r;
    r.set_definition_name("bid");
    v1::Rollout out;
    return rollouts->GetRollout(c, r, &out);
  };
  calls["PromoteRollout"] = [=](grpc::ClientContext* c) {
    v1::EndRolloutRequest r;
    r.set_definition_name("bid");
    v1::Rollout out;
    return rollouts->PromoteRollout(c, r, &out);
  };
  calls["RollbackRollout"] = [=](grpc::ClientContext* c) {
    v1::EndRolloutRequest r;
    r.set_definition_name("bid");
    r.set_reason("access test");
    v1::Rollout out;
    return rollouts->RollbackRollout(c, r, &out);
  };
  return calls;
}

TEST_F(AccessTest, EveryMethodAgainstEveryRoleAndDeniedCallsChangeNothing) {
  // Fixtures made by the admin: a definition, open runs, one task leased on queue "bids".
  auto admin = v1::WorkflowService::NewStub(secure_channel_);
  {
    v1::RegisterDefinitionRequest r;
    r.set_definition_json(
        SequenceDefinition("bid", {{"a", "t"}, {"b", "t"}}, R"({"task_queue": "bids"})"));
    v1::RegisterDefinitionResponse out;
    const grpc::Status s = admin->RegisterDefinition(As("t-admin").get(), r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (const std::string id : {"bid-1", "bid-2", "bid-3", "bid-4"}) {
      v1::StartRunRequest start;
      start.set_workflow_id(id);
      start.set_definition_name("bid");
      v1::StartRunResponse started;
      ASSERT_TRUE(admin->StartRun(As("t-admin").get(), start, &started).ok());
    }
  }
  {
    auto schedules = v1::ScheduleService::NewStub(secure_channel_);
    for (const std::string id : {"hourly", "doomed"}) {
      v1::CreateScheduleRequest r;
      r.set_id(id);
      // Nominal times only from 2100: no firing may change the database between a denied call's
      // two fingerprints (an hourly schedule once fired at the top of the hour mid-matrix).
      r.set_spec_json(R"({"workflow": {"definition": "bid"}, "trigger": {"every": "1h"},
                          "start_at": "2100-01-01T00:00:00Z"})");
      v1::Schedule out;
      const grpc::Status s = schedules->CreateSchedule(As("t-admin").get(), r, &out);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    v1::PutCalendarRequest r;
    r.set_name("fixed");
    r.set_body_json(R"({"holidays": ["2026-12-24"]})");
    v1::Calendar out;
    ASSERT_TRUE(schedules->PutCalendar(As("t-admin").get(), r, &out).ok());
  }
  {
    auto batches = v1::BatchService::NewStub(secure_channel_);
    v1::StartBatchOperationRequest r;
    r.set_id("fixed-op");
    r.set_kind(v1::BATCH_OPERATION_KIND_CANCEL);
    r.set_query("workflow_id = 'no-such-run'");
    r.set_reason("fixture");
    v1::BatchOperation out;
    const grpc::Status s = batches->StartBatchOperation(As("t-admin").get(), r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::LeasedTask task;
  {
    auto workers = v1::WorkerService::NewStub(secure_channel_);
    v1::LeaseTasksRequest r;
    r.add_task_queues("bids");
    v1::LeaseTasksResponse out;
    ASSERT_TRUE(workers->LeaseTasks(As("t-admin").get(), r, &out).ok());
    ASSERT_EQ(out.tasks_size(), 1);
    task = out.tasks(0);
  }

  const std::map<std::string, std::string> callers = {
      {"reader", "t-reader"},       {"starter", "t-starter"}, {"operator", "t-operator"},
      {"worker", "t-worker"},       {"admin", "t-admin"},     {"nobody", "t-none"},
      {"elsewhere", "t-elsewhere"}, {"anonymous", ""}};
  const auto secure_calls = EveryMethod(secure_channel_, task);
  const auto plain_calls = EveryMethod(plain_->channel(), task);
  EXPECT_EQ(secure_calls.size(), 54u);  // every method of the seven services
  int denied = 0;
  for (const auto& [role, token] : callers) {
    const auto allowed = Allowed(role);
    const auto& calls = role == "anonymous" ? plain_calls : secure_calls;
    for (const auto& [method, call] : calls) {
      const std::string before = Fingerprint();
      const grpc::Status s = call(As(token).get());
      if (allowed.count(method) > 0) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << role << " " << method << ": " << s.error_message();
        continue;
      }
      ++denied;
      EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
          << role << " " << method << ": " << s.error_message();
      EXPECT_EQ(Fingerprint(), before) << role << " " << method << " changed the database";
    }
  }
  EXPECT_GT(denied, 100);
}

TEST_F(AccessTest, NamespacesAreManagedObjectsAndListsShowOnlyReadableOnes) {
  auto namespaces = v1::NamespaceService::NewStub(secure_channel_);
  v1::CreateNamespaceRequest create;
  create.set_name("trading");
  create.set_description("day-ahead and intraday desk");
  create.set_time_zone("Europe/Berlin");
  *create.mutable_closed_run_retention() =
      google::protobuf::util::TimeUtil::HoursToDuration(24 * 400);
  v1::Namespace made;
  grpc::Status s = namespaces->CreateNamespace(As("t-admin").get(), create, &made);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(made.created_by(), "token:admin");
  EXPECT_EQ(namespaces->CreateNamespace(As("t-admin").get(), create, &made).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  create.set_name("Bad Name");
  EXPECT_EQ(namespaces->CreateNamespace(As("t-admin").get(), create, &made).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  create.set_name("tz");
  create.set_time_zone("Mars/Olympus");
  s = namespaces->CreateNamespace(As("t-admin").get(), create, &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("time_zone"), std::string::npos);
  create.set_time_zone("");
  create.set_description(std::string(5000, 'd'));  // over the 4 KiB text limit
  s = namespaces->CreateNamespace(As("t-admin").get(), create, &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("description"), std::string::npos) << s.error_message();

  // The reader reads "default" only: the list shows it alone.
  v1::ListNamespacesRequest list;
  v1::ListNamespacesResponse listed;
  ASSERT_TRUE(namespaces->ListNamespaces(As("t-reader").get(), list, &listed).ok());
  ASSERT_EQ(listed.namespaces_size(), 1);
  EXPECT_EQ(listed.namespaces(0).name(), "default");
  ASSERT_TRUE(namespaces->ListNamespaces(As("t-admin").get(), list, &listed).ok());
  EXPECT_EQ(listed.namespaces_size(), 2);

  // A run in the new namespace, then deprecation: no new runs or definitions, open runs go on.
  auto workflows = v1::WorkflowService::NewStub(secure_channel_);
  v1::RegisterDefinitionRequest def;
  def.set_namespace_("trading");
  def.set_definition_json(SequenceDefinition("bid", {{"a", "t"}}));
  v1::RegisterDefinitionResponse registered;
  ASSERT_TRUE(workflows->RegisterDefinition(As("t-admin").get(), def, &registered).ok());
  v1::StartRunRequest start;
  start.set_namespace_("trading");
  start.set_definition_name("bid");
  start.set_workflow_id("open-before");
  v1::StartRunResponse started;
  ASSERT_TRUE(workflows->StartRun(As("t-admin").get(), start, &started).ok());

  v1::UpdateNamespaceRequest deprecate;
  deprecate.set_namespace_("trading");
  deprecate.set_deprecated(true);
  v1::Namespace updated;
  EXPECT_EQ(namespaces->UpdateNamespace(As("t-admin").get(), deprecate, &updated).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // a reason is required
  deprecate.set_reason("desk merged into balancing");
  ASSERT_TRUE(namespaces->UpdateNamespace(As("t-admin").get(), deprecate, &updated).ok());
  EXPECT_TRUE(updated.deprecated());
  EXPECT_EQ(updated.description(), "day-ahead and intraday desk");  // unset fields unchanged
  start.set_workflow_id("started-after");
  s = workflows->StartRun(As("t-admin").get(), start, &started);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("deprecated"), std::string::npos) << s.error_message();
  EXPECT_EQ(workflows->RegisterDefinition(As("t-admin").get(), def, &registered).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(namespaces->ListNamespaces(As("t-admin").get(), list, &listed).ok());
  EXPECT_EQ(listed.namespaces_size(), 1);  // deprecated ones only with include_deprecated
  // The open run goes on: a worker completes it.
  auto workers = v1::WorkerService::NewStub(secure_channel_);
  v1::LeaseTasksRequest lease;
  lease.set_namespace_("trading");
  lease.add_task_queues("q");
  v1::LeaseTasksResponse leased;
  ASSERT_TRUE(workers->LeaseTasks(As("t-admin").get(), lease, &leased).ok());
  ASSERT_EQ(leased.tasks_size(), 1);
  v1::CompleteTaskRequest complete;
  complete.set_namespace_("trading");
  complete.set_task_id(leased.tasks(0).task_id());
  complete.set_lease_epoch(leased.tasks(0).lease_epoch());
  v1::CompleteTaskResponse completed;
  EXPECT_TRUE(workers->CompleteTask(As("t-admin").get(), complete, &completed).ok());

  // Reinstated, it takes runs again.
  v1::UpdateNamespaceRequest reinstate;
  reinstate.set_namespace_("trading");
  reinstate.set_deprecated(false);
  ASSERT_TRUE(namespaces->UpdateNamespace(As("t-admin").get(), reinstate, &updated).ok());
  EXPECT_FALSE(updated.deprecated());
  EXPECT_TRUE(workflows->StartRun(As("t-admin").get(), start, &started).ok());
  EXPECT_EQ(db_.Query("SELECT updated_by FROM namespaces WHERE name = 'trading'"), "token:admin");
}

TEST_F(AccessTest, HistoryNamesTheAuthenticatedPrincipalsWhateverClientsClaim) {
  auto admin = v1::WorkflowService::NewStub(secure_channel_);
  v1::RegisterDefinitionRequest def;
  def.set_definition_json(SequenceDefinition("bid", {{"a", "t"}}));
  v1::RegisterDefinitionResponse registered;
  ASSERT_TRUE(admin->RegisterDefinition(As("t-admin").get(), def, &registered).ok());
  EXPECT_EQ(registered.definition().created_by(), "token:admin");

  // Token A starts, claiming to be someone else.
  v1::StartRunRequest start;
  start.set_workflow_id("bid-a");
  start.set_definition_name("bid");
  start.set_identity("the-ceo");
  v1::StartRunResponse started;
  ASSERT_TRUE(admin->StartRun(As("t-starter").get(), start, &started).ok());

  // Certificate B (a SPIFFE ID, no token) cancels, claiming to be the starter.
  auto bert = v1::WorkflowService::NewStub(Channel("bert"));
  v1::CancelRunRequest cancel;
  cancel.set_workflow_id("bid-a");
  cancel.set_reason("exchange outage");
  cancel.set_identity("token:starter");
  v1::CancelRunResponse cancelled;
  const grpc::Status s = bert->CancelRun(As("").get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(cancelled.run().cancel_requested_by(), "cert:spiffe://gridflow.test/ops/bert");

  // A certificate without a URI SAN is named by its subject; it has no role here.
  auto plain_cert = v1::WorkflowService::NewStub(secure_channel_);
  v1::CancelRunResponse refused;
  const grpc::Status denied = plain_cert->CancelRun(As("").get(), cancel, &refused);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(denied.error_message().find("cert:CN=client"), std::string::npos)
      << denied.error_message();

  v1::GetHistoryRequest history;
  history.set_workflow_id("bid-a");
  v1::GetHistoryResponse events;
  ASSERT_TRUE(admin->GetHistory(As("t-reader").get(), history, &events).ok());
  std::map<std::string, v1::Event> by_type;
  for (const auto& e : events.events())
    by_type[e.type()] = e;
  ASSERT_TRUE(by_type.count("RunStarted") && by_type.count("RunCancelRequested"));
  EXPECT_EQ(by_type["RunStarted"].actor(), "token:starter");
  EXPECT_EQ(json::parse(by_type["RunStarted"].payload_json())["client_identity"], "the-ceo");
  EXPECT_EQ(by_type["RunCancelRequested"].actor(), "cert:spiffe://gridflow.test/ops/bert");
  EXPECT_EQ(json::parse(by_type["RunCancelRequested"].payload_json())["client_identity"],
            "token:starter");
  EXPECT_EQ(db_.Query("SELECT started_by FROM runs WHERE workflow_id = 'bid-a'"), "token:starter");
}

TEST_F(AccessTest, AWorkerLimitedToQueuesNeitherLeasesNorReportsOnOthers) {
  auto admin = v1::WorkflowService::NewStub(secure_channel_);
  v1::RegisterDefinitionRequest def;
  def.set_definition_json(SequenceDefinition("bid", {{"a", "t"}}, R"({"task_queue": "bids"})"));
  v1::RegisterDefinitionResponse registered;
  ASSERT_TRUE(admin->RegisterDefinition(As("t-admin").get(), def, &registered).ok());
  def.set_definition_json(
      SequenceDefinition("settle", {{"a", "t"}}, R"({"task_queue": "settlement"})"));
  ASSERT_TRUE(admin->RegisterDefinition(As("t-admin").get(), def, &registered).ok());
  for (const auto& [id, name] : {std::pair{"b-1", "bid"}, std::pair{"s-1", "settle"}}) {
    v1::StartRunRequest start;
    start.set_workflow_id(id);
    start.set_definition_name(name);
    v1::StartRunResponse started;
    ASSERT_TRUE(admin->StartRun(As("t-admin").get(), start, &started).ok());
  }
  auto workers = v1::WorkerService::NewStub(secure_channel_);
  auto lease = [&](const std::string& token, const std::string& queue,
                   v1::LeaseTasksResponse* out) {
    v1::LeaseTasksRequest r;
    r.add_task_queues(queue);
    return workers->LeaseTasks(As(token).get(), r, out);
  };
  v1::LeaseTasksResponse out;
  const grpc::Status refused = lease("t-bids", "settlement", &out);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(refused.error_message().find("queue 'settlement'"), std::string::npos)
      << refused.error_message();

  // The unlimited worker leases the settlement task; the bids worker cannot complete it even
  // with the right lease epoch.
  ASSERT_TRUE(lease("t-worker", "settlement", &out).ok());
  ASSERT_EQ(out.tasks_size(), 1);
  const v1::LeasedTask settlement = out.tasks(0);
  const std::string before = Fingerprint();
  v1::CompleteTaskRequest complete;
  complete.set_task_id(settlement.task_id());
  complete.set_lease_epoch(settlement.lease_epoch());
  complete.set_result_json("{}");
  v1::CompleteTaskResponse completed;
  EXPECT_EQ(workers->CompleteTask(As("t-bids").get(), complete, &completed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::HeartbeatRequest beat;
  beat.set_task_id(settlement.task_id());
  beat.set_lease_epoch(settlement.lease_epoch());
  v1::HeartbeatResponse beaten;
  EXPECT_EQ(workers->Heartbeat(As("t-bids").get(), beat, &beaten).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::HeartbeatTasksRequest beats;  // renewing several: that lease alone is refused
  v1::TaskHeartbeat* other = beats.add_heartbeats();
  other->set_task_id(settlement.task_id());
  other->set_lease_epoch(settlement.lease_epoch());
  other->set_details_json(R"({"sabotage": true})");
  v1::HeartbeatTasksResponse all_beaten;
  ASSERT_TRUE(workers->HeartbeatTasks(As("t-bids").get(), beats, &all_beaten).ok());
  ASSERT_EQ(all_beaten.results_size(), 1);
  EXPECT_EQ(all_beaten.results(0).code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(all_beaten.results(0).message().find("queue 'settlement'"), std::string::npos)
      << all_beaten.results(0).message();
  v1::FailTaskRequest fail;
  fail.set_task_id(settlement.task_id());
  fail.set_lease_epoch(settlement.lease_epoch());
  fail.set_error_type("Sabotage");
  v1::FailTaskResponse failed;
  EXPECT_EQ(workers->FailTask(As("t-bids").get(), fail, &failed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ReleaseTaskRequest release;
  release.set_task_id(settlement.task_id());
  release.set_lease_epoch(settlement.lease_epoch());
  v1::ReleaseTaskResponse released;
  EXPECT_EQ(workers->ReleaseTask(As("t-bids").get(), release, &released).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Fingerprint(), before);

  // Its own queue works end to end.
  ASSERT_TRUE(lease("t-bids", "bids", &out).ok());
  ASSERT_EQ(out.tasks_size(), 1);
  complete.set_task_id(out.tasks(0).task_id());
  complete.set_lease_epoch(out.tasks(0).lease_epoch());
  const grpc::Status ok = workers->CompleteTask(As("t-bids").get(), complete, &completed);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(db_.Query("SELECT actor FROM events e JOIN runs r ON r.id = e.run_id"
                      " WHERE r.workflow_id = 'b-1' AND e.type = 'TaskCompleted'"),
            "token:bids-worker");
}

TEST_F(AccessTest, DenialsAreCountedInTheMetrics) {
  auto reader = v1::WorkflowService::NewStub(secure_channel_);
  v1::CancelRunRequest cancel;
  cancel.set_workflow_id("nothing");
  v1::CancelRunResponse out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reader->CancelRun(As("t-reader").get(), cancel, &out).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  const std::string text = HttpGet(secure_->engine().metrics_port(), "/metrics");
  EXPECT_NE(text.find("gridflow_access_denied_total{method=\"CancelRun\"} 3"), std::string::npos)
      << text.substr(0, 2000);
}

}  // namespace
}  // namespace gridflow::testing
