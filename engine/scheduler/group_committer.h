// GroupCommitter: the queue in front of the scheduler's group-committed calls. Calls wait here
// while the committer threads are busy; a free thread takes everything queued (up to the batch
// limit) and applies it in one transaction (Scheduler::RunBatch). Nothing waits for company: a
// call that finds a thread free is applied at once, alone — batches grow only when calls arrive
// faster than transactions commit, which is exactly when they pay. One batch at a time reads: the
// next one starts when the one before sends its writes and COMMIT, so commits overlap reads
// rather than the queue being split into small concurrent batches.
//
// How many batches may be in flight at once is set at run time (SetConcurrency, at most the
// threads started): replicas sharing one PostgreSQL share its concurrency (docs/operations.md).
// The share binds only under load: while the recent batches held about one call each, a call that
// finds the share in flight takes a free thread anyway — waiting would not gather it company.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/scheduler/scheduler.h"

namespace gridflow::engine {

class GroupCommitter {
 public:
  GroupCommitter(Scheduler& scheduler, int threads, int max_batch);
  ~GroupCommitter();  // Stop()
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Batches in flight at once from now on: clamped to [1, threads started].
  void SetConcurrency(int batches);
  int concurrency() const;
  // Whether a batch began since the last call.
  bool TakeActivity();

  // Queues a call; false once stopped (the call was not taken).
  bool Submit(std::unique_ptr<Scheduler::Call> call);
  // Applies what is queued, then joins the threads. Idempotent.
  void Stop();

 private:
  void Loop();
  bool CanBegin() const;  // under mu_

  Scheduler& scheduler_;
  const size_t max_batch_;
  const int threads_started_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Scheduler::Call>> queue_;
  bool stopping_ = false;
  bool reading_ = false;     // a batch is in its read phase: the next one waits and grows meanwhile
  int in_flight_ = 0;        // batches begun and not yet answered
  bool active_ = false;      // a batch began since TakeActivity
  double recent_batch_ = 1;  // calls per batch, a moving average of the recent batches
  int concurrency_;          // in_flight_ stays below it (SetConcurrency)
  std::vector<std::thread> threads_;
};

}  // namespace gridflow::engine
