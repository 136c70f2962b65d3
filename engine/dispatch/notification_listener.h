// NotificationListener: LISTENs on PostgreSQL's task channel over a dedicated connection. It tells
// the dispatcher which queues got work, so a task committed by any replica wakes the workers
// long-polling on this one within milliseconds. When the connection breaks it reconnects with
// backoff and then wakes every waiting request, since notifications may have been missed.
// (History streams do not use NOTIFY: HistoryWatchHub polls the runs it watches.)
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "engine/dispatch/task_dispatcher.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class NotificationListener {
 public:
  NotificationListener(persistence::ConnectionPool& pool, TaskDispatcher& dispatcher)
      : pool_(pool), dispatcher_(dispatcher) {}
  ~NotificationListener() { Stop(); }
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  void Start();
  void Stop();
  // True while LISTEN is active on a live connection.
  bool listening() const { return listening_.load(); }

 private:
  void Loop();

  persistence::ConnectionPool& pool_;
  TaskDispatcher& dispatcher_;
  std::mutex mu_;
  std::condition_variable stopped_;  // ends the wait between reconnection attempts
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

}  // namespace gridflow::engine
