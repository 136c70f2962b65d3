#include "engine/dispatch/task_dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "common/priority.h"
#include "common/thread_name.h"
#include "engine/dispatch/lease_renewal.h"
#include "engine/scheduler/events.h"
#include "persistence/dispatch_control_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

using Clock = std::chrono::steady_clock;

struct TaskDispatcher::PendingLease {
  LeaseRequest request;
  Clock::time_point deadline;
  LeaseCallback done;
  // Requests with the same signature see the same claimable tasks; one empty claim answers for all.
  std::string signature;
  std::vector<std::string> queue_keys;  // "<namespace>/<queue>"
  bool answered = false;                // guarded by mu_
  // Guarded by mu_: transactions holding it (Reserve .. Deliver); the last to end answers it.
  int reservations = 0;
  // Guarded by mu_: slots no transaction holding it has taken (ordinary, reserved-class).
  int room = 0;
  int reserved_room = 0;
  // Guarded by mu_: tasks of holders that committed while another still held it.
  std::vector<persistence::TaskRow> collected;
  bool claiming = false;  // guarded by mu_: the dispatcher claims for it now
  bool ending = false;    // guarded by mu_: StopPolling: answer it with what it has, claim no more
  bool tried = false;     // dispatcher thread only
};

// A worker's poll answered with slots to spare, until its next poll is answered (guarded by mu_).
struct TaskDispatcher::InTransit {
  LeaseRequest request;  // the answered poll's
  Clock::time_point answered_at;
  int room = 0;                               // slots the answer left free and no hand-off took
  int holders = 0;                            // transactions holding a hand-off
  std::vector<persistence::TaskRow> pending;  // committed hand-offs, for the next poll
  Clock::time_point pending_since;
  std::weak_ptr<PendingLease> next;  // the worker's next poll, once it arrived
};

namespace {

// A waiting poll as one transaction holds it: the slots that transaction took of its room. A
// hand-off holds the poll in transit instead (`transit`, `lease` null).
struct MatchedPoll final : TaskRecipient {
  std::shared_ptr<TaskDispatcher::PendingLease> lease;
  std::shared_ptr<TaskDispatcher::InTransit> transit;
  int taken = 0;
  int taken_reserved = 0;
};

// A transaction's hold on a poll of request `r` (the recipient its tasks are leased to).
std::shared_ptr<MatchedPoll> HeldBy(const LeaseRequest& r) {
  auto poll = std::make_shared<MatchedPoll>();
  poll->identity = r.identity;
  poll->namespace_name = r.namespace_name;
  poll->queues = r.queues;
  poll->task_types = r.task_types;
  return poll;
}

// Takes a slot of `lease`'s room for `task` for `poll` (mu_ held).
bool TakeSlot(TaskDispatcher::PendingLease& lease, MatchedPoll& poll,
              const persistence::NewTask& task) {
  if (lease.room > 0) {
    --lease.room;
    ++poll.taken;
    return true;
  }
  if (lease.reserved_room > 0 && task.priority <= lease.request.reserved_class) {
    --lease.reserved_room;
    ++poll.taken_reserved;
    return true;
  }
  return false;
}

}  // namespace

namespace {

// Ageing: tasks lifted per pass at most, and how soon a pass that found a full batch comes back.
constexpr int kAgeingBatch = 1000;
constexpr Millis kAgeingCatchUp{250};

std::string StoppedKey(const std::string& namespace_name, const std::string& instance_key) {
  return namespace_name + '\0' + instance_key;
}

// A worker's polls of one kind (a worker may poll for its reserved slots apart).
std::string TransitKey(const LeaseRequest& r) {
  return StoppedKey(r.namespace_name, r.worker_instance_key) + '\0' + (r.max_tasks > 0 ? 'o' : 'r');
}

bool WantsTask(const LeaseRequest& r, const persistence::NewTask& task) {
  return r.namespace_name == task.namespace_name &&
         std::find(r.queues.begin(), r.queues.end(), task.queue) != r.queues.end() &&
         (r.task_types.empty() || std::find(r.task_types.begin(), r.task_types.end(),
                                            task.task_type) != r.task_types.end());
}

std::string Signature(const LeaseRequest& r) {
  std::vector<std::string> queues = r.queues, types = r.task_types;
  std::sort(queues.begin(), queues.end());
  std::sort(types.begin(), types.end());
  std::string s = r.namespace_name + '\0';
  for (const auto& q : queues)
    s += q + ',';
  s += '\0';
  for (const auto& t : types)
    s += t + ',';
  return s;
}

}  // namespace

