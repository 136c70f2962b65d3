// gridflow-engine: one replica of the Gridflow engine. Run any number against one PostgreSQL.
// Configuration: flags, or the environment variables named in --help (flags win).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>

#include "common/duration.h"
#include "common/logging.h"
#include "common/termination_signals.h"
#include "engine/server/engine.h"

namespace {

// Parses a duration flag ("30s") into `out`.
CLI::Option* AddDuration(CLI::App& app, const std::string& name, gridflow::Millis* out,
                         const std::string& help) {
  return app
      .add_option_function<std::string>(
          name,
          [out, name](const std::string& text) {
            const auto d = gridflow::ParseDuration(text);
            if (!d) throw CLI::ValidationError(name, "'" + text + "' is not a duration (e.g. 500ms, 5s)");
            *out = *d;
          },
          help)
      ->default_str(gridflow::FormatDuration(*out));
}

}  // namespace

int main(int argc, char** argv) {
  gridflow::BlockTerminationSignals();  // before any thread exists

  gridflow::engine::EngineConfig config;
  std::string log_level = "info";
  std::string log_format = "text";
  gridflow::Millis drain_grace{20'000};

  CLI::App app{"gridflow-engine: a replica of the Gridflow workflow engine"};
  app.set_version_flag("--version", GRIDFLOW_VERSION);
  app.add_option("--listen", config.listen_address, "gRPC listen address")
      ->envname("GRIDFLOW_LISTEN")
      ->capture_default_str();
  app.add_option("--database-url", config.database_url,
                 "PostgreSQL connection string or URI; multi-host strings with "
                 "target_session_attrs=read-write are supported")
      ->envname("GRIDFLOW_DATABASE_URL");
  app.add_option("--database-pool-size", config.database_pool_size, "connections per replica")
      ->envname("GRIDFLOW_DATABASE_POOL_SIZE")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  AddDuration(app, "--lease-reaper-interval", &config.lease_reaper_interval,
              "how often expired leases are looked for");
  AddDuration(app, "--dispatch-fallback-poll", &config.dispatch_fallback_poll,
              "claim attempts for waiting workers when no work was announced");
  AddDuration(app, "--drain-grace", &drain_grace,
              "on SIGTERM, how long in-flight calls may take to finish");
  app.add_option("--max-payload-bytes", config.limits.max_payload_bytes,
                 "largest run input, task result or signal payload")
      ->envname("GRIDFLOW_MAX_PAYLOAD_BYTES")
      ->capture_default_str();
  app.add_option("--member-id", config.member_id, "this replica's id (default: host-pid-random)")
      ->envname("GRIDFLOW_MEMBER_ID");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("GRIDFLOW_LOG_LEVEL")
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text or json")
      ->envname("GRIDFLOW_LOG_FORMAT")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (gridflow::Status s = gridflow::ConfigureLogging("engine", log_level, log_format); !s.ok()) {
    std::fprintf(stderr, "gridflow-engine: %s\n", s.message().c_str());
    return 2;
  }

  gridflow::engine::Engine engine(config);
  if (gridflow::Status s = engine.Start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.ToString());
    engine.Shutdown(gridflow::Millis(0));
    return 1;
  }
  std::atomic<bool> never{false};
  const int signal = gridflow::WaitForTerminationSignal(never);
  spdlog::info("received signal {}", signal);
  engine.Shutdown(drain_grace);
  return 0;
}
