-- Gridflow schema, version 19: the workflow-id search index is kept off the hot path.
--
-- runs_workflow_id_trgm (migration 6) was a GIN index on runs itself: every run insert, and every
-- run update that could not stay on its page (a run's close always, as status and closed_at are
-- indexed), added the id's trigrams to it — about four times per three-step run — and once its
-- pending list outgrew gin_pending_list_limit, the transaction that happened to add the last
-- entry merged the whole list into the index: a group-committed batch of transitions stalled for
-- 20–100 ms behind work that only `runs list --search` needs.
--
-- Now the trigrams live in run_search, one row per run, written once by a background indexer on
-- every replica (persistence/run_search_store.h, docs/architecture.md). A run insert only queues
-- the run's id in run_search_pending (by the trigger below, whichever engine version inserts); a
-- search reads run_search through its index and the few queued runs directly, so a run is found
-- from the moment its start committed.

-- No foreign key to runs: its check would lock every indexed run FOR KEY SHARE until the
-- indexer commits, and the transitions lock runs FOR UPDATE. Retention deletes a run's row with
-- the run (persistence/archive_store.cc).
CREATE TABLE run_search (
  run_id      uuid PRIMARY KEY,
  namespace   text NOT NULL,
  workflow_id text NOT NULL
);

-- Runs not yet in run_search. A run deleted while queued is dropped by the indexer.
CREATE TABLE run_search_pending (
  run_id uuid PRIMARY KEY
);

-- One statement per run insert statement (a batch of starts queues its runs together).
CREATE FUNCTION gf_run_search_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO run_search_pending (run_id) SELECT id FROM inserted_runs ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$;
CREATE TRIGGER runs_search_enqueue AFTER INSERT ON runs
  REFERENCING NEW TABLE AS inserted_runs
  FOR EACH STATEMENT EXECUTE FUNCTION gf_run_search_enqueue();

INSERT INTO run_search (run_id, namespace, workflow_id) SELECT id, namespace, workflow_id FROM runs;
-- Built after the copy: one sorted pass, a compact index (filled row by row, its pending list is
-- merged again and again).
CREATE INDEX run_search_trgm ON run_search USING gin (lower(workflow_id) gin_trgm_ops);
DROP INDEX runs_workflow_id_trgm;