TaskDispatcher::TaskDispatcher(persistence::ConnectionPool& pool, Scheduler& scheduler,
                               Options options)
    : pool_(pool), scheduler_(scheduler), options_(options) {}

TaskDispatcher::~TaskDispatcher() {
  Stop();
}

void TaskDispatcher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void TaskDispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::list<std::shared_ptr<PendingLease>> left;
  std::vector<Undelivered> release;
  DueHandOffs handed;
  {
    std::lock_guard lock(mu_);
    left.swap(waiting_);
    release.swap(undelivered_);
    handed = TakeDueHandOffs(Clock::now());  // stopping_: all of them go back
  }
  for (auto& [identity, tasks] : handed.release)
    release.push_back({std::move(identity), std::move(tasks), kNotDelivered});
  for (const auto& lease : left)
    Finish(lease, Status::Ok(), {});
  // Queued after the thread's last pass: released here rather than left leased until expiry (a
  // step's start_to_close, minutes for an order that must move in seconds).
  for (const Undelivered& entry : release)
    ReleaseUndelivered(entry.identity, entry.tasks, entry.reason);
}

void TaskDispatcher::Drain() {
  std::list<std::shared_ptr<PendingLease>> left;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    left.swap(waiting_);
  }
  cv_.notify_one();  // hand-offs not delivered go back
  for (const auto& lease : left)
    Finish(lease, Status::Ok(), {});
}

size_t TaskDispatcher::waiting() const {
  std::lock_guard lock(mu_);
  // An answered request stays listed until the dispatcher's next pass; it no longer waits.
  return std::count_if(waiting_.begin(), waiting_.end(),
                       [](const auto& lease) { return !lease->answered; });
}

std::shared_ptr<TaskRecipient> TaskDispatcher::Reserve(const persistence::NewTask& task) {
  std::lock_guard lock(mu_);
  if (draining_ || stopping_) return nullptr;
  for (const auto& lease : waiting_) {
    const LeaseRequest& r = lease->request;
    if (lease->answered || lease->claiming || lease->ending || !WantsTask(r, task)) continue;
    // Held by another transaction: only an urgent task joins it. Its answer then waits for the
    // last holder's commit (a few milliseconds), which for an activation's set-points beats a
    // claim after its own commit; ordinary tasks keep their answer to themselves.
    if (lease->reservations > 0 && task.priority != kUrgentPriority) continue;
    auto poll = HeldBy(r);
    if (!TakeSlot(*lease, *poll, task)) continue;
    ++lease->reservations;
    poll->lease = lease;
    return poll;
  }
  return task.priority == kUrgentPriority ? HandOff(task) : nullptr;
}

std::shared_ptr<TaskRecipient> TaskDispatcher::HandOff(const persistence::NewTask& task) {
  const Clock::time_point now = Clock::now();
  for (const auto& [key, transit] : in_transit_) {
    if (transit->room <= 0 || now - transit->answered_at >= kHandOffWindow ||
        !transit->next.expired() || !WantsTask(transit->request, task)) {
      continue;
    }
    --transit->room;
    ++transit->holders;
    auto poll = HeldBy(transit->request);
    poll->taken = 1;
    poll->transit = transit;
    return poll;
  }
  return nullptr;
}

bool TaskDispatcher::Take(TaskRecipient& recipient, const persistence::NewTask& task) {
  auto& poll = static_cast<MatchedPoll&>(recipient);
  std::lock_guard lock(mu_);
  if (poll.transit != nullptr) {  // urgent tasks only, while the next poll has not arrived
    InTransit& transit = *poll.transit;
    if (task.priority != kUrgentPriority || transit.room <= 0 || !transit.next.expired()) {
      return false;
    }
    --transit.room;
    ++poll.taken;
    return true;
  }
  return !poll.lease->answered && TakeSlot(*poll.lease, poll, task);
}

