// Logging set-up shared by Gridflow's binaries (spdlog). Text for people, JSON lines for log
// pipelines. Lines about a run start with its ids ("run=<id> task=<id> step=<name> ..."); in JSON
// they are also fields (run_id, task_id, step), so a log pipeline can select one run's lines.
// Never log secrets (database passwords, tokens) or payloads at info level.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gridflow {

// Configures the default spdlog logger to write to stderr. `level`: trace, debug, info, warn,
// error, critical, off. `format`: "text" or "json". `component` names the binary in every line.
Status ConfigureLogging(std::string_view component, std::string_view level,
                        std::string_view format);

// The run context a log message names at its start ("run=<id> task=<id> step=<name> ..."), as
// fields for JSON lines: run → run_id, task → task_id, step, workflow_id. Empty when none.
std::vector<std::pair<std::string, std::string>> LogContextFields(std::string_view message);

// `dsn` with any password removed, safe to log ("postgresql://gridflow:***@db/gridflow").
std::string RedactConnectionString(std::string_view dsn);

}  // namespace gridflow
