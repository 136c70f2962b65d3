// CommandHandler: runs a task as an external command, so workers can be written in any language.
//
// The command runs through /bin/sh -c in its own process group, with the task input (JSON) on
// stdin and GRIDFLOW_* variables describing the task in its environment (see docs/worker.md).
//   - exit 0: success; stdout is the result (JSON; empty means null);
//   - non-zero exit: failure; stderr is the message. If stdout holds
//     {"error": {"type": "...", "message": "...", "retryable": false, "details": {...}}} that
//     error is reported instead;
//   - when the run is cancelled, the lease is lost, or the worker releases the task, the process
//     group gets SIGTERM, then SIGKILL after `kill_grace`.
// The process running this must ignore SIGPIPE (a command may close its stdin early).
#pragma once

#include <map>
#include <string>

#include "common/duration.h"
#include "worker/task_context.h"

namespace gridflow::worker {

struct CommandOptions {
  size_t max_output_bytes = 2 * 1024 * 1024;
  Millis kill_grace{5000};
  // Extra environment for the command, on top of the worker's own and the GRIDFLOW_* variables.
  std::map<std::string, std::string> environment;
};

TaskOutcome RunCommand(const std::string& command, TaskContext& context,
                       const CommandOptions& options);

}  // namespace gridflow::worker
