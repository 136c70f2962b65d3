// NotificationListener: LISTENs on PostgreSQL's task and event channels over a dedicated
// connection. It tells the dispatcher which queues got work, so a task committed by any replica
// wakes the workers long-polling on this one within milliseconds, and tells `on_run_events` which
// runs recorded events (for history streams). When the connection breaks it reconnects with
// backoff and then wakes every waiting request, since notifications may have been missed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "engine/dispatch/task_dispatcher.h"
#include "persistence/connection_pool.h"

namespace gridflow::engine {

class NotificationListener {
 public:
  using RunEventsCallback = std::function<void(const std::string& run_id)>;

  NotificationListener(persistence::ConnectionPool& pool, TaskDispatcher& dispatcher,
                       RunEventsCallback on_run_events)
      : pool_(pool), dispatcher_(dispatcher), on_run_events_(std::move(on_run_events)) {}
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
  const RunEventsCallback on_run_events_;
  std::mutex mu_;
  std::condition_variable stopped_;  // ends the wait between reconnection attempts
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

}  // namespace gridflow::engine