void TaskDispatcher::Deliver(const std::shared_ptr<TaskRecipient>& recipient) {
  const auto poll = std::static_pointer_cast<MatchedPoll>(recipient);
  if (poll->transit != nullptr) {
    DeliverHandOff(poll->transit, poll->taken, poll->tasks);
    return;
  }
  PendingLease& lease = *poll->lease;
  bool answer = false;
  bool answered_meanwhile = false;
  {
    std::lock_guard lock(mu_);
    --lease.reservations;
    answered_meanwhile = lease.answered;
    if (!answered_meanwhile) {
      if (poll->tasks.empty()) {  // its slots go back to the poll
        lease.room += poll->taken;
        lease.reserved_room += poll->taken_reserved;
      } else {
        lease.collected.insert(lease.collected.end(), poll->tasks.begin(), poll->tasks.end());
      }
      answer = lease.reservations == 0 && (!lease.collected.empty() || lease.ending);
      // With nothing for it, it waits again (or its deadline passed meanwhile).
      if (lease.reservations == 0 && !answer) cv_.notify_one();
    }
  }
  // Cancelled, or answered by a drain, while held: what this holder leased it goes back.
  if (answered_meanwhile && !poll->tasks.empty()) ReleaseUndelivered(poll->identity, poll->tasks);
  if (answer) Finish(poll->lease, Status::Ok(), {});
}

void TaskDispatcher::DeliverHandOff(const std::shared_ptr<InTransit>& transit, int taken,
                                    const std::vector<persistence::TaskRow>& tasks) {
  std::shared_ptr<PendingLease> answer;
  // Committed after Stop(): no thread is left to give them back later.
  std::optional<std::string> stopped_identity;
  {
    std::lock_guard lock(mu_);
    --transit->holders;
    if (tasks.empty()) {  // not committed: its slots go back while the next poll is away
      if (transit->next.expired()) transit->room += taken;
      return;
    }
    if (stopping_) {
      stopped_identity = transit->request.identity;
    } else {
      if (transit->pending.empty()) transit->pending_since = Clock::now();
      transit->pending.insert(transit->pending.end(), tasks.begin(), tasks.end());
      answer = MoveToNextPoll(*transit);
      // Not all taken: the dispatcher's thread hands them to the next poll, or gives them back.
      if (!transit->pending.empty()) {
        with_pending_.insert(transit);
        cv_.notify_one();
      }
    }
  }
  if (answer != nullptr) Finish(answer, Status::Ok(), {});
  if (stopped_identity) ReleaseUndelivered(*stopped_identity, tasks);
}

std::map<std::string, int> TaskDispatcher::WaitingByQueue() const {
  std::lock_guard lock(mu_);
  std::map<std::string, int> counts;
  for (const auto& lease : waiting_) {
    if (lease->answered) continue;
    for (const auto& key : lease->queue_keys)
      ++counts[key];
  }
  return counts;
}

std::shared_ptr<TaskDispatcher::PendingLease> TaskDispatcher::Prepare(LeaseRequest request,
                                                                      Clock::time_point deadline,
                                                                      LeaseCallback done) {
  auto lease = std::make_shared<PendingLease>();
  lease->signature = Signature(request);
  for (const auto& q : request.queues)
    lease->queue_keys.push_back(request.namespace_name + "/" + q);
  lease->room = request.max_tasks;
  lease->reserved_room = request.reserved_slots;
  lease->request = std::move(request);
  lease->deadline = deadline;
  lease->done = std::move(done);
  return lease;
}

void TaskDispatcher::Submit(const std::shared_ptr<PendingLease>& lease) {
  bool stopped = false;  // its worker stopped polling: a poll sent before that, arriving late
  {
    std::lock_guard lock(mu_);
    const LeaseRequest& r = lease->request;
    if (!r.worker_instance_key.empty()) {
      const auto it = stopped_keys_.find(StoppedKey(r.namespace_name, r.worker_instance_key));
      stopped = it != stopped_keys_.end() && Clock::now() < it->second;
    }
    if (!draining_ && !stopping_ && !stopped) {
      if (!r.worker_instance_key.empty()) {
        if (const auto it = in_transit_.find(TransitKey(r)); it != in_transit_.end()) {
          it->second->next = lease;  // tasks handed off to it are answered on the next pass
          it->second->room = 0;
        }
      }
      waiting_.push_back(lease);
      has_new_ = true;
      cv_.notify_one();
      return;
    }
  }
  if (stopped) {
    Finish(lease, Status::Ok(), {});
    return;
  }
  Finish(lease, Status::Unavailable("this engine replica is shutting down; retry on another"), {});
}

