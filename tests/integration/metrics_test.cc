// /metrics of an engine replica and of a worker, scraped over HTTP after a known workload: the
// counters must hold exactly what happened, the gauges what the database holds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "common/metrics_endpoint.h"
#include "engine/metrics/engine_metrics.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "tests/integration/test_env.h"
#include "worker/worker_metrics.h"

namespace gridflow::testing {
namespace {

engine::EngineConfig MetricsConfig(const std::string& url) {
  auto config = FastEngineConfig(url);
  config.metrics_listen = "127.0.0.1:0";
  config.metrics_refresh = Millis(100);
  config.stuck_after = Millis(300);
  return config;
}

TEST(Metrics, CountersAndGaugesAfterAKnownWorkload) {
  TestDatabase db;
  TestEngine engine(MetricsConfig(db.url()));
  const int port = engine.engine().metrics_port();
  ASSERT_GT(port, 0);
  ASSERT_TRUE(Register(engine, SequenceDefinition("settle", {{"meter", "t"}, {"invoice", "t"}},
                                                  R"({"retry": {"max_attempts": 3,
                                                       "initial_interval": "10ms"}})"))
                  .ok());

  // Worker metrics on an endpoint of their own.
  auto worker_registry = std::make_shared<prometheus::Registry>();
  MetricsEndpoint worker_endpoint(worker_registry);
  ASSERT_TRUE(worker_endpoint.Start("127.0.0.1:0").ok());
  std::atomic<int> calls{0};
  {
    InProcessWorker worker(engine, "metered-worker",
                           {{"t",
                             [&](worker::TaskContext&) {
                               // The very first attempt fails once (retryable); everything else
                               // succeeds.
                               return calls.fetch_add(1) == 0
                                          ? worker::TaskOutcome::Failure("MeterTimeout", "slow")
                                          : worker::TaskOutcome::Success("{}");
                             }}},
                           2, worker_registry);
    for (const char* id : {"s-1", "s-2", "s-3"})
      Start(engine, id, "settle");
    for (const char* id : {"s-1", "s-2", "s-3"})
      ASSERT_EQ(WaitClosed(engine, id).status(), v1::RUN_STATUS_COMPLETED);
  }

  const std::string text = HttpGet(port, "/metrics");
  ASSERT_FALSE(text.empty());
  const std::map<std::string, std::string> task = {
      {"namespace", "default"}, {"queue", "q"}, {"task_type", "t"}};
  EXPECT_EQ(Sample(text, "gridflow_runs_started_total", {{"definition", "settle"}}), 3);
  EXPECT_EQ(Sample(text, "gridflow_runs_closed_total",
                   {{"definition", "settle"}, {"status", "COMPLETED"}}),
            3);
  EXPECT_EQ(Sample(text, "gridflow_run_duration_seconds_count",
                   {{"definition", "settle"}, {"status", "COMPLETED"}}),
            3);
  EXPECT_EQ(Sample(text, "gridflow_tasks_scheduled_total", task), 6);
  EXPECT_EQ(Sample(text, "gridflow_tasks_leased_total", task), 7);
  EXPECT_EQ(Sample(text, "gridflow_tasks_completed_total", task), 6);
  auto retrying = task;
  retrying["will_retry"] = "true";
  EXPECT_EQ(Sample(text, "gridflow_tasks_failed_total", retrying), 1);
  EXPECT_EQ(Sample(text, "gridflow_task_execution_seconds_count", task), 7);
  EXPECT_EQ(Sample(text, "gridflow_task_schedule_to_start_seconds_count",
                   {{"namespace", "default"}, {"queue", "q"}}),
            7);
  EXPECT_EQ(Sample(text, "gridflow_rpcs_total",
                   {{"method", "/gridflow.v1.WorkflowService/StartRun"}, {"code", "0"}}),
            3);
  EXPECT_EQ(Sample(text, "gridflow_rpcs_total",
                   {{"method", "/gridflow.v1.WorkerService/CompleteTask"}, {"code", "0"}}),
            6);
  // Calls that arrive while a transaction is in flight are committed together (group commit):
  // the three starts took at most three transactions of their own, and any others shared one
  // with completions ("transition batch").
  const double start_transactions = std::max(
      0.0, Sample(text, "gridflow_db_transaction_seconds_count", {{"operation", "start run"}}));
  const double mixed_transactions = std::max(
      0.0,
      Sample(text, "gridflow_db_transaction_seconds_count", {{"operation", "transition batch"}}));
  EXPECT_LE(start_transactions, 3);
  EXPECT_GE(start_transactions + mixed_transactions, 1);
  EXPECT_EQ(Sample(text, "gridflow_db_pool_connections_max"), 8);

