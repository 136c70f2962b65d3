-- Gridflow schema, version 24: a start written in one statement.
--
-- A replica may write a new run in its final state by the transaction's one write statement,
-- without inserting it first (docs/architecture.md, "A start in one write"). It decides the run's
-- id, definition version and clock itself, from what it already knows; the write statement checks
-- those decisions where it inserts the run (write_set.cc, the new_runs part):
--   * a version that stands for "the latest" must still be what the latest routes the workflow id
--     to with no rollout running (gf_route_version, migration 14);
--   * the instant the replica gave the run must be within 100 ms of the transaction's clock (a
--     replica's clock or the database's stepped since it last read it).
-- The checks are plain SQL in the statement; when one fails, the statement calls this function,
-- which refuses the whole transaction (SQLSTATE GF001). The replica then applies the start the
-- ordinary way (insert first), so a refusal costs one rolled-back transaction and never an answer.
CREATE FUNCTION gf_start_refused(p_workflow_id text, p_version integer, p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RAISE EXCEPTION 'planned start of % (version %, at %) no longer holds; the transaction began at %',
    p_workflow_id, p_version, p_at, gf_now() USING ERRCODE = 'GF001';
END
$$;
