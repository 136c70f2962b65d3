// Graceful termination for Gridflow's binaries. Shutting a gRPC server down from a signal handler
// aborts, so SIGTERM/SIGINT are blocked in every thread and received synchronously instead.
//
//   int main() {
//     gridflow::BlockTerminationSignals();   // first, before any thread exists
//     ... start threads ...
//     int sig = gridflow::WaitForTerminationSignal(stop_flag);  // then shut down cleanly
//   }
#pragma once

#include <atomic>

namespace gridflow {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread; threads created afterwards inherit it.
void BlockTerminationSignals();

// Waits for one of the blocked signals and returns its number, or returns 0 once `stop` is set
// (checked several times a second), so a program that ends for another reason can stop waiting.
int WaitForTerminationSignal(const std::atomic<bool>& stop);

}  // namespace gridflow
