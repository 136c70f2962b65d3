#include "persistence/event_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {

namespace {

// The partitions a run's history lies in (migration 16): its month's, and the legacy one (runs
// from before partitioning, events of replicas that name no key). Naming them lets PostgreSQL
// read those two instead of probing every month's index.
const std::string kRunHistoryKeys =
    "((SELECT history_key FROM runs WHERE id = $1::uuid), '-infinity')";

EventRow ReadEvent(const pqxx::row& r) {
  EventRow e;
  e.seq = r[0].as<int64_t>();
  e.type = r[1].as<std::string>();
  e.step = OptionalText(r[2]);
  if (!r[3].is_null()) e.task_id = r[3].as<int64_t>();
  if (!r[4].is_null()) e.attempt = r[4].as<int>();
  e.actor = r[5].as<std::string>();
  e.payload_json = r[6].as<std::string>();
  e.created_at = Timestamp(r[7]);
  e.iteration = r[8].as<std::string>();
  e.hash = r[9].as<std::string>();
  return e;
}

}  // namespace

void PrepareEventStatements(pqxx::connection& c) {
  c.prepare(
      "event_last_of_types",
      "SELECT seq, type, step, task_id, attempt, actor, payload::text, created_at, iteration, "
      "COALESCE(encode(hash, 'hex'), '') "
      "FROM events WHERE run_id = $1::uuid AND history_key IN " +
          kRunHistoryKeys +
          " AND type = ANY($2::text[]) ORDER BY seq DESC "
          "LIMIT 1");
  // The payloads' sizes are summed in order and the list ends after the event that reaches
  // $4 bytes: only those payloads are turned into text and sent.
  c.prepare("event_list",
            "SELECT seq, type, step, task_id, attempt, actor, payload::text, created_at, "
            "iteration, COALESCE(encode(hash, 'hex'), '') FROM (SELECT *, sum(size) OVER (ORDER "
            "BY seq) - size AS before FROM (SELECT *, octet_length(payload::text) AS size FROM "
            "events WHERE run_id = $1::uuid AND history_key IN " +
                kRunHistoryKeys +
                " AND seq > $2 ORDER BY seq LIMIT $3) page) sized WHERE before < $4 ORDER BY seq");
}

std::optional<EventRow> LastEventOfTypes(pqxx::transaction_base& txn, const std::string& run_id,
                                         const std::vector<std::string>& types) {
  const pqxx::result r = txn.exec_prepared("event_last_of_types", run_id, ToTextArray(types));
  if (r.empty()) return std::nullopt;
  return ReadEvent(r[0]);
}

std::vector<EventRow> ListEvents(pqxx::transaction_base& txn, const std::string& run_id,
                                 int64_t after_seq, int limit, int64_t max_bytes) {
  std::vector<EventRow> events;
  for (const pqxx::row& r : txn.exec_prepared("event_list", run_id, after_seq, limit, max_bytes)) {
    events.push_back(ReadEvent(r));
  }
  return events;
}

}  // namespace gridflow::persistence
