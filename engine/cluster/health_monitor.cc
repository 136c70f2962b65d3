#include "engine/cluster/health_monitor.h"

#include <spdlog/spdlog.h>

#include "persistence/migrations.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

namespace {
// The services whose health follows the database, besides the server as a whole ("").
constexpr const char* kServices[] = {"", "gridflow.v1.WorkflowService", "gridflow.v1.WorkerService",
                                     "gridflow.v1.ClusterService"};
constexpr const char* kLivenessService = "liveness";
}  // namespace

HealthMonitor::HealthMonitor(persistence::ConnectionPool& pool, Millis interval)
    : pool_(pool), task_("health monitor", interval, [this] { Check(); }) {}

void HealthMonitor::Start(std::vector<grpc::HealthCheckServiceInterface*> targets) {
  targets_ = std::move(targets);
  for (grpc::HealthCheckServiceInterface* target : targets_)
    target->SetServingStatus(kLivenessService, true);
  task_.Start();
}

void HealthMonitor::Shutdown() {
  shut_down_ = true;
  task_.Stop();
  Publish(false);
}

void HealthMonitor::Check() {
  persistence::TransactOptions once;
  once.max_attempts = 1;
  const int expected = persistence::EmbeddedMigrations().back().version;
  int recorded = 0;
  Status s = persistence::Transact(
      pool_, "health check",
      [&](pqxx::work& txn) {
        recorded = persistence::RecordedSchemaVersion(txn);
        return Status::Ok();
      },
      once);
  const bool reachable = s.ok();
  // A schema behind this binary (restored from an old backup, migrations rolled back by hand)
  // would make transitions fail: stop taking traffic. A newer one is an upgrade in progress.
  const bool current = reachable && recorded >= expected;
  if (reachable != reachable_.exchange(reachable)) {
    if (reachable) {
      spdlog::info("database reachable");
    } else {
      spdlog::error("database unreachable, reporting NOT_SERVING: {}", s.message());
    }
  }
  if (reachable && current != schema_current_.exchange(current)) {
    if (current) {
      spdlog::info("schema at version {} (this binary needs {}): serving", recorded, expected);
    } else {
      spdlog::error("schema at version {} but this binary needs {}: reporting NOT_SERVING",
                    recorded, expected);
    }
  }
  if (!shut_down_) Publish(reachable && current);
}

void HealthMonitor::Publish(bool serving) {
  for (grpc::HealthCheckServiceInterface* target : targets_) {
    for (const char* service : kServices)
      target->SetServingStatus(service, serving);
  }
}

}  // namespace gridflow::engine
