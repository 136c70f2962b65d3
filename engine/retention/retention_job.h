// RetentionJob: archives and deletes closed runs past their namespace's closed_run_retention
// (docs/operations.md, "Retention and archive"). Every replica with an archive directory runs
// ArchiveDue; each batch is ONE transaction, on a connection of the owner role (the runtime role
// cannot delete history), that locks the runs due (FOR UPDATE SKIP LOCKED), writes each run's
// archive file (durably, before the commit), records where it went and deletes the run with its
// history. A crash before the commit leaves the runs in place (and at most archive files that the
// next attempt writes again); a run is deleted only once its archive is on disk (one syncfs for
// the batch's contents, renames, one more for the names).
//
// An archive file is a `gridflowctl runs export` file — a header line (format
// "gridflow-history", version 1, the run's ids, history length and chain head, and the run
// itself) and one event per line as the API's JSON — so `gridflowctl runs verify --file`
// checks it.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "persistence/connection_pool.h"
#include "persistence/rows.h"

namespace gridflow::engine {

class RetentionJob {
 public:
  // `owner_pool`: connections as the schema's owner role. `archive_dir`: where archives go (a
  // volume every replica mounts).
  RetentionJob(persistence::ConnectionPool& owner_pool, std::string archive_dir);

  // Archives and deletes up to `batch` runs due; *done: how many.
  Status ArchiveDue(int batch, int* done);

  // Where a run's archive goes, relative to the archive directory:
  // <namespace>/<closed date, UTC>/<run id>.jsonl.
  static std::string Location(const persistence::RunRow& run);
  // The archive's content.
  static std::string Render(const persistence::RunRow& run,
                            const std::vector<persistence::EventRow>& events);

 private:
  // Writes `content` to archive_dir/location + ".tmp".
  Status WriteTemporary(const std::string& location, const std::string& content) const;
  // Makes a batch's temporary files durable under their names: sync the file system, rename
  // each, sync again.
  Status Publish(const std::vector<std::string>& locations) const;

  persistence::ConnectionPool& pool_;
  const std::string archive_dir_;
};

}  // namespace gridflow::engine
