-- Gridflow schema, version 29: payloads compressed with lz4 instead of pglz.
--
-- A run's data holds every step's output and is rewritten with the run's row at each step; task
-- inputs, outputs and history payloads are written once each. Values over about 2 kB are
-- compressed before they are stored (TOAST), with pglz by default — slow to compress and to read
-- back. With 4 kB outputs shaped like bid curves (10-step runs), PostgreSQL spent 3.3 ms of CPU
-- per step with pglz and 2.4 ms with lz4, and the runs made 18 % more steps per second
-- (docs/benchmarks.md, 2026-12-07 08:00). Only values written from now on are compressed with lz4;
-- older ones stay readable as they are. A PostgreSQL built without lz4 keeps pglz (a notice says so).
DO $$
DECLARE
  part record;
BEGIN
  ALTER TABLE runs
    ALTER COLUMN input SET COMPRESSION lz4,
    ALTER COLUMN data SET COMPRESSION lz4,
    ALTER COLUMN result SET COMPRESSION lz4,
    ALTER COLUMN state SET COMPRESSION lz4;
  ALTER TABLE tasks
    ALTER COLUMN input SET COMPRESSION lz4,
    ALTER COLUMN output SET COMPRESSION lz4,
    ALTER COLUMN heartbeat_details SET COMPRESSION lz4;
  -- The partitioned table's setting goes to partitions created from now on; the existing ones
  -- (the legacy partition included) are set one by one.
  ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4;
  FOR part IN SELECT c.oid::regclass AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'events'::regclass
  LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN payload SET COMPRESSION lz4', part.name);
  END LOOP;
  ALTER TABLE signals ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'this PostgreSQL has no lz4: payloads stay compressed with pglz';
END
$$;
