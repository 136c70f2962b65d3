#include "worker/worker_metrics.h"

#include "common/metrics_endpoint.h"

namespace gridflow::worker {

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry, int slots)
    : tasks_(prometheus::BuildCounter()
                 .Name("gridflow_worker_tasks_total")
                 .Help("Task attempts this worker finished, by queue, task type and outcome "
                       "(completed, failed, rejected, released).")
                 .Register(registry)),
      handler_seconds_(prometheus::BuildHistogram()
                           .Name("gridflow_worker_handler_seconds")
                           .Help("How long handlers ran, by queue and task type.")
                           .Register(registry)),
      polls_(prometheus::BuildCounter()
                 .Name("gridflow_worker_polls_total")
                 .Help("LeaseTasks long-polls, by result (tasks, empty, error).")
                 .Register(registry)),
      heartbeat_failures_(prometheus::BuildCounter()
                              .Name("gridflow_worker_heartbeat_failures_total")
                              .Help("Heartbeats that failed; reason lease_lost or error.")
                              .Register(registry)),
      leased_(prometheus::BuildCounter()
                  .Name("gridflow_worker_tasks_leased_total")
                  .Help("Tasks this worker leased.")
                  .Register(registry)
                  .Add({})),
      running_(prometheus::BuildGauge()
                   .Name("gridflow_worker_tasks_running")
                   .Help("Tasks leased and not yet finished.")
                   .Register(registry)
                   .Add({})),
      slots_(prometheus::BuildGauge()
                 .Name("gridflow_worker_slots")
                 .Help("Tasks this worker runs at once at most.")
                 .Register(registry)
                 .Add({})) {
  slots_.Set(slots);
}

void WorkerMetrics::TaskFinished(const std::string& queue, const std::string& task_type,
                                 const std::string& outcome, double seconds) {
  tasks_.Add({{"queue", queue}, {"task_type", task_type}, {"outcome", outcome}}).Increment();
  handler_seconds_.Add({{"queue", queue}, {"task_type", task_type}}, DurationBuckets())
      .Observe(seconds);
}

void WorkerMetrics::TasksLeased(int count) {
  leased_.Increment(count);
}

void WorkerMetrics::SetRunning(size_t running) {
  running_.Set(static_cast<double>(running));
}

void WorkerMetrics::Polled(const char* result) {
  polls_.Add({{"result", result}}).Increment();
}

void WorkerMetrics::HeartbeatFailed(bool lease_lost) {
  heartbeat_failures_.Add({{"reason", lease_lost ? "lease_lost" : "error"}}).Increment();
}

}  // namespace gridflow::worker
