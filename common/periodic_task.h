// PeriodicTask: runs a function on its own thread every `interval` until stopped, and at once when
// woken. For background loops (lease expiry, membership heartbeats, health checks, history
// watches). Exceptions thrown by the function are caught and logged, never cross the thread
// boundary.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace gridflow {

class PeriodicTask {
 public:
  // kAfterTick: `interval` passes between the end of one tick and the start of the next.
  // kFromTickStart: ticks start every `interval` (a tick that takes longer is followed at once):
  // for work paced at so much per interval.
  enum class Pace { kAfterTick, kFromTickStart };

  PeriodicTask(std::string name, std::chrono::milliseconds interval, std::function<void()> tick,
               Pace pace = Pace::kAfterTick);
  ~PeriodicTask();  // stops
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void Start();
  // Waits for a tick in progress to finish. Idempotent.
  void Stop();
  // Runs the next tick now (or right after the one in progress) instead of after the interval.
  void Wake();

 private:
  void Loop();

  const std::string name_;
  const std::chrono::milliseconds interval_;
  const Pace pace_;
  const std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace gridflow
