#include "worker/worker.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "common/thread_name.h"
#include "gridflow/v1/worker_service.grpc.pb.h"
#include "worker/replica_targets.h"
#include "worker/worker_metrics.h"

namespace gridflow::worker {
namespace {

using Clock = std::chrono::steady_clock;

constexpr Millis kRpcTimeout{10'000};
constexpr Millis kMinHeartbeatInterval{50};
// The engine's limit on leases per HeartbeatTasks call.
constexpr size_t kMaxHeartbeatsPerCall = 1000;
// Calls that failed for a passing reason (a replica restarting, a failover) are retried, with
// backoff from 0.1 s doubling to kMaxRetryBackoff, until kReportRetryFor has passed: an outcome
// survives an engine's restart (the Python and TypeScript SDKs' retry_timeout), and a poll finds
// a replica that came back within seconds.
constexpr Millis kMaxRetryBackoff{2000};
constexpr Millis kReportRetryFor{30'000};
// How often the target is resolved again, so replicas that come and go get a long-poll.
constexpr Millis kResolveInterval{30'000};
// The most tasks one LeaseTasks call may ask for (the API's limit): more free slots than that
// are asked for by the next poll.
constexpr int kMaxTasksPerPoll = 100;
// How long a replica has to answer StopPolling before the worker cancels its polls there.
constexpr Millis kStopPollingTimeout{2000};

// 128 random bits in hex: this worker instance's key on its long-polls (StopPolling ends them).
std::string NewInstanceKey() {
  std::random_device random;
  std::string key;
  for (int i = 0; i < 4; ++i) {
    char word[9];
    std::snprintf(word, sizeof word, "%08x", static_cast<unsigned>(random()));
    key += word;
  }
  return key;
}

std::string DefaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

// CANCELLED here is never this worker's doing (it cancels only its long-poll): gRPC answers it
// for a call that reached a replica as the replica closed, and that never ran.
bool IsTransient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::CANCELLED ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// Calls spread over every address the target resolves to (e.g. a headless Service, or
// "ipv4:10.0.0.1:7233,10.0.0.2:7233"); a replica that goes away is skipped until it is back.
void SetDeadline(grpc::ClientContext& context, Millis timeout) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace

class Worker::Impl {
 public:
  explicit Impl(WorkerOptions options)
      : options_(std::move(options)),
        identity_(options_.identity.empty() ? DefaultIdentity() : options_.identity),
        instance_key_(NewInstanceKey()),
        channel_status_(OpenClientChannel(options_.transport, /*round_robin=*/true, &channel_)),
        stub_(channel_ ? v1::WorkerService::NewStub(channel_) : nullptr) {
    if (options_.metrics) {
      metrics_ = std::make_unique<WorkerMetrics>(*options_.metrics, options_.max_concurrent_tasks);
    }
  }

  ~Impl() { Shutdown(); }

  void Register(const std::string& type, Handler handler) { handlers_[type] = std::move(handler); }

  Status Run();
  void Shutdown();

  WorkerStats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }
  const std::string& identity() const { return identity_; }

 private:
  struct Running {
    std::shared_ptr<TaskContext> context;
    bool reserved = false;  // holds a reserved slot
    std::string origin;     // the replica (target) that handed it over; "": unknown or the only one
    Millis heartbeat_interval{0};
    Clock::time_point next_heartbeat;
  };

  // An engine replica the worker holds a long-poll on (one per address the target names, so a
  // run started on any replica finds a poll waiting there: handed over in the start's own
  // transaction, no NOTIFY and no claim by another replica).
  //
  // A worker with reserved slots holds a second long-poll per replica, for those slots alone: a
  // poll asking for both kinds would, once the ordinary slots are full, wait with only the
  // reserved ones and leave ordinary slots freed meanwhile idle until an urgent task came or the
  // poll ended (a bulk backlog ran at the slots per poll wait).
  enum SlotKind { kOrdinary = 0, kReserved = 1 };
  struct Poller {
    std::thread thread;
    grpc::ClientContext* poll = nullptr;  // mu_ held: the long-poll in flight, if any
  };
  struct Replica {
    std::string target;
    // Null: the worker's own channel. Shared: a completion in flight keeps it past retirement.
    std::shared_ptr<v1::WorkerService::Stub> stub;
    Poller pollers[2];  // by SlotKind
    // mu_ held:
    bool retired = false;  // no longer resolved (or shutdown): its loops end
    bool healthy = true;   // its last poll did not fail
    void CancelPolls() {
      for (Poller& p : pollers)
        if (p.poll != nullptr) p.poll->TryCancel();
    }
    void Join() {
      for (Poller& p : pollers)
        if (p.thread.joinable()) p.thread.join();
    }
  };

  // Free ordinary and reserved slots (mu_ held).
  int FreeSlots() const {
    return options_.max_concurrent_tasks - static_cast<int>(running_.size()) + reserved_in_use_;
  }
  int FreeReservedSlots() const { return options_.reserved_slots - reserved_in_use_; }
  // Free slots no long-poll in flight has asked for yet (mu_ held).
  int Unpromised(SlotKind kind) const {
    return kind == kReserved ? FreeReservedSlots() - promised_reserved_ : FreeSlots() - promised_;
  }
  // Replicas other than `self` that could take a long-poll of `kind` and have none in flight
  // (mu_ held).
  int ReplicasWithoutPoll(const Replica& self, SlotKind kind) const {
    int n = 0;
    for (const auto& [target, replica] : replicas_) {
      if (replica.get() != &self && replica->healthy && replica->pollers[kind].poll == nullptr) {
        ++n;
      }
    }
    return n;
  }
  // Drops a finished task and gives back its slot (mu_ held).
  void Forget(const std::string& id) {
    const auto it = running_.find(id);
    if (it == running_.end()) return;
    if (it->second.reserved) --reserved_in_use_;
    running_.erase(it);
  }
  // Whether the task holds an ordinary slot (its completion may ask for the next task: eager
  // dispatch fills only ordinary slots).
  bool InOrdinarySlot(const std::string& id) const {
    std::lock_guard lock(mu_);
    const auto it = running_.find(id);
    return it != running_.end() && !it->second.reserved;
  }
  // Keeps PollLoops (one per SlotKind in use) on every replica the target resolves to, until
  // shutdown.
  void PollReplicas();
  void UpdateReplicas(const ReplicaTargets& resolved);
  // At shutdown: asks `replica` to end this worker's long-polls there (StopPolling) rather than
  // cancelling them — a task handed to a poll just as it is cancelled would wait for its lease to
  // expire. Cancels them only when the replica cannot be asked.
  void StopPolling(Replica& replica);
  // Long-polls `replica` for free slots of `kind` until it is retired or the worker shuts down.
  void PollLoop(Replica& replica, SlotKind kind);
  void ExecutorLoop();
  void HeartbeatLoop();
  // Renews the leases of `due` with HeartbeatTasks (kMaxHeartbeatsPerCall per call) and removes
  // them from it; those left are for single heartbeats: all once the engine answers UNIMPLEMENTED
  // (it predates the call), and a lease whose progress the engine refused (renewed without it).
  void RenewTogether(std::vector<std::shared_ptr<TaskContext>>* due, Millis timeout);
  // Acts on one lease's heartbeat answer: a cancelled run asks the handler to stop; a lease no
  // longer held (FAILED_PRECONDITION) is lost; any other failure is only counted.
  void NoteHeartbeat(TaskContext& context, const grpc::Status& status, bool cancel_requested);
  // One Heartbeat call for `context`'s lease (an engine that predates HeartbeatTasks, or a lease
  // whose progress the engine refused in a batch).
  void HeartbeatAlone(TaskContext& context, Millis timeout);
  void Execute(const std::shared_ptr<TaskContext>& context);
  // Counts a finished attempt (no-op without a metrics registry).
  void CountFinished(const TaskContext& context, const char* outcome, double seconds);
  // Reports the outcome, retrying transient errors, and returns the final gRPC status; a completion
  // may bring the run's next tasks, leased to this worker (eager dispatch), into *next.
  // The completion goes to the replica that handed the task over, while its polls succeed: the
  // run's transition then joins that replica's group commit (the one its start or previous step
  // committed in) instead of splitting it across every replica; a transient failure there sends
  // the retries round-robin. *answered_by: that replica's target, "" when round-robin.
  grpc::Status Report(const TaskContext& context, const TaskOutcome& outcome,
                      std::vector<v1::LeasedTask>* next, std::string* answered_by);
  // The stub of the replica that handed task `id` over, if it has one of its own and is healthy.
  std::shared_ptr<v1::WorkerService::Stub> OriginOf(const std::string& id, std::string* target);
  // Takes a task leased to this worker: running in an ordinary or a reserved slot, and queued for
  // an executor; `origin` handed it over. Under mu_.
  void AddLeased(const v1::LeasedTask& task, bool reserved, const std::string& origin);
  void ReleaseRemaining();
  bool ShuttingDown() {
    std::lock_guard lock(mu_);
    return shutting_down_;
  }

  const WorkerOptions options_;
  const std::string identity_;
  const std::string instance_key_;  // on every long-poll (LeaseTasksRequest.worker_instance_key)
  std::shared_ptr<grpc::Channel> channel_;
  const Status channel_status_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  std::map<std::string, Handler> handlers_;

  mutable std::mutex mu_;
  // One condition per kind of waiter, so that a task queued wakes one executor, not every thread
  // of the worker (with 32 slots, a notify_all per lease and per completion cost more CPU than
  // the handlers of a busy worker).
  std::condition_variable work_queued_;  // executors: a task queued, or executors_stop_
  std::condition_variable slots_freed_;  // the poll loop and the drain: a slot freed, shutdown
  std::condition_variable executors_stopped_;  // the heartbeat loop
  bool shutting_down_ = false;
  bool executors_stop_ = false;
  // Until an engine answers HeartbeatTasks with UNIMPLEMENTED. Only the heartbeat thread uses it.
  bool batch_heartbeats_ = true;
  std::map<std::string, std::unique_ptr<Replica>> replicas_;  // by target
  // Slots asked for by the long-polls in flight: together they never ask for more than is free.
  int promised_ = 0;
  int promised_reserved_ = 0;
  std::map<std::string, Running> running_;  // by task id
  int reserved_in_use_ = 0;                 // of running_, those in reserved slots
  std::deque<std::shared_ptr<TaskContext>> queue_;
  WorkerStats stats_;
  std::unique_ptr<WorkerMetrics> metrics_;  // null without WorkerOptions::metrics
};

Status Worker::Impl::Run() {
  if (handlers_.empty())
    return Status::InvalidArgument("register at least one handler before Run()");
  if (!channel_status_.ok()) return channel_status_;
  std::vector<std::thread> executors;
  for (int i = 0; i < options_.max_concurrent_tasks + options_.reserved_slots; ++i) {
    executors.emplace_back([this] {
      NameThisThread("task");
      ExecutorLoop();
    });
  }
  std::thread heartbeats([this] {
    NameThisThread("heartbeats");
    HeartbeatLoop();
  });
  spdlog::info(
      "worker {} polling {} queue(s) on {} for {} task type(s), concurrency {} (+{} reserved for "
      "class {} and more urgent)",
      identity_, options_.task_queues.size(), options_.transport.address, handlers_.size(),
      options_.max_concurrent_tasks, options_.reserved_slots, options_.reserved_priority);

  PollReplicas();

  // Drain: let running handlers finish within the grace period, then give their leases back.
  {
    std::unique_lock lock(mu_);
    slots_freed_.wait_for(lock, options_.shutdown_grace,
                          [this] { return running_.empty() && queue_.empty(); });
  }
  ReleaseRemaining();
  {
    std::lock_guard lock(mu_);
    executors_stop_ = true;
  }
  work_queued_.notify_all();
  executors_stopped_.notify_all();
  for (auto& t : executors)
    t.join();
  heartbeats.join();
  spdlog::info("worker {} stopped", identity_);
  return Status::Ok();
}

void Worker::Impl::Shutdown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  slots_freed_.notify_all();  // PollReplicas ends the polls in flight
}

void Worker::Impl::PollReplicas() {
  while (true) {
    UpdateReplicas(ResolveReplicaTargets(options_.transport.address));
    std::unique_lock lock(mu_);
    if (slots_freed_.wait_for(lock, kResolveInterval, [this] { return shutting_down_; })) break;
  }
  // No loop starts another poll now; the polls in flight are answered (or cancelled) here. Every
  // replica is asked at once: replicas that cannot answer delay the stop by one timeout in all,
  // not one each.
  std::vector<std::thread> asking;
  for (auto& [target, replica] : replicas_)
    asking.emplace_back([this, r = replica.get()] { StopPolling(*r); });
  for (std::thread& t : asking)
    t.join();
  for (auto& [target, replica] : replicas_)
    replica->Join();
}

void Worker::Impl::StopPolling(Replica& replica) {
  {
    std::lock_guard lock(mu_);
    if (replica.pollers[kOrdinary].poll == nullptr && replica.pollers[kReserved].poll == nullptr)
      return;
  }
  v1::StopPollingRequest request;
  request.set_namespace_(options_.namespace_name);
  request.set_worker_instance_key(instance_key_);
  request.set_identity(identity_);
  v1::StopPollingResponse response;
  grpc::ClientContext context;
  SetDeadline(context, kStopPollingTimeout);
  v1::WorkerService::Stub& stub = replica.stub ? *replica.stub : *stub_;
  const grpc::Status status = stub.StopPolling(&context, request, &response);
  if (status.ok()) return;
  spdlog::warn("worker {}: StopPolling on {} failed ({}); cancelling its polls", identity_,
               replica.target, status.error_message());
  std::lock_guard lock(mu_);
  replica.CancelPolls();
}

void Worker::Impl::UpdateReplicas(const ReplicaTargets& resolved) {
  std::vector<std::unique_ptr<Replica>> gone;
  std::vector<Replica*> added;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    for (auto it = replicas_.begin(); it != replicas_.end();) {
      if (std::find(resolved.targets.begin(), resolved.targets.end(), it->first) !=
          resolved.targets.end()) {
        ++it;
        continue;
      }
      Replica& replica = *it->second;
      replica.retired = true;
      replica.CancelPolls();
      gone.push_back(std::move(it->second));
      it = replicas_.erase(it);
    }
    for (const std::string& target : resolved.targets) {
      if (replicas_.count(target) > 0) continue;
      auto replica = std::make_unique<Replica>();
      replica->target = target;
      if (resolved.targets.size() > 1) {
        // One channel to this replica alone; TLS still checks the name the target was given as.
        ClientTransport transport = options_.transport;
        transport.address = target;
        if (transport.tls_server_name.empty()) transport.tls_server_name = resolved.host;
        std::shared_ptr<grpc::Channel> channel;
        if (!OpenClientChannel(transport, /*round_robin=*/false, &channel).ok()) continue;
        replica->stub = v1::WorkerService::NewStub(channel);
      }
      added.push_back(replica.get());
      replicas_[target] = std::move(replica);
    }
  }
  slots_freed_.notify_all();  // retired loops end; the others' share of the slots changed
  for (Replica* replica : added) {
    replica->pollers[kOrdinary].thread =
        std::thread([this, replica] { PollLoop(*replica, kOrdinary); });
    if (options_.reserved_slots > 0) {
      replica->pollers[kReserved].thread =
          std::thread([this, replica] { PollLoop(*replica, kReserved); });
    }
  }
  for (auto& replica : gone)
    replica->Join();
  if (!added.empty() || !gone.empty()) {
    spdlog::info("worker {}: long-polling {} engine replica(s)", identity_,
                 resolved.targets.size());
  }
}

void Worker::Impl::PollLoop(Replica& replica, SlotKind kind) {
  NameThisThread(kind == kReserved ? "poll reserved" : "poll");
  v1::WorkerService::Stub& stub = replica.stub ? *replica.stub : *stub_;
  Poller& poller = replica.pollers[kind];
  int& promised = kind == kReserved ? promised_reserved_ : promised_;
  Millis backoff{100};
  while (true) {
    grpc::ClientContext context;
    int ask = 0;
    {
      std::unique_lock lock(mu_);
      slots_freed_.wait(lock,
                        [&] { return shutting_down_ || replica.retired || Unpromised(kind) > 0; });
      if (shutting_down_ || replica.retired) return;
      // Most slots go to the poll asking now (polls return where work arrives, and ask again
      // there), but one stays for each other replica without a poll, so one waits on every replica.
      const int others = ReplicasWithoutPoll(replica, kind);
      ask = std::min({Unpromised(kind), std::max(1, Unpromised(kind) - others), kMaxTasksPerPoll});
      promised += ask;
      poller.poll = &context;
    }
    v1::LeaseTasksRequest request;
    request.set_namespace_(options_.namespace_name);
    for (const auto& q : options_.task_queues)
      request.add_task_queues(q);
    for (const auto& [type, handler] : handlers_)
      request.add_task_types(type);
    if (kind == kReserved) {
      request.set_reserved_slots(ask);
      request.set_reserved_priority(options_.reserved_priority);
    } else {
      request.set_max_tasks(ask);
    }
    request.set_identity(identity_);
    request.set_worker_instance_key(instance_key_);
    request.mutable_wait()->set_seconds(options_.poll_wait.count() / 1000);
    request.mutable_wait()->set_nanos(static_cast<int32_t>(options_.poll_wait.count() % 1000) *
                                      1'000'000);
    SetDeadline(context, options_.poll_wait + kRpcTimeout);
    v1::LeaseTasksResponse response;
    const grpc::Status status = stub.LeaseTasks(&context, request, &response);
    if (metrics_) {
      metrics_->Polled(!status.ok() ? "error" : response.tasks().empty() ? "empty" : "tasks");
    }
    const bool failed = !status.ok() && status.error_code() != grpc::StatusCode::CANCELLED;
    {
      std::lock_guard lock(mu_);
      poller.poll = nullptr;
      promised -= ask;
      if (failed) ++stats_.poll_errors;
      replica.healthy = !failed;
      for (const v1::LeasedTask& task : response.tasks()) {
        AddLeased(task, /*reserved=*/kind == kReserved, replica.stub ? replica.target : "");
        work_queued_.notify_one();
      }
      if (metrics_) {
        metrics_->TasksLeased(response.tasks_size());
        metrics_->SetRunning(running_.size());
      }
    }
    // Slots this poll asked for and did not fill: another replica's poll may ask for them.
    if (response.tasks_size() < ask) slots_freed_.notify_all();
    if (!status.ok()) {
      if (!failed) continue;  // Shutdown() or a retired replica (see loop top), or a closing one
      spdlog::warn("worker {}: LeaseTasks on {} failed ({}): {}; retrying in {}", identity_,
                   replica.target, static_cast<int>(status.error_code()), status.error_message(),
                   FormatDuration(backoff));
      {
        std::unique_lock lock(mu_);
        slots_freed_.wait_for(lock, backoff, [&] { return shutting_down_ || replica.retired; });
      }
      backoff = std::min(backoff * 2, kMaxRetryBackoff);
      continue;
    }
    backoff = Millis(100);
  }
}

void Worker::Impl::AddLeased(const v1::LeasedTask& task, bool reserved, const std::string& origin) {
  auto context_ptr = std::make_shared<TaskContext>(task);
  Running running;
  running.context = context_ptr;
  const int64_t hb_ms =
      task.heartbeat_timeout().seconds() * 1000 + task.heartbeat_timeout().nanos() / 1'000'000;
  running.heartbeat_interval = hb_ms > 0 ? std::max(kMinHeartbeatInterval, Millis(hb_ms / 3))
                                         : options_.idle_heartbeat_interval;
  running.next_heartbeat = Clock::now() + running.heartbeat_interval;
  running.reserved = reserved;
  running.origin = origin;
  if (running.reserved) ++reserved_in_use_;
  running_[task.task_id()] = running;
  queue_.push_back(context_ptr);
  ++stats_.leased;
}

void Worker::Impl::ExecutorLoop() {
  while (true) {
    std::shared_ptr<TaskContext> context;
    {
      std::unique_lock lock(mu_);
      work_queued_.wait(lock, [this] { return executors_stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // executors_stop_
      context = queue_.front();
      queue_.pop_front();
    }
    Execute(context);
  }
}

void Worker::Impl::Execute(const std::shared_ptr<TaskContext>& context) {
  const std::string& id = context->task_id();
  const auto started = Clock::now();
  TaskOutcome outcome;
  const auto handler = handlers_.find(context->task_type());
  if (handler == handlers_.end()) {
    outcome = TaskOutcome::Failure(
        "gridflow.NoHandler",
        "worker " + identity_ + " has no handler for task type '" + context->task_type() + "'");
  } else {
    try {
      outcome = handler->second(*context);
    } catch (const std::exception& e) {
      outcome = TaskOutcome::Failure("gridflow.HandlerException", e.what());
    } catch (...) {
      outcome = TaskOutcome::Failure("gridflow.HandlerException", "unknown exception");
    }
  }

  context->MarkFinished();
  bool rejected = false;
  std::vector<v1::LeasedTask> next;
  std::string answered_by;
  if (context->released() || context->lease_lost()) {
    rejected = context->lease_lost();
    spdlog::info("run={} task={} step={} finished after its lease was {}; outcome not reported",
                 context->task().run_id(), id, context->step(),
                 context->released() ? "released" : "lost");
  } else {
    const grpc::Status status = Report(*context, outcome, &next, &answered_by);
    if (!status.ok()) {
      rejected = true;
      spdlog::warn("run={} task={} step={} outcome not recorded: {}", context->task().run_id(), id,
                   context->step(), status.error_message());
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::lock_guard lock(mu_);
  Forget(id);
  // The slot this task frees goes to its successor, which this thread runs next (ExecutorLoop
  // finds it queued): no hand-off to another thread between two steps of a run.
  for (size_t i = 0; i < next.size(); ++i) {
    AddLeased(next[i], /*reserved=*/FreeSlots() <= 0, answered_by);
    if (i > 0) work_queued_.notify_one();
  }
  if (metrics_ && !next.empty()) metrics_->TasksLeased(static_cast<int>(next.size()));
  const bool success = outcome.kind == TaskOutcome::Kind::kSuccess;
  if (rejected) {
    ++stats_.rejected;
  } else if (!context->released()) {
    ++(success ? stats_.completed : stats_.failed);
  }
  CountFinished(*context,
                rejected              ? "rejected"
                : context->released() ? "released"
                : success             ? "completed"
                                      : "failed",
                seconds);
  if (next.empty()) slots_freed_.notify_all();  // the poll loop, or the drain, waits for it
}

void Worker::Impl::CountFinished(const TaskContext& context, const char* outcome, double seconds) {
  if (!metrics_) return;
  metrics_->TaskFinished(context.task().task_queue(), context.task_type(), outcome, seconds);
  metrics_->SetRunning(running_.size());
}

std::shared_ptr<v1::WorkerService::Stub> Worker::Impl::OriginOf(const std::string& id,
                                                                std::string* target) {
  std::lock_guard lock(mu_);
  const auto running = running_.find(id);
  if (running == running_.end() || running->second.origin.empty()) return nullptr;
  const auto replica = replicas_.find(running->second.origin);
  if (replica == replicas_.end() || !replica->second->healthy || replica->second->retired)
    return nullptr;
  *target = replica->first;
  return replica->second->stub;
}

grpc::Status Worker::Impl::Report(const TaskContext& context, const TaskOutcome& outcome,
                                  std::vector<v1::LeasedTask>* next, std::string* answered_by) {
  Millis backoff{100};
  grpc::Status status;
  const Clock::time_point give_up = Clock::now() + kReportRetryFor;
  answered_by->clear();
  std::shared_ptr<v1::WorkerService::Stub> origin = OriginOf(context.task_id(), answered_by);
  while (true) {
    v1::WorkerService::Stub& stub = origin ? *origin : *stub_;
    grpc::ClientContext rpc;
    SetDeadline(rpc, kRpcTimeout);
    if (outcome.kind == TaskOutcome::Kind::kSuccess) {
      v1::CompleteTaskRequest request;
      request.set_namespace_(options_.namespace_name);
      request.set_task_id(context.task_id());
      request.set_lease_epoch(context.lease_epoch());
      request.set_result_json(outcome.result_json);
      request.set_identity(identity_);
      if (options_.eager_next_tasks && !ShuttingDown() && InOrdinarySlot(context.task_id())) {
        request.set_max_next_tasks(1);  // the slot this completion frees
        for (const auto& q : options_.task_queues)
          request.add_task_queues(q);
        for (const auto& [type, handler] : handlers_)
          request.add_task_types(type);
      }
      v1::CompleteTaskResponse response;
      status = stub.CompleteTask(&rpc, request, &response);
      if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        // The handler produced something the engine refuses (e.g. not JSON): report that instead.
        return Report(context,
                      TaskOutcome::Failure("gridflow.InvalidResult", status.error_message()), next,
                      answered_by);
      }
      if (status.ok()) next->assign(response.next_tasks().begin(), response.next_tasks().end());
    } else {
      v1::FailTaskRequest request;
      request.set_namespace_(options_.namespace_name);
      request.set_task_id(context.task_id());
      request.set_lease_epoch(context.lease_epoch());
      request.set_error_type(outcome.error_type);
      request.set_message(outcome.message.substr(0, 4000));
      request.set_details_json(outcome.details_json);
      request.set_non_retryable(!outcome.retryable);
      request.set_identity(identity_);
      v1::FailTaskResponse response;
      status = stub.FailTask(&rpc, request, &response);
    }
    if (status.ok() || !IsTransient(status) || Clock::now() + backoff > give_up) return status;
    origin = nullptr;  // that replica may be going away: any other takes the retries
    answered_by->clear();
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, kMaxRetryBackoff);
  }
}

void Worker::Impl::HeartbeatLoop() {
  while (true) {
    std::vector<std::shared_ptr<TaskContext>> due;
    Millis shortest = Millis::max();
    {
      std::unique_lock lock(mu_);
      executors_stopped_.wait_for(lock, Millis(50), [this] { return executors_stop_; });
      if (executors_stop_) return;
      const auto now = Clock::now();
      for (auto& [id, running] : running_) {
        if (running.next_heartbeat <= now && !running.context->released() &&
            !running.context->finished()) {
          due.push_back(running.context);
          shortest = std::min(shortest, running.heartbeat_interval);
          running.next_heartbeat = now + running.heartbeat_interval;
        }
      }
    }
    const Millis timeout = std::max(shortest, Millis(1000));
    if (!due.empty() && batch_heartbeats_) RenewTogether(&due, timeout);
    for (const auto& context : due)
      HeartbeatAlone(*context, timeout);
  }
}

void Worker::Impl::HeartbeatAlone(TaskContext& context, Millis timeout) {
  const auto send = [&](const std::optional<std::string>& progress,
                        v1::HeartbeatResponse* response) {
    v1::HeartbeatRequest request;
    request.set_namespace_(options_.namespace_name);
    request.set_task_id(context.task_id());
    request.set_lease_epoch(context.lease_epoch());
    request.set_identity(identity_);
    if (progress) request.set_details_json(*progress);
    grpc::ClientContext rpc;
    SetDeadline(rpc, timeout);
    return stub_->Heartbeat(&rpc, request, response);
  };
  std::optional<std::string> progress = context.TakeProgress();
  v1::HeartbeatResponse response;
  grpc::Status status = send(progress, &response);
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && progress) {
    // Progress the engine refuses must not cost the task its lease: dropped, renewed without.
    spdlog::warn("run={} task={}: progress dropped, the engine refused it: {}",
                 context.task().run_id(), context.task_id(), status.error_message());
    progress.reset();
    status = send(progress, &response);
  }
  if (!status.ok() && progress) context.ReturnProgress(*progress);  // for the next heartbeat
  NoteHeartbeat(context, status, response.cancel_requested());
}

void Worker::Impl::RenewTogether(std::vector<std::shared_ptr<TaskContext>>* due, Millis timeout) {
  std::vector<std::shared_ptr<TaskContext>> alone;  // left for single heartbeats
  for (size_t from = 0; from < due->size(); from += kMaxHeartbeatsPerCall) {
    const size_t to = std::min(due->size(), from + kMaxHeartbeatsPerCall);
    v1::HeartbeatTasksRequest request;
    request.set_namespace_(options_.namespace_name);
    request.set_identity(identity_);
    for (size_t i = from; i < to; ++i) {
      v1::TaskHeartbeat* beat = request.add_heartbeats();
      beat->set_task_id((*due)[i]->task_id());
      beat->set_lease_epoch((*due)[i]->lease_epoch());
      if (auto progress = (*due)[i]->TakeProgress()) beat->set_details_json(*progress);
    }
    v1::HeartbeatTasksResponse response;
    grpc::ClientContext rpc;
    SetDeadline(rpc, timeout);
    const grpc::Status status = stub_->HeartbeatTasks(&rpc, request, &response);
    if (!status.ok()) {  // their progress goes with the next heartbeat
      for (size_t i = from; i < to; ++i) {
        const std::string& details = request.heartbeats(static_cast<int>(i - from)).details_json();
        if (!details.empty()) (*due)[i]->ReturnProgress(details);
      }
    }
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      spdlog::info("the engine does not renew leases together: one heartbeat per lease");
      batch_heartbeats_ = false;
      alone.insert(alone.end(), due->begin() + static_cast<std::ptrdiff_t>(from), due->end());
      break;
    }
    if (!status.ok()) {  // one warning for the call; each lease counted
      spdlog::warn("heartbeat of {} lease(s) failed: {}", to - from, status.error_message());
      for (size_t i = from; i < to && metrics_; ++i)
        metrics_->HeartbeatFailed(false);
      continue;
    }
    for (size_t i = from; i < to; ++i) {
      const int at = static_cast<int>(i - from);
      if (at >= response.results_size()) {
        NoteHeartbeat(*(*due)[i], grpc::Status(grpc::StatusCode::INTERNAL, "no answer for it"),
                      false);
      } else if (const v1::TaskHeartbeatResult& result = response.results(at);
                 result.code() == grpc::StatusCode::INVALID_ARGUMENT &&
                 !request.heartbeats(at).details_json().empty()) {
        // Progress the engine refuses must not cost the task its lease: dropped (already taken
        // from the context), the lease renewed at once without it.
        spdlog::warn("run={} task={}: progress dropped, the engine refused it: {}",
                     (*due)[i]->task().run_id(), (*due)[i]->task_id(), result.message());
        alone.push_back((*due)[i]);
      } else {
        NoteHeartbeat(*(*due)[i],
                      grpc::Status(static_cast<grpc::StatusCode>(result.code()), result.message()),
                      result.cancel_requested());
      }
    }
  }
  *due = std::move(alone);
}

void Worker::Impl::NoteHeartbeat(TaskContext& context, const grpc::Status& status,
                                 bool cancel_requested) {
  if (context.finished()) return;  // the answer raced the handler's own report
  if (status.ok()) {
    if (cancel_requested && !context.cancel_requested()) {
      spdlog::info("run={} task={} step={}: run cancelled, asking the handler to stop",
                   context.task().run_id(), context.task_id(), context.step());
      context.MarkCancelRequested();
    }
  } else if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    spdlog::warn("run={} task={} step={}: lease lost: {}", context.task().run_id(),
                 context.task_id(), context.step(), status.error_message());
    context.MarkLeaseLost();
    if (metrics_) metrics_->HeartbeatFailed(true);
  } else {
    spdlog::warn("run={} task={}: heartbeat failed: {}", context.task().run_id(), context.task_id(),
                 status.error_message());
    if (metrics_) metrics_->HeartbeatFailed(false);
  }
}

void Worker::Impl::ReleaseRemaining() {
  std::vector<std::shared_ptr<TaskContext>> remaining;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, running] : running_)
      remaining.push_back(running.context);
  }
  for (const auto& context : remaining) {
    context->MarkReleased();
    v1::ReleaseTaskRequest request;
    request.set_namespace_(options_.namespace_name);
    request.set_task_id(context->task_id());
    request.set_lease_epoch(context->lease_epoch());
    request.set_reason("worker " + identity_ + " is shutting down");
    request.set_identity(identity_);
    v1::ReleaseTaskResponse response;
    grpc::ClientContext rpc;
    SetDeadline(rpc, kRpcTimeout);
    const grpc::Status status = stub_->ReleaseTask(&rpc, request, &response);
    std::lock_guard lock(mu_);
    if (status.ok()) ++stats_.released;
    spdlog::info("run={} task={} step={} released at shutdown: {}", context->task().run_id(),
                 context->task_id(), context->step(), status.ok() ? "ok" : status.error_message());
  }
}

Worker::Worker(WorkerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Worker::~Worker() = default;
void Worker::Register(const std::string& task_type, Handler handler) {
  impl_->Register(task_type, std::move(handler));
}
Status Worker::Run() {
  return impl_->Run();
}
void Worker::Shutdown() {
  impl_->Shutdown();
}
WorkerStats Worker::stats() const {
  return impl_->stats();
}
const std::string& Worker::identity() const {
  return impl_->identity();
}

}  // namespace gridflow::worker
