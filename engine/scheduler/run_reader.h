// RunReader: read-only views of runs and their history, for the API. Reads never lock.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "persistence/connection_pool.h"
#include "persistence/rows.h"
#include "persistence/run_store.h"

namespace gridflow::engine {

class RunReader {
 public:
  explicit RunReader(persistence::ConnectionPool& pool) : pool_(pool) {}

  // NOT_FOUND when there is no such run.
  Status GetRun(const std::string& namespace_name, const std::string& workflow_id,
                persistence::RunRow* run);
  Status ListRuns(const persistence::RunListFilter& filter, std::vector<persistence::RunRow>* runs);
  // Events after `after_seq`, ascending, at most `limit`; also the run (for its status).
  Status GetHistory(const std::string& namespace_name, const std::string& workflow_id,
                    int64_t after_seq, int limit, std::vector<persistence::EventRow>* events,
                    persistence::RunRow* run);

 private:
  persistence::ConnectionPool& pool_;
};

}  // namespace gridflow::engine
