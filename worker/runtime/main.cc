// gridflow-worker: runs task handlers as external commands (any language), with the SDK's leasing,
// heartbeats and graceful shutdown. See worker/runtime/command_handler.h for the command protocol.
//
//   gridflow-worker --address localhost:7233 --queue trading
//                   --handler forecast='python3 handlers/forecast.py' --handler
//                   submit_bid=./submit.sh
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <thread>

#include "common/cli_flags.h"
#include "common/duration.h"
#include "common/grpc_process.h"
#include "common/logging.h"
#include "common/metrics_endpoint.h"
#include "common/priority.h"
#include "common/termination_signals.h"
#include "worker/runtime/command_handler.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  gridflow::BlockTerminationSignals();  // before any thread exists
  gridflow::DisableMutexDeadlockDetection();
  std::signal(SIGPIPE, SIG_IGN);  // commands may close their stdin early

  gridflow::worker::WorkerOptions options;
  std::vector<std::string> handler_specs;
  gridflow::LoggingFlags logging;
  gridflow::worker::CommandOptions command_options;

  CLI::App app{"gridflow-worker: runs Gridflow tasks as external commands"};
  app.set_version_flag("--version", GRIDFLOW_VERSION);
  gridflow::ClientTransport& transport = options.transport;
  app.add_option("--address", transport.address,
                 "engine: host:port, or dns:///name:port to spread over every replica")
      ->envname("GRIDFLOW_ADDRESS")
      ->capture_default_str();
  gridflow::AddTransportFlags(app, &transport);
  app.add_option("--namespace", options.namespace_name, "namespace")
      ->envname("GRIDFLOW_NAMESPACE")
      ->capture_default_str();
  app.add_option("--queue", options.task_queues, "task queue to poll (repeatable)")
      ->capture_default_str();
  app.add_option("--handler", handler_specs,
                 "TYPE=COMMAND: run COMMAND (via /bin/sh -c) for tasks of TYPE (repeatable)")
      ->required();
  app.add_option("--concurrency", options.max_concurrent_tasks, "tasks run at once")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  std::string reserve;
  app.add_option("--reserve", reserve,
                 "CLASS=N: N more slots, only for tasks of CLASS or more urgent "
                 "(urgent, high, normal, low, bulk; e.g. urgent=4)")
      ->envname("GRIDFLOW_WORKER_RESERVE");
  app.add_option("--identity", options.identity, "worker identity (default host:pid)")
      ->envname("GRIDFLOW_WORKER_IDENTITY");
  gridflow::AddDurationFlag(app, "--poll-wait", &options.poll_wait, "longest long-poll");
  gridflow::AddDurationFlag(app, "--shutdown-grace", &options.shutdown_grace,
                            "on SIGTERM, how long running tasks may finish before their leases "
                            "are released");
  std::string metrics_listen;
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus metrics at http://<address>/metrics (e.g. 0.0.0.0:9465); "
                 "empty: off")
      ->envname("GRIDFLOW_METRICS_LISTEN");
  gridflow::AddLoggingFlags(app, &logging);
  CLI11_PARSE(app, argc, argv);

  if (!reserve.empty()) {
    const size_t eq = reserve.find('=');
    const auto cls = gridflow::PriorityFromText(reserve.substr(0, eq));
    int slots = 0;
    if (eq == std::string::npos || !cls ||
        !CLI::detail::lexical_cast(reserve.substr(eq + 1), slots) || slots < 1 || slots > 1000) {
      std::fprintf(stderr,
                   "gridflow-worker: --reserve '%s' is not CLASS=N (a class urgent..bulk, N 1 to "
                   "1000)\n",
                   reserve.c_str());
      return 2;
    }
    options.reserved_priority = *cls;
    options.reserved_slots = slots;
  }
  if (gridflow::Status s = gridflow::ConfigureLogging("worker", logging.level, logging.format);
      !s.ok()) {
    std::fprintf(stderr, "gridflow-worker: %s\n", s.message().c_str());
    return 2;
  }
  std::unique_ptr<gridflow::MetricsEndpoint> metrics;
  if (!metrics_listen.empty()) {
    options.metrics = std::make_shared<prometheus::Registry>();
    metrics = std::make_unique<gridflow::MetricsEndpoint>(options.metrics);
    if (gridflow::Status s = metrics->Start(metrics_listen); !s.ok()) {
      spdlog::critical("{}", s.ToString());
      return 1;
    }
    spdlog::info("metrics on port {}", metrics->port());
  }
  gridflow::worker::Worker worker(options);
  for (const std::string& spec : handler_specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      std::fprintf(stderr, "gridflow-worker: --handler '%s' is not TYPE=COMMAND\n", spec.c_str());
      return 2;
    }
    const std::string command = spec.substr(eq + 1);
    worker.Register(spec.substr(0, eq),
                    [command, command_options](gridflow::worker::TaskContext& ctx) {
                      return gridflow::worker::RunCommand(command, ctx, command_options);
                    });
  }

  std::atomic<bool> stopped{false};
  std::thread signals([&] {
    const int signal = gridflow::WaitForTerminationSignal(stopped);
    if (signal != 0) {
      spdlog::info("received signal {}: finishing running tasks", signal);
      worker.Shutdown();
    }
  });
  const gridflow::Status status = worker.Run();
  stopped = true;
  signals.join();
  if (!status.ok()) {
    spdlog::critical("{}", status.ToString());
    return 1;
  }
  return 0;
}