  const std::string worker_text = HttpGet(worker_endpoint.port(), "/metrics");
  EXPECT_EQ(Sample(worker_text, "gridflow_worker_tasks_total",
                   {{"queue", "q"}, {"task_type", "t"}, {"outcome", "completed"}}),
            6);
  EXPECT_EQ(Sample(worker_text, "gridflow_worker_tasks_total",
                   {{"queue", "q"}, {"task_type", "t"}, {"outcome", "failed"}}),
            1);
  EXPECT_EQ(Sample(worker_text, "gridflow_worker_tasks_leased_total"), 7);
  EXPECT_EQ(Sample(worker_text, "gridflow_worker_slots"), 2);
}

TEST(Metrics, GaugesShowBacklogStuckRunsAndMembers) {
  TestDatabase db;
  TestEngine engine(MetricsConfig(db.url()));
  const int port = engine.engine().metrics_port();
  ASSERT_TRUE(Register(engine, SequenceDefinition("bid", {{"submit", "t"}})).ok());
  for (const char* id : {"b-1", "b-2"})
    Start(engine, id, "bid");
  v1::SignalRunRequest signal;
  signal.set_workflow_id("b-1");
  signal.set_signal_name("exchange_ack");
  v1::SignalRunResponse signalled;
  ASSERT_TRUE(engine.workflows().SignalRun(Ctx().get(), signal, &signalled).ok());

  // Nobody polls queue "q": after stuck_after (300 ms) both runs count as stuck.
  const std::map<std::string, std::string> queue = {{"namespace", "default"}, {"queue", "q"}};
  std::string text;
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(port, "/metrics");
    return Sample(text, "gridflow_stuck_runs",
                  {{"definition", "bid"}, {"reason", "task_unclaimed"}}) == 2;
  })) << text;
  EXPECT_EQ(Sample(text, "gridflow_queue_depth", queue), 2);
  EXPECT_EQ(Sample(text, "gridflow_queue_due", queue), 2);
  EXPECT_GT(Sample(text, "gridflow_queue_oldest_task_age_seconds", queue), 0.2);
  EXPECT_EQ(Sample(text, "gridflow_cluster_members_alive"), 1);
  // Alone, a replica is the one busy replica and keeps all its commit threads.
  EXPECT_EQ(Sample(text, "gridflow_cluster_members_busy"), 1);
  EXPECT_EQ(Sample(text, "gridflow_group_commit_share"), MetricsConfig(db.url()).commit_threads);
  EXPECT_EQ(Sample(text, "gridflow_database_up"), 1);
  EXPECT_EQ(Sample(text, "gridflow_timers_due"), 0);
  EXPECT_EQ(Sample(text, "gridflow_signals_received_total", {{"definition", "bid"}}), 1);

  // Work drains: the gauges of the emptied queue go back to 0 and nothing is stuck.
  for (int i = 0; i < 2; ++i)
    CompleteLeased(engine, LeaseOne(engine, "q", "w"), "{}");
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(port, "/metrics");
    // A refresh between the second lease and its completion shows depth 0 with one leased:
    // wait for the one after the completion.
    return Sample(text, "gridflow_queue_depth", queue) == 0 &&
           Sample(text, "gridflow_queue_leased", queue) == 0 &&
           Sample(text, "gridflow_stuck_runs",
                  {{"definition", "bid"}, {"reason", "task_unclaimed"}}) == 0;
  })) << text;
  // No label carries a run or task id.
  EXPECT_EQ(text.find("b-1"), std::string::npos);
  EXPECT_EQ(text.find("run_id"), std::string::npos);
}

