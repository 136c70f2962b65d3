-- Gridflow schema, version 11: operator look-ups that read only live rows, so their cost follows
-- the work in flight rather than the history kept (docs/benchmarks.md, "growth").
-- Open runs newest first: `runs list --queue` walks these and stops at its page. created_at never
-- changes and closing a run already leaves runs_closed's predicate, so updates stay HOT.
CREATE INDEX runs_open_by_created ON runs (namespace, created_at DESC, id DESC)
  WHERE closed_at IS NULL;
-- The queued tasks' runs, read from the index alone (the runs waiting on a queue).
DROP INDEX IF EXISTS tasks_pending;
CREATE INDEX tasks_pending ON tasks (namespace, queue, priority, dispatch_deadline, not_before, id)
  INCLUDE (run_id) WHERE state = 'PENDING';
