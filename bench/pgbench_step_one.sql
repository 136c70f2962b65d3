-- The same workflow step as bench/pgbench_step.sql — claim a pending task (SKIP LOCKED), mark it
-- done, advance its run, append two history events, queue the next task — written as ONE
-- statement (data-modifying CTEs): one round trip and an implicit transaction. The ceiling of a
-- step when nothing but PostgreSQL's own work is paid.
WITH claimed AS (
  SELECT id, run FROM bq_tasks WHERE state = 'PENDING' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
), done AS (
  UPDATE bq_tasks t SET state = 'DONE', lease_epoch = lease_epoch + 1 FROM claimed c
  WHERE t.id = c.id RETURNING t.run
), advanced AS (
  UPDATE bq_runs r SET last_seq = last_seq + 2, updated_at = now() FROM done d
  WHERE r.id = d.run RETURNING r.id, r.last_seq
), history AS (
  INSERT INTO bq_events (run, seq, type, payload)
  SELECT a.id, a.last_seq - 1, 'TaskCompleted', '{"result": {}}'::jsonb FROM advanced a
  UNION ALL SELECT a.id, a.last_seq, 'TaskScheduled', '{"task_type": "noop"}'::jsonb FROM advanced a
)
INSERT INTO bq_tasks (run, state) SELECT id, 'PENDING' FROM advanced;