// Runs waiting for the search index are gauged: queued while no replica indexes them, none once
// one does.
TEST(Metrics, RunsWaitingForTheSearchIndexAreGauged) {
  TestDatabase db;
  auto idle = MetricsConfig(db.url());
  idle.search_index_interval = Millis(3'600'000);  // only the tick at start
  std::string text;
  {
    TestEngine engine(idle);
    ASSERT_TRUE(AwaitFirstTransaction(engine, "search index"));
    ASSERT_TRUE(Register(engine, SequenceDefinition("bid", {{"submit", "venue"}})).ok());
    Start(engine, "b-1", "bid");
    Start(engine, "b-2", "bid");
    ASSERT_TRUE(Eventually([&] {
      text = HttpGet(engine.engine().metrics_port(), "/metrics");
      return Sample(text, "gridflow_search_index_queued_runs") == 2;
    })) << text;
  }
  TestEngine indexing(MetricsConfig(db.url()));  // indexes at start, then every second
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(indexing.engine().metrics_port(), "/metrics");
    return Sample(text, "gridflow_search_index_queued_runs") == 0;
  })) << text;
}

// How long runs can still start before the history partitions end is gauged: two to three months
// while the replicas create them ahead, the rest of this month once the next ones are missing.
TEST(Metrics, TheHistoryPartitionsRunwayIsGauged) {
  TestDatabase db;
  TestEngine engine(MetricsConfig(db.url()));  // creates this month's and the next two at start
  const int port = engine.engine().metrics_port();
  constexpr double kDay = 86'400;
  double runway = 0;
  std::string text;
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(port, "/metrics");
    runway = Sample(text, "gridflow_history_partition_runway_seconds");
    return runway > 0;  // NaN until the first refresh
  })) << text;
  EXPECT_GT(runway, 58 * kDay);
  EXPECT_LE(runway, 93 * kDay);
  // The migrations create the partitions too: the maintenance job's start-up tick must be over,
  // or it would create again what is dropped next (its next tick is an hour away).
  ASSERT_TRUE(AwaitFirstTransaction(engine, "history partitions"));
  // The next two months lose their partitions, as if no replica had created them.
  db.Query(R"(DO $$
    DECLARE name text;
    BEGIN
      FOR i IN 1..2 LOOP
        name := gf_history_partition_name(now() + i * interval '1 month');
        EXECUTE format('ALTER TABLE events DETACH PARTITION %I', name);
        EXECUTE format('DROP TABLE %I', name);
      END LOOP;
    END $$)");
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(port, "/metrics");
    runway = Sample(text, "gridflow_history_partition_runway_seconds");
    return runway < 32 * kDay;
  })) << text;
  EXPECT_GT(runway, 0);
  EXPECT_NEAR(runway,
              std::stod(db.Query("SELECT extract(epoch FROM date_trunc('month', now(), "
                                 "'UTC') + interval '1 month' - now())")),
              60);
}

// Every worker that keeps slots for urgent work holds a poll for them alone on each replica.
// Bulk work announced on their queue is nothing for them: however many wait, one empty claim
// per announcement answers for all (counted by the claims' transactions).
TEST(Metrics, WaitingReservedPollsShareOneClaimPerAnnouncement) {
  TestDatabase db;
  auto config = MetricsConfig(db.url());
  config.dispatch_fallback_poll = Millis(60'000);
  TestEngine engine(config);
  ASSERT_TRUE(Register(engine, R"({"name": "settle", "version": 1, "steps": [{"name": "work",
      "kind": "task", "task_type": "settle", "task_queue": "q", "priority": "bulk"}]})")
                  .ok());
  const int port = engine.engine().metrics_port();
  const auto claims = [&] {  // none yet: no sample
    return std::max(0.0, Sample(HttpGet(port, "/metrics"), "gridflow_db_transaction_seconds_count",
                                {{"operation", "lease tasks"}}));
  };
  constexpr int kPolls = 16;
  std::vector<std::thread> polls;
  for (int i = 0; i < kPolls; ++i) {
    polls.emplace_back([&engine] {
      v1::LeaseTasksRequest request;
      request.add_task_queues("q");
      request.set_reserved_slots(1);
      request.set_reserved_priority(0);
      request.set_identity("reserving-worker");
      request.mutable_wait()->set_seconds(3);
      v1::LeaseTasksResponse response;
      EXPECT_TRUE(engine.workers().LeaseTasks(Ctx().get(), request, &response).ok());
      EXPECT_EQ(response.tasks_size(), 0);  // bulk work never takes a reserved slot
    });
  }
  // (EXPECT: the polls are joined below either way.)
  EXPECT_TRUE(Eventually([&] { return engine.engine().waiting_long_polls() == kPolls; }));
  const double before = claims();
  constexpr int kStarts = 10;
  for (int i = 0; i < kStarts; ++i)
    Start(engine, "bulk-" + std::to_string(i), "settle");  // each announces q
  for (auto& poll : polls)
    poll.join();
  // At most one claim per announcement — a start is announced twice, by this replica after its
  // commit and by PostgreSQL's NOTIFY — and one per new poll (their first claims may still be
  // under way): 36. One claim per poll and announcement made 80 and more.
  const double made = claims() - before;
  EXPECT_LE(made, 2 * kStarts + kPolls);
  EXPECT_EQ(db.Query("SELECT count(*) FROM tasks WHERE state = 'PENDING'"),
            std::to_string(kStarts));
}

