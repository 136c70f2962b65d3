// NotificationListener: LISTENs on PostgreSQL's task channel over a dedicated connection. It tells
// the dispatcher which queues got work, so a task committed by any replica wakes the workers
// long-polling on this one within milliseconds. When the connection breaks it reconnects with
// backoff and then wakes every waiting request, since notifications may have been missed.
// (History streams do not use NOTIFY: HistoryWatchHub polls the runs it watches.)
// The same connection LISTENs on the member channel: a replica announcing that it turned busy or
// idle is passed to `member_load_changed` (and, after a reconnection, an empty id).
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
  using MemberLoadChanged = std::function<void(const std::string& member_id)>;

  NotificationListener(persistence::ConnectionPool& pool, TaskDispatcher& dispatcher,
                       MemberLoadChanged member_load_changed = {})
      : pool_(pool),
        dispatcher_(dispatcher),
        member_load_changed_(std::move(member_load_changed)) {}
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
  const MemberLoadChanged member_load_changed_;
  std::mutex mu_;
  std::condition_variable stopped_;  // ends the wait between reconnection attempts
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

}  // namespace gridflow::engine
