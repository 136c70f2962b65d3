// gridflow-bench: measures an engine from the outside, as a user's application and workers would
// see it (gridflow.v1 over gRPC and the worker SDK; nothing of the engine is linked). Modes, run
// in the order given by --modes:
//
//   throughput  start --runs runs of a --steps step sequence as fast as --starters callers can,
//               with --workers in-process workers of --concurrency handlers each (no-op
//               handlers) running meanwhile; runs/s and steps/s from the first start until the
//               last run is COMPLETED in the engine.
//   drain       the same runs started first, with no worker; then the workers start: steps/s from
//               their start until the last run completed (the peers' drain).
//   latency     one-step runs started at a steady --rate for --seconds; the time from the
//               StartRun call until the handler runs (p50, p99, max) — dispatch as a TSO
//               activation would see it.
//   fanout      activation orders, each to --fanout assets, written as a foreach of set-point
//               tasks and as a parallel of as many branches: --orders of each shape, their orders
//               taking turns at --order-rate in all; the time from StartRun until all its
//               set-point handlers have started (p50, p99), on an idle engine and beside a
//               background load of 3-step runs at --background times the throughput measured
//               before (throughput mode first, else 150 steps/s).
//   priority    one-step urgent activations at --order-rate for --seconds, StartRun until the
//               handler runs (p50, p99): first on an idle engine, then behind --backlog queued
//               bulk tasks on the same queue that keep every ordinary worker slot busy (bulk
//               handlers take 2 s), the workers holding --reserved slots for urgent work
//               (default 2 in this mode). The backlog left is then run without the 2 s,
//               unmeasured, so later modes find no queued work of this one.
//   leases      --leases long tasks (heartbeat timeout 1.5 s: the SDK renews each lease every
//               0.5 s) held by --workers workers for --seconds: leases lost meanwhile (a lease
//               that expired runs its task again) and the engine's and PostgreSQL's CPU to keep
//               them — what a fleet of long settlement or forecast tasks costs in heartbeats.
//
// --output-bytes N makes every handler return about N bytes of JSON shaped like a bid curve
// (quarter-hours, prices, volumes; default 0: "{}"): what payloads cost a step, kept in the
// run's data and history.
//
// Prints one line per measure: "name<TAB>value<TAB>unit<TAB>engine cores<TAB>PostgreSQL
// cores<TAB>engine RSS MB" (the last three over the measure's interval; "-" without
// --engine-pids / --postmaster-pid). Exits 1 if any run did not complete.
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench/bench_client.h"
#include "common/client_channel.h"
#include "common/grpc_process.h"

namespace gridflow::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point begin) {
  return std::chrono::duration<double>(Clock::now() - begin).count();
}

