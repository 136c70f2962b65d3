#include "engine/cluster/queue_report.h"

#include <map>
#include <nlohmann/json.hpp>

#include "persistence/member_store.h"
#include "persistence/task_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

Status ReadQueueReport(persistence::ConnectionPool& pool, const Membership& membership,
                       const std::string& namespace_name, std::vector<QueueReport>* queues) {
  return persistence::Transact(pool, "read queues", [&](pqxx::work& txn) {
    std::map<std::string, QueueReport> by_name;
    for (persistence::QueueStats& stats : persistence::ListQueueStats(txn, namespace_name)) {
      const std::string name = stats.queue;
      by_name[name].stats = std::move(stats);
    }
    // Waiting polls are keyed "<namespace>/<queue>" in each member's heartbeat.
    const std::string prefix = namespace_name.empty() ? "" : namespace_name + "/";
    for (const persistence::MemberRow& member : persistence::ListMembers(txn)) {
      if (!membership.IsAlive(member)) continue;
      const auto waiting = nlohmann::json::parse(member.waiting_polls_json, nullptr, false);
      if (!waiting.is_object()) continue;
      for (const auto& [key, count] : waiting.items()) {
        if (key.compare(0, prefix.size(), prefix) != 0 || !count.is_number_integer()) continue;
        QueueReport& report = by_name[key.substr(prefix.size())];
        report.stats.queue = key.substr(prefix.size());
        report.waiting_polls += count.get<int>();
      }
    }
    queues->clear();
    for (auto& [name, report] : by_name)
      queues->push_back(std::move(report));
    return Status::Ok();
  });
}

}  // namespace gridflow::engine
