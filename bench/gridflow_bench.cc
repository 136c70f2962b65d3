// gridflow-bench: measures an engine from the outside, as a user's application and workers would
// see it (gridflow.v1 over gRPC and the worker SDK; nothing of the engine is linked).
//
//   throughput  start --runs runs of a --steps step sequence as fast as --starters callers can,
//               with --workers in-process workers of --concurrency handlers each (no-op
//               handlers); report runs/s and steps/s from the first start until the last run is
//               COMPLETED in the engine.
//   latency     start one-step runs at a steady --rate for --seconds; report the time from the
//               StartRun call until the handler runs (p50, p99, max) — dispatch as a TSO
//               activation would see it.
//
// Prints one line per measure ("name<TAB>value<TAB>unit"); exits 1 if any run did not complete.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/client_channel.h"
#include "gridflow/v1/workflow_service.grpc.pb.h"
#include "worker/worker.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = gridflow::v1;

struct BenchOptions {
  std::string address = "127.0.0.1:7233";
  int runs = 2000;
  int steps = 3;
  int starters = 8;
  int workers = 2;
  int concurrency = 32;
  double rate = 200;
  double seconds = 10;
  bool skip_latency = false;
};

std::string Definition(const std::string& name, int steps) {
  nlohmann::json def = {{"name", name}, {"version", 1}, {"steps", nlohmann::json::array()}};
  for (int i = 0; i < steps; ++i) {
    def["steps"].push_back({{"name", "s" + std::to_string(i)},
                            {"kind", "task"},
                            {"task_type", "noop"},
                            {"task_queue", name}});
  }
  return def.dump();
}

std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

bool Register(v1::WorkflowService::Stub& stub, const std::string& name, int steps) {
  v1::RegisterDefinitionRequest request;
  request.set_definition_json(Definition(name, steps));
  request.set_identity("gridflow-bench");
  v1::RegisterDefinitionResponse response;
  const grpc::Status s = stub.RegisterDefinition(Context().get(), request, &response);
  if (!s.ok()) std::fprintf(stderr, "register %s: %s\n", name.c_str(), s.error_message().c_str());
  return s.ok();
}

bool StartRun(v1::WorkflowService::Stub& stub, const std::string& definition,
              const std::string& workflow_id) {
  v1::StartRunRequest request;
  request.set_workflow_id(workflow_id);
  request.set_definition_name(definition);
  request.set_input_json("{}");
  request.set_identity("gridflow-bench");
  v1::StartRunResponse response;
  for (int attempt = 0; attempt < 5;
       ++attempt) {  // UNAVAILABLE is retryable; a start is idempotent
    const grpc::Status s = stub.StartRun(Context().get(), request, &response);
    if (s.ok()) return true;
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) {
      std::fprintf(stderr, "start %s: %s\n", workflow_id.c_str(), s.error_message().c_str());
      return false;
    }
  }
  return false;
}

// Runs of `definition` still open (RUNNING); -1 on error.
int OpenRuns(v1::WorkflowService::Stub& stub, const std::string& definition) {
  v1::ListRunsRequest request;
  request.set_definition_name(definition);
  request.set_status(v1::RUN_STATUS_RUNNING);
  request.set_page_size(1);
  v1::ListRunsResponse response;
  if (!stub.ListRuns(Context().get(), request, &response).ok()) return -1;
  return response.runs_size();
}

int CompletedRuns(v1::WorkflowService::Stub& stub, const std::string& definition) {
  int count = 0;
  v1::ListRunsRequest request;
  request.set_definition_name(definition);
  request.set_status(v1::RUN_STATUS_COMPLETED);
  request.set_page_size(1000);
  for (;;) {
    v1::ListRunsResponse response;
    if (!stub.ListRuns(Context().get(), request, &response).ok()) return -1;
    count += response.runs_size();
    if (response.next_page_token().empty()) return count;
    request.set_page_token(response.next_page_token());
  }
}

// In-process workers polling `queue`; `on_task` runs in every handler.
class WorkerPool {
 public:
  WorkerPool(const BenchOptions& o, const std::string& queue,
             const std::function<void(gridflow::worker::TaskContext&)>& on_task) {
    for (int i = 0; i < o.workers; ++i) {
      gridflow::worker::WorkerOptions options;
      options.transport.address = o.address;
      options.task_queues = {queue};
      options.max_concurrent_tasks = o.concurrency;
      options.identity = "bench-worker-" + std::to_string(i);
      options.poll_wait = gridflow::Millis(5000);
      options.shutdown_grace = gridflow::Millis(5000);
      workers_.push_back(std::make_unique<gridflow::worker::Worker>(options));
      workers_.back()->Register("noop", [on_task](gridflow::worker::TaskContext& ctx) {
        on_task(ctx);
        return gridflow::worker::TaskOutcome::Success("{}");
      });
    }
    for (auto& w : workers_)
      threads_.emplace_back([&w] { (void)w->Run(); });
  }
  ~WorkerPool() {
    for (auto& w : workers_)
      w->Shutdown();
    for (auto& t : threads_)
      t.join();
  }

 private:
  std::vector<std::unique_ptr<gridflow::worker::Worker>> workers_;
  std::vector<std::thread> threads_;
};