double Millis(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string RateTag(double rate) {
  char text[32];
  std::snprintf(text, sizeof text, "%g/s", rate);
  return text;
}

struct Context {
  const BenchOptions& o;
  Stub& stub;
  ResourceMeter& meter;
  std::string tag;                 // unique per invocation: benchmarks can rerun on one database
  double measured_runs_per_s = 0;  // by the throughput mode, for fan-out's background load
};

// Starts runs 0..count-1 of `definition` from `o.starters` callers; false if any start failed.
bool StartAll(Context& c, const std::string& definition, int count) {
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  std::vector<std::thread> starters;
  for (int i = 0; i < c.o.starters; ++i) {
    starters.emplace_back([&] {
      for (int n = next++; n < count; n = next++) {
        if (!StartRun(c.stub, definition, definition + "-" + std::to_string(n))) ok = false;
      }
    });
  }
  for (auto& t : starters)
    t.join();
  return ok;
}

// Waits until `handled` reached `expected` (counted in-process: no load on the engine while it
// works), then until the engine reports every run of `definition` closed and completed.
bool AllCompleted(Context& c, const std::string& definition, const std::atomic<int64_t>& handled,
                  int64_t expected, int runs) {
  const auto give_up = Clock::now() + std::chrono::seconds(600);
  while (handled < expected && Clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (!WaitUntilClosed(c.stub, definition, std::chrono::milliseconds(5), std::chrono::seconds(60)))
    return false;
  const int completed = CompletedRuns(c.stub, definition);
  if (completed != runs) {
    std::fprintf(stderr, "%s: %d of %d runs completed (%lld handler calls)\n", definition.c_str(),
                 completed, runs, static_cast<long long>(handled.load()));
    return false;
  }
  return true;
}

bool Throughput(Context& c) {
  const BenchOptions& o = c.o;
  const std::string name = "bench-throughput-" + c.tag;
  if (!Register(c.stub, SequenceDefinition(name, name, o.steps))) return false;
  std::atomic<int64_t> handled{0};
  WorkerPool pool(o, {name}, {"noop"}, [&](worker::TaskContext&) { ++handled; });
  c.meter.Start();
  const auto begin = Clock::now();
  if (!StartAll(c, name, o.runs)) return false;
  const double start_seconds = Since(begin);
  if (!AllCompleted(c, name, handled, int64_t{o.runs} * o.steps, o.runs)) return false;
  const double seconds = Since(begin);
  const ResourceUsage usage = c.meter.Stop();
  const std::string shape = std::to_string(o.runs) + "x" + std::to_string(o.steps);
  c.measured_runs_per_s = o.runs / seconds;
  Print("throughput_steps_per_s[" + shape + "]", o.runs * o.steps / seconds, "steps/s", usage);
  Print("throughput_runs_per_s[" + shape + "]", o.runs / seconds, "runs/s", usage);
  Print("throughput_start_calls_per_s[" + shape + "]", o.runs / start_seconds, "calls/s", usage);
  return true;
}

bool Drain(Context& c) {
  const BenchOptions& o = c.o;
  const std::string name = "bench-drain-" + c.tag;
  if (!Register(c.stub, SequenceDefinition(name, name, o.steps))) return false;
  if (!StartAll(c, name, o.runs)) return false;
  std::atomic<int64_t> handled{0};
  c.meter.Start();
  const auto begin = Clock::now();
  WorkerPool pool(o, {name}, {"noop"}, [&](worker::TaskContext&) { ++handled; });
  if (!AllCompleted(c, name, handled, int64_t{o.runs} * o.steps, o.runs)) return false;
  const double seconds = Since(begin);
  const ResourceUsage usage = c.meter.Stop();
  const std::string shape = std::to_string(o.runs) + "x" + std::to_string(o.steps);
  Print("drain_steps_per_s[" + shape + "]", o.runs * o.steps / seconds, "steps/s", usage);
  return true;
}

// Start times of workflow ids, and handler start times of their tasks.
class Arrivals {
 public:
  void Started(const std::string& id, Clock::time_point at) {
    std::lock_guard lock(mu_);
    started_[id] = at;
  }
  // Records one handler start; `needed` starts complete the workflow id's figure.
  void Handled(const std::string& id, int attempt, int needed) {
    const auto now = Clock::now();
    std::lock_guard lock(mu_);
    if (attempt != 1) return;
    const auto started = started_.find(id);
    if (started == started_.end()) return;
    if (++handled_[id] == needed) latencies_ms_.push_back(Millis(now - started->second));
  }
  std::vector<double> SortedLatencies() {
    std::lock_guard lock(mu_);
    std::vector<double> sorted = latencies_ms_;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Clock::time_point> started_;
  std::map<std::string, int> handled_;
  std::vector<double> latencies_ms_;
};

// One definition StartAtRate starts runs of: where their start times and handler starts go, and
// how long each StartRun took (`start_ms` may be null).
struct StartTarget {
  std::string definition;
  Arrivals* arrivals;
  std::vector<double>* start_ms;
};

// Starts `total` runs at `rate` per second from 4 callers (open loop), the n-th of
// targets[n % targets.size()]: several definitions measured in one window take turns, so the
// machine's drift over the window falls on each of them alike.
bool StartAtRate(Context& c, const std::vector<StartTarget>& targets, const std::string& input_json,
                 int total, double rate) {
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  const auto begin = Clock::now();
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  std::mutex mu;
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      for (int n = next++; n < total; n = next++) {
        std::this_thread::sleep_until(begin +
                                      std::chrono::duration_cast<Clock::duration>(interval * n));
        const StartTarget& target = targets[static_cast<size_t>(n) % targets.size()];
        const std::string id = target.definition + "-" + std::to_string(n);
        const auto call = Clock::now();
        target.arrivals->Started(id, call);
        if (!StartRun(c.stub, target.definition, id, input_json)) ok = false;
        std::lock_guard lock(mu);
        if (target.start_ms != nullptr) target.start_ms->push_back(Millis(Clock::now() - call));
      }
    });
  }
  for (auto& t : callers)
    t.join();
  return ok;
}

