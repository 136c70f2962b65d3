#include "persistence/revision_store.h"

#include <pqxx/result>

namespace gridflow::persistence {

std::optional<LatestRevision> LockRevisionSeries(pqxx::transaction_base& txn,
                                                 const RevisionSeriesKey& series) {
  // An advisory lock, not the row's: the first revision of a series has no row to lock yet.
  // (Unit separators between the names: no name may contain a control character.)
  txn.exec_params(
      "SELECT pg_advisory_xact_lock(hashtextextended('gridflow.revision_series' || chr(31) || $1 "
      "|| chr(31) || $2 || chr(31) || $3, 0))",
      series.namespace_name, series.definition_name, series.period);
  const pqxx::result r = txn.exec_params(
      "SELECT latest_revision, latest_workflow_id FROM revision_series "
      "WHERE namespace = $1 AND definition_name = $2 AND period = $3",
      series.namespace_name, series.definition_name, series.period);
  if (r.empty()) return std::nullopt;
  return LatestRevision{r[0][0].as<int>(), r[0][1].as<std::string>()};
}

void RecordLatestRevision(pqxx::transaction_base& txn, const RevisionSeriesKey& series,
                          const LatestRevision& latest) {
  txn.exec_params(
      "INSERT INTO revision_series (namespace, definition_name, period, latest_revision, "
      "latest_workflow_id) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (namespace, definition_name, period) DO UPDATE SET "
      "latest_revision = EXCLUDED.latest_revision, "
      "latest_workflow_id = EXCLUDED.latest_workflow_id, updated_at = gf_now()",
      series.namespace_name, series.definition_name, series.period, latest.revision,
      latest.workflow_id);
}

std::vector<std::string> MarkSuperseded(pqxx::transaction_base& txn,
                                        const RevisionSeriesKey& series, const LatestRevision& by) {
  const pqxx::result r = txn.exec_params(
      "UPDATE runs SET superseded_by = $5 WHERE namespace = $1 AND definition_name = $2 "
      "AND revision_period = $3 AND revision IS NOT NULL AND revision < $4 "
      "AND superseded_by IS NULL RETURNING workflow_id, closed_at IS NULL",
      series.namespace_name, series.definition_name, series.period, by.revision, by.workflow_id);
  std::vector<std::string> open;
  for (const auto& row : r) {
    if (row[1].as<bool>()) open.push_back(row[0].as<std::string>());
  }
  return open;
}

}  // namespace gridflow::persistence
