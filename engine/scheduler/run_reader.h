// RunReader: read-only views of runs and their history, for the API. Reads never lock.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/definitions/definition_registry.h"
#include "persistence/connection_pool.h"
#include "persistence/dead_letter_store.h"
#include "persistence/rows.h"
#include "persistence/run_store.h"

namespace gridflow::engine {

// A run with what it is doing now (DescribeRun).
struct RunDescription {
  persistence::RunRow run;
  // Steps frames are at: "submit", "price_qh[3]" (an iteration), "compensating submit".
  std::vector<std::string> active_steps;
  std::vector<persistence::TaskRow> open_tasks;
  std::vector<persistence::TimerRow> pending_timers;
  std::optional<persistence::EventRow> last_task_failure;  // TaskFailed or TaskLeaseExpired
  std::string time_zone;                                   // the definition's, if any
};

class RunReader {
 public:
  RunReader(persistence::ConnectionPool& pool, DefinitionRegistry& definitions)
      : pool_(pool), definitions_(definitions) {}

  // NOT_FOUND when there is no such run (naming its archive when retention archived it).
  // `fields`: the whole run, or its summary (persistence::FindRun).
  Status GetRun(const std::string& namespace_name, const std::string& workflow_id,
                persistence::RunFields fields, persistence::RunRow* run);
  Status DescribeRun(const std::string& namespace_name, const std::string& workflow_id,
                     persistence::RunFields fields, RunDescription* description);
  // One snapshot (persistence::ListRuns reads the page's large fields in a second statement).
  Status ListRuns(const persistence::RunListFilter& filter, persistence::RunPage* page);
  // The dead-letter view (persistence/dead_letter_store.h).
  Status ListDeadLetters(const persistence::DeadLetterFilter& filter,
                         std::vector<persistence::DeadLetterGroupRow>* groups);
  // (run id, workflow id) of one group's runs after `after_run_id`, at most `limit`.
  Status DeadLetterRuns(const std::string& namespace_name, const std::string& queue,
                        const std::string& task_type, const std::string& error_type,
                        const std::string& after_run_id, int limit,
                        std::vector<std::pair<std::string, std::string>>* runs);
  // The namespace's search attributes and their types (docs/search.md), for parsing queries.
  Status AttributeTypes(const std::string& namespace_name,
                        std::map<std::string, std::string>* types);
  // Events after `after_seq`, ascending, at most `limit`, ending with the first whose payload
  // brings their payloads to `max_bytes` (persistence::ListEvents); also the run (for its
  // status), as new as the events at least: its last_event_seq is never below the last event
  // returned, and above it when events are left to read.
  Status GetHistory(const std::string& namespace_name, const std::string& workflow_id,
                    int64_t after_seq, int limit, int64_t max_bytes,
                    std::vector<persistence::EventRow>* events, persistence::RunRow* run);
  // The sequence of each run's last event (for history streams: has anything been added?).
  Status LastEventSeqs(const std::vector<std::string>& run_ids,
                       std::map<std::string, int64_t>* seqs);

 private:
  // NOT_FOUND for a run that is not there, saying where it went when retention archived it.
  Status Missing(const std::string& namespace_name, const std::string& workflow_id);

  persistence::ConnectionPool& pool_;
  DefinitionRegistry& definitions_;
};

}  // namespace gridflow::engine
