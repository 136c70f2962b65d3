// TaskDispatcher: hands queued tasks to workers under leases (Temporal's "matching" role).
//
// It is also the scheduler's PollMatcher: a transaction that schedules a task may take a poll
// waiting here (Reserve) and insert the task already leased to it; after the commit the poll is
// answered (Deliver) — no NOTIFY, no claim. A held poll is answered by nothing else; urgent
// tasks may join a poll other transactions hold (sharing its slots), and it is answered when the
// last holder is done. An urgent task that finds no poll waiting may go to a worker whose poll
// was answered moments ago with slots to spare (its next poll is on its way): leased to it in the
// transaction, it joins the answer of that worker's next poll (never beyond the slots that poll
// asked for), or goes back to its queue if none took it within kHandOffWindow of the commit.
//
// LeaseTasks is a long-poll: Lease() registers the request and answers it exactly once, on the
// dispatcher's thread, with tasks as soon as any can be claimed, with none when the deadline
// passes, or CANCELLED after Cancel(). Waiting requests cost no thread and no database work: the
// dispatcher claims again only when work is announced for one of their queues (by this replica
// after a commit, or by any replica through PostgreSQL NOTIFY), plus a slow fallback poll that also
// covers retries whose backoff has elapsed. A new request claims at once, unless a claim for the
// same queues and types came back short (fewer tasks than its ordinary slots asked for) and
// nothing was announced for them since (nor a fallback poll passed): then it waits like the
// requests before it, without a claim that would find nothing. Claims use FOR UPDATE SKIP LOCKED,
// so replicas never hand out the same task. Tasks claimed for a request that went away meanwhile
// are released, as are tasks in an answer gRPC could not send (ReleaseUndeliveredLater). A
// stopping worker's requests are answered at once and given nothing more (StopPolling).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "engine/dispatch/lease_renewal.h"
#include "engine/scheduler/scheduler.h"
#include "persistence/connection_pool.h"
#include "persistence/rows.h"
#include "persistence/task_store.h"

namespace gridflow::engine {

struct LeaseRequest {
  std::string namespace_name;
  std::vector<std::string> queues;
  std::vector<std::string> task_types;  // empty: any
  int max_tasks = 1;
  // Reserved capacity: up to this many more tasks, only of base class <= reserved_class.
  int reserved_slots = 0;
  int reserved_class = 0;
  std::string identity;
  std::string worker_instance_key;  // empty: StopPolling cannot end it
};

using LeaseCallback = std::function<void(Status, std::vector<persistence::TaskRow>)>;

class TaskDispatcher final : public WorkListener, public PollMatcher {
 public:
  struct Options {
    // Claim attempts for waiting requests when nothing was announced (a safety net, not the path
    // by which work normally arrives).
    Millis fallback_poll{1000};
  };
  struct PendingLease;
  struct InTransit;

  TaskDispatcher(persistence::ConnectionPool& pool, Scheduler& scheduler, Options options);
  ~TaskDispatcher() override;

  // Told of every committed claim (metrics). Set before Start.
  void SetFactsObserver(FactsObserver* observer) { observer_ = observer; }
  void Start();
  // Answers every waiting request with no tasks, stops the thread and releases the undelivered
  // tasks still queued (ReleaseUndeliveredLater). Call it while the database is reachable.
  void Stop();
  // From now on, waiting requests are answered at once with no tasks and new ones with
  // UNAVAILABLE, so workers move to another replica.
  void Drain();