// A start whose run is handed urgent tasks at once is an urgent call (docs/dispatch.md): it goes
// in a transaction of its own, named so — once this replica has resolved the name's latest
// version for a start and so knows its class.
TEST(Metrics, StartsOfUrgentRunsAreCommittedAsUrgentCalls) {
  TestDatabase db;
  TestEngine engine(MetricsConfig(db.url()));
  ASSERT_TRUE(Register(engine, R"({"name": "activation", "version": 1, "steps": [
      {"name": "setpoints", "kind": "foreach", "items": "$/input/assets", "steps": [
        {"name": "setpoint", "kind": "task", "task_type": "setpoint", "priority": "urgent"}]}]})")
                  .ok());
  ASSERT_TRUE(Register(engine, SequenceDefinition("settle", {{"meter", "t"}})).ok());
  for (const char* id : {"a-1", "a-2", "a-3"})
    Start(engine, id, "activation", R"({"assets": ["unit-1", "unit-2"]})");
  Start(engine, "s-1", "settle");
  const std::string text = HttpGet(engine.engine().metrics_port(), "/metrics");
  const auto transactions = [&](const char* operation) {
    return std::max(
        0.0, Sample(text, "gridflow_db_transaction_seconds_count", {{"operation", operation}}));
  };
  EXPECT_EQ(transactions("urgent start run"), 2) << "a-2 and a-3";
  EXPECT_EQ(transactions("start run"), 2) << "a-1 (its class not known yet) and s-1";
  EXPECT_EQ(db.Query("SELECT count(*) FROM tasks WHERE priority = 0"), "6");
}

TEST(Metrics, CircuitsAndPausesAreGaugedAndCounted) {
  TestDatabase db;
  TestEngine engine(MetricsConfig(db.url()));
  const int port = engine.engine().metrics_port();
  ASSERT_TRUE(Register(engine, SequenceDefinition("bid", {{"submit", "venue"}},
                                                  R"({"retry": {"max_attempts": 5,
                                                       "initial_interval": "10ms"},
                                                      "circuit_breaker": {"min_attempts": 2,
                                                       "failure_rate": 1.0,
                                                       "cool_down": "1h"}})"))
                  .ok());
  Start(engine, "b-1", "bid");
  for (int i = 0; i < 2; ++i) {
    const v1::LeasedTask t = LeaseOne(engine, "q", "w");
    ASSERT_FALSE(t.task_id().empty());
    v1::FailTaskRequest fail;
    fail.set_task_id(t.task_id());
    fail.set_lease_epoch(t.lease_epoch());
    fail.set_error_type("VenueUnavailable");
    v1::FailTaskResponse failed;
    ASSERT_TRUE(engine.workers().FailTask(Ctx().get(), fail, &failed).ok());
  }
  const std::map<std::string, std::string> venue = {{"namespace", "default"},
                                                    {"task_type", "venue"}};
  std::string text;
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(port, "/metrics");
    return Sample(text, "gridflow_circuit_state", venue) == 2;
  })) << text;
  auto open = venue;
  open["state"] = "open";
  EXPECT_EQ(Sample(text, "gridflow_circuit_transitions_total", open), 1);
  // A pause shows as 1 until it is resumed.
  auto cluster = v1::ClusterService::NewStub(engine.channel());
  v1::PauseDispatchRequest pause;
  pause.set_scope(v1::DISPATCH_SCOPE_QUEUE);
  pause.set_name("q");
  pause.set_reason("test");
  v1::DispatchControlResponse answer;
  ASSERT_TRUE(cluster->PauseDispatch(Ctx().get(), pause, &answer).ok());
  const std::map<std::string, std::string> paused = {
      {"namespace", "default"}, {"scope", "queue"}, {"name", "q"}};
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(port, "/metrics");
    return Sample(text, "gridflow_dispatch_paused", paused) == 1;
  })) << text;
  v1::ResumeDispatchRequest resume;
  resume.set_scope(v1::DISPATCH_SCOPE_QUEUE);
  resume.set_name("q");
  ASSERT_TRUE(cluster->ResumeDispatch(Ctx().get(), resume, &answer).ok());
  ASSERT_TRUE(Eventually([&] {
    text = HttpGet(port, "/metrics");
    return Sample(text, "gridflow_dispatch_paused", paused) == 0;
  })) << text;
}