bool Latency(Context& c) {
  const BenchOptions& o = c.o;
  const std::string name = "bench-latency-" + c.tag;
  if (!Register(c.stub, SequenceDefinition(name, name, 1))) return false;
  Arrivals arrivals;
  std::atomic<int64_t> handled{0};
  WorkerPool pool(o, {name}, {"noop"}, [&](worker::TaskContext& ctx) {
    arrivals.Handled(ctx.workflow_id(), ctx.attempt(), 1);
    ++handled;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // workers are polling
  const int total = static_cast<int>(o.rate * o.seconds);
  std::vector<double> start_ms;
  c.meter.Start();
  if (!StartAtRate(c, {{name, &arrivals, &start_ms}}, "{}", total, o.rate)) return false;
  if (!AllCompleted(c, name, handled, total, total)) return false;
  const ResourceUsage usage = c.meter.Stop();
  const std::vector<double> sorted = arrivals.SortedLatencies();
  if (static_cast<int>(sorted.size()) != total) {
    std::fprintf(stderr, "latency: %zu of %d runs reached a handler\n", sorted.size(), total);
    return false;
  }
  const std::string rate = RateTag(o.rate);
  Print("dispatch_p50_ms[" + rate + "]", Percentile(sorted, 0.50), "ms", usage);
  Print("dispatch_p99_ms[" + rate + "]", Percentile(sorted, 0.99), "ms", usage);
  Print("dispatch_max_ms[" + rate + "]", sorted.back(), "ms", usage);
  std::sort(start_ms.begin(), start_ms.end());
  Print("start_call_p50_ms[" + rate + "]", Percentile(start_ms, 0.50), "ms", usage);
  Print("start_call_p99_ms[" + rate + "]", Percentile(start_ms, 0.99), "ms", usage);
  return true;
}

// The activation order to `assets` assets: a foreach of set-point tasks, or a parallel of as
// many one-task branches.
std::string FanoutDefinition(const std::string& name, const std::string& queue, int assets,
                             bool parallel, const std::string& priority) {
  auto setpoint = [&](const std::string& step, const nlohmann::json& input) {
    return nlohmann::json{{"name", step},        {"kind", "task"}, {"task_type", "setpoint"},
                          {"task_queue", queue}, {"input", input}, {"priority", priority}};
  };
  nlohmann::json fan;
  if (parallel) {
    fan = {{"name", "assets"}, {"kind", "parallel"}, {"branches", nlohmann::json::array()}};
    for (int i = 0; i < assets; ++i) {
      const std::string asset = "asset-" + std::to_string(i);
      fan["branches"].push_back(
          {{"name", "b" + std::to_string(i)},
           {"steps", {setpoint("setpoint_" + std::to_string(i), {{"asset", asset}})}}});
    }
  } else {
    fan = {{"name", "assets"},
           {"kind", "foreach"},
           {"items", "$/input/assets"},
           {"max_concurrency", assets},
           {"steps", {setpoint("setpoint", {{"asset", "=$/item"}})}}};
  }
  return nlohmann::json{{"name", name}, {"version", 1}, {"steps", {fan}}}.dump();
}

bool Fanout(Context& c) {
  const BenchOptions& o = c.o;
  const std::string queue = "bench-fanout-" + c.tag;
  const std::string background = "bench-background-" + c.tag;
  if (!Register(c.stub, SequenceDefinition(background, queue, 3))) return false;
  nlohmann::json input = {{"assets", nlohmann::json::array()}};
  for (int i = 0; i < o.fanout; ++i)
    input["assets"].push_back("asset-" + std::to_string(i));

  std::map<std::string, std::unique_ptr<Arrivals>> arrivals;  // by definition
  std::mutex mu;
  WorkerPool pool(o, {queue}, {"setpoint", "noop"}, [&](worker::TaskContext& ctx) {
    const std::string& id = ctx.workflow_id();
    std::lock_guard lock(mu);
    for (auto& [definition, a] : arrivals) {
      if (id.rfind(definition, 0) == 0) a->Handled(id, ctx.attempt(), o.fanout);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // workers are polling

  // The background is a share of the throughput this invocation measured; without one (no
  // throughput mode before), a fixed 50 runs/s, said aloud: the loaded figures then mean little.
  constexpr double kUnmeasuredRunsPerS = 50;
  const bool measured = c.measured_runs_per_s > 0;
  const double background_runs_per_s =
      o.background * (measured ? c.measured_runs_per_s : kUnmeasuredRunsPerS);
  if (!measured) {
    std::fprintf(stderr,
                 "fanout: no throughput measured before it (add the throughput mode): the "
                 "background load is %g runs/s\n",
                 background_runs_per_s);
  }
  // Each window (idle, then loaded) measures both shapes, their orders taking turns at the order
  // rate: measured one after the other, the first window after the modes before ran slower
  // whichever shape it measured (docs/benchmarks.md, 2026-12-05 10:40).
  struct Shape {
    bool parallel = false;
    std::string name;
    Arrivals* arrivals = nullptr;
    std::vector<double> start_ms;
  };
  for (const bool loaded : {false, true}) {
    std::vector<Shape> shapes;
    for (const bool parallel : {false, true}) {
      Shape& shape = shapes.emplace_back();
      shape.parallel = parallel;
      shape.name = std::string("bench-fanout-") + (parallel ? "parallel" : "foreach") +
                   (loaded ? "-loaded-" : "-idle-") + c.tag;
      if (!Register(c.stub,
                    FanoutDefinition(shape.name, queue, o.fanout, parallel, o.fanout_priority)))
        return false;
      std::lock_guard lock(mu);
      shape.arrivals = (arrivals[shape.name + "-"] = std::make_unique<Arrivals>()).get();
    }
    std::unique_ptr<BackgroundStarter> load;
    if (loaded) {
      load = std::make_unique<BackgroundStarter>(
          c.stub, background, background + "-" + shapes[0].name, background_runs_per_s);
      std::this_thread::sleep_for(std::chrono::seconds(1));  // the load is under way
    }
    c.meter.Start();
    std::vector<StartTarget> targets;
    for (Shape& shape : shapes)
      targets.push_back({shape.name, shape.arrivals, &shape.start_ms});
    const int orders = o.orders * static_cast<int>(shapes.size());
    if (!StartAtRate(c, targets, input.dump(), orders, o.order_rate)) return false;
    for (const Shape& shape : shapes) {
      if (!WaitUntilClosed(c.stub, shape.name, std::chrono::milliseconds(20),
                           std::chrono::seconds(60)))
        return false;
    }
    const ResourceUsage usage = c.meter.Stop();
    if (load != nullptr && !load->ok()) return false;
    load.reset();
    for (Shape& shape : shapes) {
      const std::vector<double> sorted = shape.arrivals->SortedLatencies();
      if (static_cast<int>(sorted.size()) != o.orders ||
          CompletedRuns(c.stub, shape.name) != o.orders) {
        std::fprintf(stderr, "fanout %s: %zu of %d orders reached all assets\n", shape.name.c_str(),
                     sorted.size(), o.orders);
        return false;
      }
      char label[96];
      std::snprintf(label, sizeof label, "[%d assets, %s%s]", o.fanout,
                    shape.parallel ? "parallel" : "foreach", loaded ? ", loaded" : ", idle");
      Print(std::string("fanout_p50_ms") + label, Percentile(sorted, 0.50), "ms", usage);
      Print(std::string("fanout_p99_ms") + label, Percentile(sorted, 0.99), "ms", usage);
      std::sort(shape.start_ms.begin(), shape.start_ms.end());  // of which the StartRun call
      Print(std::string("fanout_start_call_p50_ms") + label, Percentile(shape.start_ms, 0.50), "ms",
            usage);
      Print(std::string("fanout_start_call_p99_ms") + label, Percentile(shape.start_ms, 0.99), "ms",
            usage);
    }
  }
  if (!WaitUntilClosed(c.stub, background, std::chrono::milliseconds(20), std::chrono::seconds(60)))
    return false;
  Print("fanout_background_steps_per_s", background_runs_per_s * 3, "steps/s", ResourceUsage{});
  return true;
}

// A one-step definition on `queue` at dispatch class `priority`.
std::string ClassDefinition(const std::string& name, const std::string& queue,
                            const std::string& type, const std::string& priority) {
  return nlohmann::json{{"name", name},
                        {"version", 1},
                        {"steps",
                         {{{"name", "work"},
                           {"kind", "task"},
                           {"task_type", type},
                           {"task_queue", queue},
                           {"priority", priority}}}}}
      .dump();
}

bool Priority(Context& c) {
  BenchOptions o = c.o;
  if (o.reserved == 0) o.reserved = 2;
  const std::string queue = "bench-priority-" + c.tag;
  const std::string bulk = "bench-bulk-" + c.tag;
  if (!Register(c.stub, ClassDefinition(bulk, queue, "settle", "bulk"))) return false;
  std::atomic<int64_t> urgent_handled{0};
  std::atomic<bool> measured{false};
  std::map<std::string, std::unique_ptr<Arrivals>> arrivals;
  std::mutex mu;
  WorkerPool pool(o, {queue}, {"settle", "activate"}, [&](worker::TaskContext& ctx) {
    if (ctx.task_type() == "settle") {
      if (!measured) std::this_thread::sleep_for(std::chrono::seconds(2));  // settlement
      return;
    }
    std::lock_guard lock(mu);
    for (auto& [definition, a] : arrivals) {
      if (ctx.workflow_id().rfind(definition, 0) == 0)
        a->Handled(ctx.workflow_id(), ctx.attempt(), 1);
    }
    ++urgent_handled;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // workers are polling
  const int total = static_cast<int>(o.order_rate * o.seconds);
  for (const bool loaded : {false, true}) {
    const std::string name =
        std::string("bench-urgent-") + (loaded ? "behind-backlog-" : "idle-") + c.tag;
    if (!Register(c.stub, ClassDefinition(name, queue, "activate", "urgent"))) return false;
    Arrivals* a;
    {
      std::lock_guard lock(mu);
      a = (arrivals[name + "-"] = std::make_unique<Arrivals>()).get();
    }
    if (loaded && !StartAll(c, bulk, o.backlog)) return false;
    c.meter.Start();
    urgent_handled = 0;
    if (!StartAtRate(c, {{name, a, nullptr}}, "{}", total, o.order_rate)) return false;
    const auto give_up = Clock::now() + std::chrono::seconds(120);
    while (urgent_handled < total && Clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const ResourceUsage usage = c.meter.Stop();
    const std::vector<double> sorted = a->SortedLatencies();
    if (static_cast<int>(sorted.size()) != total) {
      std::fprintf(stderr, "priority: %zu of %d activations reached a handler\n", sorted.size(),
                   total);
      return false;
    }
    const std::string label = "[" + RateTag(o.order_rate) + ", " +
                              (loaded ? "behind " + std::to_string(o.backlog) + " bulk" : "idle") +
                              "]";
    Print(std::string("urgent_dispatch_p50_ms") + label, Percentile(sorted, 0.50), "ms", usage);
    Print(std::string("urgent_dispatch_p99_ms") + label, Percentile(sorted, 0.99), "ms", usage);
  }
  // The rest of the backlog runs at once, so no later mode (or the growth phase) finds it queued.
  measured = true;
  return WaitUntilClosed(c.stub, bulk, std::chrono::milliseconds(100), std::chrono::seconds(120));
}

bool Leases(Context& c) {
  const BenchOptions& o = c.o;
  const std::string name = "bench-leases-" + c.tag;
  const std::string queue = name;
  const nlohmann::json definition = {
      {"name", name},
      {"version", 1},
      {"steps",
       {{{"name", "hold"},
         {"kind", "task"},
         {"task_type", "hold"},
         {"task_queue", queue},
         {"timeouts", {{"start_to_close", "10m"}, {"heartbeat", "1500ms"}}}}}}};
  if (!Register(c.stub, definition.dump())) return false;
  BenchOptions slots = o;  // every lease held at once
  slots.concurrency = (o.leases + o.workers - 1) / o.workers;
  std::atomic<int> holding{0};
  std::atomic<int> again{0};  // attempts after the first: a lease was lost
  std::atomic<bool> release{false};
  WorkerPool pool(slots, {queue}, {"hold"}, [&](worker::TaskContext& ctx) {
    if (ctx.attempt() > 1) ++again;
    ++holding;
    while (!release && ctx.SleepFor(std::chrono::milliseconds(100))) {
    }
    --holding;
  });
  if (!StartAll(c, name, o.leases)) return false;
  const auto give_up = Clock::now() + std::chrono::seconds(120);
  while (holding < o.leases && Clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (holding < o.leases) {
    std::fprintf(stderr, "leases: only %d of %d tasks were held\n", holding.load(), o.leases);
    return false;
  }
  c.meter.Start();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const ResourceUsage usage = c.meter.Stop();
  const int lost = again.load();
  release = true;
  const std::string label = "[" + std::to_string(o.leases) + " leases, renewed every 0.5 s]";
  Print("leases_lost" + label, lost, "leases", usage);
  return WaitUntilClosed(c.stub, name, std::chrono::milliseconds(100), std::chrono::seconds(120));
}

std::vector<int> ParsePids(const std::string& text) {
  std::vector<int> pids;
  std::stringstream in(text);
  for (std::string pid; std::getline(in, pid, ',');) {
    if (!pid.empty()) pids.push_back(std::stoi(pid));
  }
  return pids;
}

}  // namespace
}  // namespace gridflow::bench

int main(int argc, char** argv) {
  using namespace gridflow::bench;
  gridflow::DisableMutexDeadlockDetection();
  BenchOptions o;
  std::string engine_pids;
  int postmaster_pid = 0;
  std::string modes = "throughput,latency";
  CLI::App app{"gridflow-bench: throughput, drain, dispatch latency and fan-out of an engine"};
  app.add_option("--address", o.address, "engine (gRPC target)")->capture_default_str();
  app.add_option("--modes", modes,
                 "comma-separated: throughput, drain, latency, fanout, priority, leases")
      ->capture_default_str();
  app.add_option("--runs", o.runs, "throughput, drain: runs to start")->capture_default_str();
  app.add_option("--steps", o.steps, "throughput, drain: task steps per run")
      ->capture_default_str();
  app.add_option("--starters", o.starters, "throughput, drain: concurrent StartRun callers")
      ->capture_default_str();
  app.add_option("--workers", o.workers, "in-process workers")->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "handlers per worker")->capture_default_str();
  app.add_option("--rate", o.rate, "latency: runs started per second")->capture_default_str();
  app.add_option("--seconds", o.seconds, "latency: how long")->capture_default_str();
  app.add_option("--fanout", o.fanout, "fanout: assets per order")->capture_default_str();
  app.add_option("--orders", o.orders, "fanout: orders per variant")->capture_default_str();
  app.add_option("--order-rate", o.order_rate,
                 "fanout (both shapes together), priority: orders per second")
      ->capture_default_str();
  app.add_option("--fanout-priority", o.fanout_priority,
                 "fanout: the set-point steps' dispatch class (urgent ... bulk)")
      ->capture_default_str();
  app.add_option("--background", o.background,
                 "fanout: background load as a share of the measured throughput")
      ->capture_default_str();
  app.add_option("--backlog", o.backlog, "priority: bulk tasks queued ahead")
      ->capture_default_str();
  app.add_option("--leases", o.leases, "leases: long tasks held at once")->capture_default_str();
  app.add_option("--output-bytes", o.output_bytes,
                 "every handler's output: about this many bytes of bid-curve JSON ({} at 0)")
      ->capture_default_str();
  app.add_option("--reserved", o.reserved, "slots per worker reserved for urgent tasks")
      ->capture_default_str();
  app.add_option("--engine-pids", engine_pids, "engine processes to meter (comma-separated)");
  app.add_option("--postmaster-pid", postmaster_pid, "PostgreSQL's postmaster, to meter");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);  // stdout carries the results only

  gridflow::ClientTransport transport;
  transport.address = o.address;
  std::shared_ptr<grpc::Channel> channel;
  if (gridflow::Status s = gridflow::OpenClientChannel(transport, false, &channel); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 2;
  }
  auto stub = gridflow::v1::WorkflowService::NewStub(channel);
  ResourceMeter meter(ParsePids(engine_pids), postmaster_pid);
  Context c{o, *stub, meter,
            std::to_string(getpid()) + "-" +
                std::to_string(std::chrono::system_clock::now().time_since_epoch() /
                               std::chrono::seconds(1))};
  std::stringstream list(modes);
  for (std::string mode; std::getline(list, mode, ',');) {
    bool ok = false;
    if (mode == "throughput") {
      ok = Throughput(c);
    } else if (mode == "drain") {
      ok = Drain(c);
    } else if (mode == "latency") {
      ok = Latency(c);
    } else if (mode == "fanout") {
      ok = Fanout(c);
    } else if (mode == "priority") {
      ok = Priority(c);
    } else if (mode == "leases") {
      ok = Leases(c);
    } else {
      std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
      return 2;
    }
    if (!ok) return 1;
  }
  return 0;
}
