#include "persistence/signal_store.h"

#include <pqxx/connection>
#include <pqxx/result>

#include "persistence/statements.h"

namespace gridflow::persistence {

void PrepareSignalStatements(pqxx::connection& c) {
  c.prepare("signal_insert",
            "INSERT INTO signals (run_id, name, payload, dedup_id, sent_by) "
            "VALUES ($1::uuid, $2, $3::jsonb, $4, $5) ON CONFLICT (run_id, dedup_id) DO NOTHING "
            "RETURNING id");
  c.prepare("signal_take",
            "UPDATE signals SET consumed_at = gf_now(), consumed_by_step = $3 WHERE id = ("
            "SELECT id FROM signals WHERE run_id = $1::uuid AND name = $2 AND consumed_at IS NULL "
            "ORDER BY id LIMIT 1 FOR UPDATE) RETURNING id, payload::text, dedup_id, sent_by, "
            "received_at");
}

std::optional<SignalRow> TakeSignal(pqxx::transaction_base& txn, const std::string& run_id,
                                    const std::string& name, const std::string& step) {
  const pqxx::result r = txn.exec_prepared("signal_take", run_id, name, step);
  if (r.empty()) return std::nullopt;
  SignalRow s;
  s.id = r[0][0].as<int64_t>();
  s.run_id = run_id;
  s.name = name;
  s.payload_json = r[0][1].as<std::string>();
  s.dedup_id = OptionalText(r[0][2]);
  s.sent_by = r[0][3].as<std::string>();
  s.received_at = Timestamp(r[0][4]);
  return s;
}

std::optional<int64_t> InsertSignal(pqxx::transaction_base& txn, const SignalRow& signal) {
  const pqxx::result r = txn.exec_prepared("signal_insert", signal.run_id, signal.name,
                                           signal.payload_json, signal.dedup_id, signal.sent_by);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

}  // namespace gridflow::persistence
