#include "engine/metrics/engine_metrics.h"

#include <array>
#include <limits>

#include "common/metrics_endpoint.h"

namespace gridflow::engine {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

template <typename Builder>
auto& Family(Builder builder, const char* name, const char* help, prometheus::Registry& r) {
  return builder.Name(name).Help(help).Register(r);
}

// The queue's namespace and name from ListQueueStats' "<namespace>/<queue>".
std::pair<std::string, std::string> SplitQueue(const std::string& key) {
  const size_t slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace

EngineMetrics::EngineMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      runs_started_(Family(BuildCounter(), "gridflow_runs_started_total",
                           "Runs started (child runs included), by definition.", *registry_)),
      runs_started_in_one_write_(
          Family(BuildCounter(), "gridflow_runs_started_in_one_write_total",
                 "Of the runs started, those the replica planned itself and wrote in their "
                 "transaction's one write statement (docs/architecture.md, \"A start in one "
                 "write\").",
                 *registry_)
              .Add({})),
      runs_closed_(Family(BuildCounter(), "gridflow_runs_closed_total",
                          "Runs that ended, by definition and final status (COMPLETED, FAILED, "
                          "CANCELLED, TERMINATED).",
                          *registry_)),
      run_duration_(Family(BuildHistogram(), "gridflow_run_duration_seconds",
                           "Runs' end-to-end duration, start to close, by definition and status.",
                           *registry_)),
      tasks_scheduled_(Family(BuildCounter(), "gridflow_tasks_scheduled_total",
                              "Tasks queued for workers, by namespace, queue and task type.",
                              *registry_)),
      tasks_leased_(Family(BuildCounter(), "gridflow_tasks_leased_total",
                           "Task attempts handed to workers under a lease.", *registry_)),
      tasks_completed_(Family(BuildCounter(), "gridflow_tasks_completed_total",
                              "Task attempts that completed.", *registry_)),
      tasks_failed_(Family(BuildCounter(), "gridflow_tasks_failed_total",
                           "Task attempts that failed; will_retry tells whether another attempt "
                           "follows.",
                           *registry_)),
      leases_expired_(Family(BuildCounter(), "gridflow_task_leases_expired_total",
                             "Task attempts whose lease expired (worker lost or too slow).",
                             *registry_)),
      schedule_to_start_(Family(BuildHistogram(), "gridflow_task_schedule_to_start_seconds",
                                "Time from a task becoming claimable to a worker leasing it.",
                                *registry_)),
      task_execution_(Family(BuildHistogram(), "gridflow_task_execution_seconds",
                             "Time from lease to the attempt's outcome (completed or failed).",
                             *registry_)),
      signals_received_(Family(BuildCounter(), "gridflow_signals_received_total",
                               "Signals accepted by runs (repeated deliveries not counted), by "
                               "definition.",
                               *registry_)),
      circuit_transitions_(Family(BuildCounter(), "gridflow_circuit_transitions_total",
                                  "Circuit breaker state changes of task types, by the state "
                                  "entered (open, half_open, closed).",
                                  *registry_)),
      circuit_state_(Family(BuildGauge(), "gridflow_circuit_state",
                            "A task type's circuit breaker: 0 closed, 1 half-open (one probe), "
                            "2 open (not dispatched).",
                            *registry_)),
      dispatch_paused_(Family(BuildGauge(), "gridflow_dispatch_paused",
                              "1 while an operator has paused a queue or task type (scope queue "
                              "or task_type), else 0.",
                              *registry_)),
      rpcs_(Family(BuildCounter(), "gridflow_rpcs_total",
                   "RPCs answered, by method and gRPC status code.", *registry_)),
      access_denied_(Family(BuildCounter(), "gridflow_access_denied_total",
                            "Calls refused PERMISSION_DENIED by the access policy, by method.",
                            *registry_)),
      rpc_duration_(Family(BuildHistogram(), "gridflow_rpc_duration_seconds",
                           "RPC handling time, by method (long-polls and streams included).",
                           *registry_)),
      transaction_duration_(Family(BuildHistogram(), "gridflow_db_transaction_seconds",
                                   "Database transactions, retries included, by operation.",
                                   *registry_)),
      transaction_errors_(Family(BuildCounter(), "gridflow_db_transaction_errors_total",
                                 "Database transactions that did not commit for a database "
                                 "reason, by operation and status code.",
                                 *registry_)),
      queue_depth_(Family(BuildGauge(), "gridflow_queue_depth",
                          "Queued tasks (including retries in their backoff) per queue.",
                          *registry_)),
      queue_due_(Family(BuildGauge(), "gridflow_queue_due", "Queued tasks claimable now per queue.",
                        *registry_)),
      queue_leased_(Family(BuildGauge(), "gridflow_queue_leased",
                           "Tasks leased to workers per queue.", *registry_)),
      queue_oldest_age_(Family(BuildGauge(), "gridflow_queue_oldest_task_age_seconds",
                               "How long the oldest claimable task of the queue has waited.",
                               *registry_)),
      timers_due_(Family(BuildGauge(), "gridflow_timers_due",
                         "Timers whose time has come but which have not fired.", *registry_)
                      .Add({})),
      timer_lag_(Family(BuildGauge(), "gridflow_timer_lag_seconds",
                        "How late the most overdue unfired timer is.", *registry_)
                     .Add({})),
      schedule_firings_(Family(BuildCounter(), "gridflow_schedule_firings_total",
                               "Nominal times of schedules handled, by outcome (started, "
                               "already_started, buffered, skipped_overlap, skipped_missed, "
                               "skipped_calendar, failed).",
                               *registry_)),
      schedule_lateness_(Family(BuildHistogram(), "gridflow_schedule_lateness_seconds",
                                "How long after its fire time a schedule's nominal time was "
                                "handled.",
                                *registry_)),
      schedules_(Family(BuildGauge(), "gridflow_schedules", "Schedules by state (active, paused).",
                        *registry_)),
      schedule_lag_(Family(BuildGauge(), "gridflow_schedule_lag_seconds",
                           "How late the most overdue unfired schedule firing is.", *registry_)
                        .Add({})),
      rollout_failure_ratio_(
          Family(BuildGauge(), "gridflow_rollout_failure_ratio",
                 "Failure rate of a running rollout's versions over its window at the last "
                 "evaluation, by namespace, definition and role (candidate, stable).",
                 *registry_)),
      rollouts_ended_(Family(BuildCounter(), "gridflow_rollouts_ended_total",
                             "Rollouts ended, by namespace, definition, outcome (promoted, "
                             "rolled_back) and trigger (automatic, manual).",
                             *registry_)),
      stuck_runs_(Family(BuildGauge(), "gridflow_stuck_runs",
                         "Open runs that are not moving, by definition and reason "
                         "(task_unclaimed, timer_overdue, not_closing).",
                         *registry_)),
      members_alive_(Family(BuildGauge(), "gridflow_cluster_members_alive",
                            "Engine replicas heartbeating (draining ones included).", *registry_)
                         .Add({})),
      members_draining_(Family(BuildGauge(), "gridflow_cluster_members_draining",
                               "Engine replicas draining before they stop.", *registry_)
                            .Add({})),
      pool_in_use_(Family(BuildGauge(), "gridflow_db_pool_connections_in_use",
                          "Database connections of this replica's pool borrowed now.", *registry_)
                       .Add({})),
      pool_size_(Family(BuildGauge(), "gridflow_db_pool_connections_max",
                        "Size of this replica's database connection pool.", *registry_)
                     .Add({})),
      database_up_(Family(BuildGauge(), "gridflow_database_up",
                          "1 while this replica reaches its database, else 0.", *registry_)
                       .Add({})),
      history_streams_(Family(BuildGauge(), "gridflow_history_streams",
                              "WatchHistory streams open on this replica.", *registry_)
                           .Add({})),
      history_stream_bytes_(Family(BuildGauge(), "gridflow_history_stream_bytes",
                                   "Serialized events read for WatchHistory streams on this "
                                   "replica and not yet written to their callers.",
                                   *registry_)
                                .Add({})),
      parsed_runs_(Family(BuildGauge(), "gridflow_parsed_runs",
                          "Runs this replica holds parsed for their next transition.", *registry_)
                       .Add({})),
      parsed_run_bytes_(Family(BuildGauge(), "gridflow_parsed_run_bytes",
                               "The JSON text size of the runs this replica holds parsed (the "
                               "cache's measure; bounded at 4 MiB).",
                               *registry_)
                            .Add({})),
      members_busy_(Family(BuildGauge(), "gridflow_cluster_members_busy",
                           "Engine replicas applying calls, this one included, as this "
                           "replica last counted them.",
                           *registry_)
                        .Add({})),
      commit_share_(Family(BuildGauge(), "gridflow_group_commit_share",
                           "Group-commit transactions this replica keeps in flight under load: "
                           "its share of --cluster-commit-threads.",
                           *registry_)
                        .Add({})),
      search_index_queued_(Family(BuildGauge(), "gridflow_search_index_queued_runs",
                                  "Runs waiting to be moved into the workflow-id search index "
                                  "(counted up to 100000).",
                                  *registry_)
                               .Add({})),
      history_partition_runway_(
          Family(BuildGauge(), "gridflow_history_partition_runway_seconds",
                 "Seconds until the first month without a history partition: runs cannot start "
                 "after it unless partitions are created.",
                 *registry_)
              .Add({})) {
  // Unknown until the first refresh reads it: NaN, which no "below" alert matches (0 would read as
  // "no runway left" on a replica that never reached its database).
  history_partition_runway_.Set(std::numeric_limits<double>::quiet_NaN());
}

void EngineMetrics::Committed(const TransitionFacts& facts) {
  for (const auto& definition : facts.runs_started)
    runs_started_.Add({{"definition", definition}}).Increment();
  if (facts.runs_started_in_one_write > 0)
    runs_started_in_one_write_.Increment(facts.runs_started_in_one_write);
  for (const auto& run : facts.runs_closed) {
    const prometheus::Labels labels = {{"definition", run.definition}, {"status", run.status}};
    runs_closed_.Add(labels).Increment();
    run_duration_.Add(labels, DurationBuckets()).Observe(run.seconds);
  }
  const auto task_labels = [](const TransitionFacts::Task& t) {
    return prometheus::Labels{
        {"namespace", t.namespace_name}, {"queue", t.queue}, {"task_type", t.task_type}};
  };
  for (const auto& task : facts.tasks_scheduled)
    tasks_scheduled_.Add(task_labels(task)).Increment();
  for (const auto& task : facts.tasks_completed) {
    tasks_completed_.Add(task_labels(task)).Increment();
    task_execution_.Add(task_labels(task), DurationBuckets()).Observe(task.seconds);
  }
  for (const auto& task : facts.tasks_failed) {
    prometheus::Labels labels = task_labels(task);
    task_execution_.Add(labels, DurationBuckets()).Observe(task.seconds);
    labels["will_retry"] = task.will_retry ? "true" : "false";
    tasks_failed_.Add(labels).Increment();
  }
  for (const auto& task : facts.leases_expired)
    leases_expired_.Add(task_labels(task)).Increment();
  for (const auto& definition : facts.signals_received)
    signals_received_.Add({{"definition", definition}}).Increment();
  for (const auto& change : facts.breaker_changes) {
    circuit_transitions_
        .Add({{"namespace", change.namespace_name},
              {"task_type", change.task_type},
              {"state", change.state}})
        .Increment();
    SetCircuit(change.namespace_name, change.task_type, change.state);
  }
}

void EngineMetrics::SetCircuit(const std::string& namespace_name, const std::string& task_type,
                               const std::string& state) {
  const double value = state == "open" ? 2 : state == "half_open" ? 1 : 0;
  circuit_state_.Add({{"namespace", namespace_name}, {"task_type", task_type}}).Set(value);
}

void EngineMetrics::Leased(const std::vector<persistence::TaskRow>& tasks) {
  for (const auto& task : tasks) {
    const prometheus::Labels labels = {
        {"namespace", task.namespace_name}, {"queue", task.queue}, {"task_type", task.task_type}};
    tasks_leased_.Add(labels).Increment();
    schedule_to_start_
        .Add({{"namespace", task.namespace_name}, {"queue", task.queue}}, LatencyBuckets())
        .Observe(task.queued_seconds);
  }
}

void EngineMetrics::RpcFinished(const std::string& method, int code, double seconds) {
  rpcs_.Add({{"method", method}, {"code", std::to_string(code)}}).Increment();
  rpc_duration_.Add({{"method", method}}, LatencyBuckets()).Observe(seconds);
}

void EngineMetrics::AccessDenied(const std::string& method) {
  access_denied_.Add({{"method", method}}).Increment();
}

void EngineMetrics::TransactionFinished(std::string_view name, double seconds,
                                        const Status& outcome) {
  const std::string operation(name);
  transaction_duration_.Add({{"operation", operation}}, LatencyBuckets()).Observe(seconds);
  // Refusals a body returns on purpose (NOT_FOUND, FAILED_PRECONDITION) are answers, not errors.
  if (outcome.code() == StatusCode::kUnavailable || outcome.code() == StatusCode::kInternal) {
    transaction_errors_
        .Add({{"operation", operation}, {"code", std::string(StatusCodeName(outcome.code()))}})
        .Increment();
  }
}

void EngineMetrics::SetSearchIndexQueued(int64_t runs) {
  search_index_queued_.Set(static_cast<double>(runs));
}

void EngineMetrics::SetHistoryPartitionRunway(double seconds) {
  history_partition_runway_.Set(seconds);
}

void EngineMetrics::SetCommitShare(int busy_replicas, int share) {
  members_busy_.Set(busy_replicas);
  commit_share_.Set(share);
}

void EngineMetrics::SetHistoryStreams(size_t streams, size_t held_bytes) {
  history_streams_.Set(static_cast<double>(streams));
  history_stream_bytes_.Set(static_cast<double>(held_bytes));
}

void EngineMetrics::SetParsedRuns(size_t runs, size_t text_bytes) {
  parsed_runs_.Set(static_cast<double>(runs));
  parsed_run_bytes_.Set(static_cast<double>(text_bytes));
}

void EngineMetrics::SetQueues(const std::vector<persistence::QueueStats>& queues) {
  std::lock_guard lock(mu_);
  std::set<std::pair<std::string, std::string>> now;
  for (const auto& q : queues) {
    const auto key = SplitQueue(q.queue);
    now.insert(key);
    const prometheus::Labels labels = {{"namespace", key.first}, {"queue", key.second}};
    queue_depth_.Add(labels).Set(static_cast<double>(q.pending));
    queue_due_.Add(labels).Set(static_cast<double>(q.due));
    queue_leased_.Add(labels).Set(static_cast<double>(q.leased));
    queue_oldest_age_.Add(labels).Set(q.oldest_due_seconds);
  }
  for (const auto& key : seen_queues_) {
    if (now.count(key) > 0) continue;  // an emptied queue reads 0, not its last value
    const prometheus::Labels labels = {{"namespace", key.first}, {"queue", key.second}};
    for (auto* family : {&queue_depth_, &queue_due_, &queue_leased_, &queue_oldest_age_})
      family->Add(labels).Set(0);
  }
  seen_queues_.insert(now.begin(), now.end());
}

void EngineMetrics::SetDispatchControls(const std::vector<persistence::DispatchControl>& controls) {
  std::lock_guard lock(mu_);
  std::set<std::pair<std::string, std::string>> circuits;
  std::set<std::array<std::string, 3>> paused;
  for (const auto& c : controls) {
    if (c.breaker) {
      circuits.insert({c.namespace_name, c.name});
      SetCircuit(c.namespace_name, c.name, c.breaker_state);
    }
    if (c.paused) paused.insert({c.namespace_name, c.scope, c.name});
  }
  for (const auto& [ns, type] : seen_circuits_) {
    if (circuits.count({ns, type}) == 0) SetCircuit(ns, type, "closed");
  }
  seen_circuits_.insert(circuits.begin(), circuits.end());
  for (const auto& key : paused)
    dispatch_paused_.Add({{"namespace", key[0]}, {"scope", key[1]}, {"name", key[2]}}).Set(1);
  for (const auto& key : seen_paused_) {
    if (paused.count(key) > 0) continue;
    dispatch_paused_.Add({{"namespace", key[0]}, {"scope", key[1]}, {"name", key[2]}}).Set(0);
  }
  seen_paused_.insert(paused.begin(), paused.end());
}

void EngineMetrics::SetDueTimers(const persistence::DueTimerStats& timers) {
  timers_due_.Set(static_cast<double>(timers.due));
  timer_lag_.Set(timers.max_lag_seconds);
}

void EngineMetrics::SetSchedules(const persistence::ScheduleStats& stats) {
  schedules_.Add({{"state", "paused"}}).Set(static_cast<double>(stats.paused));
  schedules_.Add({{"state", "active"}}).Set(static_cast<double>(stats.active));
  schedule_lag_.Set(stats.max_lag_seconds);
}

void EngineMetrics::ScheduleFired(const std::string& outcome, double lateness_seconds) {
  schedule_firings_.Add({{"outcome", outcome}}).Increment();
  schedule_lateness_.Add({}, LatencyBuckets()).Observe(lateness_seconds);
}

void EngineMetrics::RolloutEvaluated(const persistence::RolloutRow& r) {
  const auto set = [&](const char* role, int64_t failed, int64_t closed) {
    rollout_failure_ratio_
        .Add({{"namespace", r.namespace_name}, {"definition", r.name}, {"role", role}})
        .Set(RolloutEvaluator::FailureRate(failed, closed));
  };
  set("candidate", r.candidate_failed, r.candidate_closed);
  set("stable", r.stable_failed, r.stable_closed);
}

void EngineMetrics::RolloutEnded(const persistence::RolloutRow& r, const std::string& outcome,
                                 bool automatic) {
  rollouts_ended_
      .Add({{"namespace", r.namespace_name},
            {"definition", r.name},
            {"outcome", outcome},
            {"trigger", automatic ? "automatic" : "manual"}})
      .Increment();
}

void EngineMetrics::SetStuckRuns(const std::vector<persistence::StuckRuns>& stuck) {
  std::lock_guard lock(mu_);
  std::set<std::pair<std::string, std::string>> now;
  for (const auto& s : stuck) {
    now.insert({s.definition, s.reason});
    stuck_runs_.Add({{"definition", s.definition}, {"reason", s.reason}})
        .Set(static_cast<double>(s.runs));
  }
  for (const auto& [definition, reason] : seen_stuck_) {
    if (now.count({definition, reason}) == 0) {
      stuck_runs_.Add({{"definition", definition}, {"reason", reason}}).Set(0);
    }
  }
  seen_stuck_.insert(now.begin(), now.end());
}

void EngineMetrics::SetMembers(int alive, int draining) {
  members_alive_.Set(alive);
  members_draining_.Set(draining);
}

void EngineMetrics::SetPool(int in_use, int size) {
  pool_in_use_.Set(in_use);
  pool_size_.Set(size);
}

void EngineMetrics::SetDatabaseUp(bool up) {
  database_up_.Set(up ? 1 : 0);
}

}  // namespace gridflow::engine
