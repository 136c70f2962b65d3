-- Gridflow schema, version 6: a lighter write path, and reads that stay fast as history grows
-- (docs/benchmarks.md, "What each change bought").
--
-- Foreign keys from the hot append-only tables to runs go: every task and event insert paid a
-- lookup of its run, though the engine only ever writes them inside the transaction that holds
-- (or inserted) that very run. Runs are never deleted while their tasks and history exist.
-- Dropping a constraint is safe beside engines of the previous version.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_run_id_fkey;
ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_run_id_fkey;
ALTER TABLE timers DROP CONSTRAINT IF EXISTS timers_run_id_fkey;

-- Room on each page for the next version of a row, so updates that touch no indexed column stay
-- on the page (HOT) and leave no index entries behind.
ALTER TABLE runs SET (fillfactor = 85);
ALTER TABLE tasks SET (fillfactor = 85);

-- A run's row changes at every step; an index on a column that changes with it (updated_at)
-- would make each of those updates write a new entry into every index of runs. Listing by last
-- change reads open runs (few) and closed runs by their closing time instead — a closed run's
-- updated_at is its closed_at from now on (persistence/run_store.cc, ListRuns).
DROP INDEX IF EXISTS runs_by_updated;
UPDATE runs SET updated_at = closed_at WHERE closed_at IS NOT NULL AND updated_at <> closed_at;
CREATE INDEX runs_closed ON runs (namespace, closed_at DESC, id DESC) WHERE closed_at IS NOT NULL;
-- Open runs only: what periodic checks (stuck runs) and listings of open runs read, whatever the
-- number of closed runs beside them.
CREATE INDEX runs_open ON runs (namespace, status) WHERE closed_at IS NULL;

-- Substring search on workflow ids (`runs list --search`) through trigrams, not a scan of every
-- run. pg_trgm ships with PostgreSQL and is a trusted extension (the database owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX runs_workflow_id_trgm ON runs USING gin (lower(workflow_id) gin_trgm_ops);
