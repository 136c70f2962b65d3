// Settlement revision series (docs/revisions.md): the latest revision started per (namespace,
// definition, period), kept in revision_series (it outlives retention), and the marks that chain
// a series' runs (runs.supersedes, runs.superseded_by).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

namespace gridflow::persistence {

struct RevisionSeriesKey {
  std::string namespace_name;
  std::string definition_name;
  std::string period;
};

struct LatestRevision {
  int revision = 0;
  std::string workflow_id;
};

// Takes the series' lock for the rest of the transaction (so two starts of one series never pass
// each other), then reads its latest revision; nullopt when none was started yet.
std::optional<LatestRevision> LockRevisionSeries(pqxx::transaction_base& txn,
                                                 const RevisionSeriesKey& series);

// Records `latest` as the series' latest revision (under the series' lock).
void RecordLatestRevision(pqxx::transaction_base& txn, const RevisionSeriesKey& series,
                          const LatestRevision& latest);

// Marks every run of the series older than `by.revision` that nothing superseded yet as
// superseded by `by.workflow_id`; returns the workflow ids of those still open.
std::vector<std::string> MarkSuperseded(pqxx::transaction_base& txn,
                                        const RevisionSeriesKey& series, const LatestRevision& by);

}  // namespace gridflow::persistence
