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
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<std::unique_ptr<Scheduler::Call>> batch;
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (!queue_.empty()) cv_.notify_one();  // more for another thread
    lock.unlock();
    try {
      scheduler_.RunBatch(std::move(batch));
    } catch (const std::exception& e) {  // RunBatch answers every call; this is a last resort
      spdlog::error("group commit: unexpected exception: {}", e.what());
    }
    lock.lock();
  }
}

}  // namespace gridflow::engine
