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

-- One field of the canonical content: its length in bytes, a colon, the text. Length-prefixed,
-- so no field's text can pass for a boundary.
CREATE FUNCTION gf_chain_field(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT octet_length(t)::text || ':' || t
$$;

-- The chain link of an event whose predecessor's hash is `prev` (32 zero bytes before the
-- first event). Version 1 of the canonical content, in this order: run id (lowercase uuid),
-- sequence, type, step, task id, attempt (absent or 0: empty), actor, iteration, the time in
-- microseconds since the epoch, the payload as PostgreSQL prints jsonb (exactly the
-- payload_json the API returns). docs/security.md spells it out for independent verifiers.
CREATE FUNCTION gf_event_link(prev bytea, run_id uuid, seq bigint, type text, step text,
                              task_id bigint, attempt integer, actor text, iteration text,
                              created_at timestamptz, payload jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT sha256(prev || convert_to(
    gf_chain_field(run_id::text) || gf_chain_field(seq::text) || gf_chain_field(type) ||
    gf_chain_field(COALESCE(step, '')) || gf_chain_field(COALESCE(NULLIF(task_id, 0)::text, '')) ||
    gf_chain_field(COALESCE(NULLIF(attempt, 0)::text, '')) || gf_chain_field(actor) ||
    gf_chain_field(iteration) ||
    gf_chain_field((extract(epoch FROM created_at) * 1000000)::bigint::text) ||
    gf_chain_field(payload::text), 'UTF8'))
$$;

CREATE FUNCTION gf_events_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  prev bytea;
BEGIN
  IF NEW.seq > 1 THEN
    SELECT hash INTO prev FROM events WHERE run_id = NEW.run_id AND seq = NEW.seq - 1;
  END IF;
  NEW.hash := gf_event_link(COALESCE(prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea),
                            NEW.run_id, NEW.seq, NEW.type, NEW.step, NEW.task_id, NEW.attempt,
                            NEW.actor, NEW.iteration, NEW.created_at, NEW.payload);
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