void Print(const std::string& name, double value, const char* unit) {
  std::printf("%s\t%.2f\t%s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

bool Throughput(const BenchOptions& o, v1::WorkflowService::Stub& stub, const std::string& tag) {
  const std::string name = "bench-throughput-" + tag;
  if (!Register(stub, name, o.steps)) return false;
  std::atomic<int64_t> handled{0};
  WorkerPool pool(o, name, [&](gridflow::worker::TaskContext&) { ++handled; });

  const auto begin = Clock::now();
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> starters;
  starters.reserve(static_cast<size_t>(o.starters));
  for (int i = 0; i < o.starters; ++i) {
    starters.emplace_back([&] {
      for (int n = next++; n < o.runs; n = next++) {
        if (!StartRun(stub, name, name + "-" + std::to_string(n))) ok = false;
      }
    });
  }
  for (auto& t : starters)
    t.join();
  const double start_seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  // Done when the engine has no open run of this definition left (polled every 50 ms).
  const auto give_up = Clock::now() + std::chrono::seconds(300);
  int open = 1;
  while (ok && (open = OpenRuns(stub, name)) != 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  const int completed = CompletedRuns(stub, name);
  if (!ok || completed != o.runs) {
    std::fprintf(stderr, "throughput: %d of %d runs completed (%lld handler calls)\n", completed,
                 o.runs, static_cast<long long>(handled.load()));
    return false;
  }
  const std::string shape = std::to_string(o.runs) + "x" + std::to_string(o.steps);
  Print("throughput_runs_per_s[" + shape + "]", o.runs / seconds, "runs/s");
  Print("throughput_steps_per_s[" + shape + "]", o.runs * o.steps / seconds, "steps/s");
  Print("start_calls_per_s", o.runs / start_seconds, "calls/s");
  Print("handler_calls", static_cast<double>(handled.load()), "calls");
  return true;
}

double Percentile(std::vector<double> sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t index =
      std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
  return sorted[index];
}

bool Latency(const BenchOptions& o, v1::WorkflowService::Stub& stub, const std::string& tag) {
  const std::string name = "bench-latency-" + tag;
  if (!Register(stub, name, 1)) return false;
  std::mutex mu;
  std::map<std::string, Clock::time_point> called;  // workflow id -> StartRun call time
  std::vector<double> latencies_ms;
  std::vector<double> start_ms;  // how long each StartRun call took
  WorkerPool pool(o, name, [&](gridflow::worker::TaskContext& ctx) {
    const auto now = Clock::now();
    std::lock_guard lock(mu);
    const auto it = called.find(ctx.workflow_id());
    if (it != called.end() && ctx.attempt() == 1) {
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // workers are polling
  const int total = static_cast<int>(o.rate * o.seconds);
  const auto interval = std::chrono::duration<double>(1.0 / o.rate);
  const auto begin = Clock::now();
  // Several callers, so that a slow StartRun does not delay the next one (open-loop arrivals).
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> callers;
  callers.reserve(4);
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      for (int n = next++; n < total; n = next++) {
        std::this_thread::sleep_until(begin +
                                      std::chrono::duration_cast<Clock::duration>(interval * n));
        const std::string id = name + "-" + std::to_string(n);
        const auto call = Clock::now();
        {
          std::lock_guard lock(mu);
          called[id] = call;
        }
        if (!StartRun(stub, name, id)) ok = false;
        const double took = std::chrono::duration<double, std::milli>(Clock::now() - call).count();
        std::lock_guard lock(mu);
        start_ms.push_back(took);
      }
    });
  }
  for (auto& t : callers)
    t.join();
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (OpenRuns(stub, name) != 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::vector<double> sorted;
  {
    std::lock_guard lock(mu);
    sorted = latencies_ms;
  }
  std::sort(sorted.begin(), sorted.end());
  if (!ok || static_cast<int>(sorted.size()) != total || CompletedRuns(stub, name) != total) {
    std::fprintf(stderr, "latency: %zu of %d runs reached a handler\n", sorted.size(), total);
    return false;
  }
  char rate[32];
  std::snprintf(rate, sizeof rate, "%g", o.rate);
  Print(std::string("dispatch_p50_ms[") + rate + "/s]", Percentile(sorted, 0.50), "ms");
  Print(std::string("dispatch_p99_ms[") + rate + "/s]", Percentile(sorted, 0.99), "ms");
  Print(std::string("dispatch_max_ms[") + rate + "/s]", sorted.back(), "ms");
  std::sort(start_ms.begin(), start_ms.end());
  Print(std::string("start_call_p50_ms[") + rate + "/s]", Percentile(start_ms, 0.50), "ms");
  Print(std::string("start_call_p99_ms[") + rate + "/s]", Percentile(start_ms, 0.99), "ms");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  CLI::App app{"gridflow-bench: throughput and dispatch latency of a running engine"};
  app.add_option("--address", o.address, "engine address")->capture_default_str();
  app.add_option("--runs", o.runs, "throughput: runs to start")->capture_default_str();
  app.add_option("--steps", o.steps, "throughput: task steps per run")->capture_default_str();
  app.add_option("--starters", o.starters, "throughput: concurrent StartRun callers")
      ->capture_default_str();
  app.add_option("--workers", o.workers, "in-process workers")->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "handlers per worker")->capture_default_str();
  app.add_option("--rate", o.rate, "latency: runs started per second")->capture_default_str();
  app.add_option("--seconds", o.seconds, "latency: how long")->capture_default_str();
  app.add_flag("--skip-latency", o.skip_latency, "measure throughput only");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);  // stdout carries the results only

  gridflow::ClientTransport transport;
  transport.address = o.address;
  std::shared_ptr<grpc::Channel> channel;
  if (gridflow::Status s = gridflow::OpenClientChannel(transport, false, &channel); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }
  auto stub = v1::WorkflowService::NewStub(channel);
  // Definition names unique per invocation: benchmarks can run again on the same database.
  const std::string tag =
      std::to_string(getpid()) + "-" +
      std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::seconds(1));
  bool ok = Throughput(o, *stub, tag);
  if (ok && !o.skip_latency) ok = Latency(o, *stub, tag);
  return ok ? 0 : 1;
}
