#include "engine/server/engine.h"

#include <google/protobuf/stubs/logging.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>
#include <pqxx/connection>

#include <thread>

#include "common/batch_loop.h"
#include "common/logging.h"
#include "common/metrics_endpoint.h"
#include "common/periodic_task.h"
#include "engine/api/batch_service.h"
#include "engine/api/cluster_service.h"
#include "engine/api/history_watch.h"
#include "engine/api/namespace_service.h"
#include "engine/api/rollout_service.h"
#include "engine/api/schedule_service.h"
#include "engine/api/worker_service.h"
#include "engine/api/workflow_service.h"
#include "engine/auth/authorizer.h"
#include "engine/batch/batch_runner.h"
#include "engine/cluster/health_monitor.h"
#include "engine/cluster/membership.h"
#include "engine/definitions/definition_registry.h"
#include "engine/definitions/rollout_evaluator.h"
#include "engine/dispatch/notification_listener.h"
#include "engine/dispatch/task_dispatcher.h"
#include "engine/metrics/engine_metrics.h"
#include "engine/metrics/rpc_metrics_interceptor.h"
#include "engine/metrics/state_gauges.h"
#include "engine/retention/history_partition_job.h"
#include "engine/retention/retention_job.h"
#include "engine/scheduler/run_reader.h"
#include "engine/scheduler/scheduler.h"
#include "persistence/migrations.h"
#include "persistence/run_search_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

namespace {

persistence::ConnectionPool::Options PoolOptions(const EngineConfig& c) {
  persistence::ConnectionPool::Options options;
  options.dsn = c.database_url;
  options.size = c.database_pool_size;
  options.application_name = "gridflow-engine";
  options.stall_timeout = c.database_stall_timeout;
  return options;
}

}  // namespace

