#include "bench/bench_client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace gridflow::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<grpc::ClientContext> Context(int seconds = 30) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

int ListRuns(Stub& stub, const std::string& definition, v1::RunStatus status, int page_size,
             bool all_pages) {
  int count = 0;
  v1::ListRunsRequest request;
  request.set_definition_name(definition);
  request.set_status(status);
  request.set_page_size(page_size);
  for (;;) {
    v1::ListRunsResponse response;
    if (!stub.ListRuns(Context().get(), request, &response).ok()) return -1;
    count += response.runs_size();
    if (!all_pages || response.next_page_token().empty()) return count;
    request.set_page_token(response.next_page_token());
  }
}

}  // namespace

bool Register(Stub& stub, const std::string& definition_json) {
  v1::RegisterDefinitionRequest request;
  request.set_definition_json(definition_json);
  request.set_identity("gridflow-bench");
  v1::RegisterDefinitionResponse response;
  const grpc::Status s = stub.RegisterDefinition(Context().get(), request, &response);
  if (!s.ok()) std::fprintf(stderr, "register: %s\n", s.error_message().c_str());
  return s.ok();
}

bool StartRun(Stub& stub, const std::string& definition, const std::string& workflow_id,
              const std::string& input_json) {
  v1::StartRunRequest request;
  request.set_workflow_id(workflow_id);
  request.set_definition_name(definition);
  request.set_input_json(input_json);
  request.set_identity("gridflow-bench");
  v1::StartRunResponse response;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const grpc::Status s = stub.StartRun(Context().get(), request, &response);
    if (s.ok()) return true;
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) {
      std::fprintf(stderr, "start %s: %s\n", workflow_id.c_str(), s.error_message().c_str());
      return false;
    }
  }
  return false;
}

int OpenRuns(Stub& stub, const std::string& definition) {
  return ListRuns(stub, definition, v1::RUN_STATUS_RUNNING, 1, false);
}

int CompletedRuns(Stub& stub, const std::string& definition) {
  return ListRuns(stub, definition, v1::RUN_STATUS_COMPLETED, 1000, true);
}

bool WaitUntilClosed(Stub& stub, const std::string& definition, std::chrono::milliseconds every,
                     std::chrono::seconds limit) {
  const auto give_up = Clock::now() + limit;
  for (;;) {
    const int open = OpenRuns(stub, definition);
    if (open == 0) return true;
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string SequenceDefinition(const std::string& name, const std::string& queue, int steps) {
  nlohmann::json def = {{"name", name}, {"version", 1}, {"steps", nlohmann::json::array()}};
  for (int i = 0; i < steps; ++i) {
    def["steps"].push_back({{"name", "s" + std::to_string(i)},
                            {"kind", "task"},
                            {"task_type", "noop"},
                            {"task_queue", queue}});
  }
  return def.dump();
}

namespace {

// A handler's output of about `bytes` bytes, shaped like market data: a bid curve of
// quarter-hours with prices and volumes (PostgreSQL compresses large values before storing them,
// so a run of one letter would cost next to nothing; this compresses about as real data does).
std::string PayloadJson(int bytes) {
  nlohmann::json curve = nlohmann::json::array();
  uint32_t state = 2463534242u;
  const auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  };
  size_t size = 12;
  for (int qh = 0; size < static_cast<size_t>(bytes); ++qh) {
    nlohmann::json point = {{"qh", qh},
                            {"price_eur_mwh", static_cast<double>(next() % 2'000'000) / 100 - 500},
                            {"mw", static_cast<double>(next() % 100'000) / 100}};
    size += point.dump().size() + 1;
    curve.push_back(std::move(point));
  }
  return nlohmann::json({{"curve", std::move(curve)}}).dump();
}

}  // namespace

WorkerPool::WorkerPool(const BenchOptions& o, const std::vector<std::string>& queues,
                       const std::vector<std::string>& task_types, const OnTask& on_task) {
  for (int i = 0; i < o.workers; ++i) {
    worker::WorkerOptions options;
    options.transport.address = o.address;
    options.task_queues = queues;
    options.max_concurrent_tasks = o.concurrency;
    options.reserved_slots = o.reserved;
    options.reserved_priority = 0;  // urgent
    options.identity = "bench-worker-" + std::to_string(i);
    options.poll_wait = Millis(5000);
    options.shutdown_grace = Millis(5000);
    workers_.push_back(std::make_unique<worker::Worker>(options));
    // Kept in a run's data by step name, and in its history: what a payload costs a step.
    const std::string output = o.output_bytes > 0 ? PayloadJson(o.output_bytes) : "{}";
    for (const std::string& type : task_types) {
      workers_.back()->Register(type, [on_task, output](worker::TaskContext& ctx) {
        on_task(ctx);
        return worker::TaskOutcome::Success(output);
      });
    }
  }
  for (auto& w : workers_)
    threads_.emplace_back([&w] { (void)w->Run(); });
}

WorkerPool::~WorkerPool() {
  for (auto& w : workers_)
    w->Shutdown();
  for (auto& t : threads_)
    t.join();
}

BackgroundStarter::BackgroundStarter(Stub& stub, std::string definition, std::string prefix,
                                     double per_second) {
  if (per_second <= 0) return;
  const auto begin = Clock::now();
  const auto interval = std::chrono::duration<double>(1.0 / per_second);
  auto next = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < 8; ++i) {  // enough callers that a slow start does not hold the rate
    threads_.emplace_back([this, &stub, definition, prefix, begin, interval, next] {
      while (!stop_) {
        const int n = (*next)++;
        std::this_thread::sleep_until(begin +
                                      std::chrono::duration_cast<Clock::duration>(interval * n));
        if (stop_) return;
        if (!StartRun(stub, definition, prefix + "-" + std::to_string(n))) ok_ = false;
        ++started_;
      }
    });
  }
}

BackgroundStarter::~BackgroundStarter() {
  stop_ = true;
  for (auto& t : threads_)
    t.join();
}

void Print(const std::string& name, double value, const char* unit, const ResourceUsage& usage) {
  auto figure = [](double v, const char* format) {
    if (v < 0) return std::string("-");
    char text[32];
    std::snprintf(text, sizeof text, format, v);
    return std::string(text);
  };
  std::printf("%s\t%.2f\t%s\t%s\t%s\t%s\n", name.c_str(), value, unit,
              figure(usage.engine_cores, "%.2f").c_str(),
              figure(usage.postgres_cores, "%.2f").c_str(),
              figure(usage.engine_rss_mb, "%.0f").c_str());
  std::fflush(stdout);
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t index =
      std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
  return sorted[index];
}

}  // namespace gridflow::bench
