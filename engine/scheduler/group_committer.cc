#include "engine/scheduler/group_committer.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/thread_name.h"
#include "engine/scheduler/scheduler_call.h"

namespace gridflow::engine {

GroupCommitter::GroupCommitter(BatchRunner runner, int threads, int max_batch)
    : runner_(std::move(runner)),
      max_batch_(static_cast<size_t>(std::max(1, max_batch))),
      threads_started_(std::max(1, threads)),
      concurrency_(threads_started_) {
  for (int i = 0; i < threads_started_; ++i)
    threads_.emplace_back([this] { Loop(); });
  threads_.emplace_back([this] { UrgentLoop(); });
}

GroupCommitter::~GroupCommitter() {
  Stop();
}

void GroupCommitter::SetConcurrency(int batches) {
  {
    std::lock_guard lock(mu_);
    concurrency_ = std::clamp(batches, 1, threads_started_);
  }
  cv_.notify_all();
}

int GroupCommitter::concurrency() const {
  std::lock_guard lock(mu_);
  return concurrency_;
}

bool GroupCommitter::TakeActivity() {
  std::lock_guard lock(mu_);
  return std::exchange(active_, false);
}

void GroupCommitter::SetActivityObserver(std::function<void()> observer) {
  std::lock_guard lock(mu_);
  activity_observer_ = std::move(observer);
}

GroupCommitter::Load GroupCommitter::CurrentLoad() const {
  std::lock_guard lock(mu_);
  return {in_flight_ + urgent_in_flight_, CanBegin()};
}

bool GroupCommitter::CanBegin() const {
  // Stopping: what is queued is applied without regard to the share. At light load (the recent
  // batches held one call, about) a call would wait for the batch in flight without gaining
  // company, so it takes a free thread, beyond the share too. In between, a second batch needs
  // a queue worth its transaction. (Urgent batches have a thread of their own and count for
  // none of this.)
  constexpr double kLightLoad = 1.5;
  return !queue_.empty() && !reading_ &&
         (stopping_ || in_flight_ == 0 ||
          (in_flight_ < concurrency_ && queue_.size() >= kBusyQueue) ||
          (in_flight_ < threads_started_ && recent_batch_ < kLightLoad));
}

bool GroupCommitter::Submit(std::unique_ptr<Scheduler::Call> call) {
  bool wake = false, wake_urgent = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    if (call->urgent) {
      urgent_.push_back(std::move(call));
      // The urgent thread takes it at once, or with the next urgent batch when it is busy.
      wake_urgent = urgent_in_flight_ == 0;
    } else {
      queue_.push_back(std::move(call));
      // A busy committer takes the call with its next batch; waking a thread that cannot begin
      // (a batch reading, the share in flight) would only cost a context switch per call.
      wake = CanBegin();
    }
  }
  if (wake_urgent) urgent_cv_.notify_one();
  if (wake) cv_.notify_one();
  return true;
}

void GroupCommitter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  urgent_cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::vector<std::unique_ptr<Scheduler::Call>> GroupCommitter::TakeBatch(
    std::deque<std::unique_ptr<Scheduler::Call>>& source, std::function<void()>* observer) {
  if (!std::exchange(active_, true)) *observer = activity_observer_;
  std::vector<std::unique_ptr<Scheduler::Call>> batch;
  while (!source.empty() && batch.size() < max_batch_) {
    batch.push_back(std::move(source.front()));
    source.pop_front();
  }
  return batch;
}

void GroupCommitter::Run(std::vector<std::unique_ptr<Scheduler::Call>> batch,
                         const std::function<void()>& reads_done) {
  try {
    runner_(std::move(batch), reads_done);
  } catch (const std::exception& e) {  // the runner answers every call; this is a last resort
    spdlog::error("group commit: unexpected exception: {}", e.what());
  }
}

void GroupCommitter::Loop() {
  NameThisThread("commit");
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || CanBegin(); });
    if (queue_.empty()) return;  // stopping, nothing left
    if (reading_) {              // stopping: wait for the reader, then apply what is left
      cv_.wait(lock, [this] { return !reading_; });
      continue;
    }
    reading_ = true;
    ++in_flight_;
    std::function<void()> observer;
    std::vector<std::unique_ptr<Scheduler::Call>> batch = TakeBatch(queue_, &observer);
    recent_batch_ = 0.8 * recent_batch_ + 0.2 * static_cast<double>(batch.size());  // ~5 batches
    lock.unlock();
    if (observer) observer();
    bool released = false;  // this thread only
    const auto reads_done = [this, &released] {
      if (released) return;
      released = true;
      bool wake = false, stopping = false;
      {
        std::lock_guard reading_lock(mu_);
        reading_ = false;
        wake = CanBegin();
        stopping = stopping_;
      }
      if (stopping) {
        cv_.notify_all();  // threads waiting for this read to end, to finish the queue
      } else if (wake) {
        cv_.notify_one();  // the next batch may begin reading
      }
    };
    Run(std::move(batch), reads_done);
    reads_done();
    lock.lock();
    --in_flight_;  // this thread checks for the next batch itself
  }
}

void GroupCommitter::UrgentLoop() {
  NameThisThread("commit urgent");
  std::unique_lock lock(mu_);
  while (true) {
    urgent_cv_.wait(lock, [this] { return stopping_ || !urgent_.empty(); });
    if (urgent_.empty()) return;  // stopping, nothing left
    ++urgent_in_flight_;
    std::function<void()> observer;
    std::vector<std::unique_ptr<Scheduler::Call>> batch = TakeBatch(urgent_, &observer);
    lock.unlock();
    if (observer) observer();
    Run(std::move(batch), [] {});  // no read phase to hand on: ordinary batches never wait for it
    lock.lock();
    --urgent_in_flight_;
  }
}

}  // namespace gridflow::engine
