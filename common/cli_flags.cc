#include "common/cli_flags.h"

namespace gridflow {

void AddLoggingFlags(CLI::App& app, LoggingFlags* flags) {
  app.add_option("--log-level", flags->level, "trace, debug, info, warn, error")
      ->envname("GRIDFLOW_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--log-format", flags->format, "text or json (one JSON object per line)")
      ->envname("GRIDFLOW_LOG_FORMAT")
      ->capture_default_str();
}

CLI::Option* AddDurationFlag(CLI::App& app, const std::string& name, Millis* out,
                             const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [out, name](const std::string& text) {
            const auto d = ParseDuration(text);
            if (!d) {
              throw CLI::ValidationError(name, "'" + text + "' is not a duration (e.g. 500ms, 5s)");
            }
            *out = *d;
          },
          help)
      ->default_str(FormatDuration(*out));
}

}  // namespace gridflow
