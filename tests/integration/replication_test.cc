// Several engine replicas on one PostgreSQL: membership, cross-replica wake-ups through
// LISTEN/NOTIFY, and background loops that cooperate without doing any work twice.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include <pqxx/pqxx>

#include "gridflow/v1/cluster_service.grpc.pb.h"
#include "persistence/migrations.h"
#include "tests/integration/test_env.h"

namespace gridflow::testing {
namespace {

using nlohmann::json;
using worker::TaskContext;
using worker::TaskOutcome;

v1::GetClusterStatusResponse ClusterStatus(TestEngine& engine) {
  auto stub = v1::ClusterService::NewStub(engine.channel());
  v1::GetClusterStatusRequest request;
  v1::GetClusterStatusResponse response;
  const grpc::Status s = stub->GetClusterStatus(Ctx().get(), request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response;
}

engine::EngineConfig SlowPollConfig(const std::string& url) {
  engine::EngineConfig config = FastEngineConfig(url);
  config.dispatch_fallback_poll = Millis(30'000);  // only a notification can wake a long-poll
  config.membership_heartbeat = Millis(200);
  return config;
}

// InProcessOptions given both replicas' addresses.
worker::WorkerOptions BothReplicasWorker(TestEngine& a, TestEngine& b, const std::string& identity,
                                         int slots) {
  worker::WorkerOptions options = InProcessOptions(a, identity, slots);
  options.transport.address = "ipv4:" + a.address() + "," + b.address();
  return options;
}

TEST(Replication, ClusterStatusReportsEveryReplicaAndTheDeadOnes) {
  TestDatabase db;
  TestEngine a(SlowPollConfig(db.url()));
  auto b = std::make_unique<TestEngine>(SlowPollConfig(db.url()));
  v1::GetClusterStatusResponse status = ClusterStatus(a);
  EXPECT_TRUE(status.database_reachable());
  EXPECT_EQ(status.schema_version(), persistence::EmbeddedMigrations().back().version);
  ASSERT_EQ(status.members_size(), 2);
  for (const auto& m : status.members())
    EXPECT_TRUE(m.alive()) << m.member_id();

  // A replica that stopped cleanly, and one whose process vanished (its heartbeat is old).
  b.reset();
  db.Query(
      "INSERT INTO members (id, address, hostname, pid, version, heartbeat_at) VALUES "
      "('ghost', '10.0.0.9:7233', 'gone', 1, '0.1.0', now() - interval '1 hour')");
  status = ClusterStatus(a);
  ASSERT_EQ(status.members_size(), 3);
  int alive = 0, stopped = 0, dead = 0;
  for (const auto& m : status.members()) {
    if (m.has_stop_time()) {
      ++stopped;
    } else if (m.alive()) {
      ++alive;
    } else {
      ++dead;
      EXPECT_EQ(m.member_id(), "ghost");
      EXPECT_GT(m.heartbeat_age().seconds(), 3500);
    }
  }
  EXPECT_EQ(alive, 1);
  EXPECT_EQ(stopped, 1);
  EXPECT_EQ(dead, 1);

  std::string out, err;
  ASSERT_EQ(RunCommand({CtlBinary(), "--address", a.address(), "cluster", "status"}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("1 of 3 replicas alive"), std::string::npos) << out;
  EXPECT_NE(out.find("dead"), std::string::npos) << out;
}

// Starts runs on each of `engines` in turn, every few milliseconds, until destroyed: replicas
// applying calls.
class StartLoad {
 public:
  explicit StartLoad(std::vector<TestEngine*> engines) {
    thread_ = std::thread([this, engines] {
      for (int i = 0; !stop_; ++i) {
        Start(*engines[i % engines.size()], "load-" + std::to_string(i), "share");
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  ~StartLoad() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(Replication, ReplicasApplyingCallsShareTheGroupCommitTransactions) {
  TestDatabase db;
  engine::EngineConfig config = SlowPollConfig(db.url());  // heartbeats every 200 ms
  config.commit_threads = 3;
  config.cluster_commit_threads = 4;
  TestEngine a(config);
  ASSERT_TRUE(Register(a, SequenceDefinition("share", {{"s1", "t"}, {"s2", "t"}})).ok());
  auto b = std::make_unique<TestEngine>(config);
  const auto shares = [&] {
    return std::to_string(a.engine().commit_concurrency()) + " " +
           std::to_string(b->engine().commit_concurrency());
  };
  // Idle replicas hold no share: each may run all its threads (4 shared by one; at most 3).
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(shares(), "3 3");
  // A replica whose heartbeat stopped long ago shares nothing, busy or not.
  db.Query(
      "INSERT INTO members (id, address, hostname, pid, version, heartbeat_at, busy) VALUES "
      "('ghost', '10.0.0.9:7233', 'gone', 1, '0.1.0', now() - interval '1 hour', true)");
  {
    StartLoad load({&a, b.get()});
    EXPECT_TRUE(Eventually([&] { return shares() == "2 2"; })) << shares();
  }
  auto c = std::make_unique<TestEngine>(config);
  {
    StartLoad load({&a, b.get(), c.get()});
    EXPECT_TRUE(Eventually([&] {
      return shares() == "1 1" && c->engine().commit_concurrency() == 1;
    })) << "4 / 3, rounded down: "
        << shares();
    // Work still flows with one transaction in flight per replica.
    InProcessWorker worker(*c, "share-worker",
                           {{"t", [](TaskContext&) { return TaskOutcome::Success("{}"); }}}, 4);
    for (int i = 0; i < 6; ++i)
      Start(i % 2 == 0 ? a : *b, "share-" + std::to_string(i), "share");
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(WaitClosed(a, "share-" + std::to_string(i)).status(), v1::RUN_STATUS_COMPLETED);
  }
  // Load gone, replicas stopped: the one left takes all its threads again.
  b.reset();
  c.reset();
  EXPECT_TRUE(Eventually([&] { return a.engine().commit_concurrency() == 3; }))
      << a.engine().commit_concurrency();
}

// Records the member ids announced on the member channel.
class Announcements final : public pqxx::notification_receiver {
 public:
  Announcements(pqxx::connection& c, std::vector<std::string>* out)
      : pqxx::notification_receiver(c, "gridflow_members"), out_(out) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    out_->push_back(payload);
  }

 private:
  std::vector<std::string>* out_;
};

// A step from idle to load (gate closure) must not run every replica with a lone replica's
// threads until heartbeats catch up: a replica turning busy beats at once and announces it, and
// the others recount. Heartbeats here are a minute apart, so only the announcements can work.
TEST(Replication, ReplicasShareTheCommitThreadsFromTheFirstCallsOfALoadStep) {
  TestDatabase db;
  engine::EngineConfig config = SlowPollConfig(db.url());
  config.commit_threads = 2;
  config.cluster_commit_threads = 2;
  config.membership_heartbeat = Millis(60'000);
  TestEngine a(config);
  ASSERT_TRUE(Register(a, SequenceDefinition("share", {{"s1", "t"}})).ok());
  auto b = std::make_unique<TestEngine>(config);
  const auto shares = [&] {
    return std::to_string(a.engine().commit_concurrency()) + " " +
           std::to_string(b->engine().commit_concurrency());
  };
  pqxx::connection listener(db.url());
  std::vector<std::string> announced;
  Announcements receiver(listener, &announced);
  listener.get_notifs();
  EXPECT_EQ(shares(), "2 2");
  {
    StartLoad load({&a, b.get()});
    EXPECT_TRUE(Eventually([&] { return shares() == "1 1"; }, std::chrono::seconds(5))) << shares();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  listener.get_notifs();
  // Each replica announced turning busy once, and nothing more while busy.
  EXPECT_EQ(announced.size(), 2u);
  // A busy replica that stops announces it: the one left takes its threads back at once.
  b.reset();
  EXPECT_TRUE(
      Eventually([&] { return a.engine().commit_concurrency() == 2; }, std::chrono::seconds(5)))
      << a.engine().commit_concurrency();
}

TEST(Replication, AtLightLoadACallIsNotHeldBehindTheShare) {
  TestDatabase db;
  engine::EngineConfig config = SlowPollConfig(db.url());
  config.commit_threads = 2;
  config.cluster_commit_threads = 1;  // a busy replica's share: one transaction in flight
  // The share is set at heartbeats; slow ones keep it at one for the whole check below (a replica
  // whose only batch is stuck would count as idle at the second heartbeat after it began).
  config.membership_heartbeat = Millis(2000);
  TestEngine a(config);
  ASSERT_TRUE(Register(a, SequenceDefinition("share", {{"s1", "t"}})).ok());
  {
    StartLoad load({&a});
    ASSERT_TRUE(Eventually([&] { return a.engine().commit_concurrency() == 1; }));
  }
  // Each start alone in its batch, as at light load.
  for (int i = 0; i < 10; ++i)
    Start(a, "alone-" + std::to_string(i), "share");

  // History appends wait behind a lock held here: a start gets as far as its writes and stays.
  pqxx::connection holder(db.url());
  pqxx::work lock(holder);
  lock.exec("LOCK TABLE events IN SHARE MODE");
  const auto waiting = [&] {
    return db.Query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND application_name LIKE 'gridflow%'");
  };
  std::thread first([&] { Start(a, "first", "share"); });
  EXPECT_TRUE(Eventually([&] { return waiting() == "1"; })) << waiting();
  // The share is in flight, but a batch of one call gains nothing by waiting for company: the
  // next call takes the second thread instead of queueing behind a transaction it cannot join.
  std::thread second([&] { Start(a, "second", "share"); });
  EXPECT_TRUE(Eventually([&] { return waiting() == "2"; }, std::chrono::milliseconds(1500)))
      << waiting();
  EXPECT_EQ(a.engine().commit_concurrency(), 1);
  lock.abort();
  first.join();
  second.join();
  EXPECT_EQ(GetRun(a, "first").status(), v1::RUN_STATUS_RUNNING);
  EXPECT_EQ(GetRun(a, "second").status(), v1::RUN_STATUS_RUNNING);
}

TEST(Replication, ByDefaultBusyReplicasShareAsManyAsOneReplicaRuns) {
  TestDatabase db;
  engine::EngineConfig config = SlowPollConfig(db.url());
  config.commit_threads = 4;  // --cluster-commit-threads left at its default: 4 as well
  TestEngine a(config);
  ASSERT_TRUE(Register(a, SequenceDefinition("share", {{"s1", "t"}})).ok());
  TestEngine b(config);
  StartLoad load({&a, &b});
  EXPECT_TRUE(Eventually([&] {
    return a.engine().commit_concurrency() == 2 && b.engine().commit_concurrency() == 2;
  })) << a.engine().commit_concurrency()
      << " " << b.engine().commit_concurrency();
}

TEST(Replication, WithoutSharingEachReplicaRunsItsCommitThreads) {
  TestDatabase db;
  engine::EngineConfig config = SlowPollConfig(db.url());
  config.cluster_commit_threads = 0;
  TestEngine a(config);
  TestEngine b(config);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // three heartbeats
  EXPECT_EQ(a.engine().commit_concurrency(), config.commit_threads);
  EXPECT_EQ(b.engine().commit_concurrency(), config.commit_threads);
}

TEST(Replication, WorkStartedOnOneReplicaWakesAWorkerWaitingOnAnother) {
  TestDatabase db;
  TestEngine a(SlowPollConfig(db.url()));
  TestEngine b(SlowPollConfig(db.url()));
  ASSERT_TRUE(Register(a, SequenceDefinition("wake", {{"s", "t"}})).ok());
  // With a 30 s fallback poll only a notification can wake the waiting request.
  ASSERT_TRUE(Eventually([&] { return a.engine().listening() && b.engine().listening(); }));
  v1::LeasedTask task;
  std::thread poller([&] { task = LeaseOne(b, "q", "worker-on-b", std::chrono::seconds(20)); });
  ASSERT_TRUE(Eventually([&] { return b.engine().waiting_long_polls() == 1; }));
  const auto started = std::chrono::steady_clock::now();
  Start(a, "cross-1", "wake");
  poller.join();
  ASSERT_FALSE(task.task_id().empty());
  const auto latency = std::chrono::steady_clock::now() - started;
  EXPECT_LT(latency, std::chrono::seconds(2)) << "woken by a notification, not a poll";
}

// A poll whose queue a claim just found empty waits without claiming again (docs/dispatch.md):
// work announced afterwards — while no poll waits, and while the next one waits — still reaches
// it at once, from this replica or another.
TEST(Replication, APollAfterAnEmptyClaimStillGetsWorkAnnouncedAfterIt) {
  TestDatabase db;
  TestEngine a(SlowPollConfig(db.url()));
  TestEngine b(SlowPollConfig(db.url()));
  ASSERT_TRUE(Register(a, SequenceDefinition("known-empty", {{"s", "t"}})).ok());
  ASSERT_TRUE(Eventually([&] { return a.engine().listening() && b.engine().listening(); }));
  const auto timed_lease = [&](TestEngine& engine, std::chrono::milliseconds wait,
                               std::chrono::steady_clock::duration* took) {
    const auto begin = std::chrono::steady_clock::now();
    v1::LeasedTask task = LeaseOne(engine, "q", "w", wait);
    *took = std::chrono::steady_clock::now() - begin;
    return task;
  };
  std::chrono::steady_clock::duration took{};
  for (TestEngine* engine : {&a, &b}) {  // both replicas learn that "q" is empty
    EXPECT_TRUE(timed_lease(*engine, std::chrono::milliseconds(300), &took).task_id().empty());
  }

  // Announced while no poll waits, by each replica: the next poll on the other replica claims.
  Start(a, "after-empty-1", "known-empty");
  v1::LeasedTask task = timed_lease(b, std::chrono::milliseconds(20'000), &took);
  EXPECT_EQ(task.workflow_id(), "after-empty-1");
  EXPECT_LT(took, std::chrono::seconds(2)) << "claimed when it came, not at the fallback poll";
  EXPECT_TRUE(timed_lease(a, std::chrono::milliseconds(300), &took).task_id().empty());
  Start(b, "after-empty-2", "known-empty");
  task = timed_lease(a, std::chrono::milliseconds(20'000), &took);
  EXPECT_EQ(task.workflow_id(), "after-empty-2");
  EXPECT_LT(took, std::chrono::seconds(2)) << "claimed when it came, not at the fallback poll";

  // Announced while a poll that skipped its claim waits.
  EXPECT_TRUE(timed_lease(b, std::chrono::milliseconds(300), &took).task_id().empty());
  std::thread poller([&] { task = timed_lease(b, std::chrono::milliseconds(20'000), &took); });
  ASSERT_TRUE(Eventually([&] { return b.engine().waiting_long_polls() == 1; }));
  Start(a, "after-empty-3", "known-empty");
  poller.join();
  EXPECT_EQ(task.workflow_id(), "after-empty-3");
  EXPECT_LT(took, std::chrono::seconds(2)) << "woken by the notification";
}

TEST(Replication, ExpiredLeasesAndDueTimersAreHandledOnceAcrossReplicas) {
  TestDatabase db;
  std::vector<std::unique_ptr<TestEngine>> replicas;
  for (int i = 0; i < 3; ++i)
    replicas.push_back(std::make_unique<TestEngine>(db.url()));
  TestEngine& a = *replicas[0];
  ASSERT_TRUE(
      Register(a, SequenceDefinition("once", {{"s", "t"}},
                                     R"({"timeouts": {"start_to_close": "1m", "heartbeat": "300ms"},
                                                 "retry": {"initial_interval": "10ms"}})"))
          .ok());
  ASSERT_TRUE(Register(a, R"({"name": "tick", "version": 1, "steps": [
      {"name": "wait", "kind": "timer", "duration": "1h"}, {"name": "done", "kind": "succeed"}]})")
                  .ok());
  for (int i = 0; i < 10; ++i) {
    Start(a, "lease-" + std::to_string(i), "once");
    Start(a, "timer-" + std::to_string(i), "tick");
  }
  for (int i = 0; i < 10; ++i)
    LeaseOne(a, "q", "abandoning-worker");  // and never heartbeat
  for (auto& r : replicas)
    r->SetClockOffset(Millis(3'600'000 + 60'000));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(WaitClosed(a, "timer-" + std::to_string(i)).status(), v1::RUN_STATUS_COMPLETED);
  }
  // Every abandoned lease expired exactly once: once no task is leased any more, no replica can
  // expire one again, so the count is final.
  ASSERT_TRUE(Eventually(
      [&] { return db.Query("SELECT count(*) FROM tasks WHERE state = 'LEASED'") == "0"; }));
  EXPECT_EQ(db.Query("SELECT count(*) FROM events WHERE type = 'TaskLeaseExpired'"), "10");
  EXPECT_EQ(db.Query("SELECT count(*) FROM events WHERE type = 'TimerFired'"), "10");
  EXPECT_EQ(db.Query("SELECT max(c) FROM (SELECT count(*) c FROM events WHERE type = "
                     "'TaskLeaseExpired' GROUP BY task_id) t"),
            "1");
}

// A worker given every replica's address holds a long-poll on each (a run started on either is
// handed to a poll waiting there), and its polls together never take more tasks than its slots.
TEST(Replication, AWorkerHoldsALongPollOnEveryReplicaWithinItsSlots) {
  TestDatabase db;
  TestEngine a(SlowPollConfig(db.url()));
  TestEngine b(SlowPollConfig(db.url()));
  ASSERT_TRUE(Register(a, SequenceDefinition("spread", {{"s", "t"}})).ok());
  worker::Worker w(BothReplicasWorker(a, b, "spread-worker", 3));
  std::atomic<int> running{0}, most{0};
  std::atomic<bool> release{false};
  w.Register("t", [&](TaskContext&) {
    const int now = ++running;
    for (int seen = most; now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    while (!release)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    --running;
    return TaskOutcome::Success("{}");
  });
  // Work queued on both replicas before the worker starts: its first polls claim at once.
  for (int i = 0; i < 8; ++i)
    Start(i % 2 == 0 ? a : b, "spread-" + std::to_string(i), "spread");
  std::thread runner([&] { EXPECT_TRUE(w.Run().ok()); });
  EXPECT_TRUE(Eventually([&] { return running == 3; })) << running;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // room for a poll to overreach
  EXPECT_EQ(most, 3);
  // Leased, not only running: a task leased beyond the slots would wait for an executor.
  EXPECT_EQ(db.Query("SELECT count(*) FROM tasks WHERE state = 'LEASED'"), "3");
  release = true;
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(WaitClosed(a, "spread-" + std::to_string(i)).status(), v1::RUN_STATUS_COMPLETED);
  // Nothing left to do: a poll waits on each replica.
  EXPECT_TRUE(Eventually([&] {
    return a.engine().waiting_long_polls() == 1 && b.engine().waiting_long_polls() == 1;
  })) << a.engine().waiting_long_polls()
      << " " << b.engine().waiting_long_polls();
  w.Shutdown();
  runner.join();
  EXPECT_EQ(w.stats().completed, 8);
}

// A worker sends a task's completion to the replica that handed the task over (a poll's there, or
// the completion's there that brought it as the run's next task), not round-robin: the run's next
// transition joins the group commit its last one ran in. Each replica completes exactly the tasks
// it leased.
TEST(Replication, ACompletionGoesToTheReplicaThatHandedTheTaskOver) {
  TestDatabase db;
  const auto config = [&] {
    engine::EngineConfig c = SlowPollConfig(db.url());
    c.metrics_listen = "127.0.0.1:0";
    return c;
  };
  TestEngine a(config());
  TestEngine b(config());
  ASSERT_TRUE(
      Register(a, SequenceDefinition("affine", {{"s1", "t"}, {"s2", "t"}, {"s3", "t"}})).ok());
  worker::Worker w(BothReplicasWorker(a, b, "affine-worker", 4));
  w.Register("t", [](TaskContext&) { return TaskOutcome::Success("{}"); });
  std::thread runner([&] { EXPECT_TRUE(w.Run().ok()); });
  for (int i = 0; i < 20; ++i)
    Start(i % 2 == 0 ? a : b, "affine-" + std::to_string(i), "affine");
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(WaitClosed(a, "affine-" + std::to_string(i)).status(), v1::RUN_STATUS_COMPLETED);
  w.Shutdown();
  runner.join();
  EXPECT_EQ(w.stats().completed, 60);
  const std::map<std::string, std::string> tasks = {{"queue", "q"}, {"task_type", "t"}};
  const std::map<std::string, std::string> completions = {
      {"method", "/gridflow.v1.WorkerService/CompleteTask"}, {"code", "0"}};
  double leased_in_all = 0;
  for (TestEngine* e : {&a, &b}) {
    double leased = 0, completed = 0;
    // The last answer is counted just after it was sent.
    EXPECT_TRUE(Eventually([&] {
      const std::string text = HttpGet(e->engine().metrics_port(), "/metrics");
      leased = Sample(text, "gridflow_tasks_leased_total", tasks);
      completed = Sample(text, "gridflow_rpcs_total", completions);
      return leased > 0 && completed == leased;
    })) << e->address()
        << ": leased " << leased << ", completed " << completed;
    leased_in_all += leased;
  }
  EXPECT_EQ(leased_in_all, 60);
}

// A stopping worker asks every replica at once to end its polls: replicas that never answer (here
// listening sockets nobody serves: the connection is made, the HTTP/2 handshake never comes) cost
// the stop one StopPolling timeout (2 s) in all, not one each.
TEST(Replication, AWorkerStopsWithinOneTimeoutWhenSeveralReplicasDoNotAnswer) {
  TestDatabase db;
  TestEngine serving(db.url());
  std::vector<int> silent;
  std::string targets = "ipv4:" + serving.address();
  for (int i = 0; i < 3; ++i) {
    const int fd = BindLoopback(0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(listen(fd, 16), 0);
    silent.push_back(fd);
    targets += ",127.0.0.1:" + std::to_string(BoundPort(fd));
  }
  worker::WorkerOptions options;
  options.transport.address = targets;
  options.task_queues = {"q"};
  options.identity = "leaving-worker";
  options.max_concurrent_tasks = 4;  // a poll on each of the four
  options.poll_wait = Millis(30'000);
  worker::Worker w(options);
  w.Register("t", [](TaskContext&) { return TaskOutcome::Success("{}"); });
  std::thread runner([&] { EXPECT_TRUE(w.Run().ok()); });
  ASSERT_TRUE(Eventually([&] { return serving.engine().waiting_long_polls() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the silent ones' polls are sent
  const auto stopping = std::chrono::steady_clock::now();
  w.Shutdown();
  runner.join();
  const auto took = std::chrono::steady_clock::now() - stopping;
  EXPECT_LT(took, std::chrono::milliseconds(4000))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_EQ(serving.engine().waiting_long_polls(), 0);
  for (const int fd : silent)
    close(fd);
}

TEST(Replication, DrainingReplicaAnswersWaitingPollsAndTheOthersCarryOn) {
  TestDatabase db;
  TestEngine survivor(SlowPollConfig(db.url()));
  auto leaving = std::make_unique<TestEngine>(SlowPollConfig(db.url()));
  ASSERT_TRUE(Register(survivor, SequenceDefinition("d", {{"s", "t"}})).ok());
  grpc::Status poll_status;
  v1::LeaseTasksResponse polled;
  std::chrono::steady_clock::duration waited{};
  std::thread poller([&] {
    v1::LeaseTasksRequest request;
    request.add_task_queues("q");
    request.mutable_wait()->set_seconds(30);
    const auto start = std::chrono::steady_clock::now();
    poll_status =
        leaving->workers().LeaseTasks(Ctx(std::chrono::seconds(40)).get(), request, &polled);
    waited = std::chrono::steady_clock::now() - start;
  });
  ASSERT_TRUE(Eventually([&] { return leaving->engine().waiting_long_polls() == 1; }));
  leaving.reset();  // SIGTERM-like drain: the parked long-poll is answered at once, with no task
  poller.join();
  EXPECT_TRUE(poll_status.ok()) << poll_status.error_message();
  EXPECT_EQ(polled.tasks_size(), 0);
  EXPECT_LT(waited, std::chrono::seconds(10));
  Start(survivor, "after-drain", "d");
  CompleteLeased(survivor, LeaseOne(survivor, "q", "w"), "{}");
  EXPECT_EQ(WaitClosed(survivor, "after-drain").status(), v1::RUN_STATUS_COMPLETED);
}

}  // namespace
}  // namespace gridflow::testing
