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
}

std::optional<int64_t> InsertSignal(pqxx::transaction_base& txn, const SignalRow& signal) {
  const pqxx::result r = txn.exec_prepared("signal_insert", signal.run_id, signal.name,
                                           signal.payload_json, signal.dedup_id, signal.sent_by);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

}  // namespace gridflow::persistence
