-- Gridflow schema, version 6: a lighter write path (docs/benchmarks.md, "What each change bought").
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
