-- Gridflow schema, version 8: a tamper-evident history and a runtime role that can only append
-- to it (docs/security.md, "Audit trail").
--
-- Every event carries hash = sha256(previous event's hash || its canonical content), a chain
-- per run; the run row keeps the head (the hash of its last event). Any later edit, deletion or
-- insertion breaks the chain at that event, which `gridflowctl runs verify` names. The hash is
-- computed here, by a trigger owned by the owner role, so no engine code path can forget it.
-- Events written before this migration carry no hash; a run's chain starts at its first event
-- written after it.

ALTER TABLE events ADD COLUMN hash bytea;
ALTER TABLE runs ADD COLUMN history_head bytea;

-- The chain link of each event: sha256(the previous event's hash (32 zero bytes before the first)
-- || the event's canonical content). Version 1 of the canonical content is, for each of these
-- fields in order, its length in bytes, a colon and its text: run id (lowercase uuid), sequence,
-- type, step, task id, attempt (absent or 0: empty), actor, iteration, the time in microseconds
-- since the epoch, the payload as PostgreSQL prints jsonb (exactly the payload_json the API
-- returns). Length-prefixed, so no field's text can pass for a boundary. docs/security.md spells
-- it out for independent verifiers (gridflowctl runs verify recomputes it). Written out inline:
-- a plpgsql trigger calling an SQL function per row costs twice as much.
CREATE FUNCTION gf_events_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  prev bytea;
  task text := NULLIF(NEW.task_id, 0)::text;
  attempt text := NULLIF(NEW.attempt, 0)::text;
  micros text := (extract(epoch FROM NEW.created_at) * 1000000)::bigint::text;
  payload text := NEW.payload::text;
BEGIN
  IF NEW.seq > 1 THEN
    SELECT hash INTO prev FROM events WHERE run_id = NEW.run_id AND seq = NEW.seq - 1;
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

-- The engine's runtime role (docs/security.md, "Database roles"): reads and writes the tables
-- it works on, but only appends to history; it owns nothing, so it can neither drop nor disable
-- the triggers above. Login roles for engines are made members of it. Creating it needs
-- CREATEROLE; without that, a DBA creates it beforehand and this migration only grants.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridflow_runtime') THEN
    BEGIN
      CREATE ROLE gridflow_runtime NOLOGIN;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'role gridflow_runtime not created (no CREATEROLE); engines must then connect as the owner';
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridflow_runtime') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO gridflow_runtime', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO gridflow_runtime', current_schema());
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO gridflow_runtime', current_schema());
    REVOKE UPDATE, DELETE, TRUNCATE ON events FROM gridflow_runtime;
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON gridflow_schema_migrations FROM gridflow_runtime;
    -- Tables and sequences later migrations create get the same rights.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gridflow_runtime', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO gridflow_runtime', current_schema());
  END IF;
END
$$;