// Every metric the dashboard and the alert rules query is one the engine or the worker declares.
TEST(Metrics, DashboardAndAlertsQueryOnlyDeclaredMetrics) {
  // Labelled families are exported once they have a series: give each one.
  engine::EngineMetrics engine_metrics;
  engine::TransitionFacts facts;
  const engine::TransitionFacts::Task task{"default", "q", "t", 1.0, true, "w"};
  facts.runs_started = {"d"};
  facts.runs_closed = {{"d", "COMPLETED", 2.0}};
  facts.tasks_scheduled = facts.tasks_completed = facts.tasks_failed =
      facts.leases_expired = {task};
  facts.signals_received = {"d"};
  facts.breaker_changes = {{"default", "t", "open"}};
  engine_metrics.Committed(facts);
  persistence::DispatchControl paused;
  paused.namespace_name = "default";
  paused.scope = "queue";
  paused.name = "q";
  paused.paused = true;
  engine_metrics.SetDispatchControls({paused});
  persistence::TaskRow leased;
  leased.namespace_name = "default";
  leased.queue = "q";
  leased.task_type = "t";
  engine_metrics.Leased({leased});
  engine_metrics.RpcFinished("/gridflow.v1.WorkflowService/StartRun", 0, 0.01);
  engine_metrics.TransactionFinished("start run", 0.01, Status::Unavailable("down"));
  engine_metrics.SetQueues({{"default/q", 1, 1, 0, 1.0}});
  engine_metrics.SetStuckRuns({{"d", "task_unclaimed", 1}});
  engine_metrics.ScheduleFired("skipped_missed", 3.0);
  persistence::RolloutRow rollout;
  rollout.namespace_name = "default";
  rollout.name = "d";
  engine_metrics.RolloutEvaluated(rollout);
  engine_metrics.RolloutEnded(rollout, "rolled_back", true);
  prometheus::Registry worker_registry;
  worker::WorkerMetrics worker_metrics(worker_registry, 1);
  worker_metrics.TaskFinished("q", "t", "completed", 0.5);
  worker_metrics.Polled("empty");
  worker_metrics.HeartbeatFailed(false);
  std::set<std::string> declared;
  for (const prometheus::Registry* registry : {engine_metrics.registry().get(), &worker_registry}) {
    for (const prometheus::MetricFamily& family : registry->Collect())
      declared.insert(family.name);
  }
  ASSERT_GT(declared.size(), 30u);
  const std::regex kName(R"(gridflow_[a-z_]+)");
  int queried = 0;
  for (const char* file :
       {"deploy/monitoring/gridflow-dashboard.json", "deploy/monitoring/gridflow-alerts.yaml"}) {
    std::ifstream in(std::string(GRIDFLOW_SOURCE_DIR) + "/" + file);
    ASSERT_TRUE(in) << file;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
         it != std::sregex_iterator(); ++it) {
      std::string name = it->str();
      for (const std::string suffix : {"_bucket", "_count", "_sum"}) {
        if (declared.count(name) == 0 && name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
          name.resize(name.size() - suffix.size());
        }
      }
      EXPECT_EQ(declared.count(name), 1u) << file << " queries " << name << ", not declared";
      ++queried;
    }
  }
  EXPECT_GT(queried, 30);
}

}  // namespace
}  // namespace gridflow::testing
