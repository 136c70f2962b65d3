// Rows as the stores read and write them. JSON columns travel as JSON text; the engine parses
// what it needs. Statuses and states are the text values of the schema's CHECK constraints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "persistence/pg_types.h"

namespace gridflow::persistence {

struct DefinitionRow {
  std::string namespace_name;
  std::string name;
  int version = 0;
  std::string body_json;
  std::string created_by;
  TimePoint created_at;
  // A candidate not (or no longer) "latest": registered as one, or rolled back
  // (docs/rollouts.md). Runs may still ask for it by number.
  bool withheld = false;
};

struct RunRow {
  std::string id;  // uuid
  std::string namespace_name;
  std::string workflow_id;
  std::string definition_name;
  int definition_version = 0;
  std::string status;  // RUNNING, CANCELLING, COMPLETED, FAILED, CANCELLED
  std::string input_json;
  std::string data_json;
  std::optional<std::string> current_step;
  std::optional<std::string> result_json;
  std::optional<std::string> failure_json;
  std::string started_by;
  std::optional<std::string> cancel_requested_by;
  std::optional<std::string> cancel_reason;
  int64_t last_event_seq = 0;
  TimePoint created_at;
  TimePoint updated_at;
  std::optional<TimePoint> closed_at;
  std::string state_json = "{}";  // the interpreter's RunState
  std::optional<std::string> parent_run_id;
  std::optional<std::string> parent_frame;
  std::optional<int64_t> parent_activation;
  // The hash of the last event, hex (the head of the history's chain); "" before the first.
  std::string history_head;
  // The run's search attributes as a JSON object ({"market": "DE-LU", ...}; docs/search.md).
  std::string search_attributes_json = "{}";
  // Why the run got its definition version (docs/rollouts.md): "requested", "latest", or a
  // rollout's routing ("canary: rollout 3 sends 10% of latest to version 4"); "" before
  // migration 14.
  std::string version_reason;
  // Settlement revisions (docs/revisions.md): the run is revision `revision` of the series
  // (definition_name, revision_period); revision 0 and empty strings for runs that are not.
  std::string revision_period;
  int revision = 0;
  std::string supersedes;     // the workflow id of the revision this one replaced
  std::string superseded_by;  // the workflow id of the revision that replaced this one
  // gf_now() of the transaction that inserted or locked the row (InsertRun, LockRun*): a
  // transition's clock, read with the lock instead of in a round trip of its own.
  std::optional<TimePoint> transaction_now;
  // One more with every write of the run (persistence/write_set.cc); 0 for a run not read.
  int64_t row_version = 0;
  // False when a lock left data_json and state_json out (persistence::LockRunsOfTasks); a
  // summary reads neither either.
  bool data_and_state_read = true;
  // A summary without its input, result and failure details (ListRuns; FindRun's kSummary,
  // without the data either).
  bool fields_omitted = false;
};

struct EventRow {
  int64_t seq = 0;
  std::string type;
  std::optional<std::string> step;
  std::optional<int64_t> task_id;
  std::optional<int> attempt;
  std::string actor;
  std::string payload_json = "{}";
  TimePoint created_at;   // set by the database on insert
  std::string iteration;  // the foreach iteration ("[3]"), "" outside one
  std::string hash;       // the chain link, hex, set by the database ("" before migration 8)
};

// A task to insert: one execution of a task step.
struct NewTask {
  std::string run_id;
  std::string namespace_name;
  std::string workflow_id;
  std::string definition_name;
  int definition_version = 0;
  std::string queue;
  std::string task_type;
  std::string step;
  std::string idempotency_key;
  std::string input_json;
  int max_attempts = 1;
  int64_t start_to_close_ms = 0;
  std::optional<int64_t> heartbeat_timeout_ms;
  std::string frame = "0";
  int64_t activation = 0;
  std::string kind = "step";  // or "compensation"
  std::string iteration;      // the foreach iteration ("[3]"), "" outside one
  int priority = 2;           // class, 0 (urgent) to 4 (bulk): claim order, reserved slots
  std::optional<TimePoint> dispatch_deadline;   // claims take earlier deadlines first
  std::optional<int64_t> schedule_to_start_ms;  // an attempt nobody takes in time fails
};

struct TaskRow {
  int64_t id = 0;
  std::string run_id;
  std::string namespace_name;
  std::string workflow_id;
  std::string definition_name;
  int definition_version = 0;
  std::string queue;
  std::string task_type;
  std::string step;
  std::string idempotency_key;
  std::string input_json;
  std::string state;  // PENDING, LEASED, COMPLETED, FAILED, CANCELLED
  int attempt = 1;
  int max_attempts = 1;
  int64_t start_to_close_ms = 0;
  std::optional<int64_t> heartbeat_timeout_ms;
  int64_t lease_epoch = 0;
  std::optional<std::string> lease_owner;
  std::optional<TimePoint> lease_expires_at;
  std::optional<TimePoint> attempt_deadline;
  TimePoint not_before;
  std::string frame = "0";
  int64_t activation = 0;
  std::string kind = "step";
  bool cancel_requested = false;
  std::optional<std::string> last_failure_json;
  TimePoint created_at;
  // Computed against gf_now() when the row was read.
  double queued_seconds = 0;   // since it became claimable (not_before)
  double running_seconds = 0;  // since it was leased (0 when not leased)
  bool lease_expired = false;
  bool attempt_overdue = false;
  bool start_overdue = false;  // PENDING past its schedule-to-start deadline
  std::string iteration;
  int priority = 2;       // the class claims order by now (ageing lifts it)
  int base_priority = 2;  // the class its step gave it
  std::optional<TimePoint> dispatch_deadline;
  // The progress the current lease's last heartbeat carried (JSON); none when it carried none.
  std::optional<std::string> heartbeat_details_json;
};

// A circuit breaker of a task type that changed state ("closed", "open", "half_open").
struct BreakerChange {
  std::string namespace_name;
  std::string task_type;
  std::string state;
};

struct SignalRow {
  int64_t id = 0;
  std::string run_id;
  std::string name;
  std::string payload_json;
  std::optional<std::string> dedup_id;
  std::string sent_by;
  TimePoint received_at;
};

struct TimerRow {
  int64_t id = 0;
  std::string run_id;
  std::string frame;
  int64_t activation = 0;
  std::string step;
  std::string kind;  // timer, signal_timeout, deadline
  TimePoint fire_at;
  std::string state;  // PENDING, FIRED, CANCELLED
};

// The backlog of one task queue.
struct QueueStats {
  std::string queue;
  int64_t pending = 0;  // queued, including retries in their backoff
  int64_t due = 0;      // claimable now
  int64_t leased = 0;
  double oldest_due_seconds = 0;
};

struct MessageRow {
  int64_t id = 0;
  std::string run_id;
  std::string kind;  // child_closed, cancel
  std::string payload_json;
  bool processed = false;
};

struct MemberRow {
  std::string id;
  std::string address;
  std::string hostname;
  int pid = 0;
  std::string version;
  TimePoint started_at;
  TimePoint heartbeat_at;
  bool draining = false;
  std::optional<TimePoint> stopped_at;
  std::string waiting_polls_json = "{}";  // {"<namespace>/<queue>": long-polls waiting}
  double seconds_since_heartbeat = 0;
};

}  // namespace gridflow::persistence
