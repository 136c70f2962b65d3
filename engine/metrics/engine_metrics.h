// EngineMetrics: the Prometheus metrics of one engine replica.
//
// Counters count committed facts only (see TransitionFacts): a transaction that rolled back
// counts nothing. They are per replica: sum them across replicas. The gauges of shared state
// (queue depth, due timers, stuck runs, members) are read from the database by every replica
// (see StateGauges): take max() across replicas, never sum(). Labels are bounded sets:
// namespace, queue, task type, definition name, RPC method, status; never a run or task id.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/definitions/rollout_evaluator.h"
#include "engine/scheduler/transition_facts.h"
#include "engine/schedules/schedule_observer.h"
#include "persistence/dispatch_control_store.h"
#include "persistence/rows.h"
#include "persistence/run_store.h"
#include "persistence/schedule_store.h"
#include "persistence/timer_store.h"

namespace gridflow::engine {

class EngineMetrics final : public FactsObserver, public ScheduleObserver, public RolloutObserver {
 public:
  EngineMetrics();

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // FactsObserver
  void Committed(const TransitionFacts& facts) override;
  void Leased(const std::vector<persistence::TaskRow>& tasks) override;

  // An RPC answered: full method name ("/gridflow.v1.WorkerService/LeaseTasks"), status code.
  void RpcFinished(const std::string& method, int code, double seconds);
  // A call refused by the access policy (method name, e.g. "CancelRun").
  void AccessDenied(const std::string& method);
  // A database transaction returned (its Transact name is a fixed string).
  void TransactionFinished(std::string_view name, double seconds, const Status& outcome);
  // Streams open and the bytes they hold unwritten; the runs held parsed (ParsedRunCache).
  void SetHistoryStreams(size_t streams, size_t held_bytes);
  void SetParsedRuns(size_t runs, size_t text_bytes);
  // At each membership heartbeat: the replicas applying calls, this one included, and the
  // group-commit transactions this replica keeps in flight under load (its share).
  void SetCommitShare(int busy_replicas, int share);

  // State read from the database (StateGauges).
  void SetQueues(const std::vector<persistence::QueueStats>& queues);
  void SetDueTimers(const persistence::DueTimerStats& timers);
  void SetSchedules(const persistence::ScheduleStats& stats);

  // ScheduleObserver
  void ScheduleFired(const std::string& outcome, double lateness_seconds) override;
  // RolloutObserver
  void RolloutEvaluated(const persistence::RolloutRow& rollout) override;
  void RolloutEnded(const persistence::RolloutRow& rollout, const std::string& outcome,
                    bool automatic) override;
  void SetStuckRuns(const std::vector<persistence::StuckRuns>& stuck);
  void SetMembers(int alive, int draining);
  void SetSearchIndexQueued(int64_t runs);
  void SetHistoryPartitionRunway(double seconds);
  void SetPool(int in_use, int size);
  void SetDatabaseUp(bool up);
  // A task type's circuit breaker state ("closed", "half_open", "open").
  void SetCircuit(const std::string& namespace_name, const std::string& task_type,
                  const std::string& state);
  // Pauses and circuits as the database has them (circuits gone read closed, pauses 0).
  void SetDispatchControls(const std::vector<persistence::DispatchControl>& controls);

 private:
  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>& runs_started_;
  prometheus::Counter& runs_started_in_one_write_;
  prometheus::Family<prometheus::Counter>& runs_closed_;
  prometheus::Family<prometheus::Histogram>& run_duration_;
  prometheus::Family<prometheus::Counter>& tasks_scheduled_;
  prometheus::Family<prometheus::Counter>& tasks_leased_;
  prometheus::Family<prometheus::Counter>& tasks_completed_;
  prometheus::Family<prometheus::Counter>& tasks_failed_;
  prometheus::Family<prometheus::Counter>& leases_expired_;
  prometheus::Family<prometheus::Histogram>& schedule_to_start_;
  prometheus::Family<prometheus::Histogram>& task_execution_;
  prometheus::Family<prometheus::Counter>& signals_received_;
  prometheus::Family<prometheus::Counter>& circuit_transitions_;
  prometheus::Family<prometheus::Gauge>& circuit_state_;
  prometheus::Family<prometheus::Gauge>& dispatch_paused_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Counter>& access_denied_;
  prometheus::Family<prometheus::Histogram>& rpc_duration_;
  prometheus::Family<prometheus::Histogram>& transaction_duration_;
  prometheus::Family<prometheus::Counter>& transaction_errors_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& queue_due_;
  prometheus::Family<prometheus::Gauge>& queue_leased_;
  prometheus::Family<prometheus::Gauge>& queue_oldest_age_;
  prometheus::Gauge& timers_due_;
  prometheus::Gauge& timer_lag_;
  prometheus::Family<prometheus::Counter>& schedule_firings_;
  prometheus::Family<prometheus::Histogram>& schedule_lateness_;
  prometheus::Family<prometheus::Gauge>& schedules_;
  prometheus::Gauge& schedule_lag_;
  prometheus::Family<prometheus::Gauge>& rollout_failure_ratio_;
  prometheus::Family<prometheus::Counter>& rollouts_ended_;
  prometheus::Family<prometheus::Gauge>& stuck_runs_;
  prometheus::Gauge& members_alive_;
  prometheus::Gauge& members_draining_;
  prometheus::Gauge& pool_in_use_;
  prometheus::Gauge& pool_size_;
  prometheus::Gauge& database_up_;
  prometheus::Gauge& history_streams_;
  prometheus::Gauge& history_stream_bytes_;
  prometheus::Gauge& parsed_runs_;
  prometheus::Gauge& parsed_run_bytes_;
  prometheus::Gauge& members_busy_;
  prometheus::Gauge& commit_share_;
  prometheus::Gauge& search_index_queued_;
  prometheus::Gauge& history_partition_runway_;

  std::mutex mu_;  // guards the label sets seen, so gauges of emptied queues go back to 0
  std::set<std::pair<std::string, std::string>> seen_queues_;
  std::set<std::pair<std::string, std::string>> seen_circuits_;  // (namespace, task type)
  std::set<std::array<std::string, 3>> seen_paused_;             // (namespace, scope, name)
  std::set<std::pair<std::string, std::string>> seen_stuck_;
};

}  // namespace gridflow::engine
