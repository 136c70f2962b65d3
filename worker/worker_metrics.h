// WorkerMetrics: a worker's Prometheus metrics, registered on the registry the worker was given
// (WorkerOptions::metrics). Labels: task queue and task type, outcome; never task or run ids.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace gridflow::worker {

class WorkerMetrics {
 public:
  WorkerMetrics(prometheus::Registry& registry, int slots);

  // completed, failed, rejected (the engine refused the outcome: lease lost) or released.
  void TaskFinished(const std::string& queue, const std::string& task_type,
                    const std::string& outcome, double seconds);
  void TasksLeased(int count);
  void SetRunning(size_t running);
  // tasks, empty, error
  void Polled(const char* result);
  void HeartbeatFailed(bool lease_lost);

 private:
  prometheus::Family<prometheus::Counter>& tasks_;
  prometheus::Family<prometheus::Histogram>& handler_seconds_;
  prometheus::Family<prometheus::Counter>& polls_;
  prometheus::Family<prometheus::Counter>& heartbeat_failures_;
  prometheus::Counter& leased_;
  prometheus::Gauge& running_;
  prometheus::Gauge& slots_;
};

}  // namespace gridflow::worker
