// Dispatch control through the public API: priority classes and deadline order, reserved worker
// slots, routing per item, pauses, rate limits across replicas, circuit breakers, the
// schedule-to-start timeout and ageing (docs/dispatch.md).
#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "common/priority.h"
#include "engine/definitions/definition_registry.h"
#include "engine/dispatch/task_dispatcher.h"
#include "engine/scheduler/scheduler.h"
#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "persistence/connection_pool.h"
#include "persistence/dispatch_control_store.h"
#include "persistence/statements.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// One task step of `type` on queue `queue`, with `extras` merged into the step.
std::string OneStep(const std::string& name, const std::string& type, const std::string& queue,
                    const json& extras = json::object(), const json& top = json::object()) {
  json step = {{"name", "work"}, {"kind", "task"}, {"task_type", type}, {"task_queue", queue}};
  step.update(extras);
  json def = {{"name", name}, {"version", 1}, {"steps", json::array({step})}};
  def.update(top);
  return def.dump();
}

v1::LeasedTask Lease(TestEngine& e, const std::string& queue, int max_tasks, int reserved,
                     int reserved_class, std::chrono::milliseconds wait,
                     std::vector<v1::LeasedTask>* all = nullptr) {
  v1::LeaseTasksRequest request;
  request.add_task_queues(queue);
  request.set_max_tasks(max_tasks);
  request.set_reserved_slots(reserved);
  request.set_reserved_priority(reserved_class);
  request.set_identity("w");
  *request.mutable_wait() = google::protobuf::util::TimeUtil::MillisecondsToDuration(wait.count());
  v1::LeaseTasksResponse response;
  const grpc::Status s = e.workers().LeaseTasks(Ctx().get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  if (all != nullptr) all->assign(response.tasks().begin(), response.tasks().end());
  return response.tasks().empty() ? v1::LeasedTask{} : response.tasks(0);
}

// A dispatcher of its own on the test database whose thread never starts: no claim answers its
// polls and nothing queued for release is released before Stop() (at the latest, destruction).
class StandaloneDispatcher {
 public:
  explicit StandaloneDispatcher(const std::string& url) {
    persistence::ConnectionPool::Options options;
    options.dsn = url;
    options.size = 2;
    pool_ = std::make_unique<persistence::ConnectionPool>(options);
    definitions_ = std::make_unique<engine::DefinitionRegistry>(*pool_);
    scheduler_ =
        std::make_unique<engine::Scheduler>(*pool_, *definitions_, engine::Scheduler::Options{});
    dispatcher_ = std::make_unique<engine::TaskDispatcher>(*pool_, *scheduler_,
                                                           engine::TaskDispatcher::Options{});
  }
  ~StandaloneDispatcher() { dispatcher_->Stop(); }
  engine::TaskDispatcher& get() { return *dispatcher_; }
  void Start() { dispatcher_->Start(); }

 private:
  std::unique_ptr<persistence::ConnectionPool> pool_;
  std::unique_ptr<engine::DefinitionRegistry> definitions_;
  std::unique_ptr<engine::Scheduler> scheduler_;
  std::unique_ptr<engine::TaskDispatcher> dispatcher_;
};

class DispatchTest : public ::testing::Test {
 protected:
  v1::ClusterService::Stub& cluster() {
    if (!cluster_) cluster_ = v1::ClusterService::NewStub(engine_.channel());
    return *cluster_;
  }
  void Pause(v1::DispatchScope scope, const std::string& name, const std::string& reason) {
    v1::PauseDispatchRequest request;
    request.set_scope(scope);
    request.set_name(name);
    request.set_reason(reason);
    request.set_identity("operator-anna");
    v1::DispatchControlResponse response;
    const grpc::Status s = cluster().PauseDispatch(Ctx().get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(response.control().paused());
    EXPECT_EQ(response.control().paused_by(), "anonymous (operator-anna)");
  }
  void Resume(v1::DispatchScope scope, const std::string& name) {
    v1::ResumeDispatchRequest request;
    request.set_scope(scope);
    request.set_name(name);
    v1::DispatchControlResponse response;
    const grpc::Status s = cluster().ResumeDispatch(Ctx().get(), request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  v1::ListQueuesResponse Queues() {
    v1::ListQueuesRequest request;
    v1::ListQueuesResponse response;
    EXPECT_TRUE(cluster().ListQueues(Ctx().get(), request, &response).ok());
    return response;
  }
  static std::optional<v1::DispatchControl> Control(const v1::ListQueuesResponse& queues,
                                                    const std::string& name) {
    for (const auto& c : queues.controls())
      if (c.name() == name) return c;
    return std::nullopt;
  }

  // A C++ SDK worker on queue "q": one ordinary slot and one reserved for urgent work.
  worker::WorkerOptions ReservingWorker(Millis poll_wait) {
    worker::WorkerOptions options;
    options.transport.address = engine_.address();
    options.task_queues = {"q"};
    options.identity = "reserving-worker";
    options.max_concurrent_tasks = 1;
    options.reserved_slots = 1;
    options.reserved_priority = 0;
    options.poll_wait = poll_wait;
    return options;
  }

  // Starts run "order-1" of a one-step definition on `queue` and leases its task to "w": the
  // row a transaction or claim would have handed over (LEASED in the database).
  persistence::TaskRow LeaseOneTask(const std::string& queue) {
    EXPECT_TRUE(Register(engine_, OneStep("order", "dispatch", queue)).ok());
    Start(engine_, "order-1", "order");
    const v1::LeasedTask leased = Lease(engine_, queue, 1, 0, 0, std::chrono::seconds(10));
    EXPECT_FALSE(leased.task_id().empty());
    persistence::TaskRow task;
    task.id = leased.task_id().empty() ? 0 : std::stoll(leased.task_id());
    task.namespace_name = "default";
    task.run_id = leased.run_id();
    task.step = leased.step();
    task.lease_epoch = leased.lease_epoch();
    EXPECT_EQ(TaskState(task.id), "LEASED");
    return task;
  }
  std::string TaskState(int64_t id) {
    return db_.Query("SELECT state FROM tasks WHERE id = " + std::to_string(id));
  }

  TestDatabase db_;
  TestEngine engine_{db_.url()};
  std::unique_ptr<v1::ClusterService::Stub> cluster_;
};

TEST_F(DispatchTest, AnUrgentTaskJumpsTenThousandQueuedBulkTasks) {
  ASSERT_TRUE(Register(engine_, OneStep("settle", "settle", "q", {{"priority", "bulk"}})).ok());
  ASSERT_TRUE(
      Register(engine_, OneStep("activate", "setpoint", "q", {{"priority", "urgent"}})).ok());
  // 10,000 bulk runs, started through the API from several threads (no worker polls yet).
  std::atomic<int> next{0};
  std::vector<std::thread> starters;
  for (int t = 0; t < 8; ++t) {
    starters.emplace_back([&] {
      for (int i = next++; i < 10'000; i = next++) {
        v1::StartRunRequest request;
        request.set_workflow_id("settle-" + std::to_string(i));
        request.set_definition_name("settle");
        request.set_input_json("{}");
        v1::StartRunResponse response;
        ASSERT_TRUE(engine_.workflows().StartRun(Ctx().get(), request, &response).ok());
      }
    });
  }
  for (auto& t : starters)
    t.join();
  ASSERT_EQ(db_.Query("SELECT count(*) FROM tasks WHERE state = 'PENDING' AND priority = 4"),
            "10000");
  Start(engine_, "activation-1", "activate");
  const v1::LeasedTask first = Lease(engine_, "q", 1, 0, 0, std::chrono::seconds(2));
  EXPECT_EQ(first.workflow_id(), "activation-1");
  EXPECT_EQ(first.priority(), 0);

  // A worker whose ordinary slots are all busy asks with reserved slots only: bulk work does not
  // take them, the next activation does.
  std::vector<v1::LeasedTask> got;
  Lease(engine_, "q", 0, 2, 0, std::chrono::milliseconds(300), &got);
  EXPECT_TRUE(got.empty()) << got.size() << " bulk tasks took reserved slots";
  Start(engine_, "activation-2", "activate");
  Lease(engine_, "q", 0, 2, 0, std::chrono::seconds(2), &got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].workflow_id(), "activation-2");
  // With both kinds of slots, ordinary ones take bulk work as before.
  Start(engine_, "activation-3", "activate");
  Lease(engine_, "q", 2, 1, 0, std::chrono::seconds(2), &got);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(std::count_if(got.begin(), got.end(),
                          [](const auto& t) { return t.workflow_id() == "activation-3"; }),
            1);
}

TEST_F(DispatchTest, ALongPollWithOnlyReservedSlotsIsHandedOnlyUrgentWork) {
  ASSERT_TRUE(Register(engine_, OneStep("settle", "settle", "q", {{"priority", "bulk"}})).ok());
  ASSERT_TRUE(Register(engine_, OneStep("activate", "setpoint", "q", {{"priority", 0}})).ok());
  std::vector<v1::LeasedTask> got;
  std::thread poll([&] { Lease(engine_, "q", 0, 1, 0, std::chrono::seconds(3), &got); });
  ASSERT_TRUE(Eventually([&] { return engine_.engine().waiting_long_polls() == 1; }));
  Start(engine_, "bulk-1", "settle");  // not for this poll
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Start(engine_, "activation-1", "activate");
  poll.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].workflow_id(), "activation-1");
  EXPECT_EQ(db_.Query("SELECT state FROM tasks WHERE workflow_id = 'bulk-1'"), "PENDING");
}

TEST_F(DispatchTest, AnSdkWorkerKeepsItsReservedSlotForUrgentWork) {
  ASSERT_TRUE(Register(engine_, OneStep("settle", "settle", "q", {{"priority", "bulk"}})).ok());
  ASSERT_TRUE(
      Register(engine_, OneStep("activate", "setpoint", "q", {{"priority", "urgent"}})).ok());
  worker::Worker w(ReservingWorker(Millis(1000)));
  std::atomic<bool> release{false};
  std::atomic<int> settling{0};
  std::atomic<bool> activated{false};
  w.Register("settle", [&](worker::TaskContext&) {
    ++settling;
    while (!release)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return worker::TaskOutcome::Success("{}");
  });
  w.Register("setpoint", [&](worker::TaskContext&) {
    activated = true;
    return worker::TaskOutcome::Success("{}");
  });
  std::thread runner([&] { (void)w.Run(); });
  Start(engine_, "bulk-1", "settle");
  ASSERT_TRUE(Eventually([&] { return settling == 1; }));
  Start(engine_, "bulk-2", "settle");  // the ordinary slot is busy: it waits
  Start(engine_, "activation-1", "activate");
  EXPECT_TRUE(Eventually([&] { return activated.load(); }, std::chrono::seconds(5)));
  EXPECT_EQ(settling, 1);
  EXPECT_EQ(db_.Query("SELECT state FROM tasks WHERE workflow_id = 'bulk-2'"), "PENDING");
  release = true;
  EXPECT_EQ(WaitClosed(engine_, "bulk-2").status(), v1::RUN_STATUS_COMPLETED);
  w.Shutdown();
  runner.join();
}

// A claim that fills a worker's ordinary slots but finds nothing for its reserved ones must not
// make the worker's next poll wait for an announcement (or the fallback poll): ordinary work may
// still be queued.
TEST_F(DispatchTest, ReservedSlotsLeftEmptyDoNotHoldBackABulkBacklog) {
  engine::EngineConfig config = FastEngineConfig(db_.url());
  config.dispatch_fallback_poll = Millis(60'000);
  TestEngine e(config);
  ASSERT_TRUE(Register(e, OneStep("settle", "settle", "q", {{"priority", "bulk"}})).ok());
  for (int i = 0; i < 6; ++i)
    Start(e, "bulk-" + std::to_string(i), "settle");
  std::vector<v1::LeasedTask> first, second;
  Lease(e, "q", 2, 1, 0, std::chrono::milliseconds(3000), &first);
  ASSERT_EQ(first.size(), 2u);
  Lease(e, "q", 2, 1, 0, std::chrono::milliseconds(3000), &second);
  EXPECT_EQ(second.size(), 2u);  // claimed at once, not left waiting for the fallback poll
  EXPECT_EQ(db_.Query("SELECT count(*) FROM tasks WHERE state = 'PENDING'"), "2");
}

// With its ordinary slot busy the worker long-polls for its reserved slot alone; once the
// ordinary slot is free again it takes the next bulk task at once, without waiting for that poll
// to end (30 s here) or for urgent work to answer it.
TEST_F(DispatchTest, AnSdkWorkerWithReservedSlotsRunsABulkBacklogWithoutWaitingOutItsPolls) {
  ASSERT_TRUE(Register(engine_, OneStep("settle", "settle", "q", {{"priority", "bulk"}})).ok());
  for (int i = 0; i < 5; ++i)
    Start(engine_, "bulk-" + std::to_string(i), "settle");
  worker::Worker w(ReservingWorker(Millis(30'000)));
  std::atomic<int> settled{0};
  w.Register("settle", [&](worker::TaskContext&) {
    ++settled;
    return worker::TaskOutcome::Success("{}");
  });
  std::thread runner([&] { (void)w.Run(); });
  EXPECT_TRUE(Eventually([&] { return settled == 5; }, std::chrono::seconds(10))) << settled;
  w.Shutdown();
  runner.join();
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE status = 'COMPLETED'"), "5");
}

// One LeaseTasks may ask for at most 100 tasks (ordinary or reserved); a worker with more free
// slots than that must split its asks instead of having every poll refused.
TEST_F(DispatchTest, AnSdkWorkerWithMoreSlotsThanOneLeaseMayTakeRunsItsQueue) {
  ASSERT_TRUE(Register(engine_, OneStep("settle", "settle", "q")).ok());
  for (int i = 0; i < 120; ++i)
    Start(engine_, "settle-" + std::to_string(i), "settle");
  worker::WorkerOptions options;
  options.transport.address = engine_.address();
  options.task_queues = {"q"};
  options.max_concurrent_tasks = 150;
  options.reserved_slots = 150;
  options.poll_wait = Millis(1000);
  worker::Worker w(options);
  std::atomic<int> settled{0};
  w.Register("settle", [&](worker::TaskContext&) {
    ++settled;
    return worker::TaskOutcome::Success("{}");
  });
  std::thread runner([&] { (void)w.Run(); });
  EXPECT_TRUE(Eventually([&] { return settled == 120; }, std::chrono::seconds(20))) << settled;
  EXPECT_EQ(w.stats().poll_errors, 0);
  w.Shutdown();
  runner.join();
  EXPECT_EQ(db_.Query("SELECT count(*) FROM runs WHERE status = 'COMPLETED'"), "120");
}

TEST_F(DispatchTest, TasksOfOneClassGoByDispatchDeadlineThenAge) {
  ASSERT_TRUE(
      Register(engine_, OneStep("bid", "submit", "q", {{"dispatch_by", "$/input/by"}})).ok());
  ASSERT_TRUE(Register(engine_, OneStep("plain", "submit", "q")).ok());
  Start(engine_, "no-deadline", "plain");
  const std::vector<std::pair<std::string, std::string>> runs = {{"d3", "2030-01-01T12:00:00Z"},
                                                                 {"d1", "2030-01-01T10:00:00Z"},
                                                                 {"d4", "2030-01-01T13:00:00Z"},
                                                                 {"d2", "2030-01-01T11:00:00Z"}};
  for (const auto& [id, by] : runs)
    Start(engine_, id, "bid", json{{"by", by}}.dump());
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    const v1::LeasedTask t = Lease(engine_, "q", 1, 0, 0, std::chrono::seconds(2));
    order.push_back(t.workflow_id());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"d1", "d2", "d3", "d4", "no-deadline"}));
  const v1::Event scheduled = WaitForEvent(engine_, "d1", "TaskScheduled");
  EXPECT_EQ(json::parse(scheduled.payload_json())["dispatch_deadline"],
            "2030-01-01T10:00:00.000000Z");
}

TEST_F(DispatchTest, TheRunDeadlineCapsEveryTasksDispatchDeadlineAndFailsTheRun) {
  ASSERT_TRUE(Register(engine_, OneStep("bid", "submit", "q", json::object(),
                                        {{"deadline", "$/input/gate"}}))
                  .ok());
  const std::string gate = FormatRfc3339(std::chrono::time_point_cast<Micros>(
      std::chrono::system_clock::now() + std::chrono::milliseconds(800)));
  Start(engine_, "bid-1", "bid", json{{"gate", gate}}.dump());
  EXPECT_NE(db_.Query("SELECT dispatch_deadline FROM tasks"), "");
  const v1::Run run = WaitClosed(engine_, "bid-1");
  EXPECT_EQ(run.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(run.failure().error_type(), "gridflow.DeadlineExceeded");
  EXPECT_EQ(db_.Query("SELECT state FROM tasks"), "CANCELLED");
}

TEST_F(DispatchTest, AForeachRoutesEachItemToItsOwnQueue) {
  const json def = {{"name", "activation"},
                    {"version", 1},
                    {"steps",
                     {{{"name", "assets"},
                       {"kind", "foreach"},
                       {"items", "$/input/assets"},
                       {"steps",
                        {{{"name", "setpoint"},
                          {"kind", "task"},
                          {"task_type", "setpoint"},
                          {"task_queue", "='asset-' + $/item"},
                          {"priority", "urgent"}}}}}}}};
  ASSERT_TRUE(Register(engine_, def.dump()).ok());
  Start(engine_, "act-1", "activation", R"({"assets": ["a1", "a2", "a3"]})");
  for (const std::string asset : {"a1", "a2", "a3"}) {
    const v1::LeasedTask t = LeaseOne(engine_, "asset-" + asset, "w-" + asset);
    ASSERT_FALSE(t.task_id().empty()) << asset;
    EXPECT_EQ(t.task_queue(), "asset-" + asset);
    CompleteLeased(engine_, t, "{}");
  }
  EXPECT_EQ(WaitClosed(engine_, "act-1").status(), v1::RUN_STATUS_COMPLETED);
  // A queue expression that gives no valid queue name fails the run, naming the field.
  Start(engine_, "act-2", "activation", R"({"assets": ["bad name!"]})");
  const v1::Run bad = WaitClosed(engine_, "act-2");
  EXPECT_EQ(bad.status(), v1::RUN_STATUS_FAILED);
  EXPECT_NE(bad.failure().message().find("task_queue"), std::string::npos);
}

TEST_F(DispatchTest, APausedQueueKeepsItsWorkAndDeadlinesStillFire) {
  const json def = {
      {"name", "bid"},
      {"version", 1},
      {"steps",
       {{{"name", "submit"},
         {"kind", "task"},
         {"task_type", "submit"},
         {"task_queue", "q"},
         {"deadline", "$/input/deadline"},
         {"on_deadline", "fallback"},
         {"next", "done"}},
        {{"name", "fallback"}, {"kind", "task"}, {"task_type", "fallback"}, {"task_queue", "q2"}},
        {{"name", "done"}, {"kind", "succeed"}}}}};
  ASSERT_TRUE(Register(engine_, def.dump()).ok());
  Pause(v1::DISPATCH_SCOPE_QUEUE, "q", "exchange down");
  const auto far = FormatRfc3339(std::chrono::time_point_cast<Micros>(
      std::chrono::system_clock::now() + std::chrono::hours(1)));
  const auto soon = FormatRfc3339(std::chrono::time_point_cast<Micros>(
      std::chrono::system_clock::now() + std::chrono::milliseconds(700)));
  Start(engine_, "held", "bid", json{{"deadline", far}}.dump());
  Start(engine_, "late", "bid", json{{"deadline", soon}}.dump());
  // Nothing of the paused queue is handed out, to a long-poll or a claim.
  EXPECT_TRUE(LeaseOne(engine_, "q", "w", std::chrono::milliseconds(500)).task_id().empty());
  const auto queues = Queues();
  const auto control = Control(queues, "q");
  ASSERT_TRUE(control.has_value());
  EXPECT_TRUE(control->paused());
  EXPECT_EQ(control->paused_reason(), "exchange down");
  // The deadline passes while paused: the run takes its deadline branch (on another queue).
  const v1::LeasedTask fallback = LeaseOne(engine_, "q2", "w", std::chrono::seconds(5));
  ASSERT_FALSE(fallback.task_id().empty());
  EXPECT_EQ(fallback.workflow_id(), "late");
  EXPECT_EQ(db_.Query("SELECT state FROM tasks WHERE workflow_id = 'held'"), "PENDING");
  EXPECT_EQ(db_.Query("SELECT attempt FROM tasks WHERE workflow_id = 'held'"), "1");
  // Resume: the kept work goes.
  Resume(v1::DISPATCH_SCOPE_QUEUE, "q");
  const v1::LeasedTask held = LeaseOne(engine_, "q", "w", std::chrono::seconds(5));
  EXPECT_EQ(held.workflow_id(), "held");
  EXPECT_EQ(held.attempt(), 1);
  EXPECT_FALSE(Control(Queues(), "q").has_value());  // nothing configured any more
}

TEST_F(DispatchTest, APausedTaskTypeIsSkippedWhileOtherTypesOfItsQueueGo) {
  ASSERT_TRUE(Register(engine_, OneStep("a", "venue", "q")).ok());
  ASSERT_TRUE(Register(engine_, OneStep("b", "report", "q")).ok());
  Pause(v1::DISPATCH_SCOPE_TASK_TYPE, "venue", "maintenance");
  Start(engine_, "a-1", "a");
  Start(engine_, "b-1", "b");
  const v1::LeasedTask t = LeaseOne(engine_, "q", "w", std::chrono::seconds(2));
  EXPECT_EQ(t.task_type(), "report");
  EXPECT_TRUE(LeaseOne(engine_, "q", "w", std::chrono::milliseconds(400)).task_id().empty());
  Resume(v1::DISPATCH_SCOPE_TASK_TYPE, "venue");
  EXPECT_EQ(LeaseOne(engine_, "q", "w", std::chrono::seconds(3)).task_type(), "venue");
}

TEST_F(DispatchTest, ARateLimitHoldsAcrossThreeReplicasWithoutSpendingAttempts) {
  TestEngine second(db_.url());
  TestEngine third(db_.url());
  ASSERT_TRUE(Register(engine_, OneStep("nominate", "nominate", "q")).ok());
  constexpr double kRate = 10;
  constexpr int kBurst = 3;
  constexpr int kTasks = 33;
  v1::SetRateLimitRequest limit;
  limit.set_scope(v1::DISPATCH_SCOPE_QUEUE);
  limit.set_name("q");
  limit.set_rate_per_second(kRate);
  limit.set_burst(kBurst);
  v1::DispatchControlResponse response;
  ASSERT_TRUE(cluster().SetRateLimit(Ctx().get(), limit, &response).ok());
  EXPECT_EQ(response.control().burst(), kBurst);
  for (int i = 0; i < kTasks; ++i)
    Start(engine_, "nom-" + std::to_string(i), "nominate");

  std::mutex mu;
  int leased = 0;
  std::atomic<bool> done{false};
  const auto started = Clock::now();
  std::vector<std::thread> workers;
  for (TestEngine* e : {&engine_, &second, &third}) {
    for (int w = 0; w < 2; ++w) {
      workers.emplace_back([&, e] {
        while (!done) {
          std::vector<v1::LeasedTask> got;
          Lease(*e, "q", 5, 0, 0, std::chrono::milliseconds(500), &got);
          std::lock_guard lock(mu);
          for (const auto& t : got) {
            ++leased;
            CompleteLeased(*e, t, "{}");
          }
          if (leased >= kTasks) done = true;
        }
      });
    }
  }
  for (auto& t : workers)
    t.join();
  const double total = std::chrono::duration<double>(Clock::now() - started).count();
  ASSERT_EQ(leased, kTasks);
  // The bucket starts full (burst), then refills at the rate.
  EXPECT_GE(total, (kTasks - kBurst) / kRate - 0.2);
  // The window is checked on the engines' lease times: the moments the pollers saw their answers
  // bunch up on a busy machine (a late answer lands beside the next one).
  std::vector<Clock::time_point> leased_at;
  std::stringstream times(
      db_.Query("SELECT string_agg((extract(epoch FROM leased_at) * 1e6)::bigint::text, ',' "
                "ORDER BY leased_at) FROM tasks"));
  for (std::string micros; std::getline(times, micros, ',');)
    leased_at.push_back(Clock::time_point(std::chrono::microseconds(std::stoll(micros))));
  ASSERT_EQ(static_cast<int>(leased_at.size()), kTasks);
  for (size_t i = 0; i < leased_at.size(); ++i) {
    size_t in_second = 0;
    for (size_t j = i;
         j < leased_at.size() && leased_at[j] - leased_at[i] < std::chrono::seconds(1); ++j) {
      ++in_second;
    }
    EXPECT_LE(in_second, static_cast<size_t>(kRate + kBurst)) << "starting at lease " << i;
  }
  EXPECT_EQ(db_.Query("SELECT max(attempt) FROM tasks"), "1");
}

TEST_F(DispatchTest, ACircuitOpensOnFailuresLetsOneProbeThroughAndClosesOnItsSuccess) {
  ASSERT_TRUE(Register(engine_, OneStep("bid", "venue", "q",
                                        {{"circuit_breaker",
                                          {{"failure_rate", 1.0},
                                           {"min_attempts", 3},
                                           {"window", "1m"},
                                           {"cool_down", "1500ms"}}},
                                         {"retry",
                                          {{"max_attempts", 20},
                                           {"initial_interval", "10ms"},
                                           {"backoff_coefficient", 1.0},
                                           {"jitter", false}}}}))
                  .ok());
  ASSERT_TRUE(Control(Queues(), "venue").has_value());
  for (int i = 0; i < 4; ++i)
    Start(engine_, "bid-" + std::to_string(i), "bid");
  // Three failed attempts open the circuit.
  for (int i = 0; i < 3; ++i) {
    const v1::LeasedTask t = LeaseOne(engine_, "q", "w", std::chrono::seconds(2));
    ASSERT_FALSE(t.task_id().empty());
    v1::FailTaskRequest fail;
    fail.set_task_id(t.task_id());
    fail.set_lease_epoch(t.lease_epoch());
    fail.set_error_type("VenueUnavailable");
    fail.set_message("503");
    v1::FailTaskResponse response;
    ASSERT_TRUE(engine_.workers().FailTask(Ctx().get(), fail, &response).ok());
  }
  const auto open = Control(Queues(), "venue");
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->circuit_breaker().state(), "open");
  // While open, nothing goes and no attempt is spent.
  const std::string attempts = db_.Query("SELECT sum(attempt) FROM tasks");
  EXPECT_TRUE(LeaseOne(engine_, "q", "w", std::chrono::milliseconds(700)).task_id().empty());
  EXPECT_EQ(db_.Query("SELECT sum(attempt) FROM tasks"), attempts);
  // After the cool-down, one probe: only one task is handed out however many are asked for.
  std::vector<v1::LeasedTask> probe;
  ASSERT_TRUE(Eventually([&] {
    Lease(engine_, "q", 10, 0, 0, std::chrono::milliseconds(300), &probe);
    return !probe.empty();
  }));
  ASSERT_EQ(probe.size(), 1u);
  EXPECT_EQ(Control(Queues(), "venue")->circuit_breaker().state(), "half_open");
  CompleteLeased(engine_, probe[0], "{}");
  EXPECT_EQ(Control(Queues(), "venue")->circuit_breaker().state(), "closed");
  // Closed again: the rest go.
  std::vector<v1::LeasedTask> rest;
  Lease(engine_, "q", 10, 0, 0, std::chrono::seconds(2), &rest);
  EXPECT_EQ(rest.size(), 3u);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM dispatch_controls WHERE breaker_state = 'closed'"),
            "1");
}

TEST_F(DispatchTest, AnOperatorConfiguredBreakerIsNotReplacedByADefinition) {
  v1::SetCircuitBreakerRequest request;
  request.set_task_type("venue");
  request.set_min_attempts(50);
  v1::DispatchControlResponse response;
  ASSERT_TRUE(cluster().SetCircuitBreaker(Ctx().get(), request, &response).ok());
  EXPECT_EQ(response.control().circuit_breaker().configured_by(), "operator");
  ASSERT_TRUE(
      Register(engine_, OneStep("bid", "venue", "q", {{"circuit_breaker", {{"min_attempts", 3}}}}))
          .ok());
  EXPECT_EQ(Control(Queues(), "venue")->circuit_breaker().min_attempts(), 50);
  request.set_failure_rate(2);
  EXPECT_EQ(cluster().SetCircuitBreaker(Ctx().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DispatchTest, AnAttemptNobodyStartsInTimeFailsAndIsRetried) {
  ASSERT_TRUE(
      Register(engine_,
               OneStep("bid", "submit", "nobody-polls",
                       {{"timeouts", {{"schedule_to_start", "300ms"}}},
                        {"retry",
                         {{"max_attempts", 2}, {"initial_interval", "50ms"}, {"jitter", false}}}}))
          .ok());
  Start(engine_, "bid-1", "bid");
  const v1::Run run = WaitClosed(engine_, "bid-1");
  EXPECT_EQ(run.status(), v1::RUN_STATUS_FAILED);
  EXPECT_EQ(run.failure().error_type(), "gridflow.ScheduleToStartTimeout");
  const auto types = EventTypes(History(engine_, "bid-1"));
  EXPECT_EQ(std::count(types.begin(), types.end(), "TaskStartTimedOut"), 2);
}

// A task whose answer never reached its worker is given back by the dispatcher's thread; one
// queued after that thread's last pass is given back by Stop(), not left leased until its
// start_to_close expires (an engine stopping in a rolling restart).
TEST_F(DispatchTest, StoppingTheDispatcherReleasesUndeliveredTasksStillQueued) {
  const persistence::TaskRow task = LeaseOneTask("undelivered");
  StandaloneDispatcher dispatcher(db_.runtime_url());
  dispatcher.get().ReleaseUndeliveredLater("w", {task});
  dispatcher.get().Stop();

  EXPECT_EQ(TaskState(task.id), "PENDING");
  const auto types = EventTypes(History(engine_, "order-1"));
  EXPECT_NE(std::find(types.begin(), types.end(), "TaskReleased"), types.end());
}

// A standalone dispatcher (its thread not started: no claim answers its polls) holding a
// long-poll of `max_tasks` on queue "held" of worker "w", and what its polls were answered with.
class HeldPoll {
 public:
  HeldPoll(const std::string& url, int max_tasks) : standalone_(url) { lease_ = Poll(max_tasks); }
  // The worker's next long-poll.
  std::shared_ptr<engine::TaskDispatcher::PendingLease> Poll(int max_tasks) {
    engine::LeaseRequest request;
    request.namespace_name = "default";
    request.queues = {"held"};
    request.max_tasks = max_tasks;
    request.identity = "w";
    request.worker_instance_key = "w-instance";
    auto lease =
        standalone_.get().Prepare(request, Clock::now() + std::chrono::minutes(1),
                                  [this](Status status, std::vector<persistence::TaskRow> tasks) {
                                    std::lock_guard lock(mu_);
                                    ++answers_;
                                    status_ = status;
                                    answered_.clear();
                                    for (const auto& t : tasks)
                                      answered_.push_back(t.id);
                                  });
    standalone_.get().Submit(lease);
    return lease;
  }
  // Waits (up to 5 s) for the `n`-th answer.
  bool AwaitAnswers(int n) {
    for (int i = 0; i < 500 && answers() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return answers() >= n;
  }
  static persistence::NewTask Task(int priority) {
    persistence::NewTask task;
    task.namespace_name = "default";
    task.queue = "held";
    task.task_type = "setpoint";
    task.priority = priority;
    return task;
  }
  static persistence::TaskRow Row(int64_t id) {
    persistence::TaskRow row;
    row.id = id;
    return row;
  }
  engine::TaskDispatcher& dispatcher() { return standalone_.get(); }
  void StartDispatcher() { standalone_.Start(); }
  const std::shared_ptr<engine::TaskDispatcher::PendingLease>& lease() { return lease_; }
  int answers() const {
    std::lock_guard lock(mu_);
    return answers_;
  }
  Status status() const {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::vector<int64_t> answered() const {  // by the last answer
    std::lock_guard lock(mu_);
    return answered_;
  }

 private:
  StandaloneDispatcher standalone_;
  std::shared_ptr<engine::TaskDispatcher::PendingLease> lease_;
  mutable std::mutex mu_;
  int answers_ = 0;
  Status status_;
  std::vector<int64_t> answered_;
};

// The poll, answered with `tasks` (at least one) of its slots, is on its way back to its worker.
void AnswerWith(HeldPoll& held, std::vector<int64_t> tasks) {
  const auto holder = held.dispatcher().Reserve(HeldPoll::Task(kDefaultPriority));
  ASSERT_NE(holder, nullptr);
  for (const int64_t id : tasks)
    holder->tasks.push_back(HeldPoll::Row(id));
  const int before = held.answers();
  held.dispatcher().Deliver(holder);
  ASSERT_EQ(held.answers(), before + 1);
}

// An activation's set-points find the waiting poll held by a transaction of ordinary work (a
// background run's start): they join it rather than wait for a claim after their commit. The
// two share the poll's slots, and it is answered once, with both, when the last has committed.
TEST_F(DispatchTest, AnUrgentTaskJoinsAPollAnotherTransactionHoldsAndBothAreAnsweredTogether) {
  HeldPoll held(db_.runtime_url(), 3);
  engine::TaskDispatcher& d = held.dispatcher();
  const auto ordinary = d.Reserve(HeldPoll::Task(kDefaultPriority));
  ASSERT_NE(ordinary, nullptr);
  EXPECT_EQ(d.Reserve(HeldPoll::Task(kDefaultPriority)), nullptr)
      << "ordinary work joined a poll another transaction holds";
  const auto urgent = d.Reserve(HeldPoll::Task(kUrgentPriority));
  ASSERT_NE(urgent, nullptr) << "the urgent task did not join the held poll";
  EXPECT_TRUE(d.Take(*urgent, HeldPoll::Task(kUrgentPriority)));
  EXPECT_FALSE(d.Take(*urgent, HeldPoll::Task(kUrgentPriority))) << "more than the poll's 3 slots";
  EXPECT_FALSE(d.Take(*ordinary, HeldPoll::Task(kDefaultPriority)));

  urgent->tasks = {HeldPoll::Row(11), HeldPoll::Row(12)};
  d.Deliver(urgent);
  EXPECT_EQ(held.answers(), 0) << "answered while another transaction still held the poll";
  ordinary->tasks = {HeldPoll::Row(10)};
  d.Deliver(ordinary);
  ASSERT_EQ(held.answers(), 1);
  EXPECT_TRUE(held.status().ok());
  const std::vector<int64_t> answered = held.answered();
  EXPECT_EQ(std::set<int64_t>(answered.begin(), answered.end()), (std::set<int64_t>{10, 11, 12}));
}

// A holder that did not commit gives its slots back; with nothing from any holder the poll
// waits on, whole, for the next transaction.
TEST_F(DispatchTest, AHolderThatDidNotCommitGivesItsSlotsBack) {
  HeldPoll held(db_.runtime_url(), 2);
  engine::TaskDispatcher& d = held.dispatcher();
  const auto first = d.Reserve(HeldPoll::Task(kDefaultPriority));
  ASSERT_NE(first, nullptr);
  const auto urgent = d.Reserve(HeldPoll::Task(kUrgentPriority));
  ASSERT_NE(urgent, nullptr);
  EXPECT_EQ(d.Reserve(HeldPoll::Task(kUrgentPriority)), nullptr) << "both slots are taken";
  d.Deliver(urgent);  // rolled back: no tasks
  d.Deliver(first);
  EXPECT_EQ(held.answers(), 0) << "a poll answered with nothing to give";
  const auto next = d.Reserve(HeldPoll::Task(kDefaultPriority));
  ASSERT_NE(next, nullptr) << "the poll did not wait on";
  EXPECT_TRUE(d.Take(*next, HeldPoll::Task(kDefaultPriority))) << "its two slots did not come back";
  next->tasks = {HeldPoll::Row(20), HeldPoll::Row(21)};
  d.Deliver(next);
  EXPECT_EQ(held.answered(), (std::vector<int64_t>{20, 21}));
}

// A poll cancelled (its worker went away) after one holder committed: that holder's tasks,
// leased to the worker, are given back rather than left leased until they expire.
TEST_F(DispatchTest, TasksOfAHolderThatCommittedGoBackWhenTheHeldPollIsCancelled) {
  const persistence::TaskRow task = LeaseOneTask("cancelled");
  {
    HeldPoll held(db_.runtime_url(), 2);
    engine::TaskDispatcher& d = held.dispatcher();
    const auto first = d.Reserve(HeldPoll::Task(kDefaultPriority));
    const auto urgent = d.Reserve(HeldPoll::Task(kUrgentPriority));
    ASSERT_NE(first, nullptr);
    ASSERT_NE(urgent, nullptr);
    urgent->tasks = {task};
    d.Deliver(urgent);  // committed; the other still holds the poll
    d.Cancel(held.lease());
    EXPECT_EQ(held.status().code(), StatusCode::kCancelled);
    EXPECT_TRUE(held.answered().empty());
    d.Deliver(first);  // rolled back
  }                    // ~HeldPoll: Stop() gives back what is queued for release
  EXPECT_EQ(TaskState(task.id), "PENDING");
}

// An activation's set-points committed while the worker's poll was on its way back (answered
// with slots to spare, its next poll not here yet): leased to that worker in their transaction,
// they answer its next poll at once instead of waiting in the queue for a claim.
TEST_F(DispatchTest, AnUrgentTaskFindingTheWorkersPollInTransitAnswersItsNextPoll) {
  HeldPoll held(db_.runtime_url(), 3);
  engine::TaskDispatcher& d = held.dispatcher();
  AnswerWith(held, {10});  // one of its three slots
  EXPECT_EQ(d.Reserve(HeldPoll::Task(kDefaultPriority)), nullptr)
      << "ordinary work was handed to a poll in transit";
  const auto urgent = d.Reserve(HeldPoll::Task(kUrgentPriority));
  ASSERT_NE(urgent, nullptr) << "the urgent task was not handed to the worker's next poll";
  EXPECT_EQ(urgent->identity, "w");
  EXPECT_TRUE(d.Take(*urgent, HeldPoll::Task(kUrgentPriority)));
  EXPECT_FALSE(d.Take(*urgent, HeldPoll::Task(kUrgentPriority)))
      << "more than the two slots the answer left free";
  urgent->tasks = {HeldPoll::Row(11), HeldPoll::Row(12)};
  d.Deliver(urgent);

  held.Poll(1);  // the worker's slots filled meanwhile: it asks for one
  held.StartDispatcher();
  ASSERT_TRUE(held.AwaitAnswers(2)) << "the next poll was not answered with the hand-off";
  EXPECT_EQ(held.answered(), (std::vector<int64_t>{11})) << "more tasks than the poll asked for";
  held.Poll(3);
  ASSERT_TRUE(held.AwaitAnswers(3));
  EXPECT_EQ(held.answered(), (std::vector<int64_t>{12}));
}

// The worker's next poll arrived before the hand-off's transaction committed: it is answered on
// the commit. A worker that stopped polling is handed nothing.
TEST_F(DispatchTest, AHandOffCommittedAfterTheNextPollArrivedAnswersIt) {
  HeldPoll held(db_.runtime_url(), 2);
  engine::TaskDispatcher& d = held.dispatcher();
  AnswerWith(held, {10});  // one of its two slots
  const auto urgent = d.Reserve(HeldPoll::Task(kUrgentPriority));
  ASSERT_NE(urgent, nullptr);
  held.StartDispatcher();
  held.Poll(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // its claim found nothing
  EXPECT_EQ(held.answers(), 1);
  urgent->tasks = {HeldPoll::Row(13)};
  d.Deliver(urgent);
  ASSERT_TRUE(held.AwaitAnswers(2));
  EXPECT_EQ(held.answered(), (std::vector<int64_t>{13}));

  EXPECT_EQ(d.StopPolling("default", "w-instance"), 0);
  EXPECT_EQ(d.Reserve(HeldPoll::Task(kUrgentPriority)), nullptr)
      << "a hand-off to a worker that stopped polling";
}

// Handed to a worker whose next poll never came (it died, or its slots filled meanwhile): the
// task goes back to its queue within the hand-off window, not when its lease expires.
TEST_F(DispatchTest, ATaskHandedToAWorkerThatDoesNotPollAgainGoesBackToItsQueue) {
  const persistence::TaskRow task = LeaseOneTask("in-transit");
  HeldPoll held(db_.runtime_url(), 2);
  engine::TaskDispatcher& d = held.dispatcher();
  AnswerWith(held, {10});  // one of its two slots
  const auto urgent = d.Reserve(HeldPoll::Task(kUrgentPriority));
  ASSERT_NE(urgent, nullptr);
  urgent->tasks = {task};
  d.Deliver(urgent);
  held.StartDispatcher();
  for (int i = 0; i < 300 && TaskState(task.id) != "PENDING"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(TaskState(task.id), "PENDING") << "still leased to the worker that did not poll";
  EXPECT_EQ(held.answers(), 1);
}

// A hand-off whose transaction commits after the dispatcher stopped (a replica shutting down)
// goes back at once: no thread is left to wait for the worker's next poll.
TEST_F(DispatchTest, AHandOffCommittedAfterTheDispatcherStoppedGoesBackToItsQueue) {
  const persistence::TaskRow task = LeaseOneTask("stopped");
  HeldPoll held(db_.runtime_url(), 2);
  engine::TaskDispatcher& d = held.dispatcher();
  AnswerWith(held, {10});
  const auto urgent = d.Reserve(HeldPoll::Task(kUrgentPriority));
  ASSERT_NE(urgent, nullptr);
  d.Stop();
  urgent->tasks = {task};
  d.Deliver(urgent);
  EXPECT_EQ(TaskState(task.id), "PENDING");
}

TEST_F(DispatchTest, AWaitingBulkTaskAgesAboveNormalWork) {
  engine::EngineConfig config = FastEngineConfig(db_.url());
  config.priority_ageing = Millis(300);
  config.dispatch_upkeep_interval = Millis(100);
  TestEngine ageing(config);
  ASSERT_TRUE(Register(ageing, OneStep("settle", "settle", "q", {{"priority", "bulk"}})).ok());
  ASSERT_TRUE(Register(ageing, OneStep("trade", "trade", "q")).ok());
  Start(ageing, "old-bulk", "settle");
  // 4 (bulk) lifted one class per 300 ms waited, never above 1 (high).
  ASSERT_TRUE(Eventually([&] { return db_.Query("SELECT priority FROM tasks") == "1"; },
                         std::chrono::seconds(10)));
  Start(ageing, "fresh-normal", "trade");
  EXPECT_EQ(LeaseOne(ageing, "q", "w").workflow_id(), "old-bulk");
  EXPECT_EQ(db_.Query("SELECT base_priority FROM tasks WHERE workflow_id = 'old-bulk'"), "4");
}

TEST_F(DispatchTest, AgeingLiftsABacklogInBoundedPassesOneReplicaAtATime) {
  ASSERT_TRUE(Register(engine_, OneStep("settle", "settle", "q", {{"priority", "bulk"}})).ok());
  for (const char* id : {"bulk-1", "bulk-2", "bulk-3"})
    Start(engine_, id, "settle");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto lifted = [&] { return db_.Query("SELECT count(*) FROM tasks WHERE priority < 4"); };
  pqxx::connection first(db_.url());
  pqxx::connection second(db_.url());
  persistence::PrepareStatements(first);
  persistence::PrepareStatements(second);
  pqxx::work pass(first);
  // At most `limit` per pass, the longest waiting first.
  EXPECT_EQ(persistence::AgePriorities(pass, Millis(1), 2), 2);
  {
    // Another replica's pass while this one is under way finds the lock taken and does nothing.
    pqxx::work concurrent(second);
    EXPECT_EQ(persistence::AgePriorities(concurrent, Millis(1), 2), 0);
    concurrent.commit();
  }
  pass.commit();
  EXPECT_EQ(lifted(), "2");
  EXPECT_EQ(db_.Query("SELECT workflow_id FROM tasks WHERE priority = 4"), "bulk-3");
  pqxx::work next(second);
  EXPECT_EQ(persistence::AgePriorities(next, Millis(1), 2), 1);
  next.commit();
  EXPECT_EQ(lifted(), "3");
}

TEST_F(DispatchTest, BadDispatchRequestsAreRejectedNamingTheField) {
  v1::PauseDispatchRequest pause;
  pause.set_name("q");
  v1::DispatchControlResponse response;
  grpc::Status s = cluster().PauseDispatch(Ctx().get(), pause, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("scope"), std::string::npos);
  v1::SetRateLimitRequest limit;
  limit.set_scope(v1::DISPATCH_SCOPE_QUEUE);
  limit.set_name("q");
  limit.set_rate_per_second(-1);
  s = cluster().SetRateLimit(Ctx().get(), limit, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("rate_per_second"), std::string::npos);
  v1::LeaseTasksRequest lease;
  lease.add_task_queues("q");
  lease.set_reserved_priority(7);
  v1::LeaseTasksResponse leased;
  s = engine_.workers().LeaseTasks(Ctx().get(), lease, &leased);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("reserved_priority"), std::string::npos);
  EXPECT_EQ(db_.Query("SELECT count(*) FROM dispatch_controls"), "0");
  // A definition's bad priority is refused at registration.
  const grpc::Status bad = Register(engine_, OneStep("x", "t", "q", {{"priority", "asap"}}));
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("priority"), std::string::npos);
}

}  // namespace
}  // namespace gridflow::testing
