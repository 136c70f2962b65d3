// MetricsEndpoint: serves a Prometheus registry over HTTP at /metrics (text exposition format),
// for the engine replicas and the workers alike. Metric names follow Prometheus conventions:
// gridflow_<what>_total for counters, _seconds for durations; labels are bounded sets (queues,
// task types, definitions, RPC methods), never run or task ids.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace prometheus {
class Exposer;
class Registry;
}  // namespace prometheus

namespace gridflow {

class MetricsEndpoint {
 public:
  explicit MetricsEndpoint(std::shared_ptr<prometheus::Registry> registry);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  // Listens on `address` ("0.0.0.0:9464"; port 0 picks a free one). UNAVAILABLE when it cannot.
  Status Start(const std::string& address);
  // The port listened on; 0 before Start.
  int port() const { return port_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// Histogram buckets for latencies from a millisecond to minutes, and for durations of work
// (task executions, runs) from 10 ms to days.
const std::vector<double>& LatencyBuckets();
const std::vector<double>& DurationBuckets();

}  // namespace gridflow
