#include "common/periodic_task.h"

#include <spdlog/spdlog.h>

#include "common/thread_name.h"

namespace gridflow {

PeriodicTask::PeriodicTask(std::string name, std::chrono::milliseconds interval,
                           std::function<void()> tick, Pace pace)
    : name_(std::move(name)), interval_(interval), pace_(pace), tick_(std::move(tick)) {}

PeriodicTask::~PeriodicTask() {
  Stop();
}

void PeriodicTask::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void PeriodicTask::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicTask::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void PeriodicTask::Loop() {
  NameThisThread(name_);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    try {
      tick_();
    } catch (const std::exception& e) {
      spdlog::error("{}: {}", name_, e.what());
    }
    lock.lock();
    const auto next =
        (pace_ == Pace::kFromTickStart ? started : std::chrono::steady_clock::now()) + interval_;
    cv_.wait_until(lock, next, [this] { return stopping_ || woken_; });
  }
}

}  // namespace gridflow
