#include "persistence/dead_letter_store.h"

#include <algorithm>

#include <pqxx/result>

namespace gridflow::persistence {
namespace {

// A task failed for good whose run is still FAILED (a retried run leaves the view).
constexpr const char* kDeadLetters =
    " FROM runs r JOIN tasks t ON t.run_id = r.id"
    " WHERE r.namespace = $1 AND r.status = 'FAILED' AND t.state = 'FAILED'";
constexpr const char* kErrorType = "COALESCE(t.last_failure->>'error_type', '')";

}  // namespace

std::vector<DeadLetterGroupRow> ListDeadLetterGroups(pqxx::transaction_base& txn,
                                                     const DeadLetterFilter& filter) {
  const std::string sql =
      std::string("SELECT t.queue, t.task_type, ") + kErrorType +
      ", count(*), count(DISTINCT t.run_id), min(t.updated_at), max(t.updated_at),"
      // Workflow ids hold no control characters (the API refuses them): chr(31) separates.
      " array_to_string((array_agg(r.workflow_id ORDER BY t.updated_at DESC, t.id DESC))[1:20],"
      "  chr(31)),"
      " (array_agg(COALESCE(t.last_failure->>'message', '')"
      "  ORDER BY t.updated_at DESC, t.id DESC))[1]" +
      kDeadLetters +
      " AND ($2 = '' OR t.queue = $2) AND ($3 = '' OR t.task_type = $3)"
      " AND ($4 = '' OR " +
      kErrorType +
      " = $4)"
      " AND ($5::bigint IS NULL OR t.updated_at >= timestamptz 'epoch' + $5 * interval '1 "
      "microsecond')"
      " GROUP BY 1, 2, 3 ORDER BY max(t.updated_at) DESC, 1, 2, 3 LIMIT 500";
  std::optional<int64_t> after;
  if (filter.failed_after) after = ToEpochMicros(*filter.failed_after);
  std::vector<DeadLetterGroupRow> groups;
  for (const pqxx::row& r : txn.exec_params(sql, filter.namespace_name, filter.queue,
                                            filter.task_type, filter.error_type, after)) {
    DeadLetterGroupRow g;
    g.queue = r[0].as<std::string>();
    g.task_type = r[1].as<std::string>();
    g.error_type = r[2].as<std::string>();
    g.tasks = r[3].as<int64_t>();
    g.runs = r[4].as<int64_t>();
    g.first_failure = Timestamp(r[5]);
    g.last_failure = Timestamp(r[6]);
    const std::string samples = r[7].as<std::string>();
    for (size_t begin = 0; begin <= samples.size() && g.sample_workflow_ids.size() < 5;) {
      const size_t end = std::min(samples.find('\x1f', begin), samples.size());
      const std::string id = samples.substr(begin, end - begin);
      begin = end + 1;
      // A run may have failed twice in one group: named once.
      if (!id.empty() && std::find(g.sample_workflow_ids.begin(), g.sample_workflow_ids.end(),
                                   id) == g.sample_workflow_ids.end()) {
        g.sample_workflow_ids.push_back(id);
      }
    }
    g.last_message = r[8].as<std::string>();
    groups.push_back(std::move(g));
  }
  return groups;
}

std::vector<std::pair<std::string, std::string>> DeadLetterRuns(
    pqxx::transaction_base& txn, const std::string& namespace_name, const std::string& queue,
    const std::string& task_type, const std::string& error_type, const std::string& after_run_id,
    int limit) {
  const std::string sql = std::string("SELECT DISTINCT r.id, r.workflow_id") + kDeadLetters +
                          " AND t.queue = $2 AND t.task_type = $3 AND " + kErrorType +
                          " = $4 AND ($5 = '' OR r.id > $5::uuid) ORDER BY r.id LIMIT $6";
  std::vector<std::pair<std::string, std::string>> runs;
  for (const pqxx::row& r :
       txn.exec_params(sql, namespace_name, queue, task_type, error_type, after_run_id, limit)) {
    runs.emplace_back(r[0].as<std::string>(), r[1].as<std::string>());
  }
  return runs;
}

}  // namespace gridflow::persistence
