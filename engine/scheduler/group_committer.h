// GroupCommitter: the queue in front of the scheduler's group-committed calls. Calls wait here
// while the committer threads are busy; a free thread takes everything queued (up to the batch
// limit) and applies it in one transaction (the BatchRunner: Scheduler::RunBatch). Nothing waits
// for company: a call that finds no batch in flight is applied at once, alone — batches grow only
// when calls arrive faster than transactions commit, which is exactly when they pay. One batch at
// a time reads: the next one starts when the one before sends its writes and COMMIT.
//
// A second batch begins beside one in flight only when it is worth a transaction of its own: at
// least kBusyQueue calls queued (one batch at a time no longer keeps up), or the load is light
// (the recent batches held about one call each: waiting would gather no company). Between the
// two, calls wait for the batch in flight and go together in the next: every transaction costs
// PostgreSQL the same fixed work, so at moderate load fewer, larger ones leave it CPU to spare
// (docs/benchmarks.md, 2026-12-04).
//
// How many batches may be in flight at once is set at run time (SetConcurrency, at most the
// threads started): replicas sharing one PostgreSQL share its concurrency (docs/operations.md).
// The share binds only under load: at light load a call takes a free thread beyond it.
//
// Urgent calls (Call::urgent: the start of an activation) never wait for company, for the batch
// in flight or for a free thread: they go in batches of their own on a thread of their own,
// beyond the share and beside batches reading and committing. One urgent batch at a time; urgent
// calls arriving meanwhile are the next one.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/scheduler/scheduler.h"

namespace gridflow::engine {

class GroupCommitter {
 public:
  // Applies a batch in one transaction and answers every call in it; calls `reads_done` once,
  // when the transaction sends its writes and COMMIT (or has failed).
  using BatchRunner = std::function<void(std::vector<std::unique_ptr<Scheduler::Call>> batch,
                                         const std::function<void()>& reads_done)>;
  // Calls queued that make a second batch worth beginning beside one in flight.
  static constexpr size_t kBusyQueue = 8;

  // `threads` for ordinary batches, and one more for urgent ones.
  GroupCommitter(BatchRunner runner, int threads, int max_batch);
  ~GroupCommitter();  // Stop()
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Batches in flight at once from now on: clamped to [1, threads started].
  void SetConcurrency(int batches);
  int concurrency() const;
  // Whether a batch began since the last call.
  bool TakeActivity();
  // Called on the committer thread, outside the lock, when a batch begins and none had since the
  // last TakeActivity: the moment a replica turns from idle to applying calls. Set before Submit.
  void SetActivityObserver(std::function<void()> observer);
  // Batches begun and not yet answered, and whether a free thread may begin another now: one
  // consistent view (a thread that took the queue counts in the first).
  struct Load {
    int in_flight = 0;
    bool may_begin = false;
  };
  Load CurrentLoad() const;

  // Queues a call; false once stopped (the call was not taken).
  bool Submit(std::unique_ptr<Scheduler::Call> call);
  // Applies what is queued, then joins the threads. Idempotent.
  void Stop();

 private:
  void Loop();            // the ordinary threads
  void UrgentLoop();      // the urgent thread
  bool CanBegin() const;  // under mu_: an ordinary thread may begin a batch
  // Takes up to max_batch_ calls of `source` (under mu_); *observer: the activity observer, when
  // this batch turns the committer active.
  std::vector<std::unique_ptr<Scheduler::Call>> TakeBatch(
      std::deque<std::unique_ptr<Scheduler::Call>>& source, std::function<void()>* observer);
  void Run(std::vector<std::unique_ptr<Scheduler::Call>> batch,
           const std::function<void()>& reads_done);

  const BatchRunner runner_;
  const size_t max_batch_;
  const int threads_started_;
  mutable std::mutex mu_;
  std::condition_variable cv_;         // the ordinary threads
  std::condition_variable urgent_cv_;  // the urgent thread
  std::deque<std::unique_ptr<Scheduler::Call>> queue_;
  std::deque<std::unique_ptr<Scheduler::Call>> urgent_;  // for the urgent thread, batched apart
  bool stopping_ = false;
  bool reading_ = false;  // a batch is in its read phase: the next one waits and grows meanwhile
  int in_flight_ = 0;     // ordinary batches begun and not yet answered
  int urgent_in_flight_ = 0;  // urgent ones (at most one)
  bool active_ = false;       // a batch began since TakeActivity
  std::function<void()> activity_observer_;
  double recent_batch_ = 1;  // calls per ordinary batch, a moving average of the recent ones
  int concurrency_;          // in_flight_ stays below it but at light load (SetConcurrency)
  std::vector<std::thread> threads_;
};

}  // namespace gridflow::engine