// Everything a replica owns, in construction order (destroyed in reverse).
struct Engine::Parts {
  Parts(const EngineConfig& c, std::unique_ptr<Authorizer::PolicyFile> policy,
        std::shared_ptr<TokenDirectory> tokens_in)
      : metrics_endpoint(metrics.registry()),
        pool(PoolOptions(c)),
        definitions(pool),
        scheduler(pool, definitions,
                  {c.commit_threads, c.max_batch,
                   c.cluster_commit_threads < 0 ? c.commit_threads : c.cluster_commit_threads,
                   c.max_run_data_bytes}),
        reader(pool, definitions),
        dispatcher(pool, scheduler, {c.dispatch_fallback_poll}),
        watches(reader, c.history_watch_poll),
        listener(pool, dispatcher,
                 [this](const std::string& member) { membership.OnPeerLoadChanged(member); }),
        reaper("lease reaper", c.lease_reaper_interval, kBatch,
               [this](int batch, int* done) { return scheduler.ExpireLeases(batch, done); }),
        start_timeouts(
            "schedule-to-start timeouts", c.lease_reaper_interval, kBatch,
            [this](int batch, int* done) { return scheduler.FailOverdueStarts(batch, done); }),
        dispatch_upkeep("dispatch upkeep", c.dispatch_upkeep_interval,
                        [this, ageing = c.priority_ageing] {
                          const Status s = dispatcher.MaintainControls(ageing);
                          if (!s.ok()) spdlog::warn("dispatch upkeep: {}", s.ToString());
                        }),
        timers("timers", c.timer_interval, kBatch,
               [this](int batch, int* done) { return scheduler.FireDueTimers(batch, done); }),
        messages(
            "run messages", c.message_interval, kBatch,
            [this](int batch, int* done) { return scheduler.ProcessPendingMessages(batch, done); }),
        firer(pool, scheduler, &metrics),
        schedules("schedules", c.schedule_interval, kScheduleBatch,
                  [this](int batch, int* done) { return firer.FireDue(batch, done); }),
        rollout_evaluator(pool, c.rollout_interval, &metrics),
        rollouts(
            "rollouts", c.rollout_interval, kBatch,
            [this](int batch, int* done) { return rollout_evaluator.EvaluateDue(batch, done); }),
        batch_runner(pool, scheduler),
        batch_items("batch operations", c.batch_interval, kBatch,
                    [this](int batch, int* done) { return batch_runner.RunDue(batch, done); }),
        search_index("search index", c.search_index_interval, kSearchBatch,
                     [this](int batch, int* done) {
                       return persistence::Transact(pool, "search index", [&](pqxx::work& txn) {
                         *done = persistence::IndexQueuedRuns(txn, batch);
                         return Status::Ok();
                       });
                     }),
        membership(pool, c.member_id.empty() ? MakeMemberId() : c.member_id, c.listen_address,
                   c.membership_heartbeat, [this] { return dispatcher.WaitingByQueue(); },
                   {[this] { return scheduler.TakeBusy(); },
                    [this](int replicas) {
                      metrics.SetCommitShare(replicas, scheduler.SetBusyReplicas(replicas));
                    }}),
        health(pool, c.health_check_interval),
        validator(pool, c.limits),
        tokens(std::move(tokens_in)),
        authorizer(std::move(policy), tokens, &metrics),
        rpc_pool("rpc", c.database_pool_size),
        workflow_service(rpc_pool, authorizer, validator, definitions, scheduler, reader, watches),
        worker_service(rpc_pool, authorizer, validator, dispatcher, scheduler),
        cluster_service(rpc_pool, authorizer, pool, validator, membership, health),
        namespace_service(rpc_pool, authorizer, pool, validator),
        schedule_service(rpc_pool, authorizer, pool, validator, definitions, firer),
        batch_service(rpc_pool, authorizer, pool, validator),
        rollout_service(rpc_pool, authorizer, pool, validator, &metrics),
        namespace_refresh("namespaces", kNamespaceRefresh,
                          [this] {
                            const Status s = validator.RefreshNamespaces();
                            if (!s.ok()) spdlog::warn("namespaces: {}", s.ToString());
                          }),
        state_gauges(pool, membership, health, metrics, c.metrics_refresh, c.stuck_after, [this] {
          metrics.SetHistoryStreams(watches.streams(), watches.held_bytes());
          metrics.SetParsedRuns(scheduler.parsed_runs().size(),
                                scheduler.parsed_runs().text_bytes());
        }) {
    const auto observe = [this](std::string_view name, double seconds, const Status& s) {
      metrics.TransactionFinished(name, seconds, s);
    };
    pool.SetTransactionObserver(observe);
    // As the schema's owner: the runtime role may neither change the schema nor delete history
    // (docs/security.md). One connection, shared by the two jobs below.
    persistence::ConnectionPool::Options owner = PoolOptions(c);
    if (!c.migration_database_url.empty()) owner.dsn = c.migration_database_url;
    owner.size = 1;
    owner.application_name = "gridflow-engine-maintenance";
    // DETACH PARTITION CONCURRENTLY waits for every older transaction: minutes, legitimately.
    if (owner.stall_timeout.count() > 0)
      owner.stall_timeout = std::max(owner.stall_timeout, Millis(600'000));
    owner_pool = std::make_unique<persistence::ConnectionPool>(owner);
    owner_pool->SetTransactionObserver(observe);  // history partitions and retention, timed too
    history_partitions = std::make_unique<HistoryPartitionJob>(*owner_pool);
    history_partition_loop =
        std::make_unique<PeriodicTask>("history partitions", c.history_partition_interval, [this] {
          int created = 0;
          int dropped = 0;
          const Status s = history_partitions->Maintain(&created, &dropped);
          if (!s.ok()) spdlog::warn("history partitions: {}", s.ToString());
        });
    if (!c.archive_dir.empty()) {
      retention = std::make_unique<RetentionJob>(*owner_pool, c.archive_dir);
      // One batch per interval, never back to back: retention is paced so that deleting a
      // backlog leaves the hot path its CPU and I/O (docs/operations.md).
      retention_loop = std::make_unique<PeriodicTask>(
          "retention", c.retention_interval,
          [this, batch = c.retention_batch] {
            int done = 0;
            const Status s = retention->ArchiveDue(batch, &done);
            if (!s.ok()) spdlog::warn("retention: {}", s.ToString());
          },
          PeriodicTask::Pace::kFromTickStart);
    }
  }

  EngineMetrics metrics;
  MetricsEndpoint metrics_endpoint;
  persistence::ConnectionPool pool;
  DefinitionRegistry definitions;
  Scheduler scheduler;
  RunReader reader;
  TaskDispatcher dispatcher;
  HistoryWatchHub watches;
  NotificationListener listener;
  static constexpr int kBatch = 100;
  BatchLoop reaper;
  BatchLoop start_timeouts;
  PeriodicTask dispatch_upkeep;
  BatchLoop timers;
  BatchLoop messages;
  ScheduleFirer firer;
  static constexpr int kScheduleBatch = 16;  // schedules fired per transaction
  BatchLoop schedules;
  RolloutEvaluator rollout_evaluator;
  BatchLoop rollouts;
  BatchRunner batch_runner;
  BatchLoop batch_items;
  static constexpr int kSearchBatch = 2000;  // runs indexed per transaction
  BatchLoop search_index;
  Membership membership;
  HealthMonitor health;
  RequestValidator validator;
  std::shared_ptr<TokenDirectory> tokens;  // null: the engine takes no tokens
  Authorizer authorizer;
  // Runs the RPC bodies that block on the database: gRPC's threads never wait (callback API).
  WorkPool rpc_pool;
  WorkflowServiceImpl workflow_service;
  WorkerServiceImpl worker_service;
  ClusterServiceImpl cluster_service;
  NamespaceServiceImpl namespace_service;
  ScheduleServiceImpl schedule_service;
  BatchServiceImpl batch_service;
  RolloutServiceImpl rollout_service;
  // How soon a namespace deprecated on another replica stops taking new runs here.
  static constexpr Millis kNamespaceRefresh{5000};
  PeriodicTask namespace_refresh;
  StateGauges state_gauges;
  // The owner role's connection: history partitions (always), retention and archive
  // (docs/operations.md; with an archive directory only).
  std::unique_ptr<persistence::ConnectionPool> owner_pool;
  std::unique_ptr<HistoryPartitionJob> history_partitions;
  std::unique_ptr<PeriodicTask> history_partition_loop;
  std::unique_ptr<RetentionJob> retention;
  std::unique_ptr<PeriodicTask> retention_loop;
};

Engine::Engine(EngineConfig config) : config_(std::move(config)) {}

Engine::~Engine() {
  Shutdown(Millis(0));
}

const std::string& Engine::member_id() const {
  return parts_->membership.member_id();
}

size_t Engine::waiting_long_polls() const {
  return parts_ ? parts_->dispatcher.waiting() : 0;
}

int Engine::commit_concurrency() const {
  return parts_ ? parts_->scheduler.commit_concurrency() : 0;
}

bool Engine::listening() const {
  return parts_ && parts_->listener.listening();
}

int Engine::metrics_port() const {
  return parts_->metrics_endpoint.port();
}

namespace {

// Protobuf logs an ERROR line for every request with a string field that is not UTF-8; such a
// request is answered INVALID_ARGUMENT naming the field, so the line is only noise a caller
// could provoke at will.
void RouteProtobufLogs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& text) {
        if (level >= google::protobuf::LOGLEVEL_FATAL) {
          spdlog::critical("protobuf {}:{}: {}", file, line, text);
        } else {
          spdlog::debug("protobuf {}:{}: {}", file, line, text);
        }
      });
}

}  // namespace

