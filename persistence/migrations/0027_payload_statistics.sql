-- Gridflow schema, version 27: no planner statistics for the payloads.
--
-- ANALYZE samples every column of a table and builds its statistics; for the JSON payloads of
-- runs, tasks and events (inputs, outputs, run data and state, failures, history payloads) and the
-- hash chain's digests that means sorting and comparing thousands of large values, and no query
-- ever filters, joins or orders on them: the statistics are never used. On the hot tables,
-- autovacuum analyzes them about once a minute under load, and each pass took a core for up to a
-- second (runs: 1.19 s of which 0.74 s for these columns, at 74k runs) — a stall an activation
-- order in flight felt (docs/benchmarks.md, 2026-12-06 22:20). Statistics target 0 leaves them
-- out of ANALYZE; the planner uses default estimates for them, which no plan depends on.
ALTER TABLE runs
  ALTER COLUMN input SET STATISTICS 0,
  ALTER COLUMN data SET STATISTICS 0,
  ALTER COLUMN result SET STATISTICS 0,
  ALTER COLUMN failure SET STATISTICS 0,
  ALTER COLUMN state SET STATISTICS 0,
  ALTER COLUMN search_attributes SET STATISTICS 0,
  ALTER COLUMN history_head SET STATISTICS 0;

ALTER TABLE tasks
  ALTER COLUMN input SET STATISTICS 0,
  ALTER COLUMN output SET STATISTICS 0,
  ALTER COLUMN last_failure SET STATISTICS 0,
  ALTER COLUMN heartbeat_details SET STATISTICS 0;

-- On the partitioned history: every partition now (ALTER TABLE recurses), and each one created
-- from now on (a new partition does not inherit the setting).
ALTER TABLE events
  ALTER COLUMN payload SET STATISTICS 0,
  ALTER COLUMN hash SET STATISTICS 0;

-- As in version 22, and a new partition's payloads left out of ANALYZE as above.
CREATE OR REPLACE FUNCTION gf_history_partitions_ensure(first timestamptz, last timestamptz)
  RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  month timestamptz := date_trunc('month', first, 'UTC');
  name text;
  created integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('gridflow.history_partitions'));
  WHILE month <= last LOOP
    name := gf_history_partition_name(month);
    IF to_regclass(quote_ident(name)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)', name,
                     month, month + interval '1 month');
      EXECUTE format('ALTER TABLE %I ALTER COLUMN payload SET STATISTICS 0,'
                     ' ALTER COLUMN hash SET STATISTICS 0', name);
      EXECUTE format('CREATE TRIGGER events_delete_guard BEFORE DELETE ON %I'
                     ' FOR EACH STATEMENT EXECUTE FUNCTION gf_events_delete_guard()', name);
      EXECUTE format('CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON %I'
                     ' FOR EACH STATEMENT EXECUTE FUNCTION gf_events_append_only()', name);
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridflow_runtime') THEN
        EXECUTE format('REVOKE ALL ON %I FROM gridflow_runtime', name);
      END IF;
      created := created + 1;
    END IF;
    month := month + interval '1 month';
  END LOOP;
  RETURN created;
END
$$;
