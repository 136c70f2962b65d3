-- Gridflow schema, version 7: dispatch control — priorities and deadlines, reserved capacity,
-- rate limits, pauses and circuit breakers, schedule-to-start timeouts (docs/dispatch.md).
--
-- New columns have constant defaults: adding them rewrites nothing, whatever the table's size.

-- priority: the class claims order by (0 urgent .. 4 bulk), lifted by ageing while a task
-- waits; base_priority: the class the step gave it (reserved worker slots look at this one).
-- dispatch_deadline: the earliest of the step's deadline, its dispatch_by and the run's deadline.
-- start_deadline: when the current attempt fails if no worker took it (schedule_to_start).
ALTER TABLE tasks ADD COLUMN priority smallint NOT NULL DEFAULT 2;
ALTER TABLE tasks ADD COLUMN base_priority smallint NOT NULL DEFAULT 2;
ALTER TABLE tasks ADD COLUMN dispatch_deadline timestamptz;
ALTER TABLE tasks ADD COLUMN schedule_to_start interval;
ALTER TABLE tasks ADD COLUMN start_deadline timestamptz;

-- Claimable work in claim order: class, then deadline (none last), then age.
DROP INDEX IF EXISTS tasks_pending;
CREATE INDEX tasks_pending ON tasks (namespace, queue, priority, dispatch_deadline, not_before, id)
  WHERE state = 'PENDING';
CREATE INDEX tasks_start_deadline ON tasks (start_deadline)
  WHERE state = 'PENDING' AND start_deadline IS NOT NULL;
-- Ageing looks at queued tasks that can still be lifted (a fully aged one leaves the index).
CREATE INDEX tasks_ageing ON tasks (not_before)
  WHERE state = 'PENDING' AND priority > 1;

-- The run's own deadline: a timer of its own kind.
ALTER TABLE timers DROP CONSTRAINT IF EXISTS timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check
  CHECK (kind IN ('timer', 'signal_timeout', 'deadline', 'run_deadline'));

-- What operators (and circuit breakers) decide about dispatching a queue or a task type of a
-- namespace. A row exists only for what has been configured; claims read the rows of the queues
-- and types they serve.
CREATE TABLE dispatch_controls (
  namespace             text NOT NULL,
  scope                 text NOT NULL CHECK (scope IN ('queue', 'task_type')),
  name                  text NOT NULL,
  -- pause (operators, or the breaker while open)
  paused                boolean NOT NULL DEFAULT false,
  paused_by             text,
  paused_reason         text,
  paused_at             timestamptz,
  -- rate limit: a token bucket, refilled at claim time
  rate_per_second       double precision CHECK (rate_per_second > 0),
  burst                 integer CHECK (burst >= 1),
  tokens                double precision NOT NULL DEFAULT 0,
  refilled_at           timestamptz NOT NULL DEFAULT gf_now(),
  -- circuit breaker (task types)
  breaker_failure_rate  double precision CHECK (breaker_failure_rate > 0 AND breaker_failure_rate <= 1),
  breaker_min_attempts  integer CHECK (breaker_min_attempts >= 1),
  breaker_window        interval,
  breaker_cool_down     interval,
  breaker_configured_by text,  -- 'operator', or 'definition <name> v<version>'
  breaker_state         text NOT NULL DEFAULT 'closed'
                        CHECK (breaker_state IN ('closed', 'open', 'half_open')),
  breaker_changed_at    timestamptz,
  breaker_probe_task    bigint,
  window_started_at     timestamptz,
  window_attempts       integer NOT NULL DEFAULT 0,
  window_failures       integer NOT NULL DEFAULT 0,
  updated_at            timestamptz NOT NULL DEFAULT gf_now(),
  PRIMARY KEY (namespace, scope, name)
);