void TaskDispatcher::Cancel(const std::shared_ptr<PendingLease>& lease) {
  Finish(lease, Status(StatusCode::kCancelled, "the lease request was cancelled"), {});
}

int TaskDispatcher::StopPolling(const std::string& namespace_name,
                                const std::string& worker_instance_key) {
  std::vector<std::shared_ptr<PendingLease>> now;
  int ended = 0;
  {
    std::lock_guard lock(mu_);
    const Clock::time_point t = Clock::now();
    std::erase_if(stopped_keys_, [&](const auto& entry) { return entry.second <= t; });
    if (stopped_keys_.size() < kMaxStoppedKeys) {
      stopped_keys_[StoppedKey(namespace_name, worker_instance_key)] = t + kStoppedKeyMemory;
    }
    // No more hand-offs to it; those it was given go back when nothing polls for them.
    const std::string prefix = StoppedKey(namespace_name, worker_instance_key) + '\0';
    for (auto it = in_transit_.lower_bound(prefix);
         it != in_transit_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      it->second->room = 0;
    }
    for (const auto& lease : waiting_) {
      const LeaseRequest& r = lease->request;
      if (lease->answered || lease->ending || r.namespace_name != namespace_name ||
          r.worker_instance_key != worker_instance_key) {
        continue;
      }
      lease->ending = true;
      ++ended;
      // A claim or a transaction that holds it answers it when done (Serve, Deliver).
      if (lease->reservations == 0 && !lease->claiming) now.push_back(lease);
    }
  }
  for (const auto& lease : now)
    Finish(lease, Status::Ok(), {});
  return ended;
}

void TaskDispatcher::OnWorkAvailable(const std::string& namespace_name, const std::string& queue) {
  {
    std::lock_guard lock(mu_);
    announced_.insert(namespace_name + "/" + queue);
  }
  cv_.notify_one();
}

void TaskDispatcher::OnWorkAvailableAfter(const std::string& namespace_name,
                                          const std::string& queue, Millis delay) {
  {
    std::lock_guard lock(mu_);
    announce_later_.emplace(Clock::now() + delay, namespace_name + "/" + queue);
    rearm_ = true;
  }
  cv_.notify_one();
}

void TaskDispatcher::OnWorkerSilent(const std::string& identity) {
  std::vector<std::shared_ptr<PendingLease>> silent;
  {
    std::lock_guard lock(mu_);
    for (const auto& lease : waiting_) {
      if (!lease->answered && lease->reservations == 0 && !lease->claiming &&
          lease->request.identity == identity) {
        silent.push_back(lease);
      }
    }
  }
  for (const auto& lease : silent)
    Finish(lease, Status::Ok(), {});
}

void TaskDispatcher::WakeAll() {
  {
    std::lock_guard lock(mu_);
    wake_all_ = true;
  }
  cv_.notify_one();
}

bool TaskDispatcher::Finish(const std::shared_ptr<PendingLease>& lease, Status status,
                            std::vector<persistence::TaskRow> tasks) {
  std::vector<persistence::TaskRow> collected;  // leased to it by holders that committed
  {
    std::lock_guard lock(mu_);
    if (lease->answered) return false;
    lease->answered = true;
    collected.swap(lease->collected);
    const LeaseRequest& r = lease->request;
    if (!r.worker_instance_key.empty() && !draining_ && !stopping_ &&
        stopped_keys_.count(StoppedKey(r.namespace_name, r.worker_instance_key)) == 0) {
      // Before the answer leaves: the worker's next poll may follow it at once.
      auto& transit = in_transit_[TransitKey(r)];
      if (transit == nullptr) transit = std::make_shared<InTransit>();
      transit->next.reset();
      transit->room = 0;
      if (status.ok() && !lease->ending) {
        transit->request = r;
        transit->answered_at = Clock::now();
        transit->room = std::max(
            0, r.max_tasks + r.reserved_slots - static_cast<int>(tasks.size() + collected.size()));
      }
    }
  }
  if (status.ok()) {
    tasks.insert(tasks.end(), collected.begin(), collected.end());
  } else if (!collected.empty()) {  // a cancelled poll: they go back
    ReleaseUndeliveredLater(lease->request.identity, std::move(collected));
  }
  lease->done(std::move(status), std::move(tasks));
  return true;
}

