-- Gridflow schema, version 16: history partitioned by month, so that retention drops a month of
-- history at once instead of deleting it row by row (docs/operations.md, "Retention and
-- archive"; docs/architecture.md, "History storage").
--
-- Every run gets a history key when it is created: the time it was created (runs created before
-- this version: -infinity). Each of its events carries the run's key, so a run's history lies in
-- one partition: the month the run started in (events_yYYYYmMM), or events_legacy for runs from
-- before this version. A writer that names no key (a replica of an earlier release, during a
-- rolling upgrade) writes to events_legacy; readers and the chain look in the run's partition
-- and in events_legacy, so such events are neither lost nor out of their chain. A month's partition is dropped once no run of that month is
-- left (retention archived and deleted them all) — a catalog change, not a million deletes.
-- History in events_legacy is deleted row by row, as in version 15; the partition itself stays
-- (empty, once retention has archived its runs) for writers that name no key.
--
-- The engines keep the next months' partitions created ahead (they connect as the owner for
-- that) and drop the emptied ones; gf_history_partitions_ensure and
-- gf_history_partitions_droppable below are the SQL side of that.

ALTER TABLE runs ADD COLUMN history_key timestamptz NOT NULL DEFAULT '-infinity';
ALTER TABLE runs ALTER COLUMN history_key SET DEFAULT gf_now();
-- Which runs still hold a month: answered through this index, whatever the namespaces.
CREATE INDEX runs_by_history_key ON runs (history_key);

-- The history so far becomes the legacy partition. Its row triggers come back as clones of the
-- partitioned table's; its statement triggers (delete guard, no truncate) stay its own, because
-- statement triggers of a partitioned table do not fire for a statement naming a partition.
ALTER TABLE events RENAME TO events_legacy;
ALTER TABLE events_legacy RENAME CONSTRAINT events_pkey TO events_legacy_pkey;
DROP TRIGGER events_chain ON events_legacy;
DROP TRIGGER events_no_update ON events_legacy;
ALTER TABLE events_legacy ADD COLUMN history_key timestamptz NOT NULL DEFAULT '-infinity';
-- Its key becomes (run_id, seq, history_key), the partitioned table's: the same uniqueness,
-- since every legacy event has the same history key.
CREATE UNIQUE INDEX events_legacy_key ON events_legacy (run_id, seq, history_key);
ALTER TABLE events_legacy DROP CONSTRAINT events_legacy_pkey,
  ADD CONSTRAINT events_legacy_pkey PRIMARY KEY USING INDEX events_legacy_key;

-- The engine names every event's key (taken from the run row); the default catches writers
-- that do not know of partitions.
CREATE TABLE events (LIKE events_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
  PARTITION BY RANGE (history_key);
ALTER TABLE events ADD PRIMARY KEY (run_id, seq, history_key);
ALTER TABLE events ATTACH PARTITION events_legacy
  FOR VALUES FROM (MINVALUE) TO ('1970-01-01 00:00:00+00');

-- The chain link (version 8), now looking its predecessor up in the run's own partition (and in
-- the legacy one, see above).
CREATE OR REPLACE FUNCTION gf_events_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  prev bytea;
  run_key timestamptz := NEW.history_key;
  task text := NULLIF(NEW.task_id, 0)::text;
  attempt text := NULLIF(NEW.attempt, 0)::text;
  micros text := (extract(epoch FROM NEW.created_at) * 1000000)::bigint::text;
  payload text := NEW.payload::text;
BEGIN
  IF NEW.seq > 1 THEN
    IF run_key = '-infinity' THEN  -- a writer that named no key: the run's may be another
      SELECT history_key INTO run_key FROM runs WHERE id = NEW.run_id;
    END IF;
    SELECT hash INTO prev FROM events
     WHERE run_id = NEW.run_id AND seq = NEW.seq - 1 AND history_key IN (run_key, '-infinity');
  END IF;
  NEW.hash := sha256(
    COALESCE(prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) ||
    convert_to(concat(
      octet_length(NEW.run_id::text), ':', NEW.run_id::text,
      octet_length(NEW.seq::text), ':', NEW.seq::text,
      octet_length(NEW.type), ':', NEW.type,
      COALESCE(octet_length(NEW.step), 0), ':', NEW.step,
      COALESCE(octet_length(task), 0), ':', task,
      COALESCE(octet_length(attempt), 0), ':', attempt,
      octet_length(NEW.actor), ':', NEW.actor,
      octet_length(NEW.iteration), ':', NEW.iteration,
      octet_length(micros), ':', micros,
      octet_length(payload), ':', payload), 'UTF8'));
  RETURN NEW;
END
$$;
CREATE TRIGGER events_chain BEFORE INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION gf_events_chain();
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION gf_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION gf_events_append_only();
CREATE TRIGGER events_delete_guard BEFORE DELETE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION gf_events_delete_guard();

-- The runtime role appends through the partitioned table only; the partitions themselves are
-- out of its reach (default privileges would otherwise grant it DELETE on each new one).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridflow_runtime') THEN
    REVOKE UPDATE, DELETE, TRUNCATE ON events FROM gridflow_runtime;
    REVOKE ALL ON events_legacy FROM gridflow_runtime;
  END IF;
END
$$;

-- Creates the monthly partitions (UTC months) covering [first, last] that do not exist yet, each
-- guarded like the partitioned table and out of the runtime role's reach; returns how many it
-- created. Serialised between replicas by an advisory lock. Owner role only (DDL).
CREATE FUNCTION gf_history_partitions_ensure(first timestamptz, last timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  month timestamptz := date_trunc('month', first, 'UTC');
  name text;
  created integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('gridflow.history_partitions'));
  WHILE month <= last LOOP
    name := 'events_' || to_char(month AT TIME ZONE 'UTC', '"y"YYYY"m"MM');
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

-- The partitions no run needs any more, oldest first: months that ended more than a day ago (no
-- transaction still starting a run in them) and in which no run that is left started (every one
-- was archived and deleted, or there never was one). Never the legacy partition: it catches the
-- events of writers that name no key. Detaching and dropping them is the engine's part (DETACH
-- ... CONCURRENTLY cannot run inside a function).
CREATE FUNCTION gf_history_partitions_droppable()
  RETURNS TABLE (name text, detach_pending boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  p record;
  bound text[];
  lower_bound timestamptz;
  upper_bound timestamptz;
BEGIN
  FOR p IN SELECT c.relname::text AS relname, i.inhdetachpending AS pending,
                  pg_get_expr(c.relpartbound, c.oid) AS spec
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'events'::regclass
            ORDER BY c.relname
  LOOP
    bound := regexp_match(p.spec, 'FROM \((.*)\) TO \(''(.*)''\)');
    CONTINUE WHEN bound[1] = 'MINVALUE';
    lower_bound := trim(BOTH '''' FROM bound[1])::timestamptz;
    upper_bound := bound[2]::timestamptz;
    IF upper_bound <= gf_now() - interval '1 day' AND NOT EXISTS (
         SELECT 1 FROM runs r WHERE r.history_key >= lower_bound AND r.history_key < upper_bound)
    THEN
      name := p.relname;
      detach_pending := p.pending;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

SELECT gf_history_partitions_ensure(gf_now(), gf_now() + interval '2 months');
