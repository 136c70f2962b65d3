// A worker written with Gridflow's C++ SDK: it serves the set-point steps of the TSO activation
// (examples/activation), queue "assets", until SIGTERM or SIGINT. GRIDFLOW_ADDRESS names the
// engine (default localhost:7233); with GRIDFLOW_TLS_CA and GRIDFLOW_TOKEN it uses TLS and a token.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/termination_signals.h"
#include "worker/worker.h"

namespace {

std::string Env(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

// One set-point: {"asset": "bess-1", "mw": 12.5, "activation_id": "..."}.
gridflow::worker::TaskOutcome SendSetpoint(gridflow::worker::TaskContext& ctx) {
  const auto input = nlohmann::json::parse(ctx.input_json(), nullptr, /*allow_exceptions=*/false);
  if (!input.is_object() || !input.contains("asset") || !input["mw"].is_number()) {
    return gridflow::worker::TaskOutcome::Failure("BadSetpoint", "needs an asset and a number mw",
                                                  /*retryable=*/false);
  }
  // Here a real worker sends the set-point to the asset's controller, with ctx.idempotency_key()
  // as the command's id (the same on every attempt) and ctx.lease_epoch() as its fencing token,
  // and waits for the acknowledgement in short steps: SleepFor returns false once the run was
  // cancelled, the lease was lost or the worker hands the task back at shutdown.
  if (!ctx.SleepFor(std::chrono::milliseconds(10))) {
    return gridflow::worker::TaskOutcome::Cancelled();
  }
  const nlohmann::json result = {{"asset", input["asset"]},
                                 {"mw", input["mw"]},
                                 {"command_id", ctx.idempotency_key()},
                                 {"acknowledged", true}};
  return gridflow::worker::TaskOutcome::Success(result.dump());
}

}  // namespace

int main() {
  gridflow::BlockTerminationSignals();  // before any thread: SIGTERM is waited for below

  gridflow::worker::WorkerOptions options;
  // One engine, or "dns:///gridflow-engine.trading.svc:7233" for a long-poll on every replica.
  options.transport.address = Env("GRIDFLOW_ADDRESS", "localhost:7233");
  options.transport.tls_ca = Env("GRIDFLOW_TLS_CA");  // TLS when set
  options.transport.token = Env("GRIDFLOW_TOKEN");    // only over TLS
  options.task_queues = {"assets"};
  options.max_concurrent_tasks = 8;
  options.reserved_slots = 2;     // two more slots, only for urgent tasks
  options.reserved_priority = 0;  // (class 0 urgent .. 4 bulk; docs/dispatch.md)
  gridflow::worker::Worker worker(options);
  worker.Register("setpoint", SendSetpoint);

  std::atomic<bool> stopped{false};
  std::thread signals([&] {
    if (gridflow::WaitForTerminationSignal(stopped) != 0) worker.Shutdown();  // drain, then return
  });
  const gridflow::Status status = worker.Run();
  stopped = true;
  signals.join();
  if (!status.ok()) {
    std::cerr << "setpoint worker: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
