// OneWriteStarts: what a replica decides itself so that a group-committed start costs one write
// statement instead of an insert, a round trip and an update (docs/architecture.md, "A start in
// one write"). For a start it can plan, it gives the run row the insert would have returned: a
// new version-7 id, the definition version (a cached one, or the latest a start last resolved),
// and the transaction's clock as the replica reckons it from the clocks the database last gave
// it. The write statement checks what the replica could not know (migration 24;
// the workflow id's uniqueness) and refuses the whole transaction if one does not hold; the batch
// is then applied the ordinary way.
//
// A definition whose start needed the database anyway (a child run, a signal wait: anything that
// reads or writes before the write statement) is remembered and planned no more; one whose planned
// start found its workflow id taken is not planned for kTakenPause (a client that starts the same
// ids again and again would otherwise pay a refused write for each). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/time.h"
#include "engine/definitions/definition_registry.h"
#include "engine/scheduler/scheduler.h"
#include "persistence/rows.h"

namespace gridflow::engine {

class OneWriteStarts {
 public:
  explicit OneWriteStarts(DefinitionRegistry& definitions) : definitions_(definitions) {}

  // A transaction's clock (gf_now()) was `db_now`; this replica sent its BEGIN at `began` (its
  // own system clock).
  void NoteClock(TimePoint db_now, std::chrono::system_clock::time_point began);

  struct Plan {
    persistence::RunRow run;  // as the insert would have returned it, transaction_now set
    std::shared_ptr<const dsl::Definition> definition;
    bool routed = false;  // the version stands for "the latest": the statement confirms it
  };
  // The start planned at this replica's reckoning of the database's clock (a batch that reads
  // the transaction's clock before writing replaces the run's instants with it where that clock
  // is later, or the planned instant leads it by more than kMaxLead); nullopt when it cannot be
  // planned without the database.
  std::optional<Plan> PlanStart(const StartRunParams& params);

  // A start of this definition read or wrote before its write statement.
  void NeedsDatabase(const StartRunParams& params);
  // A planned start of this definition found its workflow id taken (or shared a refused write
  // with one that did).
  void WorkflowIdTaken(const StartRunParams& params);
  static constexpr std::chrono::seconds kTakenPause{10};
  // How far ahead of its reckoning of the database's clock a start may be planned to stay after
  // the one planned before it: half the 100 ms the write statement accepts (migration 24).
  static constexpr Micros kMaxLead{50'000};

 private:
  DefinitionRegistry& definitions_;
  // The database's clock minus this replica's, in microseconds; unknown until first noted.
  std::atomic<int64_t> skew_us_{0};
  std::atomic<bool> skew_known_{false};
  std::mutex mu_;
  // No planned instant at or before this one (unless it is more than kMaxLead ahead): the last
  // instant planned, or the latest database clock noted if later. A reckoning that jitters with
  // the network's latency must not place a start before one this replica planned or saw committed
  // earlier (runs listed by creation).
  TimePoint floor_{};
  // "namespace/name/version" (version 0 too) -> not planned before this instant (steady clock).
  std::map<std::string, std::chrono::steady_clock::time_point> paused_;
};

// A new version-7 UUID (RFC 9562) for `at`: 48 bits of milliseconds, then random bits — the same
// shape as gf_uuid_v7 (migration 18), so ids stay ordered by time whoever draws them.
std::string NewRunId(TimePoint at);

}  // namespace gridflow::engine
