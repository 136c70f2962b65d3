// HealthMonitor: drives grpc.health.v1. The server ("") and the gridflow.v1 services report
// SERVING only while PostgreSQL answers and its schema is at least the version this binary
// embeds, so load balancers and readiness probes route around a replica that lost its database
// (checked every `interval` on a pooled connection). The service
// "liveness" reports SERVING while the process runs, whatever the database does: a liveness probe
// must not restart replicas because PostgreSQL is failing over. The same statuses are published to
// every health service given (the API server's, and the plaintext health-only server's if any).
#pragma once

#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <vector>

#include "common/duration.h"
#include "common/periodic_task.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class HealthMonitor {
 public:
  HealthMonitor(persistence::ConnectionPool& pool, Millis interval);

  // Starts checking and publishing to `targets` (owned by their gRPC servers, which outlive
  // Shutdown()).
  void Start(std::vector<grpc::HealthCheckServiceInterface*> targets);
  // Reports NOT_SERVING from now on (drain) and stops checking.
  void Shutdown();
  bool database_reachable() const { return reachable_.load(); }

 private:
  void Check();
  void Publish(bool serving);

  persistence::ConnectionPool& pool_;
  std::vector<grpc::HealthCheckServiceInterface*> targets_;
  std::atomic<bool> reachable_{false};
  std::atomic<bool> schema_current_{false};
  std::atomic<bool> shut_down_{false};
  PeriodicTask task_;
};

}  // namespace gridflow::engine
