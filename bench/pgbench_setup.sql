-- Tables for bench/pgbench_step.sql and bench/pgbench_step_one.sql, shaped like Gridflow's
-- (runs, events, tasks with a partial index on pending rows), seeded with 1000 runs of one
-- pending task each.
SET client_min_messages = warning;
DROP TABLE IF EXISTS bq_tasks, bq_runs, bq_events;
CREATE TABLE bq_runs (id bigint PRIMARY KEY, last_seq integer NOT NULL DEFAULT 0,
                      updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE bq_events (run bigint NOT NULL, seq integer NOT NULL, type text NOT NULL,
                        payload jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (run, seq));
CREATE TABLE bq_tasks (id bigserial PRIMARY KEY, run bigint NOT NULL, state text NOT NULL,
                       lease_epoch integer NOT NULL DEFAULT 0);
CREATE INDEX bq_tasks_pending ON bq_tasks (id) WHERE state = 'PENDING';
INSERT INTO bq_runs (id) SELECT g FROM generate_series(1, 1000) g;
INSERT INTO bq_tasks (run, state) SELECT g, 'PENDING' FROM generate_series(1, 1000) g;
-- Analysed, as the engine's and the peers' databases are after their warm-ups (bench/run.sh).
ANALYZE bq_runs, bq_events, bq_tasks;