Status Engine::Start() {
  if (config_.database_url.empty()) {
    return Status::InvalidArgument(
        "no database configured (--database-url or GRIDFLOW_DATABASE_URL)");
  }
  spdlog::info("connecting to {}", RedactConnectionString(config_.database_url));
  std::unique_ptr<Authorizer::PolicyFile> policy;
  if (Status s = Authorizer::LoadPolicy(config_.access_policy_file,
                                        config_.security.reload_interval, &policy);
      !s.ok()) {
    return s;
  }
  std::shared_ptr<TokenDirectory> tokens;
  if (Status s = TokenDirectory::Load(config_.security.tokens_file,
                                      config_.security.reload_interval, &tokens);
      !s.ok()) {
    return s;
  }
  if (!config_.market_rules_file.empty()) {
    if (Status s = MarketRulesFile::Open(config_.market_rules_file,
                                         config_.security.reload_interval, &market_rules_);
        !s.ok()) {
      return s;
    }
  }
  parts_ = std::make_unique<Parts>(config_, std::move(policy), std::move(tokens));

  // A replica may start while PostgreSQL fails over or starts beside it: retry what is
  // retryable (UNAVAILABLE) with backoff until database_wait ends; anything else (a refused
  // password, an edited migration) fails at once.
  const auto give_up = std::chrono::steady_clock::now() + config_.database_wait;
  Millis backoff{250};
  for (;;) {
    ++start_attempts_;
    Status s = ConnectAndMigrate();
    if (s.ok()) break;
    if (s.code() != StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() + backoff > give_up) {
      return s;
    }
    spdlog::warn("database not ready, retrying in {}: {}", FormatDuration(backoff), s.message());
    std::unique_lock lock(start_mu_);
    if (start_cv_.wait_for(lock, backoff, [this] { return start_aborted_; })) {
      return Status::Unavailable("start aborted while waiting for the database: " + s.message());
    }
    backoff = std::min(backoff * 2, Millis(5000));
  }

  if (!config_.metrics_listen.empty()) {
    if (Status s = parts_->metrics_endpoint.Start(config_.metrics_listen); !s.ok()) return s;
    spdlog::info("metrics on http://{}:{}/metrics",
                 config_.metrics_listen.substr(0, config_.metrics_listen.rfind(':')),
                 parts_->metrics_endpoint.port());
  }
  parts_->scheduler.SetWorkListener(&parts_->dispatcher);
  parts_->scheduler.SetFactsObserver(&parts_->metrics);
  parts_->scheduler.SetHistoryListener(&parts_->watches);
  parts_->scheduler.SetPollMatcher(&parts_->dispatcher);
  parts_->scheduler.SetTurningBusyObserver([this] { parts_->membership.OnTurningBusy(); });
  parts_->dispatcher.SetFactsObserver(&parts_->metrics);
  parts_->dispatcher.Start();
  parts_->watches.Start();
  parts_->listener.Start();
  parts_->reaper.Start();
  parts_->start_timeouts.Start();
  parts_->dispatch_upkeep.Start();
  parts_->namespace_refresh.Start();
  parts_->timers.Start();
  parts_->messages.Start();
  parts_->schedules.Start();
  parts_->batch_items.Start();
  parts_->search_index.Start();
  parts_->rollouts.Start();
  parts_->history_partition_loop->Start();
  if (parts_->retention_loop) {
    parts_->retention_loop->Start();
    spdlog::info("retention: closed runs past their namespace's retention are archived to {}",
                 config_.archive_dir);
  }

  RouteProtobufLogs();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RpcMetricsInterceptorFactory>(parts_->metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (Status s = MakeServerCredentials(config_.security, parts_->tokens, &credentials); !s.ok())
    return s;
  // gRPC sets SO_REUSEPORT by default: a second replica (or a stale process) could then bind the
  // same port and silently take a share of the calls. One port, one engine.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             static_cast<int>(config_.connection_handshake_timeout.count()));
  builder.AddListeningPort(config_.listen_address, credentials, &port_);
  builder.RegisterService(&parts_->workflow_service);
  builder.RegisterService(&parts_->worker_service);
  builder.RegisterService(&parts_->cluster_service);
  builder.RegisterService(&parts_->namespace_service);
  builder.RegisterService(&parts_->schedule_service);
  builder.RegisterService(&parts_->batch_service);
  builder.RegisterService(&parts_->rollout_service);
  // Generous transport limit so that requests just over our own limits reach the validator and
  // get INVALID_ARGUMENT naming the field; far larger ones are refused by gRPC
  // (RESOURCE_EXHAUSTED).
  constexpr size_t kMiB = size_t{1024} * 1024;
  const int max_message = static_cast<int>(
      4 * std::max(config_.limits.max_payload_bytes, config_.limits.max_definition_bytes) + kMiB);
  builder.SetMaxReceiveMessageSize(max_message);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    return Status::Unavailable("cannot listen on " + config_.listen_address +
                               " (in use by another process, or not an address of this host)");
  }
  std::vector<grpc::HealthCheckServiceInterface*> health_targets{server_->GetHealthCheckService()};
  if (!config_.health_listen.empty()) {
    grpc::ServerBuilder health_builder;  // the default health service and reflection only
    health_builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    health_builder.AddListeningPort(config_.health_listen, grpc::InsecureServerCredentials(),
                                    &health_port_);
    health_server_ = health_builder.BuildAndStart();
    if (!health_server_ || health_port_ == 0) {
      return Status::Unavailable("cannot listen on " + config_.health_listen + " (health)");
    }
    health_targets.push_back(health_server_->GetHealthCheckService());
    spdlog::info("health checks (plaintext) on port {}", health_port_);
  }
  Status s = parts_->membership.Join();
  if (!s.ok()) return s;
  parts_->health.Start(std::move(health_targets));
  // The gauges read the database; without a /metrics port nobody would read them.
  if (!config_.metrics_listen.empty()) parts_->state_gauges.Start();
  started_ = true;
  spdlog::info("gridflow-engine {} serving on port {} as member {}", GRIDFLOW_VERSION, port_,
               parts_->membership.member_id());
  return Status::Ok();
}

