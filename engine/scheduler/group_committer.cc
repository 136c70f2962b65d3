#include "engine/scheduler/group_committer.h"

#include <spdlog/spdlog.h>

#include "engine/scheduler/scheduler_call.h"

namespace gridflow::engine {

GroupCommitter::GroupCommitter(Scheduler& scheduler, int threads, int max_batch)
    : scheduler_(scheduler), max_batch_(static_cast<size_t>(std::max(1, max_batch))) {
  for (int i = 0; i < std::max(1, threads); ++i)
    threads_.emplace_back([this] { Loop(); });
}

GroupCommitter::~GroupCommitter() {
  Stop();
}

bool GroupCommitter::Submit(std::unique_ptr<Scheduler::Call> call) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(call));
  }
  cv_.notify_one();
  return true;
}

void GroupCommitter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void GroupCommitter::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || (!queue_.empty() && !reading_); });
    if (queue_.empty()) return;  // stopping, nothing left
    if (reading_) {              // stopping: wait for the reader, then apply what is left
      cv_.wait(lock, [this] { return !reading_; });
      continue;
    }
    reading_ = true;
    std::vector<std::unique_ptr<Scheduler::Call>> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    bool released = false;  // this thread only
    const auto reads_done = [this, &released] {
      if (released) return;
      released = true;
      {
        std::lock_guard reading_lock(mu_);
        reading_ = false;
      }
      cv_.notify_one();  // the next batch may begin reading
    };
    try {
      scheduler_.RunBatch(std::move(batch), reads_done);
    } catch (const std::exception& e) {  // RunBatch answers every call; this is a last resort
      spdlog::error("group commit: unexpected exception: {}", e.what());
    }
    reads_done();
    lock.lock();
  }
}

}  // namespace gridflow::engine
