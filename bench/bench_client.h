// What every gridflow-bench mode needs of the engine, as a user's application and workers would
// use it: register a definition, start runs, count open and completed runs, run in-process
// workers with no-op handlers, and print a measure.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/resource_meter.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"
#include "worker/worker.h"

namespace gridflow::bench {

struct BenchOptions {
  // A gRPC target; "ipv4:127.0.0.1:7233,127.0.0.1:7234" spreads calls over several replicas.
  std::string address = "127.0.0.1:7233";
  int runs = 2000;
  int steps = 3;
  int starters = 8;
  int workers = 2;
  int concurrency = 32;
  double rate = 250;
  double seconds = 10;
  int fanout = 20;         // fan-out: set-point tasks per activation order
  int orders = 200;        // fan-out: orders started (at `order_rate` per second)
  double order_rate = 10;  // fan-out: orders per second
  // fan-out: the set-point steps' dispatch class; urgent, as in examples/activation
  std::string fanout_priority = "urgent";
  double background = 0.5;  // fan-out: background load, as a share of the measured throughput
  int backlog = 10'000;     // priority: bulk tasks queued before the activations
  int reserved = 0;         // slots per worker reserved for urgent tasks
  int leases = 2000;        // leases: long tasks held at once
  int output_bytes = 0;     // every handler's output: about this many bytes of bid-curve JSON
  std::vector<std::string> modes = {"throughput", "latency"};
};

using Stub = v1::WorkflowService::Stub;

bool Register(Stub& stub, const std::string& definition_json);
// Starts a run (retried on UNAVAILABLE: a start is idempotent); false with a message on stderr.
bool StartRun(Stub& stub, const std::string& definition, const std::string& workflow_id,
              const std::string& input_json = "{}");
// Runs of `definition` still RUNNING (0 or 1: the first page of one); -1 on error.
int OpenRuns(Stub& stub, const std::string& definition);
int CompletedRuns(Stub& stub, const std::string& definition);
// Waits until no run of `definition` is open (polled every `every`); false after `limit`.
bool WaitUntilClosed(Stub& stub, const std::string& definition, std::chrono::milliseconds every,
                     std::chrono::seconds limit);

// A definition of `steps` task steps in sequence, each of type "noop" on queue `queue`.
std::string SequenceDefinition(const std::string& name, const std::string& queue, int steps);

// In-process workers (BenchOptions::workers of BenchOptions::concurrency handler slots each),
// polling `queues`; every handler returns success at once after calling `on_task`.
class WorkerPool {
 public:
  using OnTask = std::function<void(worker::TaskContext&)>;
  WorkerPool(const BenchOptions& o, const std::vector<std::string>& queues,
             const std::vector<std::string>& task_types, const OnTask& on_task);
  ~WorkerPool();  // shuts the workers down and waits for them
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

 private:
  std::vector<std::unique_ptr<worker::Worker>> workers_;
  std::vector<std::thread> threads_;
};

// Starts runs of `definition` at `per_second` from a thread of its own until destroyed (open
// loop: a slow start does not delay the next). Workflow ids are `prefix`-n.
class BackgroundStarter {
 public:
  BackgroundStarter(Stub& stub, std::string definition, std::string prefix, double per_second);
  ~BackgroundStarter();
  int started() const { return started_; }
  bool ok() const { return ok_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> started_{0};
  std::atomic<bool> ok_{true};
  std::vector<std::thread> threads_;
};

// Prints one measure: name, value, unit, then the engine's and PostgreSQL's CPU (cores) and the
// engine's RSS (MB) over the interval it was measured in ("-" where not measured), tab-separated.
void Print(const std::string& name, double value, const char* unit, const ResourceUsage& usage);
// The p-quantile (0..1) of sorted values; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

}  // namespace gridflow::bench