Status Engine::ConnectAndMigrate() {
  std::unique_ptr<pqxx::connection> connection;
  Status s;
  if (config_.migration_database_url.empty()) {
    s = parts_->pool.OpenDedicated(&connection);
  } else {
    try {  // the owner role: the runtime role may not change the schema
      connection = std::make_unique<pqxx::connection>(config_.migration_database_url);
    } catch (const std::exception& e) {
      s = Status::Unavailable(std::string("cannot connect to PostgreSQL to migrate: ") + e.what());
    }
  }
  if (!s.ok()) return s;
  persistence::MigrationReport report;
  s = persistence::Migrate(*connection, persistence::EmbeddedMigrations(), &report);
  if (!s.ok()) return s;
  spdlog::info("schema at version {} ({} migration(s) applied now)", report.schema_version,
               report.applied);
  return Status::Ok();
}

void Engine::AbortStart() {
  std::lock_guard lock(start_mu_);
  start_aborted_ = true;
  start_cv_.notify_all();
}

void Engine::SetClockOffset(Millis offset) {
  parts_->pool.SetClockOffset(offset);
  parts_->owner_pool->SetClockOffset(offset);
}

void Engine::Shutdown(Millis grace, Millis notice) {
  if (stopped_ || !parts_) return;
  stopped_ = true;
  const std::string serving_on =
      notice > Millis(0) ? ", serving " + FormatDuration(notice) + " more while NOT_SERVING" : "";
  spdlog::info("draining: no new long-polls{}, then finishing in-flight calls (grace {})",
               serving_on, FormatDuration(grace));
  if (started_) {
    parts_->membership.MarkDraining();
    parts_->health.Shutdown();
  }
  parts_->dispatcher.Drain();
  parts_->watches.Stop();  // history streams resume on another replica
  if (server_ && started_ && notice > Millis(0)) std::this_thread::sleep_for(notice);
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
  }
  parts_->rpc_pool.Stop();
  parts_->scheduler.Stop();  // after the server: in-flight calls wait for their commit
  if (health_server_) {      // last: liveness answers until the API has drained
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
  }
  parts_->state_gauges.Stop();
  parts_->reaper.Stop();
  parts_->start_timeouts.Stop();
  parts_->dispatch_upkeep.Stop();
  parts_->namespace_refresh.Stop();
  parts_->timers.Stop();
  parts_->schedules.Stop();
  parts_->batch_items.Stop();
  parts_->search_index.Stop();
  parts_->rollouts.Stop();
  parts_->history_partition_loop->Stop();
  if (parts_->retention_loop) parts_->retention_loop->Stop();
  parts_->messages.Stop();
  parts_->listener.Stop();
  parts_->dispatcher.Stop();
  if (started_) parts_->membership.Leave();
  spdlog::info("stopped");
}

}  // namespace gridflow::engine