void TaskDispatcher::Loop() {
  NameThisThread("dispatch");
  Clock::time_point next_poll = Clock::now() + options_.fallback_poll;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Clock::time_point wake = next_poll;
    for (const auto& lease : waiting_)
      wake = std::min(wake, lease->deadline);
    if (!announce_later_.empty()) wake = std::min(wake, announce_later_.begin()->first);
    for (const auto& transit : with_pending_)
      wake = std::min(wake, transit->pending_since + kHandOffWindow);
    cv_.wait_until(lock, wake, [&] {
      return stopping_ || has_new_ || wake_all_ || rearm_ || !announced_.empty() ||
             !undelivered_.empty() || HandOffsWaiting() || Clock::now() >= wake;
    });
    if (stopping_) break;
    rearm_ = false;
    if (!undelivered_.empty()) {
      std::vector<Undelivered> release;
      release.swap(undelivered_);
      lock.unlock();
      for (const Undelivered& entry : release)
        ReleaseUndelivered(entry.identity, entry.tasks, entry.reason);
      lock.lock();
    }

    const Clock::time_point now = Clock::now();
    if (!with_pending_.empty() || (!in_transit_.empty() && now >= next_transit_sweep_)) {
      DueHandOffs due = TakeDueHandOffs(now);
      if (!due.answer.empty() || !due.release.empty()) {
        lock.unlock();
        Complete(std::move(due));
        lock.lock();
      }
    }
    while (!announce_later_.empty() && announce_later_.begin()->first <= now) {
      announced_.insert(announce_later_.begin()->second);
      announce_later_.erase(announce_later_.begin());
    }
    const bool poll = wake_all_ || now >= next_poll;
    if (now >= next_poll) next_poll = now + options_.fallback_poll;
    if (poll) {
      known_empty_.clear();
    } else {
      std::erase_if(known_empty_, [&](const auto& entry) {
        return std::any_of(entry.second.begin(), entry.second.end(),
                           [&](const auto& k) { return announced_.count(k) > 0; });
      });
    }
    std::vector<std::shared_ptr<PendingLease>> candidates, expired;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      const auto& lease = *it;
      if (lease->answered) {
        it = waiting_.erase(it);
        continue;
      }
      if (lease->reservations > 0) {  // a transaction answers it, or gives it back
        ++it;
        continue;
      }
      if (lease->tried && now >= lease->deadline) {
        expired.push_back(lease);
        it = waiting_.erase(it);
        continue;
      }
      const bool announced = std::any_of(lease->queue_keys.begin(), lease->queue_keys.end(),
                                         [&](const auto& k) { return announced_.count(k) > 0; });
      if (!lease->tried && lease->request.max_tasks > 0 &&
          known_empty_.count(lease->signature) > 0) {
        lease->tried = true;  // a claim now would find what the last one found: nothing more
      } else if (!lease->tried || poll || announced) {
        candidates.push_back(lease);
      }
      ++it;
    }
    announced_.clear();
    has_new_ = false;
    wake_all_ = false;

    lock.unlock();
    for (const auto& lease : expired)
      Finish(lease, Status::Ok(), {});
    Serve(candidates);
    lock.lock();
  }
}

namespace {

// Whether `next` may take hand-offs now: waiting, not claiming (a claim asked for all its room),
// with room (mu_ held).
bool CanTake(const TaskDispatcher::PendingLease& next) {
  return !next.answered && !next.claiming && !next.ending && next.room + next.reserved_room > 0;
}

}  // namespace

bool TaskDispatcher::HandOffsWaiting() const {
  for (const auto& transit : with_pending_) {
    const auto next = transit->next.lock();
    if (draining_ || (next != nullptr && CanTake(*next))) return true;
  }
  return false;
}

std::shared_ptr<TaskDispatcher::PendingLease> TaskDispatcher::MoveToNextPoll(InTransit& transit) {
  const auto next = transit.next.lock();
  if (transit.pending.empty() || next == nullptr || !CanTake(*next) || draining_ || stopping_) {
    return nullptr;
  }
  // As a holder that committed: into its answer, in slots of its room (never more tasks than
  // the worker asked for). Held by other transactions, it is answered when the last one ends.
  const int n =
      std::min(static_cast<int>(transit.pending.size()), next->room + next->reserved_room);
  const int ordinary = std::min(n, next->room);
  next->room -= ordinary;
  next->reserved_room -= n - ordinary;
  next->collected.insert(next->collected.end(), transit.pending.begin(),
                         transit.pending.begin() + n);
  transit.pending.erase(transit.pending.begin(), transit.pending.begin() + n);
  return next->reservations == 0 ? next : nullptr;
}

