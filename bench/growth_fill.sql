-- Fills an engine's database with copies of one run, to measure the engine with a long history
-- behind it (bench/run.sh --growth). Each copy gets a new run id, workflow id, task ids and
-- creation time (spread over the :days days before the last two hours, so that a retention of an
-- hour finds them all due); every other column — history, tasks, state —
-- is the template's, so the copies are runs the engine itself could have written.
--
--   psql -v template="'<workflow id>'" -v copies=1000000 -v prefix="'growth-'" -v days=30 \
--        -f bench/growth_fill.sql
--
-- Copies are made in chunks of 50,000 runs per transaction; VACUUM ANALYZE afterwards leaves the
-- tables as a long-running system's would be (visibility map set, statistics current).
\set ON_ERROR_STOP on
SET enable_seqscan = on;
SET jit = off;  -- per-chunk statements: compiling costs more than it saves

CREATE TEMP TABLE fill_template AS SELECT * FROM runs WHERE workflow_id = :template;
SELECT count(*) = 1 AS template_found FROM fill_template \gset
\if :template_found
\else
  \echo 'growth_fill.sql: no run with workflow id' :template
  \quit
\endif
CREATE TEMP TABLE fill_tasks AS
  SELECT t.* FROM tasks t JOIN fill_template r ON t.run_id = r.id;
CREATE TEMP TABLE fill_events AS
  SELECT e.* FROM events e JOIN fill_template r ON e.run_id = r.id;
-- Temporary tables get no statistics of their own: without them the planner took the chunk's
-- joins for tiny and looped over 50,000 task ids for every event copied (minutes per chunk).
ANALYZE fill_template;
ANALYZE fill_tasks;
ANALYZE fill_events;

-- The copies' history goes to the partitions of the months they started in (migration 16).
SELECT gf_history_partitions_ensure(now() - (:days + 1) * interval '1 day', now());

CREATE TEMP TABLE fill_chunks AS
  SELECT c AS first FROM generate_series(1, :copies, 50000) c;

-- One chunk: new runs, then their tasks (new ids from the tasks' sequence), then their events.
PREPARE fill_chunk(bigint, bigint) AS
WITH ids AS (
  -- Ids as the engine issues them (migration 18): time-ordered by creation.
  SELECT g, gf_uuid_v7(created) AS id, created
  FROM (SELECT g, now() - interval '2 hours' - (random() * :days * interval '1 day') AS created
        FROM generate_series($1, LEAST($1 + 49999, $2)) g) c
), new_runs AS (
  INSERT INTO runs
  SELECT copy.* FROM ids CROSS JOIN fill_template r,
  LATERAL jsonb_populate_record(NULL::runs, to_jsonb(r) || jsonb_build_object(
            'id', ids.id, 'workflow_id', :prefix || ids.g, 'created_at', ids.created,
            'history_key', ids.created,
            'updated_at', CASE WHEN r.closed_at IS NULL THEN ids.created
                               ELSE ids.created + (r.closed_at - r.created_at) END,
            'closed_at', ids.created + (r.closed_at - r.created_at))) copy
), task_ids AS (
  SELECT ids.id AS run_id, ids.g, ids.created, t.id AS template_task,
         nextval(pg_get_serial_sequence('tasks', 'id')) AS new_id
  FROM ids CROSS JOIN fill_tasks t
), new_tasks AS (
  INSERT INTO tasks OVERRIDING SYSTEM VALUE
  SELECT copy.* FROM task_ids n JOIN fill_tasks t ON t.id = n.template_task,
  LATERAL jsonb_populate_record(NULL::tasks, to_jsonb(t) || jsonb_build_object(
            'id', n.new_id, 'run_id', n.run_id, 'workflow_id', :prefix || n.g,
            'created_at', n.created, 'updated_at', n.created,
            -- A task waiting since its copy was created (hours at least) has been aged by the
            -- engine to the high class long ago (docs/dispatch.md): copied as the engine left it,
            -- not as a backlog the engine would first have to lift a thousand at a time.
            'not_before', CASE WHEN t.state = 'PENDING' THEN n.created ELSE t.not_before END,
            'priority', CASE WHEN t.state = 'PENDING' AND t.base_priority >= 2 THEN 1
                             ELSE t.priority END)) copy
)
INSERT INTO events
SELECT copy.* FROM ids CROSS JOIN fill_events e
LEFT JOIN task_ids n ON n.run_id = ids.id AND n.template_task = e.task_id,
LATERAL jsonb_populate_record(NULL::events, to_jsonb(e) || jsonb_build_object(
          'run_id', ids.id, 'task_id', n.new_id, 'created_at', ids.created,
          'history_key', ids.created)) copy;

SELECT format('EXECUTE fill_chunk(%s, %s)', first, :copies) FROM fill_chunks ORDER BY first \gexec

-- The copies go into the workflow-id search index here, in one pass, rather than through the
-- engines' background indexing (a batch a second; migration 19) during the measurement.
WITH queued AS (DELETE FROM run_search_pending RETURNING run_id)
INSERT INTO run_search (run_id, namespace, workflow_id)
SELECT r.id, r.namespace, r.workflow_id FROM runs r WHERE r.id IN (SELECT run_id FROM queued)
ON CONFLICT (run_id) DO NOTHING;

VACUUM ANALYZE runs;
VACUUM ANALYZE tasks;
VACUUM ANALYZE events;
VACUUM ANALYZE run_search;
