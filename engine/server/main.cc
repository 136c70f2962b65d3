// gridflow-engine: one replica of the Gridflow engine. Run any number against one PostgreSQL.
// Configuration: flags, or the environment variables named in --help (flags win).
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "common/cli_flags.h"
#include "common/duration.h"
#include "common/grpc_process.h"
#include "common/logging.h"
#include "common/termination_signals.h"
#include "engine/server/engine.h"

int main(int argc, char** argv) {
  gridflow::BlockTerminationSignals();  // before any thread exists
  gridflow::DisableMutexDeadlockDetection();
  gridflow::LimitMallocArenas(4);

  gridflow::engine::EngineConfig config;
  gridflow::LoggingFlags logging;
  gridflow::Millis drain_grace{20'000};
  gridflow::Millis drain_notice{0};

  CLI::App app{"gridflow-engine: a replica of the Gridflow workflow engine"};
  app.set_version_flag("--version", GRIDFLOW_VERSION);
  app.add_option("--listen", config.listen_address, "gRPC listen address")
      ->envname("GRIDFLOW_LISTEN")
      ->capture_default_str();
  app.add_option("--tls-cert", config.security.tls_cert_file,
                 "serve TLS with this PEM certificate chain (and --tls-key)")
      ->envname("GRIDFLOW_TLS_CERT");
  app.add_option("--tls-key", config.security.tls_key_file, "PEM private key of --tls-cert")
      ->envname("GRIDFLOW_TLS_KEY");
  app.add_option("--tls-client-ca", config.security.tls_client_ca_file,
                 "require client certificates signed by this CA (mutual TLS)")
      ->envname("GRIDFLOW_TLS_CLIENT_CA");
  app.add_option("--auth-tokens-file", config.security.tokens_file,
                 "require a bearer token from this file on every call but health checks; one "
                 "token per line, optionally followed by a name (needs TLS)")
      ->envname("GRIDFLOW_AUTH_TOKENS_FILE");
  app.add_option("--access-policy-file", config.access_policy_file,
                 "grant roles per namespace to principals (JSON, docs/security.md); without it "
                 "every caller may do everything")
      ->envname("GRIDFLOW_ACCESS_POLICY_FILE");
  gridflow::AddDurationFlag(app, "--security-reload", &config.security.reload_interval,
                            "how often certificates, the client CA, the tokens file and the "
                            "access policy are checked for changes (rotation without restart)")
      ->envname("GRIDFLOW_SECURITY_RELOAD");
  app.add_option("--health-listen", config.health_listen,
                 "also serve grpc.health.v1 alone, in plaintext, on this address (e.g. "
                 "0.0.0.0:7234) for probes that cannot use TLS or tokens; empty: off")
      ->envname("GRIDFLOW_HEALTH_LISTEN");
  app.add_option("--database-url", config.database_url,
                 "PostgreSQL connection string or URI; multi-host strings with "
                 "target_session_attrs=read-write are supported")
      ->envname("GRIDFLOW_DATABASE_URL");
  app.add_option("--migration-database-url", config.migration_database_url,
                 "connection for applying schema migrations, as the role that owns the schema; "
                 "--database-url then names the runtime role, which may only append to history "
                 "(default: --database-url for both)")
      ->envname("GRIDFLOW_MIGRATION_DATABASE_URL");
  app.add_option("--market-rules", config.market_rules_file,
                 "market rules (gate closures) added to the built-in ones, JSON; re-read when it "
                 "changes; give every replica the same file (docs/market-rules.md)")
      ->envname("GRIDFLOW_MARKET_RULES");
  app.add_option("--archive-dir", config.archive_dir,
                 "archive closed runs past their namespace's retention here (JSON lines, with "
                 "their hash chain), then delete them; a volume every replica mounts (default: "
                 "none, nothing is deleted)")
      ->envname("GRIDFLOW_ARCHIVE_DIR");
  app.add_option("--retention-batch", config.retention_batch,
                 "closed runs archived and deleted per transaction, one transaction per second "
                 "per replica (the pace of retention)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--database-pool-size", config.database_pool_size, "connections per replica")
      ->envname("GRIDFLOW_DATABASE_POOL_SIZE")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--commit-threads", config.commit_threads,
                 "group commit: transactions of gathered calls in flight at once, at most")
      ->envname("GRIDFLOW_COMMIT_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--cluster-commit-threads", config.cluster_commit_threads,
                 "group-commit transactions in flight shared by the replicas applying calls: "
                 "each runs this divided by their number (at least 1, at most --commit-threads); "
                 "default: the value of --commit-threads; 0: no sharing")
      ->envname("GRIDFLOW_CLUSTER_COMMIT_THREADS")
      ->check(CLI::Range(0, 1024));
  gridflow::AddDurationFlag(app, "--database-stall-timeout", &config.database_stall_timeout,
                            "a database call making no progress for this long has its connection "
                            "cut and fails (a stalled network); 0s: never")
      ->envname("GRIDFLOW_DATABASE_STALL_TIMEOUT");
  config.database_wait = gridflow::Millis(60'000);
  gridflow::AddDurationFlag(app, "--database-wait", &config.database_wait,
                            "at start, how long to keep retrying while PostgreSQL is unreachable")
      ->envname("GRIDFLOW_DATABASE_WAIT");
  gridflow::AddDurationFlag(app, "--lease-reaper-interval", &config.lease_reaper_interval,
                            "how often expired leases are looked for");
  gridflow::AddDurationFlag(app, "--dispatch-fallback-poll", &config.dispatch_fallback_poll,
                            "claim attempts for waiting workers when no work was announced");
  gridflow::AddDurationFlag(app, "--priority-ageing", &config.priority_ageing,
                            "a queued task is claimed one class more urgent per this much waiting "
                            "(0s: no ageing)")
      ->envname("GRIDFLOW_PRIORITY_AGEING");
  gridflow::AddDurationFlag(app, "--schedule-interval", &config.schedule_interval,
                            "how often due schedules are looked for (their largest lateness)")
      ->envname("GRIDFLOW_SCHEDULE_INTERVAL");
  gridflow::AddDurationFlag(app, "--search-index-interval", &config.search_index_interval,
                            "how often new runs are moved into the workflow-id search index "
                            "(a search finds them before that too)")
      ->envname("GRIDFLOW_SEARCH_INDEX_INTERVAL");
  gridflow::AddDurationFlag(app, "--drain-grace", &drain_grace,
                            "on SIGTERM, how long in-flight calls may take to finish");
  gridflow::AddDurationFlag(app, "--drain-notice", &drain_notice,
                            "on SIGTERM, how long to keep serving while reporting NOT_SERVING, so "
                            "that a load balancer's health checks move clients away first");
  app.add_option("--max-payload-bytes", config.limits.max_payload_bytes,
                 "largest run input, task result or signal payload")
      ->envname("GRIDFLOW_MAX_PAYLOAD_BYTES")
      ->capture_default_str();
  app.add_option("--max-run-data-bytes", config.max_run_data_bytes,
                 "what one run's data and state may hold together; a step whose output would "
                 "pass it fails the run (gridflow.RunDataLimit)")
      ->envname("GRIDFLOW_MAX_RUN_DATA_BYTES")
      ->check(CLI::Range(size_t{1} << 20, size_t{200} << 20))
      ->capture_default_str();
  app.add_option("--max-watches-per-client", config.limits.max_watches_per_client,
                 "WatchHistory streams one client address may hold open on this replica")
      ->envname("GRIDFLOW_MAX_WATCHES_PER_CLIENT")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--member-id", config.member_id, "this replica's id (default: host-pid-random)")
      ->envname("GRIDFLOW_MEMBER_ID");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "serve Prometheus metrics at http://<address>/metrics (e.g. 0.0.0.0:9464); "
                 "empty: off")
      ->envname("GRIDFLOW_METRICS_LISTEN");
  gridflow::AddDurationFlag(app, "--metrics-refresh", &config.metrics_refresh,
                            "how often the gauges of queues, timers and stuck runs are read");
  gridflow::AddDurationFlag(app, "--stuck-after", &config.stuck_after,
                            "a run whose task, timer or cancellation has not moved for this long "
                            "counts in gridflow_stuck_runs");
  gridflow::AddLoggingFlags(app, &logging);
  CLI11_PARSE(app, argc, argv);
  // libpq waits for a connection without limit unless told: an address that accepts but never
  // answers (a stalled network) would hold every new connection. The environment or the URL's
  // own connect_timeout win.
  setenv("PGCONNECT_TIMEOUT", "3", /*overwrite=*/0);

  if (gridflow::Status s = gridflow::ConfigureLogging("engine", logging.level, logging.format);
      !s.ok()) {
    std::fprintf(stderr, "gridflow-engine: %s\n", s.message().c_str());
    return 2;
  }

  gridflow::engine::Engine engine(config);
  // A signal while Start() waits for the database ends the wait; after Start() it drains.
  std::atomic<bool> start_over{false};
  std::atomic<int> early_signal{0};
  std::thread start_watch([&] {
    early_signal = gridflow::WaitForTerminationSignal(start_over);
    if (early_signal != 0) engine.AbortStart();
  });
  const gridflow::Status started = engine.Start();
  start_over = true;
  start_watch.join();
  if (!started.ok()) {
    spdlog::critical("cannot start: {}", started.ToString());
    engine.Shutdown(gridflow::Millis(0));
    return early_signal != 0 ? 0 : 1;
  }
  std::atomic<bool> never{false};
  const int signal =
      early_signal != 0 ? early_signal.load() : gridflow::WaitForTerminationSignal(never);
  spdlog::info("received signal {}", signal);
  engine.Shutdown(drain_grace, drain_notice);
  return 0;
}
