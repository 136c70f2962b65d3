#include "engine/scheduler/run_reader.h"

#include "engine/scheduler/errors.h"
#include "persistence/event_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

Status RunReader::GetRun(const std::string& ns, const std::string& workflow_id,
                         persistence::RunRow* run) {
  bool found = false;
  Status s = persistence::Transact(pool_, "get run", [&](pqxx::work& txn) {
    auto row = persistence::FindRun(txn, ns, workflow_id);
    found = row.has_value();
    if (found) *run = std::move(*row);
    return Status::Ok();
  });
  if (s.ok() && !found) {
    return RunNotFound(ns, workflow_id);
  }
  return s;
}

Status RunReader::ListRuns(const persistence::RunListFilter& filter,
                           std::vector<persistence::RunRow>* runs) {
  return persistence::Transact(pool_, "list runs", [&](pqxx::work& txn) {
    *runs = persistence::ListRuns(txn, filter);
    return Status::Ok();
  });
}

Status RunReader::GetHistory(const std::string& ns, const std::string& workflow_id,
                             int64_t after_seq, int limit,
                             std::vector<persistence::EventRow>* events, persistence::RunRow* run) {
  bool found = false;
  Status s = persistence::Transact(pool_, "get history", [&](pqxx::work& txn) {
    auto row = persistence::FindRun(txn, ns, workflow_id);
    found = row.has_value();
    if (found) {
      *events = persistence::ListEvents(txn, row->id, after_seq, limit);
      *run = std::move(*row);
    }
    return Status::Ok();
  });
  if (s.ok() && !found) {
    return RunNotFound(ns, workflow_id);
  }
  return s;
}

}  // namespace gridflow::engine
