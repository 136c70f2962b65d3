// Engine: one gridflow-engine replica, assembled. Start() migrates the schema (advisory-locked),
// joins the membership, starts the background loops (LISTEN, lease reaper, health) and serves
// gridflow.v1 plus grpc.health.v1 and reflection. Shutdown() drains: reports NOT_SERVING and
// stops taking long-polls, keeps serving for a notice period while clients move away, then
// finishes in-flight calls (up to a grace period) and leaves the membership.
// Used by the gridflow-engine binary and, in-process, by the integration tests.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "common/duration.h"
#include "common/status.h"
#include "engine/api/request_validator.h"
#include "engine/server/market_rules_file.h"
#include "engine/server/server_credentials.h"

namespace gridflow::engine {

struct EngineConfig {
  std::string listen_address = "0.0.0.0:7233";
  ServerSecurity security;  // TLS, client certificates, bearer tokens; default plaintext
  // Who may do what (engine/auth/access_policy.h), re-read like the tokens file; empty: every
  // caller may do everything.
  std::string access_policy_file;
  // Market rules added to the built-in ones (docs/market-rules.md), re-read like the tokens
  // file; empty: the built-in rules alone.
  std::string market_rules_file;
  // libpq connection string or URI; multi-host strings work. Holds secrets: never log it as is.
  std::string database_url;
  // Where schema migrations are applied from: the owner role's connection (docs/security.md,
  // "Database roles"); empty: database_url (one role owns and runs).
  std::string migration_database_url;
  int database_pool_size = 16;
  // A database call with no progress for this long has its connection cut and fails (UNAVAILABLE
  // after the retries): a network that stalls without closing connections cannot hold a replica.
  // Longer than any transaction of the hot path (the owner-role jobs get at least 10 minutes).
  Millis database_stall_timeout{15'000};
  // Group commit: transactions of gathered StartRun/CompleteTask/FailTask calls in flight at once
  // (at most), and the most calls one transaction applies.
  int commit_threads = 2;
  int max_batch = 256;
  // The transactions in flight that the replicas applying calls share (each keeps at least one,
  // at most commit_threads; an idle replica holds no share); -1: as many as commit_threads (a lone
  // replica runs all its threads, three busy ones a third each); 0: no sharing.
  int cluster_commit_threads = -1;
  // What one run's data and state may hold together (as JSON text); a step whose output would
  // pass it fails the run with gridflow.RunDataLimit (docs/dsl.md). Same on every replica.
  size_t max_run_data_bytes = size_t{16} << 20;
  Millis lease_reaper_interval{500};
  Millis timer_interval{100};       // timer lag is at most this
  Millis message_interval{500};     // for messages whose sender died before delivering them
  Millis schedule_interval{250};    // a schedule fires at most this late (docs/schedules.md)
  Millis batch_interval{200};       // how often batch operations look for due items
  Millis rollout_interval{10'000};  // how often a running canary rollout is evaluated
  // How often new runs are moved into the workflow-id search index; they are found by a search
  // before that too (persistence/run_search_store.h).
  Millis search_index_interval{1000};
  // Retention (docs/operations.md, "Retention and archive"): where closed runs past their
  // namespace's retention are archived before they are deleted; empty: nothing is deleted.
  std::string archive_dir;
  // At most retention_batch runs archived per retention_interval per replica: a backlog drains
  // at that pace, leaving the hot path its resources.
  Millis retention_interval{1000};
  int retention_batch = 50;
  // How often a replica creates the coming months' history partitions and drops emptied ones.
  Millis history_partition_interval{3'600'000};
  Millis dispatch_fallback_poll{1000};
  // Ageing: a queued task is claimed one class more urgent per this much waiting (never above
  // high unless its step made it urgent); 0 turns ageing off (docs/dispatch.md).
  Millis priority_ageing{60'000};
  Millis dispatch_upkeep_interval{1000};  // circuits turning half-open, ageing
  Millis membership_heartbeat{5000};
  Millis health_check_interval{2000};
  // A connection that has not finished its TLS handshake and sent its HTTP/2 settings this long
  // after it was accepted is closed (gRPC's default: 120 s): a silent or stalled client holds a
  // connection for no longer than this.
  Millis connection_handshake_timeout{20'000};
  ApiLimits limits;
  std::string member_id;  // empty: generated
  // A second, plaintext port serving only grpc.health.v1 ("0.0.0.0:7234"; empty: none), for probes
  // that cannot present TLS or tokens (Kubernetes' gRPC probes). It reveals nothing but health.
  std::string health_listen;
  // Prometheus /metrics: where to listen ("0.0.0.0:9464"; port 0 picks one); empty: no endpoint.
  std::string metrics_listen;
  Millis metrics_refresh{15'000};  // how often the gauges of shared state are read
  // How often WatchHistory streams look for events other replicas recorded (this replica's own
  // wake them at once).
  Millis history_watch_poll{250};
  Millis stuck_after{300'000};  // a run not moving for this long counts as stuck
  // How long Start() keeps trying while PostgreSQL is unreachable (a failover, a database
  // starting beside the engine) before it gives up; 0: fail at once.
  Millis database_wait{0};
};

class Engine {
 public:
  explicit Engine(EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Connects (waiting up to database_wait), migrates, and starts serving.
  Status Start();
  // Makes a Start() that is waiting for the database give up now (from another thread, e.g. on
  // SIGTERM). Harmless at any other time.
  void AbortStart();
  // The port the server listens on (useful with a ":0" listen address).
  int port() const { return port_; }
  const std::string& member_id() const;
  // The health-only port (0 when health_listen is empty).
  int health_port() const { return health_port_; }
  // The /metrics port (0 when metrics_listen is empty).
  int metrics_port() const;
  // Drains and stops. For `notice` the replica reports NOT_SERVING yet still serves every call,
  // so that load balancers which health-check it stop sending before the server closes (gRPC
  // cancels calls that arrive after that without running them: the caller sees CANCELLED, which
  // the client retry policy retries). Then it waits at most `grace` for in-flight calls.
  // Idempotent.
  void Shutdown(Millis grace, Millis notice = Millis(0));

  // What tests (and operators' logs) can wait on instead of sleeping:
  // LeaseTasks calls parked here now; whether LISTEN is up (notifications from other replicas
  // arrive); how many times Start() has tried to reach the database; the group-commit
  // transactions this replica keeps in flight at most now (its share of cluster_commit_threads).
  size_t waiting_long_polls() const;
  bool listening() const;
  int commit_concurrency() const;
  int start_attempts() const { return start_attempts_.load(); }

  // Test-only: moves this replica's clock (gf_now() in its transactions) forward by `offset`, so
  // tests can reach deadlines and timers days away without waiting.
  void SetClockOffset(Millis offset);

 private:
  struct Parts;
  EngineConfig config_;
  Status ConnectAndMigrate();

  std::unique_ptr<MarketRulesFile> market_rules_;
  std::unique_ptr<Parts> parts_;
  std::atomic<int> start_attempts_{0};
  std::mutex start_mu_;
  std::condition_variable start_cv_;
  bool start_aborted_ = false;  // guarded by start_mu_
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::Server> health_server_;  // health_listen's
  int port_ = 0;
  int health_port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace gridflow::engine
