// grpc.health.v1 through a real client: SERVING while the database answers, NOT_SERVING once the
// replica drains.
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

grpc::health::v1::HealthCheckResponse::ServingStatus Check(std::shared_ptr<grpc::Channel> channel,
                                                           const std::string& service) {
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
  db.AdminQuery("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS true");
  EXPECT_TRUE(Eventually([&] {
    return Check(engine.channel(), "") == grpc::health::v1::HealthCheckResponse::SERVING;
  }));
}

}  // namespace
}  // namespace gridflow::testing
