-- Gridflow schema, version 22: the history partitions' naming rule in one place.
--
-- A month's partition is found by its name (events_yYYYYmMM, version 16): the engines create it
-- ahead of time by that name and gauge how many months ahead exist by looking for it. The rule
-- was written twice, in gf_history_partitions_ensure and in the engine's runway query; now both
-- go through gf_history_partition_name.

-- The partition that holds the history of runs started in `month`'s UTC month.
CREATE FUNCTION gf_history_partition_name(month timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT 'events_' || to_char(date_trunc('month', month, 'UTC') AT TIME ZONE 'UTC',
                              '"y"YYYY"m"MM')
$$;

-- As in version 16, naming the partitions through gf_history_partition_name.
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

-- Seconds from now to the start of the first UTC month without a partition: how long runs can
-- still start (a run's history goes to its start month's partition). Negative when this month
-- has none. Ten years of months are looked at, at most: a longer runway reads as ten years.
-- Reads the catalog only: any role (the gauge gridflow_history_partition_runway_seconds).
CREATE FUNCTION gf_history_partition_runway() RETURNS double precision
LANGUAGE sql STABLE AS $$
  SELECT extract(epoch FROM coalesce(min(m), this_month + interval '10 years') - gf_now())::float8
    FROM (SELECT date_trunc('month', gf_now(), 'UTC') AS this_month) t
    LEFT JOIN LATERAL generate_series(this_month, this_month + interval '119 months',
                                      interval '1 month') m
      ON to_regclass(quote_ident(gf_history_partition_name(m))) IS NULL
   GROUP BY this_month
$$;
