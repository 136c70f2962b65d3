#include "common/work_pool.h"

#include <spdlog/spdlog.h>

#include "common/thread_name.h"

namespace gridflow {

WorkPool::WorkPool(std::string name, int threads) : name_(std::move(name)) {
  for (int i = 0; i < std::max(1, threads); ++i)
    threads_.emplace_back([this] { Loop(); });
}

WorkPool::~WorkPool() {
  Stop();
}

bool WorkPool::Submit(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
  return true;
}

void WorkPool::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t WorkPool::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size() + running_;
}

void WorkPool::Loop() {
  NameThisThread(name_);
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    try {
      work();
    } catch (const std::exception& e) {
      spdlog::error("{}: unexpected exception: {}", name_, e.what());
    }
    lock.lock();
    --running_;
  }
}

}  // namespace gridflow
