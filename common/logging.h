// Logging set-up shared by Gridflow's binaries (spdlog). Text for people, JSON lines for log
// pipelines. Lines about a run carry its ids in the message ("run=<id> task=<id> step=<name>").
// Never log secrets (database passwords, tokens) or payloads at info level.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace gridflow {

// Configures the default spdlog logger to write to stderr. `level`: trace, debug, info, warn,
// error, critical, off. `format`: "text" or "json". `component` names the binary in every line.
Status ConfigureLogging(std::string_view component, std::string_view level,
                        std::string_view format);

// `dsn` with any password removed, safe to log ("postgresql://gridflow:***@db/gridflow").
std::string RedactConnectionString(std::string_view dsn);

}  // namespace gridflow
