#include "engine/dispatch/notification_listener.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <pqxx/notification>

#include "common/thread_name.h"
#include "persistence/member_store.h"
#include "persistence/task_store.h"

namespace gridflow::engine {
namespace {

class TaskChannelReceiver final : public pqxx::notification_receiver {
 public:
  TaskChannelReceiver(pqxx::connection& c, TaskDispatcher& dispatcher)
      : pqxx::notification_receiver(c, persistence::kTaskChannel), dispatcher_(dispatcher) {}

  void operator()(const std::string& payload, int /*backend_pid*/) override {
    const size_t slash = payload.find('/');
    if (slash == std::string::npos) return;
    dispatcher_.OnWorkAvailable(payload.substr(0, slash), payload.substr(slash + 1));
  }

 private:
  TaskDispatcher& dispatcher_;
};

class MemberChannelReceiver final : public pqxx::notification_receiver {
 public:
  MemberChannelReceiver(pqxx::connection& c, const NotificationListener::MemberLoadChanged& changed)
      : pqxx::notification_receiver(c, persistence::kMemberChannel), changed_(changed) {}

  void operator()(const std::string& payload, int /*backend_pid*/) override { changed_(payload); }

 private:
  const NotificationListener::MemberLoadChanged& changed_;
};

}  // namespace

void NotificationListener::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void NotificationListener::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stopped_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void NotificationListener::Loop() {
  NameThisThread("listen");
  std::chrono::milliseconds backoff(100);
  while (!stopping_) {
    std::unique_ptr<pqxx::connection> connection;
    Status s = pool_.OpenDedicated(&connection);
    if (s.ok()) {
      try {
        TaskChannelReceiver tasks(*connection, dispatcher_);
        std::optional<MemberChannelReceiver> members;
        if (member_load_changed_) members.emplace(*connection, member_load_changed_);
        connection->get_notifs();  // LISTEN is issued by the receivers
        listening_ = true;
        backoff = std::chrono::milliseconds(100);
        dispatcher_.WakeAll();  // anything announced while we were not listening
        if (member_load_changed_) member_load_changed_("");
        while (!stopping_)
          connection->await_notification(0, 200'000);
      } catch (const std::exception& e) {
        spdlog::warn("task notifications interrupted, reconnecting: {}", e.what());
      }
      listening_ = false;
    } else {
      spdlog::warn("task notifications unavailable: {}", s.message());
    }
    {
      std::unique_lock lock(mu_);
      if (stopped_.wait_for(lock, backoff, [this] { return stopping_.load(); })) break;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace gridflow::engine
