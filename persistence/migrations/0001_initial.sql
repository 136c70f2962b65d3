-- Gridflow schema, version 1. Migrations are forward-only and never edited once released: the
-- engine refuses to start when a recorded migration's checksum differs from the one it carries.

-- The engine's notion of "now". Every time comparison in Gridflow's SQL goes through it, so that
-- all replicas share PostgreSQL's clock, and tests can move time forward for one session with
-- SET gridflow.clock_offset = '2 hours' instead of sleeping.
CREATE FUNCTION gf_now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT now() + COALESCE(NULLIF(current_setting('gridflow.clock_offset', true), '')::interval,
                          interval '0')
$$;

CREATE TABLE namespaces (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
  created_at  timestamptz NOT NULL DEFAULT gf_now()
);
INSERT INTO namespaces (name) VALUES ('default');

-- Immutable, versioned workflow definitions (validated by the engine before insertion).
CREATE TABLE definitions (
  namespace   text NOT NULL REFERENCES namespaces (name),
  name        text NOT NULL,
  version     integer NOT NULL CHECK (version > 0),
  body        jsonb NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT gf_now(),
  PRIMARY KEY (namespace, name, version)
);

CREATE TABLE runs (
  id                  uuid PRIMARY KEY,
  namespace           text NOT NULL REFERENCES namespaces (name),
  workflow_id         text NOT NULL,
  definition_name     text NOT NULL,
  definition_version  integer NOT NULL,
  status              text NOT NULL
                      CHECK (status IN ('RUNNING', 'CANCELLING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  input               jsonb NOT NULL,
  data                jsonb NOT NULL,
  current_step        text,
  result              jsonb,
  failure             jsonb,
  started_by          text NOT NULL,
  cancel_requested_by text,
  cancel_reason       text,
  -- Sequence number of the last history event; the run row lock serialises appends.
  last_event_seq      bigint NOT NULL DEFAULT 0,
  row_version         bigint NOT NULL DEFAULT 1,
  created_at          timestamptz NOT NULL DEFAULT gf_now(),
  updated_at          timestamptz NOT NULL DEFAULT gf_now(),
  closed_at           timestamptz,
  UNIQUE (namespace, workflow_id),
  FOREIGN KEY (namespace, definition_name, definition_version) REFERENCES definitions
);
CREATE INDEX runs_by_created ON runs (namespace, created_at DESC, id DESC);
CREATE INDEX runs_by_status ON runs (namespace, status, created_at DESC, id DESC);
CREATE INDEX runs_by_definition ON runs (namespace, definition_name, created_at DESC, id DESC);

-- Append-only history. Sequence numbers per run start at 1 and have no gaps.
CREATE TABLE events (
  run_id      uuid NOT NULL REFERENCES runs (id),
  seq         bigint NOT NULL CHECK (seq > 0),
  type        text NOT NULL,
  step        text,
  task_id     bigint,
  attempt     integer,
  actor       text NOT NULL,
  payload     jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT gf_now(),
  PRIMARY KEY (run_id, seq)
);

CREATE FUNCTION gf_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'run history is append-only: % on events is refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION gf_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION gf_events_append_only();

-- Task queue. A row is one step execution; attempts reuse the row, leases bump lease_epoch.
CREATE TABLE tasks (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id              uuid NOT NULL REFERENCES runs (id),
  namespace           text NOT NULL,
  workflow_id         text NOT NULL,
  definition_name     text NOT NULL,
  definition_version  integer NOT NULL,
  queue               text NOT NULL,
  task_type           text NOT NULL,
  step                text NOT NULL,
  idempotency_key     text NOT NULL,
  input               jsonb NOT NULL,
  state               text NOT NULL
                      CHECK (state IN ('PENDING', 'LEASED', 'COMPLETED', 'FAILED', 'CANCELLED')),
  attempt             integer NOT NULL DEFAULT 1 CHECK (attempt > 0),
  max_attempts        integer NOT NULL CHECK (max_attempts > 0),
  start_to_close      interval NOT NULL,
  heartbeat_timeout   interval,
  not_before          timestamptz NOT NULL DEFAULT gf_now(),
  lease_epoch         bigint NOT NULL DEFAULT 0,
  lease_owner         text,
  leased_at           timestamptz,
  lease_expires_at    timestamptz,
  attempt_deadline    timestamptz,
  heartbeat_details   jsonb,
  output              jsonb,
  last_failure        jsonb,
  created_at          timestamptz NOT NULL DEFAULT gf_now(),
  updated_at          timestamptz NOT NULL DEFAULT gf_now(),
  CHECK (state <> 'LEASED' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);
-- Small, hot index of claimable work; dead tuples in it slow claims, hence the vacuum settings.
CREATE INDEX tasks_pending ON tasks (namespace, queue, not_before, id) WHERE state = 'PENDING';
CREATE INDEX tasks_lease_expiry ON tasks (lease_expires_at) WHERE state = 'LEASED';
CREATE INDEX tasks_by_run ON tasks (run_id);
ALTER TABLE tasks SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 200,
                       autovacuum_vacuum_cost_delay = 0);

-- Durable timers (timer steps, deadlines). Fired by the engines' background loop.
CREATE TABLE timers (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      uuid NOT NULL REFERENCES runs (id),
  step        text NOT NULL,
  kind        text NOT NULL,
  fire_at     timestamptz NOT NULL,
  state       text NOT NULL CHECK (state IN ('PENDING', 'FIRED', 'CANCELLED')),
  created_at  timestamptz NOT NULL DEFAULT gf_now(),
  fired_at    timestamptz
);
CREATE INDEX timers_due ON timers (fire_at) WHERE state = 'PENDING';
CREATE INDEX timers_by_run ON timers (run_id);

-- Signals delivered to runs, kept until a step consumes them; dedup ids are unique per run.
CREATE TABLE signals (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id            uuid NOT NULL REFERENCES runs (id),
  name              text NOT NULL,
  payload           jsonb NOT NULL,
  dedup_id          text,
  sent_by           text NOT NULL,
  received_at       timestamptz NOT NULL DEFAULT gf_now(),
  consumed_at       timestamptz,
  consumed_by_step  text,
  UNIQUE (run_id, dedup_id)
);
CREATE INDEX signals_unconsumed ON signals (run_id, name, id) WHERE consumed_at IS NULL;

-- Engine replicas. Rows of dead replicas stay (with an old heartbeat) and are reported, not trusted.
CREATE TABLE members (
  id            text PRIMARY KEY,
  address       text NOT NULL,
  hostname      text NOT NULL,
  pid           integer NOT NULL,
  version       text NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT gf_now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT gf_now(),
  draining      boolean NOT NULL DEFAULT false,
  stopped_at    timestamptz
);