TaskDispatcher::DueHandOffs TaskDispatcher::TakeDueHandOffs(Clock::time_point now) {
  DueHandOffs due;
  for (auto it = with_pending_.begin(); it != with_pending_.end();) {
    InTransit& transit = **it;
    if (auto next = MoveToNextPoll(transit)) due.answer.push_back(std::move(next));
    if (!transit.pending.empty() &&
        (stopping_ || draining_ || now - transit.pending_since >= kHandOffWindow)) {
      due.release.emplace_back(transit.request.identity, std::move(transit.pending));
      transit.pending.clear();
    }
    it = transit.pending.empty() ? with_pending_.erase(it) : std::next(it);
  }
  // Workers answered long ago, holding no hand-off: forgotten now and then (a pass is per poll,
  // a sweep per second).
  if (now >= next_transit_sweep_) {
    std::erase_if(in_transit_, [&](const auto& entry) {
      const InTransit& transit = *entry.second;
      return transit.holders == 0 && transit.pending.empty() &&
             now - transit.answered_at >= kHandOffWindow;
    });
    next_transit_sweep_ = now + std::chrono::seconds(1);
  }
  return due;
}

void TaskDispatcher::Complete(DueHandOffs due) {
  // Whoever answers a poll first (this, a claim, a cancel) takes its collected tasks along.
  for (const auto& lease : due.answer)
    Finish(lease, Status::Ok(), {});
  for (const auto& [identity, tasks] : due.release) {
    spdlog::debug("{} task(s) handed to {}'s next poll, which did not come: back to the queue",
                  tasks.size(), identity);
    ReleaseUndelivered(identity, tasks, kNextPollDidNotCome);
  }
}

void TaskDispatcher::Serve(const std::vector<std::shared_ptr<PendingLease>>& candidates) {
  // Found with nothing claimable in this pass: signatures, and signature + class for reserved
  // slots alone (ServeOne).
  std::set<std::string> exhausted;
  for (const auto& lease : candidates) {
    {
      std::lock_guard lock(mu_);
      if (lease->answered || lease->reservations > 0 || lease->ending) continue;
      lease->claiming = true;  // no transaction reserves it meanwhile
    }
    ServeOne(lease, &exhausted);
    bool ended = false;  // StopPolling came during the claim, which found nothing for it
    {
      std::lock_guard lock(mu_);
      lease->claiming = false;
      ended = lease->ending && !lease->answered;
    }
    if (ended) Finish(lease, Status::Ok(), {});
  }
  // Announcements that arrived during these claims are in announced_ and forget these entries in
  // the next pass, before any new request relies on them.
  std::lock_guard lock(mu_);
  for (const auto& lease : candidates) {
    if (lease->request.max_tasks > 0 && exhausted.count(lease->signature) > 0) {
      known_empty_.emplace(lease->signature, lease->queue_keys);
    }
  }
}

void TaskDispatcher::ServeOne(const std::shared_ptr<PendingLease>& lease,
                              std::set<std::string>* exhausted) {
  lease->tried = true;
  const LeaseRequest& r = lease->request;
  // A claim for ordinary slots that found fewer tasks than they asked for leaves nothing of any
  // class (a task of any class may take an ordinary slot). A claim for reserved slots alone that
  // came back short leaves nothing of their classes — ordinary work may well wait, and the next
  // poll for it must claim at once (a worker reserving slots for activations would otherwise run
  // a bulk backlog at one claim per fallback poll). Each exhausts its own key for this pass, so
  // the idle reserved polls of many workers share one empty claim, as ordinary polls do.
  const bool reserved_only = r.max_tasks == 0;
  const std::string urgent_key = lease->signature + '\1' + std::to_string(r.reserved_class);
  std::vector<persistence::TaskRow> tasks;
  if (exhausted->count(lease->signature) == 0 &&
      !(reserved_only && exhausted->count(urgent_key) > 0)) {
    Status s = Claim(r, &tasks);
    if (!s.ok()) {
      Finish(lease, s, {});
      return;
    }
    const int asked = reserved_only ? r.reserved_slots : r.max_tasks;
    if (static_cast<int>(tasks.size()) < asked) {
      exhausted->insert(reserved_only ? urgent_key : lease->signature);
    }
  }
  if (!tasks.empty()) {
    const std::vector<persistence::TaskRow> copy = tasks;
    if (!Finish(lease, Status::Ok(), std::move(tasks))) {
      ReleaseUndelivered(lease->request.identity, copy);
    }
  } else if (Clock::now() >= lease->deadline) {
    Finish(lease, Status::Ok(), {});
  }
}

