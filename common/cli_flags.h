// Command-line flags shared by Gridflow's binaries (CLI11): logging options and duration flags.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "common/duration.h"

namespace gridflow {

struct LoggingFlags {
  std::string level = "info";
  std::string format = "text";
};

// --log-level / --log-format, also from GRIDFLOW_LOG_LEVEL / GRIDFLOW_LOG_FORMAT.
void AddLoggingFlags(CLI::App& app, LoggingFlags* flags);

// A flag taking a duration ("500ms", "30s") into *out; its current value is shown as the default.
CLI::Option* AddDurationFlag(CLI::App& app, const std::string& name, Millis* out,
                             const std::string& help);

}  // namespace gridflow