  // Two phases, so a caller can keep the handle (for Cancel) before `done` can possibly run:
  // Prepare() creates the request, Submit() hands it to the dispatcher.
  std::shared_ptr<PendingLease> Prepare(LeaseRequest request,
                                        std::chrono::steady_clock::time_point deadline,
                                        LeaseCallback done);
  void Submit(const std::shared_ptr<PendingLease>& lease);
  // The caller went away: answers CANCELLED unless already answered.
  void Cancel(const std::shared_ptr<PendingLease>& lease);
  // A worker stops: its requests waiting here (by worker_instance_key) are answered now, with no
  // tasks or with those a claim or transaction already took for them, and its later requests at
  // once with none (the key is remembered for kStoppedKeyMemory, at most kMaxStoppedKeys keys: a
  // late request of a key not remembered is served as usual, and its worker still gets its
  // answer). Returns how many were waiting.
  int StopPolling(const std::string& namespace_name, const std::string& worker_instance_key);
  static constexpr Millis kStoppedKeyMemory{120'000};
  static constexpr size_t kMaxStoppedKeys = 10'000;
  // How recently a worker's poll must have been answered for an urgent task to be handed to its
  // next one, and how long that task waits for it before it goes back to its queue.
  static constexpr Millis kHandOffWindow{50};

  // Dispatch upkeep (any replica, idempotent; docs/dispatch.md): open circuits whose cool-down
  // passed turn half-open (a probe may go), lost probes are replaced, and with `ageing` > 0
  // queued tasks are lifted one class per `ageing` waited. Waiting polls are woken when a
  // circuit lets work through.
  Status MaintainControls(Millis ageing);

  void OnWorkAvailable(const std::string& namespace_name, const std::string& queue) override;
  void OnWorkAvailableAfter(const std::string& namespace_name, const std::string& queue,
                            Millis delay) override;
  void OnWorkerSilent(const std::string& identity) override;
  // Claim for every waiting request (e.g. after notifications may have been missed).
  void WakeAll();

  // PollMatcher
  std::shared_ptr<TaskRecipient> Reserve(const persistence::NewTask& task) override;
  bool Take(TaskRecipient& poll, const persistence::NewTask& task) override;
  void Deliver(const std::shared_ptr<TaskRecipient>& poll) override;

  // Why tasks leased to a worker that never got them go back (their TaskReleased's reason).
  static constexpr const char* kNotDelivered = "the lease request ended before delivery";
  static constexpr const char* kNoRoomInAnswer =
      "no room in the answer (3 MiB): queued again for the next poll";
  static constexpr const char* kNextPollDidNotCome =
      "handed to the worker's next poll, which did not come in time";
  // Gives back tasks leased to `identity` that never reached it (its call went away).
  void ReleaseUndelivered(const std::string& identity,
                          const std::vector<persistence::TaskRow>& tasks,
                          const char* reason = kNotDelivered);
  // The same on the dispatcher's thread, for callers that must not block.
  void ReleaseUndeliveredLater(std::string identity, std::vector<persistence::TaskRow> tasks,
                               const char* reason = kNotDelivered);

  // Renews the leases of `beats`, each answered on its own (RenewLeases, lease_renewal.h).
  using BeatResult = LeaseRenewalResult;
  Status Heartbeat(const LeaseRef& caller, const std::vector<persistence::LeaseBeat>& beats,
                   std::vector<BeatResult>* results);

  size_t waiting() const;
  // Waiting long-polls per "<namespace>/<queue>" (a request on two queues counts for both).
  std::map<std::string, int> WaitingByQueue() const;

 private:
  void Loop();
  void Serve(const std::vector<std::shared_ptr<PendingLease>>& candidates);
  void ServeOne(const std::shared_ptr<PendingLease>& lease, std::set<std::string>* exhausted);
  Status Claim(const LeaseRequest& request, std::vector<persistence::TaskRow>* tasks);
  // Answers `lease` unless it was answered already; returns whether this call answered it.
  bool Finish(const std::shared_ptr<PendingLease>& lease, Status status,
              std::vector<persistence::TaskRow> tasks);
  // For an urgent task no waiting poll took: a hand-off to the next poll of a worker whose poll
  // was answered within kHandOffWindow with slots to spare; nullptr when none (mu_ held).
  std::shared_ptr<TaskRecipient> HandOff(const persistence::NewTask& task);
  // A hand-off's transaction ended: its tasks (none when it did not commit) go to the worker's
  // next poll, now if it is here, or wait for it.
  void DeliverHandOff(const std::shared_ptr<InTransit>& transit, int taken,
                      const std::vector<persistence::TaskRow>& tasks);
  // Committed hand-offs into the worker's next poll, as many as it has room for (mu_ held);
  // returns that poll when no transaction holds it (to be answered now).
  std::shared_ptr<PendingLease> MoveToNextPoll(InTransit& transit);
  // Hand-offs due (mu_ held): next polls to answer with the hand-offs they took now, and tasks
  // whose worker did not poll again within kHandOffWindow (or every one, stopping or draining).
  struct DueHandOffs {
    std::vector<std::shared_ptr<PendingLease>> answer;
    std::vector<std::pair<std::string, std::vector<persistence::TaskRow>>> release;
  };
  DueHandOffs TakeDueHandOffs(std::chrono::steady_clock::time_point now);
  bool HandOffsWaiting() const;  // some can go to a next poll now, or must go back (mu_ held)
  void Complete(DueHandOffs due);

  persistence::ConnectionPool& pool_;
  Scheduler& scheduler_;
  const Options options_;
  FactsObserver* observer_ = nullptr;

  mutable std::mutex mu_;
  // When MaintainControls ages tasks next (its own thread only).
  std::chrono::steady_clock::time_point next_ageing_{};
  std::condition_variable cv_;
  std::list<std::shared_ptr<PendingLease>> waiting_;  // FIFO
  std::set<std::string> announced_;                   // "<namespace>/<queue>" since the last pass
  // Signatures whose last claim came back short, with their queue keys; an announcement for one
  // of those queues, a fallback poll or a wake-up forgets them (dispatcher thread only).
  std::map<std::string, std::vector<std::string>> known_empty_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> announce_later_;
  // "<namespace>\0<worker_instance_key>" of workers that stopped polling, until when to remember.
  std::map<std::string, std::chrono::steady_clock::time_point> stopped_keys_;
  // Workers whose poll was answered, by namespace, worker_instance_key and kind of slots
  // (hand-offs, kHandOffWindow); each forgotten about a second after its last answer.
  std::map<std::string, std::shared_ptr<InTransit>> in_transit_;
  std::set<std::shared_ptr<InTransit>> with_pending_;  // those with committed hand-offs waiting
  std::chrono::steady_clock::time_point next_transit_sweep_{};
  // Tasks whose answer never reached their worker, to give back (ReleaseUndeliveredLater).
  struct Undelivered {
    std::string identity;
    std::vector<persistence::TaskRow> tasks;
    const char* reason;
  };
  std::vector<Undelivered> undelivered_;
  bool has_new_ = false;
  bool wake_all_ = false;
  bool rearm_ = false;  // announce_later_ changed: recompute when to wake
  bool draining_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gridflow::engine
