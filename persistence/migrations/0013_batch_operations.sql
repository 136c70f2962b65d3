-- Gridflow schema, version 13: batch operations (docs/operations.md, "Batch operations"). One
-- operator command — cancel, terminate, signal or retry — for every run a query matched when the
-- operation was created. New tables only.

-- An operation and its progress. Items are handed out one per transaction, at most
-- rate_per_second: an item is due when next_item_at has passed, and taking one moves it on by
-- 1/rate. The row lock (FOR UPDATE SKIP LOCKED) makes one replica at a time work on an operation.
CREATE TABLE batch_operations (
  namespace       text NOT NULL REFERENCES namespaces (name),
  id              text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$'),
  kind            text NOT NULL CHECK (kind IN ('cancel', 'terminate', 'signal', 'retry')),
  query           text NOT NULL,
  reason          text NOT NULL DEFAULT '',
  from_step       text NOT NULL DEFAULT '',
  signal_name     text NOT NULL DEFAULT '',
  signal_payload  text NOT NULL DEFAULT '',
  rate_per_second double precision NOT NULL CHECK (rate_per_second > 0),
  state           text NOT NULL CHECK (state IN ('RUNNING', 'COMPLETED', 'CANCELLED')),
  total           bigint NOT NULL DEFAULT 0,
  succeeded       bigint NOT NULL DEFAULT 0,
  failed          bigint NOT NULL DEFAULT 0,
  skipped         bigint NOT NULL DEFAULT 0,
  next_item_at    timestamptz NOT NULL DEFAULT gf_now(),
  created_by      text NOT NULL,  -- the principal: each run's command is recorded as theirs
  identity        text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT gf_now(),
  finished_at     timestamptz,
  cancelled_by    text,
  PRIMARY KEY (namespace, id)
);
CREATE INDEX batch_operations_due ON batch_operations (next_item_at) WHERE state = 'RUNNING';
CREATE INDEX batch_operations_recent ON batch_operations (namespace, created_at DESC, id);

-- The runs an operation was created for (a snapshot: runs that match later are not added), and
-- what became of each: PENDING until its command committed (SUCCEEDED, in the same transaction)
-- or was refused (FAILED, with the engine's status code and message); SKIPPED when the operation
-- was cancelled before it came to the run.
CREATE TABLE batch_operation_items (
  namespace    text NOT NULL,
  operation_id text NOT NULL,
  seq          bigint NOT NULL,
  run_id       uuid NOT NULL,
  workflow_id  text NOT NULL,
  state        text NOT NULL DEFAULT 'PENDING'
                 CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED', 'SKIPPED')),
  code         text NOT NULL DEFAULT '',
  message      text NOT NULL DEFAULT '',
  done_at      timestamptz,
  PRIMARY KEY (namespace, operation_id, seq),
  FOREIGN KEY (namespace, operation_id) REFERENCES batch_operations (namespace, id)
    ON DELETE CASCADE
);
CREATE INDEX batch_operation_items_pending ON batch_operation_items (namespace, operation_id, seq)
  WHERE state = 'PENDING';
