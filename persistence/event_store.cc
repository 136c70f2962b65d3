#include "persistence/event_store.h"

#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareEventStatements(pqxx::connection& c) {
  c.prepare("event_append",
            "INSERT INTO events (run_id, seq, type, step, task_id, attempt, actor, payload) "
            "SELECT $1::uuid, e.seq, e.type, e.step, e.task_id, e.attempt, e.actor, e.payload "
            "FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, type text, step text, "
            "task_id bigint, attempt integer, actor text, payload jsonb)");
  c.prepare("event_list",
            "SELECT seq, type, step, task_id, attempt, actor, payload::text, created_at "
            "FROM events WHERE run_id = $1::uuid AND seq > $2 ORDER BY seq LIMIT $3");
}

void AppendEvents(pqxx::transaction_base& txn, const std::string& run_id,
                  const std::vector<EventRow>& events) {
  if (events.empty()) return;
  // The payloads are already JSON text: splice them in rather than parse them again.
  std::string batch = "[";
  for (const EventRow& e : events) {
    nlohmann::json fields = {{"seq", e.seq}, {"type", e.type}, {"actor", e.actor}};
    if (e.step) fields["step"] = *e.step;
    if (e.task_id) fields["task_id"] = *e.task_id;
    if (e.attempt) fields["attempt"] = *e.attempt;
    std::string object = fields.dump();
    object.pop_back();  // the closing brace
    object += ",\"payload\":";
    object += e.payload_json;
    object += '}';
    if (batch.size() > 1) batch += ',';
    batch += object;
  }
  batch += ']';
  txn.exec_prepared("event_append", run_id, batch);
}

std::vector<EventRow> ListEvents(pqxx::transaction_base& txn, const std::string& run_id,
                                 int64_t after_seq, int limit) {
  std::vector<EventRow> events;
  for (const pqxx::row& r : txn.exec_prepared("event_list", run_id, after_seq, limit)) {
    EventRow e;
    e.seq = r[0].as<int64_t>();
    e.type = r[1].as<std::string>();
    e.step = OptionalText(r[2]);
    if (!r[3].is_null()) e.task_id = r[3].as<int64_t>();
    if (!r[4].is_null()) e.attempt = r[4].as<int>();
    e.actor = r[5].as<std::string>();
    e.payload_json = r[6].as<std::string>();
    e.created_at = Timestamp(r[7]);
    events.push_back(std::move(e));
  }
  return events;
}

}  // namespace gridflow::persistence
