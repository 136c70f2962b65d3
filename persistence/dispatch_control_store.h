// Dispatch controls: what operators (and circuit breakers) decide about dispatching a queue or a
// task type of a namespace — paused, rate-limited, circuit state. One row per configured queue or
// type (table dispatch_controls); a row left with nothing configured is deleted. Claims read and
// spend them (task_store.cc), eager dispatch respects them (write_set.cc). docs/dispatch.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "common/duration.h"
#include "common/time.h"
#include "persistence/rows.h"

namespace gridflow::persistence {

inline constexpr const char* kScopeQueue = "queue";
inline constexpr const char* kScopeTaskType = "task_type";
// Who configured a breaker from the API (a definition's configuration never replaces it).
inline constexpr const char* kOperatorConfigured = "operator";

struct BreakerConfig {
  double failure_rate = 0.5;
  int min_attempts = 10;
  Millis window{60'000};
  Millis cool_down{30'000};
};

struct DispatchControl {
  std::string namespace_name;
  std::string scope;  // kScopeQueue or kScopeTaskType
  std::string name;
  bool paused = false;
  std::optional<std::string> paused_by;
  std::optional<std::string> paused_reason;
  std::optional<TimePoint> paused_at;
  std::optional<double> rate_per_second;
  std::optional<int> burst;
  double tokens = 0;  // as of now (refilled)
  std::optional<BreakerConfig> breaker;
  std::optional<std::string> breaker_configured_by;
  std::string breaker_state = "closed";
  std::optional<TimePoint> breaker_changed_at;
  int window_attempts = 0;
  int window_failures = 0;
};

// Pauses or resumes; `by` and `reason` are recorded with a pause.
void SetPaused(pqxx::transaction_base& txn, const std::string& namespace_name,
               const std::string& scope, const std::string& name, bool paused,
               const std::string& by, const std::string& reason);
// Sets a token bucket (`rate_per_second` tokens per second, at most `burst`; it starts full) or,
// with nullopt, removes it.
void SetRateLimit(pqxx::transaction_base& txn, const std::string& namespace_name,
                  const std::string& scope, const std::string& name,
                  std::optional<std::pair<double, int>> rate_and_burst);
// Configures a task type's circuit breaker (its state is kept) or, with nullopt, removes it.
// `configured_by` is kOperatorConfigured or "definition <name> v<version>"; unless
// `replace_operator`, a breaker an operator configured is left as it is.
void SetBreaker(pqxx::transaction_base& txn, const std::string& namespace_name,
                const std::string& task_type, const std::optional<BreakerConfig>& config,
                const std::string& configured_by, bool replace_operator);
// Closes an open or half-open circuit by hand (its window starts over).
bool ResetBreaker(pqxx::transaction_base& txn, const std::string& namespace_name,
                  const std::string& task_type);

// The namespace's controls (every namespace's when empty), by scope and name.
std::vector<DispatchControl> ListDispatchControls(pqxx::transaction_base& txn,
                                                  const std::string& namespace_name);

// Background upkeep (any replica; idempotent): open circuits whose cool-down passed become
// half-open (returned), and a half-open circuit whose probe task is no longer leased (released,
// cancelled) lets another probe through.
std::vector<BreakerChange> HalfOpenCooledBreakers(pqxx::transaction_base& txn);
// Ageing: a PENDING task that has been claimable for n whole `step`s is claimed as if its class
// were n more urgent, never above high (1) unless its step made it urgent. Lifts at most `limit`
// tasks, the longest waiting first, and only while no other replica's pass is under way (a
// transaction-scoped advisory lock): returns the tasks lifted, 0 when another pass held the lock.
int AgePriorities(pqxx::transaction_base& txn, Millis step, int limit);

struct OverdueStart {
  int64_t task_id = 0;
  std::string run_id;
};
// PENDING tasks whose attempt nobody started by its schedule-to-start deadline, oldest first.
std::vector<OverdueStart> FindOverdueStarts(pqxx::transaction_base& txn, int limit);

}  // namespace gridflow::persistence
