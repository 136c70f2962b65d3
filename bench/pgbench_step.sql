-- PostgreSQL's own ceiling for one workflow step, without the engine: the writes Gridflow makes
-- when a worker's task completes and the next one is scheduled — claim a pending task (SKIP
-- LOCKED), mark it done, advance the run row, append two history events, queue the next task —
-- in one transaction. Run by bench/run.sh with `pgbench -M prepared` on tables of its own
-- (bench/pgbench_setup.sql). Gridflow does more per step (a lease transaction, fencing checks,
-- the interpreter, NOTIFY, gRPC), so its figure is expected below this one.
BEGIN;
SELECT id, run FROM bq_tasks WHERE state = 'PENDING' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED \gset
UPDATE bq_tasks SET state = 'DONE', lease_epoch = lease_epoch + 1 WHERE id = :id;
UPDATE bq_runs SET last_seq = last_seq + 2, updated_at = now() WHERE id = :run RETURNING last_seq \gset
INSERT INTO bq_events (run, seq, type, payload)
  VALUES (:run, :last_seq - 1, 'TaskCompleted', '{"result": {}}'), (:run, :last_seq, 'TaskScheduled', '{"task_type": "noop"}');
INSERT INTO bq_tasks (run, state) VALUES (:run, 'PENDING');
COMMIT;