Status TaskDispatcher::Claim(const LeaseRequest& request,
                             std::vector<persistence::TaskRow>* tasks) {
  persistence::ClaimRequest claim{
      request.namespace_name, request.queues,         request.task_types, request.max_tasks,
      request.reserved_slots, request.reserved_class, request.identity};
  persistence::ClaimResult result;
  // BEGIN, the claim and COMMIT in one round trip.
  const Status s =
      persistence::TransactPipelined(pool_, "lease tasks", [&](persistence::PipelinedWork& work) {
        result = persistence::ReadClaim(
            work.Send({persistence::ClaimStatement(claim)}, /*commit=*/true).front());
        return Status::Ok();
      });
  if (!s.ok()) return s;
  *tasks = std::move(result.tasks);
  if (!tasks->empty() && observer_ != nullptr) observer_->Leased(*tasks);
  if (result.refill_in) {
    // A rate limit ran out of tokens: claim again when the next one is there (no NOTIFY tells).
    for (const std::string& queue : request.queues)
      OnWorkAvailableAfter(request.namespace_name, queue, *result.refill_in);
  }
  return s;
}

Status TaskDispatcher::MaintainControls(Millis ageing) {
  TransitionFacts facts;
  int aged = 0;
  const Status s = persistence::Transact(pool_, "dispatch upkeep", [&](pqxx::work& txn) {
    facts.breaker_changes = persistence::HalfOpenCooledBreakers(txn);
    // Ageing more often than a tenth of its step changes nothing worth the scan.
    const auto now = Clock::now();
    if (ageing.count() > 0 && now >= next_ageing_) {
      // Small passes: a large backlog is lifted over several passes instead of by one long
      // transaction that competes with the hot path (a full pass comes back sooner).
      aged = persistence::AgePriorities(txn, ageing, kAgeingBatch);
      next_ageing_ =
          now + (aged == kAgeingBatch ? kAgeingCatchUp : std::max(Millis(1000), ageing / 10));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  for (const persistence::BreakerChange& change : facts.breaker_changes) {
    spdlog::warn("circuit breaker of task type {}/{} is now {}: one probe attempt may go",
                 change.namespace_name, change.task_type, change.state);
  }
  if (aged > 0) spdlog::debug("ageing lifted {} queued tasks one class or more", aged);
  if (!facts.breaker_changes.empty() && observer_ != nullptr) observer_->Committed(facts);
  if (!facts.breaker_changes.empty() || aged > 0) WakeAll();
  return s;
}

void TaskDispatcher::ReleaseUndeliveredLater(std::string identity,
                                             std::vector<persistence::TaskRow> tasks,
                                             const char* reason) {
  {
    std::lock_guard lock(mu_);
    undelivered_.push_back({std::move(identity), std::move(tasks), reason});
  }
  cv_.notify_one();
}

void TaskDispatcher::ReleaseUndelivered(const std::string& identity,
                                        const std::vector<persistence::TaskRow>& tasks,
                                        const char* reason) {
  for (const persistence::TaskRow& task : tasks) {
    const LeaseRef ref{task.namespace_name,  task.id,     task.lease_epoch, identity,
                       events::kEngineActor, std::nullopt};
    Status s = scheduler_.ReleaseTask(ref, reason);
    if (!s.ok()) {
      // The lease will expire and the task will be retried then.
      spdlog::warn(
          "run={} task={} step={} could not be released after an abandoned lease "
          "request: {}",
          task.run_id, task.id, task.step, s.ToString());
    }
  }
}

Status TaskDispatcher::Heartbeat(const LeaseRef& caller,
                                 const std::vector<persistence::LeaseBeat>& beats,
                                 std::vector<BeatResult>* results) {
  return RenewLeases(pool_, caller, beats, results);
}

}  // namespace gridflow::engine
