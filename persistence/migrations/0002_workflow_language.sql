-- Gridflow schema, version 2: the full definition language. Runs keep their interpreter state
-- (frames, activations, compensations); tasks and timers belong to a frame's activation; child
-- runs point at their parent; runs exchange messages (a child's end, a cancellation) through an
-- inbox, so no transaction ever locks two runs.

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('RUNNING', 'CANCELLING', 'COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED'));
ALTER TABLE runs ADD COLUMN state jsonb NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN parent_run_id uuid REFERENCES runs (id);
ALTER TABLE runs ADD COLUMN parent_frame text;
ALTER TABLE runs ADD COLUMN parent_activation bigint;
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

ALTER TABLE tasks ADD COLUMN frame text NOT NULL DEFAULT '0';
ALTER TABLE tasks ADD COLUMN activation bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN kind text NOT NULL DEFAULT 'step'
  CHECK (kind IN ('step', 'compensation'));
-- Set when the run no longer wants the task (deadline passed, branch lost, run cancelled) while a
-- worker holds it: heartbeats tell the worker to stop; its outcome is recorded, not acted on.
ALTER TABLE tasks ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;

ALTER TABLE timers ADD COLUMN frame text NOT NULL DEFAULT '0';
ALTER TABLE timers ADD COLUMN activation bigint NOT NULL DEFAULT 0;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check
  CHECK (kind IN ('timer', 'signal_timeout', 'deadline'));
CREATE INDEX timers_by_activation ON timers (run_id, frame, activation) WHERE state = 'PENDING';

-- Messages between runs, applied by the receiving run's own transition.
CREATE TABLE run_messages (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id        uuid NOT NULL REFERENCES runs (id),
  kind          text NOT NULL CHECK (kind IN ('child_closed', 'cancel')),
  payload       jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT gf_now(),
  processed_at  timestamptz
);
CREATE INDEX run_messages_pending ON run_messages (id) WHERE processed_at IS NULL;
