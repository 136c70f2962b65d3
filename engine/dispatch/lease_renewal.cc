#include "engine/dispatch/lease_renewal.h"

#include <map>

#include "engine/scheduler/errors.h"
#include "engine/scheduler/run_status.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

namespace {

// One call's renewal: the batch first, then only what the batch left undecided.
class LeaseRenewal {
 public:
  LeaseRenewal(persistence::ConnectionPool& pool, const LeaseRef& caller,
               const std::vector<persistence::LeaseBeat>& beats)
      : pool_(pool), caller_(caller), beats_(beats) {}

  Status Run(std::vector<LeaseRenewalResult>* results) {
    // A lease whose row a transition holds at that moment is skipped, then renewed alone.
    Status s = Extend(beats_, /*skip_locked=*/true);
    // A lease the database refuses (anything but unreachable) must not cost the others their
    // renewal: each is then renewed alone, and answered with its own failure.
    if (!s.ok() && s.code() != StatusCode::kUnavailable && beats_.size() > 1) s = RenewEachAlone();
    if (s.ok()) s = ReadRefused();
    if (s.ok()) s = RenewStillHeld();
    if (!s.ok()) return s;
    Answer(results);
    return Status::Ok();
  }

 private:
  // BEGIN, the extensions and COMMIT in one round trip: heartbeats are most of a long task's calls.
  Status Extend(const std::vector<persistence::LeaseBeat>& some, bool skip_locked) {
    const persistence::Statement statement = persistence::ExtendLeasesStatement(
        caller_.namespace_name, some, caller_.queues, skip_locked);
    std::map<int64_t, persistence::LeaseExtension> renewed;  // by the attempt that committed
    const Status s =
        persistence::TransactPipelined(pool_, "heartbeat", [&](persistence::PipelinedWork& work) {
          renewed =
              persistence::ReadLeaseExtensions(work.Send({statement}, /*commit=*/true).front());
          return Status::Ok();
        });
    if (s.ok()) extended_.merge(renewed);
    return s;
  }

  Status RenewEachAlone() {
    for (const persistence::LeaseBeat& beat : beats_) {
      if (Status one = Extend({beat}, /*skip_locked=*/false); !one.ok()) {
        if (one.code() == StatusCode::kUnavailable) return one;
        failed_.emplace(beat.task_id, one);
      }
    }
    return Status::Ok();
  }

  // Those not renewed: a read says why (only the answers' wording depends on it).
  Status ReadRefused() {
    std::vector<int64_t> refused;
    for (const persistence::LeaseBeat& beat : beats_) {
      if (extended_.count(beat.task_id) == 0) refused.push_back(beat.task_id);
    }
    current_.clear();
    if (refused.empty()) return Status::Ok();
    return persistence::Transact(pool_, "heartbeat refused", [&](pqxx::work& txn) {
      current_.clear();
      for (persistence::TaskRow& task :
           persistence::FindTasks(txn, caller_.namespace_name, refused))
        current_.emplace(task.id, std::move(task));
      return Status::Ok();
    });
  }

  // Leases the batch skipped because a transition held their rows: one at a time, each waiting
  // for its row (never for one row while holding others).
  Status RenewStillHeld() {
    bool waited = false;
    for (const persistence::LeaseBeat& beat : beats_) {
      if (extended_.count(beat.task_id) > 0 || failed_.count(beat.task_id) > 0 || !StillHeld(beat))
        continue;
      if (Status s = Extend({beat}, /*skip_locked=*/false); !s.ok()) return s;
      waited = true;
    }
    return waited ? ReadRefused() : Status::Ok();
  }

  bool StillHeld(const persistence::LeaseBeat& beat) const {
    const auto task = current_.find(beat.task_id);
    return task != current_.end() && task->second.state == task_state::kLeased &&
           task->second.lease_epoch == beat.lease_epoch && QueueAllowed(caller_, task->second).ok();
  }

  void Answer(std::vector<LeaseRenewalResult>* results) const {
    results->assign(beats_.size(), LeaseRenewalResult{});
    for (size_t i = 0; i < beats_.size(); ++i) {
      const persistence::LeaseBeat& beat = beats_[i];
      LeaseRenewalResult& result = (*results)[i];
      if (const auto e = extended_.find(beat.task_id); e != extended_.end()) {
        result.extension = e->second;
      } else if (const auto f = failed_.find(beat.task_id); f != failed_.end()) {
        result.status = f->second;
      } else if (const auto task = current_.find(beat.task_id); task == current_.end()) {
        result.status = UnknownTask(caller_.namespace_name, beat.task_id);
      } else if (Status denied = QueueAllowed(caller_, task->second); !denied.ok()) {
        result.status = denied;
      } else {
        result.status = StaleLease(task->second, beat.lease_epoch);
      }
    }
  }

  persistence::ConnectionPool& pool_;
  const LeaseRef& caller_;
  const std::vector<persistence::LeaseBeat>& beats_;
  std::map<int64_t, persistence::LeaseExtension> extended_;
  std::map<int64_t, Status> failed_;                 // refused by the database for their own sake
  std::map<int64_t, persistence::TaskRow> current_;  // the rows of those not (yet) renewed
};

}  // namespace

Status RenewLeases(persistence::ConnectionPool& pool, const LeaseRef& caller,
                   const std::vector<persistence::LeaseBeat>& beats,
                   std::vector<LeaseRenewalResult>* results) {
  return LeaseRenewal(pool, caller, beats).Run(results);
}

}  // namespace gridflow::engine
