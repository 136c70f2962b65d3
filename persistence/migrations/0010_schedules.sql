-- Gridflow schema, version 10: schedules and business-day calendars (docs/schedules.md).
-- New tables only; the runtime role gets its rights through the default privileges of version 8.

-- Named business-day calendars, as data: {"weekend": ["SAT", "SUN"], "holidays": ["2026-12-25"]}.
CREATE TABLE calendars (
  namespace   text NOT NULL REFERENCES namespaces (name),
  name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  body        jsonb NOT NULL,
  description text NOT NULL DEFAULT '',
  updated_by  text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT gf_now(),
  PRIMARY KEY (namespace, name)
);

-- A schedule and where it stands: the next nominal time and when it fires (nominal time plus
-- jitter, moved by the calendar). A firing locks the row (FOR UPDATE SKIP LOCKED), starts the run
-- with the workflow id "<id>@<nominal time>", records the firing and moves the row on, in one
-- transaction.
CREATE TABLE schedules (
  namespace        text NOT NULL REFERENCES namespaces (name),
  id               text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$'),
  spec             jsonb NOT NULL,
  description      text NOT NULL DEFAULT '',
  paused           boolean NOT NULL DEFAULT false,
  note             text NOT NULL DEFAULT '',
  next_nominal     timestamptz,
  next_fire_at     timestamptz,
  last_nominal     timestamptz,
  buffered_nominal timestamptz,
  last_run_id      uuid,
  runs_started     bigint NOT NULL DEFAULT 0,
  created_by       text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT gf_now(),
  updated_by       text NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT gf_now(),
  PRIMARY KEY (namespace, id)
);
CREATE INDEX schedules_due ON schedules (next_fire_at)
  WHERE NOT paused AND next_fire_at IS NOT NULL;
CREATE INDEX schedules_buffered ON schedules (namespace, id)
  WHERE buffered_nominal IS NOT NULL AND NOT paused;

-- What each nominal time of a schedule became: one row per nominal time, ever.
CREATE TABLE schedule_firings (
  namespace   text NOT NULL,
  schedule_id text NOT NULL,
  nominal_at  timestamptz NOT NULL,
  fire_at     timestamptz NOT NULL,
  fired_at    timestamptz NOT NULL DEFAULT gf_now(),
  outcome     text NOT NULL,
  workflow_id text,
  run_id      uuid,
  detail      text NOT NULL DEFAULT '',
  PRIMARY KEY (namespace, schedule_id, nominal_at),
  FOREIGN KEY (namespace, schedule_id) REFERENCES schedules (namespace, id) ON DELETE CASCADE
);
