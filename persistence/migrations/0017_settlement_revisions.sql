-- Gridflow schema, version 17: settlement revisions (docs/revisions.md). A run may be revision N
-- of a (definition, period) series: metering and imbalance prices are published as a preliminary
-- revision and corrected later, and each revision is settled by a run of its own. Starting a
-- newer revision supersedes the older ones (their open runs are cancelled, so their compensations
-- run); an older revision than the latest is refused.

-- The run's place in its series; all NULL for runs that are not revisions.
ALTER TABLE runs ADD COLUMN revision_period text;
ALTER TABLE runs ADD COLUMN revision integer CHECK (revision >= 1);
-- The workflow id of the revision this one replaced, and of the one that replaced it.
ALTER TABLE runs ADD COLUMN supersedes text;
ALTER TABLE runs ADD COLUMN superseded_by text;

-- One run per revision of a series; also the chain's index (newest first) and, with
-- superseded_by, the "latest revision of each period" listing.
CREATE UNIQUE INDEX runs_by_revision
  ON runs (namespace, definition_name, revision_period, revision DESC)
  WHERE revision IS NOT NULL;

-- The latest revision started per series. It outlives retention (which deletes closed runs), so
-- a revision older than one already settled is refused even after that run was archived. Its row
-- is also the lock that serialises the starts of one series.
CREATE TABLE revision_series (
  namespace          text NOT NULL REFERENCES namespaces (name),
  definition_name    text NOT NULL,
  period             text NOT NULL,
  latest_revision    integer NOT NULL CHECK (latest_revision >= 1),
  latest_workflow_id text NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT gf_now(),
  PRIMARY KEY (namespace, definition_name, period)
);
