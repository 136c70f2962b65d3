#include "persistence/event_store.h"

#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareEventStatements(pqxx::connection& c) {
  // One round trip: the insert, and the announcement (delivered at commit, to every replica).
  c.prepare("event_append",
            "WITH appended AS (INSERT INTO events (run_id, seq, type, step, task_id, attempt, "
            "actor, payload, iteration) "
            "SELECT $1::uuid, e.seq, e.type, e.step, e.task_id, e.attempt, e.actor, e.payload, "
            "COALESCE(e.iteration, '') "
            "FROM jsonb_to_recordset($2::jsonb) AS e(seq bigint, type text, step text, "
            "task_id bigint, attempt integer, actor text, payload jsonb, iteration text)) "
            "SELECT pg_notify('" +
                std::string(kEventChannel) + "', $1::uuid::text)");
  c.prepare("event_last_of_types",
            "SELECT seq, type, step, task_id, attempt, actor, payload::text, created_at, iteration "
            "FROM events WHERE run_id = $1::uuid AND type = ANY($2::text[]) ORDER BY seq DESC "
            "LIMIT 1");
  c.prepare("event_list",
            "SELECT seq, type, step, task_id, attempt, actor, payload::text, created_at, iteration "
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
    if (!e.iteration.empty()) fields["iteration"] = e.iteration;
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

namespace {

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
  return e;
}

}  // namespace

std::optional<EventRow> LastEventOfTypes(pqxx::transaction_base& txn, const std::string& run_id,
                                         const std::vector<std::string>& types) {
  const pqxx::result r = txn.exec_prepared("event_last_of_types", run_id, ToTextArray(types));
  if (r.empty()) return std::nullopt;
  return ReadEvent(r[0]);
}

std::vector<EventRow> ListEvents(pqxx::transaction_base& txn, const std::string& run_id,
                                 int64_t after_seq, int limit) {
  std::vector<EventRow> events;
  for (const pqxx::row& r : txn.exec_prepared("event_list", run_id, after_seq, limit)) {
    events.push_back(ReadEvent(r));
  }
  return events;
}

}  // namespace gridflow::persistence
