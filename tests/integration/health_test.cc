// grpc.health.v1 through a real client: SERVING while the database answers, NOT_SERVING once the
// replica drains.
#include <grpcpp/generic/generic_stub.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "persistence/migrations.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

grpc::health::v1::HealthCheckResponse::ServingStatus Check(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status s = stub->Check(Ctx().get(), request, &response);
  return s.ok() ? response.status() : grpc::health::v1::HealthCheckResponse::UNKNOWN;
}

TEST(Health, ServingWhileTheDatabaseAnswers) {
  TestDatabase db;
  TestEngine engine(db.url());
  for (const char* service : {"", "gridflow.v1.WorkflowService", "gridflow.v1.WorkerService"}) {
    EXPECT_TRUE(Eventually([&] {
      return Check(engine.channel(), service) == grpc::health::v1::HealthCheckResponse::SERVING;
    })) << service;
  }
}

TEST(Health, NotServingWhenTheDatabaseIsUnreachable) {
  TestDatabase db;
  auto config = FastEngineConfig(db.url());
  TestEngine engine(config);
  ASSERT_TRUE(Eventually([&] {
    return Check(engine.channel(), "") == grpc::health::v1::HealthCheckResponse::SERVING;
  }));
  // Terminate the engine's sessions and forbid new ones: the database is "gone" for it.
  db.AdminQuery("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS false");
  db.AdminQuery("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
                db.name() + "'");
  EXPECT_TRUE(Eventually([&] {
    return Check(engine.channel(), "") == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  }));
  // The process itself is fine: liveness must not make Kubernetes restart it.
  EXPECT_EQ(Check(engine.channel(), "liveness"), grpc::health::v1::HealthCheckResponse::SERVING);
  // Calls that need the database are answered UNAVAILABLE (retryable), never with a guess.
  v1::StartRunRequest start;
  start.set_workflow_id("while-down");
  start.set_definition_name("anything");
  v1::StartRunResponse started;
  EXPECT_EQ(engine.workflows().StartRun(Ctx().get(), start, &started).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  db.AdminQuery("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS true");
  EXPECT_TRUE(Eventually([&] {
    return Check(engine.channel(), "") == grpc::health::v1::HealthCheckResponse::SERVING;
  }));
}

TEST(Health, DuringTheDrainNoticeTheReplicaReportsNotServingYetServesCalls) {
  TestDatabase db;
  TestEngine engine(db.url());
  ASSERT_TRUE(Register(engine, SequenceDefinition("d", {{"s", "t"}})).ok());
  ASSERT_TRUE(Eventually([&] {
    return Check(engine.channel(), "") == grpc::health::v1::HealthCheckResponse::SERVING;
  }));
  std::thread stopper([&] { engine.engine().Shutdown(Millis(5000), Millis(3000)); });
  EXPECT_TRUE(Eventually([&] {
    return Check(engine.channel(), "") == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  }));
  // Load balancers see NOT_SERVING and move clients away; a client still sending is served.
  v1::StartRunRequest start;
  start.set_workflow_id("during-notice");
  start.set_definition_name("d");
  v1::StartRunResponse started;
  const grpc::Status s = engine.workflows().StartRun(Ctx().get(), start, &started);
  EXPECT_TRUE(s.ok()) << s.error_message();
  stopper.join();
  start.set_workflow_id("after-close");
  EXPECT_FALSE(engine.workflows().StartRun(Ctx().get(), start, &started).ok());
}

// A replica started while its database refuses connections (a failover, PostgreSQL starting
// beside it) waits for it instead of exiting; an abort (SIGTERM) ends the wait at once.
TEST(Startup, WaitsForTheDatabaseThenServes) {
  TestDatabase db;
  db.AdminQuery("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS false");
  auto config = FastEngineConfig(db.url());
  config.listen_address = "127.0.0.1:0";
  config.database_wait = Millis(30'000);
  engine::Engine engine(config);
  std::atomic<bool> started{false};
  Status start_status;
  std::thread starting([&] {
    start_status = engine.Start();
    started = true;
  });
  ASSERT_TRUE(Eventually([&] { return engine.start_attempts() >= 3; }));
  EXPECT_FALSE(started.load());  // several failed attempts, and still waiting
  db.AdminQuery("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS true");
  EXPECT_TRUE(Eventually([&] { return started.load(); }));
  starting.join();
  EXPECT_TRUE(start_status.ok()) << start_status.ToString();
  EXPECT_EQ(db.Query("SELECT max(version) FROM gridflow_schema_migrations"),
            std::to_string(persistence::EmbeddedMigrations().back().version));
  engine.Shutdown(Millis(0));
}

TEST(Startup, AbortEndsTheWaitForTheDatabase) {
  TestDatabase db;
  db.AdminQuery("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS false");
  auto config = FastEngineConfig(db.url());
  config.database_wait = Millis(60'000);
  engine::Engine engine(config);
  const auto begin = std::chrono::steady_clock::now();
  std::thread aborter([&] {
    Eventually([&] { return engine.start_attempts() >= 1; });  // it is waiting
    engine.AbortStart();
  });
  const Status s = engine.Start();
  aborter.join();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("aborted"), std::string::npos) << s.message();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(10));
  engine.Shutdown(Millis(0));
  db.AdminQuery("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS true");
}

// gRPC's default SO_REUSEPORT would let a second engine bind the same port and take a share of
// the calls; the second one must refuse to start instead, saying why.
TEST(Startup, RefusesAPortAnotherEngineListensOn) {
  TestDatabase db;
  TestEngine first(db.url());
  std::string out, err;
  const int code = RunCommand({EngineBinary(), "--listen", first.address(), "--database-url",
                               db.url(), "--log-format", "text"},
                              &out, &err);
  EXPECT_EQ(code, 1) << out << err;
  const std::string log = out + err;
  EXPECT_NE(log.find("cannot start:"), std::string::npos) << log;
  EXPECT_NE(log.find("cannot listen on " + first.address()), std::string::npos) << log;
  // The first engine still has its port to itself.
  EXPECT_EQ(Check(first.channel(), ""), grpc::health::v1::HealthCheckResponse::SERVING);
}

// A client that connects and never speaks (no TLS handshake, no HTTP/2 settings) is cut off
// after connection_handshake_timeout, not gRPC's default two minutes; callers that do speak are
// unaffected.
TEST(Startup, ClosesConnectionsThatNeverFinishTheirHandshake) {
  TestDatabase db;
  engine::EngineConfig config = FastEngineConfig(db.url());
  config.connection_handshake_timeout = Millis(1500);
  TestEngine engine(config);
  const int fd = ConnectLoopback(engine.engine().port());
  ASSERT_GE(fd, 0);
  timeval wait{30, 0};  // gRPC's default (120 s) would let this read time out instead
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait), 0);
  const auto begin = std::chrono::steady_clock::now();
  // The engine speaks first (its HTTP/2 settings); read until it hangs up.
  char buffer[256];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) {
  }
  const int read_errno = errno;
  const auto waited = std::chrono::steady_clock::now() - begin;
  close(fd);
  // Closed by the engine: end of stream (or a reset), not the read's own timeout.
  EXPECT_TRUE(n == 0 || (n < 0 && read_errno == ECONNRESET)) << n << " " << read_errno;
  EXPECT_GE(waited, std::chrono::milliseconds(1000));
  EXPECT_LT(waited, std::chrono::seconds(20));
  EXPECT_EQ(Check(engine.channel(), ""), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace gridflow::testing

namespace gridflow::testing {
namespace {

// Server reflection (grpc.reflection.v1alpha, all gRPC 1.51 serves) lists the gridflow services.
// No reflection client ships with Debian's gRPC, so the request is sent as raw bytes:
// ServerReflectionRequest{list_services: "*"} is field 7, a string.
TEST(Reflection, ListsTheGridflowServices) {
  TestDatabase db;
  TestEngine engine(db.url());
  grpc::GenericStub stub(engine.channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  const auto step = [&cq](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    return cq.Next(&got, &ok) && ok && reinterpret_cast<intptr_t>(got) == tag;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  grpc::Slice request_slice(std::string("\x3a\x01*", 3));
  grpc::ByteBuffer request(&request_slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  ASSERT_TRUE(step(4));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(step(5));
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_NE(bytes.find("gridflow.v1.WorkflowService"), std::string::npos);
  EXPECT_NE(bytes.find("gridflow.v1.WorkerService"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
}

}  // namespace
}  // namespace gridflow::testing
