#include "engine/scheduler/run_reader.h"

#include "engine/scheduler/errors.h"
#include "engine/scheduler/run_state.h"
#include "persistence/archive_store.h"
#include "persistence/attribute_store.h"
#include "persistence/event_store.h"
#include "persistence/task_store.h"
#include "persistence/timer_store.h"
#include "persistence/transaction.h"

namespace gridflow::engine {

Status RunReader::GetRun(const std::string& ns, const std::string& workflow_id,
                         persistence::RunFields fields, persistence::RunRow* run) {
  bool found = false;
  Status s = persistence::Transact(pool_, "get run", [&](pqxx::work& txn) {
    auto row = persistence::FindRun(txn, ns, workflow_id, fields);
    found = row.has_value();
    if (found) *run = std::move(*row);
    return Status::Ok();
  });
  if (s.ok() && !found) return Missing(ns, workflow_id);
  return s;
}

Status RunReader::DescribeRun(const std::string& ns, const std::string& workflow_id,
                              persistence::RunFields fields, RunDescription* d) {
  bool found = false;
  if (fields == persistence::RunFields::kSummary) fields = persistence::RunFields::kSummaryAndState;
  Status s = persistence::Transact(pool_, "describe run", [&](pqxx::work& txn) -> Status {
    auto row = persistence::FindRun(txn, ns, workflow_id, fields);
    found = row.has_value();
    if (!found) return Status::Ok();
    *d = RunDescription{};
    d->run = std::move(*row);
    d->open_tasks = persistence::ListOpenTasks(txn, d->run.id);
    d->pending_timers = persistence::ListPendingTimers(txn, d->run.id);
    d->last_task_failure =
        persistence::LastEventOfTypes(txn, d->run.id, {"TaskFailed", "TaskLeaseExpired"});
    std::shared_ptr<const dsl::Definition> def;
    if (definitions_.Resolve(txn, ns, d->run.definition_name, d->run.definition_version, &def)
            .ok()) {
      d->time_zone = def->time_zone();
    }
    RunState state;
    if (FromJson(nlohmann::json::parse(d->run.state_json), &state).ok()) {
      for (const auto& [id, frame] : state.frames) {
        if (!frame.step.empty()) d->active_steps.push_back(frame.step + frame.key);
      }
      if (state.unwinding.active && state.unwinding.next >= 0 &&
          state.unwinding.next < static_cast<int64_t>(state.compensations.size())) {
        d->active_steps.push_back(
            "compensating " + state.compensations[static_cast<size_t>(state.unwinding.next)].step);
      }
    }
    return Status::Ok();
  });
  if (s.ok() && !found) return Missing(ns, workflow_id);
  return s;
}

Status RunReader::ListRuns(const persistence::RunListFilter& filter, persistence::RunPage* page) {
  return persistence::Transact(pool_, "list runs", [&](pqxx::work& txn) {
    txn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    *page = persistence::ListRuns(txn, filter);
    return Status::Ok();
  });
}

Status RunReader::ListDeadLetters(const persistence::DeadLetterFilter& filter,
                                  std::vector<persistence::DeadLetterGroupRow>* groups) {
  return persistence::Transact(pool_, "list dead letters", [&](pqxx::work& txn) {
    *groups = persistence::ListDeadLetterGroups(txn, filter);
    return Status::Ok();
  });
}

Status RunReader::DeadLetterRuns(const std::string& ns, const std::string& queue,
                                 const std::string& task_type, const std::string& error_type,
                                 const std::string& after_run_id, int limit,
                                 std::vector<std::pair<std::string, std::string>>* runs) {
  return persistence::Transact(pool_, "list dead-letter runs", [&](pqxx::work& txn) {
    *runs = persistence::DeadLetterRuns(txn, ns, queue, task_type, error_type, after_run_id, limit);
    return Status::Ok();
  });
}

Status RunReader::AttributeTypes(const std::string& ns, std::map<std::string, std::string>* types) {
  return persistence::Transact(pool_, "read search attribute types", [&](pqxx::work& txn) {
    *types = persistence::ReadAttributeTypes(txn, ns);
    return Status::Ok();
  });
}

Status RunReader::GetHistory(const std::string& ns, const std::string& workflow_id,
                             int64_t after_seq, int limit, int64_t max_bytes,
                             std::vector<persistence::EventRow>* events, persistence::RunRow* run) {
  bool found = false;
  Status s = persistence::Transact(pool_, "get history", [&](pqxx::work& txn) {
    auto row = persistence::FindRun(txn, ns, workflow_id);
    found = row.has_value();
    if (!found) return Status::Ok();
    *events = persistence::ListEvents(txn, row->id, after_seq, limit, max_bytes);
    // Each statement reads its own snapshot: a transition that committed between the two left
    // the run row behind its events (say, RUNNING beside its RunCompleted event). Read it again,
    // or a stream would take the run for open after its final event and wait for ever.
    if (!events->empty() && events->back().seq > row->last_event_seq) {
      row = persistence::FindRun(txn, ns, workflow_id);
      found = row.has_value();  // not when retention archived it meanwhile
      if (!found) return Status::Ok();
    }
    *run = std::move(*row);
    return Status::Ok();
  });
  if (s.ok() && !found) return Missing(ns, workflow_id);
  return s;
}

Status RunReader::Missing(const std::string& ns, const std::string& workflow_id) {
  std::optional<persistence::ArchivedRunRow> archived;
  Status s = persistence::Transact(pool_, "find archived run", [&](pqxx::work& txn) {
    archived = persistence::FindArchivedRun(txn, ns, workflow_id);
    return Status::Ok();
  });
  if (!s.ok() || !archived) return RunNotFound(ns, workflow_id);
  return Status::NotFound(
      "run '" + workflow_id + "' (" + archived->status + ", closed " +
      FormatRfc3339Seconds(archived->closed_at) + ") was archived by retention on " +
      FormatRfc3339Seconds(archived->archived_at) + " to " + archived->location +
      " in the archive directory (" + std::to_string(archived->history_length) +
      " events; check it with gridflowctl runs verify --file)");
}

Status RunReader::LastEventSeqs(const std::vector<std::string>& run_ids,
                                std::map<std::string, int64_t>* seqs) {
  persistence::TransactOptions once;
  once.max_attempts = 1;  // the caller polls: its next round is the retry
  return persistence::Transact(
      pool_, "read last events",
      [&](pqxx::work& txn) {
        *seqs = persistence::ReadLastEventSeqs(txn, run_ids);
        return Status::Ok();
      },
      once);
}

}  // namespace gridflow::engine
