-- Gridflow schema, version 3: what operators need. Runs can be TERMINATED; replicas publish how
-- many long-polls wait on each queue (for `gridflowctl queues list`); runs list by last update.

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
  CHECK (status IN ('RUNNING', 'CANCELLING', 'COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED',
                    'TERMINATED'));
CREATE INDEX runs_by_updated ON runs (namespace, updated_at DESC, id DESC);

-- {"<namespace>/<queue>": <waiting long-polls>} as of the replica's last heartbeat.
ALTER TABLE members ADD COLUMN waiting_polls jsonb NOT NULL DEFAULT '{}';
