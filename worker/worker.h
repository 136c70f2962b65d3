// Worker: Gridflow's C++ worker SDK. Register a handler per task type, then Run(): the worker
// long-polls the engine for tasks of its queues, runs up to `max_concurrent_tasks` handlers at
// once, heartbeats their leases in the background, and reports each outcome. Shutdown() (e.g. on
// SIGTERM) stops polling (each replica is asked to end the worker's long-polls: StopPolling, not
// a cancel that could lose a task handed over meanwhile), lets running handlers finish for
// `shutdown_grace`, then releases the leases of those still running so other workers take them
// at once.
//
//   gridflow::worker::Worker worker({.transport = {.address = "localhost:7233"},
//                                    .task_queues = {"trading"}});
//   worker.Register("submit_bid", [](gridflow::worker::TaskContext& ctx) {
//     return gridflow::worker::TaskOutcome::Success(R"({"accepted": true})");
//   });
//   worker.Run();  // until worker.Shutdown() from another thread
//
// The SDK reaches the engine only through the public gridflow.v1 gRPC API.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/client_channel.h"
#include "common/duration.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

#include "common/status.h"
#include "worker/task_context.h"

namespace gridflow::worker {

using Handler = std::function<TaskOutcome(TaskContext&)>;

struct WorkerOptions {
  // The engine: a gRPC target ("host:port", "dns:///engine.ns.svc:7233" for every address it
  // resolves to, "ipv4:10.0.0.1:7233,10.0.0.2:7233"), TLS and token. With several replicas a
  // long-poll waits on each (ReplicaTargets, docs/worker.md) and the other calls are spread
  // round-robin over them.
  ClientTransport transport;
  std::string namespace_name = "default";
  std::vector<std::string> task_queues = {"default"};
  // Recorded as the lease holder and in history; default "<hostname>:<pid>".
  std::string identity;
  int max_concurrent_tasks = 4;
  // Reserved capacity (docs/dispatch.md): this many slots more, taken only by tasks whose class
  // is reserved_priority or more urgent (0 urgent .. 4 bulk), so a flood of bulk work never holds
  // the slot an activation needs.
  int reserved_slots = 0;
  int reserved_priority = 0;
  // Longest long-poll; the engine caps it at 60 s.
  Millis poll_wait{30'000};
  // After Shutdown(), how long running handlers may take before their leases are released.
  Millis shutdown_grace{30'000};
  // Heartbeat interval for steps without a heartbeat timeout (to learn of cancellation).
  Millis idle_heartbeat_interval{10'000};
  // Eager dispatch: each completion asks the engine to hand over, in its answer, the task it
  // schedules next on these queues (a run's next step), leased to this worker — no poll between
  // two steps of a run. Off: every task comes through a long-poll.
  bool eager_next_tasks = true;
  // When set, the worker's metrics (gridflow_worker_*) are registered here; serve it with
  // gridflow::MetricsEndpoint.
  std::shared_ptr<prometheus::Registry> metrics;
};

struct WorkerStats {
  int64_t leased = 0;
  int64_t completed = 0;
  int64_t failed = 0;
  int64_t released = 0;
  int64_t rejected = 0;  // outcomes the engine refused (lease lost)
  int64_t poll_errors =
      0;  // LeaseTasks calls that failed (engine unreachable, credentials refused)
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();  // shuts down and waits for handlers
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Before Run(). One handler per task type; the worker asks only for types it can handle.
  void Register(const std::string& task_type, Handler handler);

  // Serves tasks until Shutdown(); returns once running handlers finished or were released.
  // INVALID_ARGUMENT without handlers or with unusable connection settings (TLS files).
  Status Run();
  // Thread-safe; returns at once (Run() returns when the drain is over).
  void Shutdown();

  WorkerStats stats() const;
  const std::string& identity() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gridflow::worker
