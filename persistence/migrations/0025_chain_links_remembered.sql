-- Gridflow schema, version 25: the history chain's link, without looking up an event the same
-- transaction has just hashed.
--
-- The chain itself does not change (migration 8 defines it; docs/security.md spells it out):
-- hash = sha256(previous event's hash || canonical content). What changes is how the trigger finds
-- the previous event's hash. A transition's transaction appends several events per run (a task's
-- completion, the next task's scheduling, the run's close) in sequence order, and each used to look
-- its predecessor up in the partitioned table — under the engine's generic plans an executor start
-- over every partition for each event, about a third of the trigger's time. Now the trigger keeps
-- the last link it computed in a transaction-local setting (gridflow.chain_link: run id, sequence,
-- hash), and an event whose predecessor is that link takes its hash from there. The setting ends
-- with the transaction and is rolled back with a savepoint, so it only ever names an event this
-- transaction inserted and still holds; history is append-only (migrations 8 and 15), and the one
-- delete allowed (retention, archiving on) forgets the link. Any other event looks up its
-- predecessor in the run's own partition first, and in the legacy one only if it is not there
-- (migration 16: an older writer may have put it there).
CREATE OR REPLACE FUNCTION gf_events_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  prev bytea;
  run_key timestamptz := NEW.history_key;
  run_text text := NEW.run_id::text;
  seq_text text := NEW.seq::text;
  task text := NULLIF(NEW.task_id, 0)::text;
  attempt text := NULLIF(NEW.attempt, 0)::text;
  micros text := (extract(epoch FROM NEW.created_at) * 1000000)::bigint::text;
  payload text := NEW.payload::text;
  link text;
BEGIN
  IF NEW.seq > 1 THEN
    link := current_setting('gridflow.chain_link', true);
    IF starts_with(link, run_text || ':' || (NEW.seq - 1)::text || ':') THEN
      prev := decode(split_part(link, ':', 3), 'hex');
    ELSE
      IF run_key = '-infinity' THEN  -- a writer that named no key: the run's may be another
        SELECT history_key INTO run_key FROM runs WHERE id = NEW.run_id;
      END IF;
      SELECT hash INTO prev FROM events
       WHERE run_id = NEW.run_id AND seq = NEW.seq - 1 AND history_key = run_key;
      IF NOT FOUND AND run_key IS DISTINCT FROM '-infinity' THEN
        SELECT hash INTO prev FROM events
         WHERE run_id = NEW.run_id AND seq = NEW.seq - 1 AND history_key = '-infinity';
      END IF;
    END IF;
  END IF;
  NEW.hash := sha256(
    COALESCE(prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea) ||
    convert_to(concat(
      octet_length(run_text), ':', run_text,
      octet_length(seq_text), ':', seq_text,
      octet_length(NEW.type), ':', NEW.type,
      COALESCE(octet_length(NEW.step), 0), ':', NEW.step,
      COALESCE(octet_length(task), 0), ':', task,
      COALESCE(octet_length(attempt), 0), ':', attempt,
      octet_length(NEW.actor), ':', NEW.actor,
      octet_length(NEW.iteration), ':', NEW.iteration,
      octet_length(micros), ':', micros,
      octet_length(payload), ':', payload), 'UTF8'));
  -- An assignment, not PERFORM: evaluated as a simple expression, without an executor start.
  link := set_config('gridflow.chain_link',
                     run_text || ':' || seq_text || ':' || encode(NEW.hash, 'hex'), true);
  RETURN NEW;
END
$$;

-- Retention's delete (the only one allowed) forgets the remembered link: an event deleted and
-- written again in the same transaction is looked up again.
CREATE OR REPLACE FUNCTION gf_events_delete_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('gridflow.archiving', true) IS DISTINCT FROM 'on'
     OR current_user = 'gridflow_runtime'
     OR EXISTS (SELECT 1 FROM pg_auth_members m
                  JOIN pg_roles g ON g.oid = m.roleid AND g.rolname = 'gridflow_runtime'
                  JOIN pg_roles u ON u.oid = m.member AND u.rolname = current_user) THEN
    RAISE EXCEPTION 'run history is append-only: DELETE on events is refused (only retention deletes archived history)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM set_config('gridflow.chain_link', '', true);
  RETURN NULL;
END
$$;
