#include "engine/scheduler/transition_facts.h"

namespace gridflow::engine {

namespace {
template <typename T>
void Append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}
}  // namespace

void TransitionFacts::Merge(const TransitionFacts& other) {
  Append(runs_started, other.runs_started);
  runs_started_in_one_write += other.runs_started_in_one_write;
  Append(runs_closed, other.runs_closed);
  Append(tasks_scheduled, other.tasks_scheduled);
  Append(tasks_completed, other.tasks_completed);
  Append(tasks_failed, other.tasks_failed);
  Append(leases_expired, other.leases_expired);
  Append(signals_received, other.signals_received);
  Append(breaker_changes, other.breaker_changes);
}

}  // namespace gridflow::engine
