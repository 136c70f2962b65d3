#include "persistence/message_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareMessageStatements(pqxx::connection& c) {
  c.prepare("message_insert",
            "INSERT INTO run_messages (run_id, kind, payload) VALUES ($1::uuid, $2, $3::jsonb) "
            "RETURNING id");
  c.prepare("message_pending",
            "SELECT id, run_id::text FROM run_messages WHERE processed_at IS NULL ORDER BY id "
            "LIMIT $1");
  c.prepare("message_lock",
            "SELECT id, run_id::text, kind, payload::text, processed_at IS NOT NULL "
            "FROM run_messages WHERE id = $1 FOR UPDATE");
  c.prepare("message_processed", "UPDATE run_messages SET processed_at = gf_now() WHERE id = $1");
}

int64_t InsertMessage(pqxx::transaction_base& txn, const std::string& run_id,
                      const std::string& kind, const std::string& payload_json) {
  return txn.exec_prepared1("message_insert", run_id, kind, payload_json)[0].as<int64_t>();
}

std::vector<PendingMessage> FindPendingMessages(pqxx::transaction_base& txn, int limit) {
  std::vector<PendingMessage> pending;
  for (const pqxx::row& r : txn.exec_prepared("message_pending", limit)) {
    pending.push_back({r[0].as<int64_t>(), r[1].as<std::string>()});
  }
  return pending;
}

std::optional<MessageRow> LockMessage(pqxx::transaction_base& txn, int64_t message_id) {
  const pqxx::result r = txn.exec_prepared("message_lock", message_id);
  if (r.empty()) return std::nullopt;
  MessageRow m;
  m.id = r[0][0].as<int64_t>();
  m.run_id = r[0][1].as<std::string>();
  m.kind = r[0][2].as<std::string>();
  m.payload_json = r[0][3].as<std::string>();
  m.processed = r[0][4].as<bool>();
  return m;
}

void MarkMessageProcessed(pqxx::transaction_base& txn, int64_t message_id) {
  txn.exec_prepared("message_processed", message_id);
}

}  // namespace gridflow::persistence
