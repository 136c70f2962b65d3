// ParsedRunCache: the parsed data and state of the runs this replica advanced last, so that a
// run's next transition here need not parse what it reads (a run carrying 40 kB of bid curves
// costs about 0.6 ms of JSON parsing a transition).
//
// An entry holds the run's row_version after the commit that wrote it. Every write of a run's
// data or state is the write set's one UPDATE of the run in its transaction, which adds one to
// row_version (persistence/write_set.cc), so an entry whose version is the row's (read under the
// run's lock) holds what the row holds; any other version is a miss. A batch of task calls takes
// the entries of its tasks' runs out before it locks them (it owns the values while it runs), and
// the lock reads the data and state of the runs whose version matched no entry only
// (persistence::LockRunsOfTasks). Entries go in only after their transaction committed, found by
// the run's open tasks. Bounded by the JSON text size of what it holds, least recently put out
// first. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/scheduler/run_state.h"

namespace gridflow::engine {

struct ParsedRun {
  nlohmann::json data;
  RunState state;
  size_t text_bytes = 0;  // what data and state take as JSON text (the cache's measure)
};

// A parsed run with the row_version it is good for.
struct HeldRun {
  int64_t row_version = 0;
  ParsedRun run;
};

class ParsedRunCache {
 public:
  // At most `max_text_bytes` of JSON text and `max_runs` runs (a small run parsed takes ten
  // times its text: the count bounds the memory of many small ones).
  ParsedRunCache(size_t max_text_bytes, size_t max_runs)
      : max_text_bytes_(max_text_bytes), max_runs_(max_runs) {}

  // The entries of the runs these tasks belong to (as their last Put said), taken out, by run id.
  std::map<std::string, HeldRun> TakeForTasks(const std::vector<int64_t>& task_ids);
  // After the commit that left the run at `held.row_version` with these open tasks. An entry
  // above a quarter of the cache is not kept.
  void Put(const std::string& run_id, HeldRun held, std::vector<int64_t> open_task_ids);

  // What it holds now (gauges).
  size_t text_bytes() const;
  size_t size() const;

 private:
  struct Item {
    HeldRun held;
    std::vector<int64_t> task_ids;
    std::list<std::string>::iterator age;
  };
  void Erase(std::map<std::string, Item>::iterator it);

  const size_t max_text_bytes_;
  const size_t max_runs_;
  mutable std::mutex mu_;
  std::map<std::string, Item> items_;
  std::list<std::string> ages_;                   // run ids, oldest put first
  std::map<int64_t, std::string> runs_of_tasks_;  // open task id -> run id
  size_t text_bytes_ = 0;
};

}  // namespace gridflow::engine
