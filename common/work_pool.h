// WorkPool: a fixed set of threads running submitted closures in order of submission. For work
// that blocks (database transactions behind an RPC), so that gRPC's own threads never wait and no
// thread is created per call. Exceptions escaping a closure are caught and logged.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gridflow {

class WorkPool {
 public:
  WorkPool(std::string name, int threads);
  ~WorkPool();  // Stop()
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `work`; false (and `work` is dropped) once the pool stopped.
  bool Submit(std::function<void()> work);
  // Runs what is queued, then joins the threads. Idempotent.
  void Stop();
  // Closures queued or running now.
  size_t pending() const;

 private:
  void Loop();

  const std::string name_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gridflow
