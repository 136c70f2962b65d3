-- Gridflow schema, version 15: retention and archival of closed runs (docs/operations.md,
-- "Retention and archive"). A closed run past its namespace's closed_run_retention is written to
-- the archive directory (its history as JSON lines, with its hash chain) and then deleted, in
-- one transaction of the owner role (the runtime role still cannot delete history). What stays
-- is this record: where the run went.
CREATE TABLE archived_runs (
  namespace          text NOT NULL,
  run_id             uuid NOT NULL,
  workflow_id        text NOT NULL,
  definition_name    text NOT NULL,
  definition_version integer NOT NULL,
  status             text NOT NULL,
  created_at         timestamptz NOT NULL,
  closed_at          timestamptz NOT NULL,
  archived_at        timestamptz NOT NULL DEFAULT gf_now(),
  -- The archive file, relative to the archive directory.
  location           text NOT NULL,
  history_length     bigint NOT NULL,
  history_head       text NOT NULL,  -- hex; '' for histories written before version 8
  PRIMARY KEY (namespace, run_id)
);
CREATE INDEX archived_runs_by_workflow_id ON archived_runs (namespace, workflow_id, archived_at DESC);

-- History stays append-only for everyone but retention: UPDATE and TRUNCATE are refused as
-- before; DELETE only in a transaction that declared itself retention (SET LOCAL
-- gridflow.archiving = 'on', after archiving the runs) and not as the runtime role or one of its
-- members (which lack the privilege besides). Checked once per statement, not per row.
DROP TRIGGER events_append_only ON events;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  FOR EACH ROW EXECUTE FUNCTION gf_events_append_only();
CREATE FUNCTION gf_events_delete_guard() RETURNS trigger
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
  RETURN NULL;
END
$$;
CREATE TRIGGER events_delete_guard BEFORE DELETE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION gf_events_delete_guard();
