#include "persistence/rollout_store.h"

#include <pqxx/pqxx>

#include "persistence/pg_types.h"

namespace gridflow::persistence {
namespace {

constexpr const char* kColumns =
    "namespace, name, id, stable_version, candidate_version, percent, window_seconds, "
    "max_failure_increase, min_runs, auto_promote_seconds, state, started_by, started_at, "
    "ended_by, ended_at, end_reason, evaluated_at, candidate_closed, candidate_failed, "
    "stable_closed, stable_failed";

RolloutRow ReadRollout(const pqxx::row& r) {
  RolloutRow row;
  row.namespace_name = r[0].as<std::string>();
  row.name = r[1].as<std::string>();
  row.id = r[2].as<int64_t>();
  row.stable_version = r[3].as<int>();
  row.candidate_version = r[4].as<int>();
  row.percent = r[5].as<int>();
  row.window_seconds = r[6].as<int>();
  row.max_failure_increase = r[7].as<double>();
  row.min_runs = r[8].as<int>();
  if (!r[9].is_null()) row.auto_promote_seconds = r[9].as<int>();
  row.state = r[10].as<std::string>();
  row.started_by = r[11].as<std::string>();
  row.started_at = Timestamp(r[12]);
  row.ended_by = OptionalText(r[13]);
  row.ended_at = OptionalTimestamp(r[14]);
  row.end_reason = r[15].as<std::string>();
  row.evaluated_at = OptionalTimestamp(r[16]);
  row.candidate_closed = r[17].as<int64_t>();
  row.candidate_failed = r[18].as<int64_t>();
  row.stable_closed = r[19].as<int64_t>();
  row.stable_failed = r[20].as<int64_t>();
  return row;
}

}  // namespace

bool InsertRollout(pqxx::transaction_base& txn, RolloutRow* row) {
  const pqxx::result r = txn.exec_params(
      std::string("INSERT INTO definition_rollouts (namespace, name, stable_version, "
                  "candidate_version, percent, window_seconds, max_failure_increase, min_runs, "
                  "auto_promote_seconds, state, started_by) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                  "$8, $9, 'RUNNING', $10) ON CONFLICT (namespace, name) WHERE state = 'RUNNING' "
                  "DO NOTHING RETURNING ") +
          kColumns,
      row->namespace_name, row->name, row->stable_version, row->candidate_version, row->percent,
      row->window_seconds, row->max_failure_increase, row->min_runs, row->auto_promote_seconds,
      row->started_by);
  if (r.empty()) return false;
  *row = ReadRollout(r[0]);
  return true;
}

std::optional<RolloutRow> FindRollout(pqxx::transaction_base& txn,
                                      const std::string& namespace_name, const std::string& name,
                                      bool lock) {
  const pqxx::result r =
      txn.exec_params(std::string("SELECT ") + kColumns +
                          " FROM definition_rollouts WHERE namespace = $1 AND name = $2"
                          " ORDER BY state = 'RUNNING' DESC, id DESC LIMIT 1" +
                          (lock ? " FOR UPDATE" : ""),
                      namespace_name, name);
  if (r.empty()) return std::nullopt;
  return ReadRollout(r[0]);
}

std::optional<RolloutRow> LockDueRollout(pqxx::transaction_base& txn, Millis interval) {
  const pqxx::result r = txn.exec_params(
      std::string("SELECT ") + kColumns +
          " FROM definition_rollouts WHERE state = 'RUNNING' AND (evaluated_at IS NULL OR"
          " evaluated_at <= gf_now() - $1 * interval '1 millisecond')"
          " ORDER BY evaluated_at NULLS FIRST LIMIT 1 FOR UPDATE SKIP LOCKED",
      static_cast<int64_t>(interval.count()));
  if (r.empty()) return std::nullopt;
  return ReadRollout(r[0]);
}

void CountRolloutOutcomes(pqxx::transaction_base& txn, RolloutRow* row) {
  row->candidate_closed = row->candidate_failed = row->stable_closed = row->stable_failed = 0;
  // Runs closed within the window (served by runs_closed on (namespace, closed_at)).
  for (const pqxx::row& r : txn.exec_params(
           "SELECT definition_version, count(*), count(*) FILTER (WHERE status = 'FAILED')"
           " FROM runs WHERE namespace = $1 AND closed_at IS NOT NULL"
           " AND closed_at > gf_now() - $3 * interval '1 second' AND definition_name = $2"
           " AND definition_version IN ($4, $5) GROUP BY definition_version",
           row->namespace_name, row->name, row->window_seconds, row->stable_version,
           row->candidate_version)) {
    const bool candidate = r[0].as<int>() == row->candidate_version;
    (candidate ? row->candidate_closed : row->stable_closed) = r[1].as<int64_t>();
    (candidate ? row->candidate_failed : row->stable_failed) = r[2].as<int64_t>();
  }
}

void RecordRolloutEvaluation(pqxx::transaction_base& txn, const RolloutRow& row) {
  txn.exec_params(
      "UPDATE definition_rollouts SET evaluated_at = gf_now(), candidate_closed = $4,"
      " candidate_failed = $5, stable_closed = $6, stable_failed = $7"
      " WHERE namespace = $1 AND name = $2 AND id = $3",
      row.namespace_name, row.name, row.id, row.candidate_closed, row.candidate_failed,
      row.stable_closed, row.stable_failed);
}

void EndRollout(pqxx::transaction_base& txn, const RolloutRow& row, const std::string& state,
                const std::string& by, const std::string& reason) {
  txn.exec_params(
      "UPDATE definition_rollouts SET state = $4, ended_by = $5, ended_at = gf_now(),"
      " end_reason = $6 WHERE namespace = $1 AND name = $2 AND id = $3",
      row.namespace_name, row.name, row.id, state, by, reason);
  txn.exec_params(
      "UPDATE definitions SET withheld = $4 WHERE namespace = $1 AND name = $2 AND version = $3",
      row.namespace_name, row.name, row.candidate_version,
      state == std::string(rollout_state::kRolledBack));
}

}  // namespace gridflow::persistence
