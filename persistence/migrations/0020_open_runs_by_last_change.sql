-- Gridflow schema, version 20: open runs listed by last change through an index that the hot
-- path does not rewrite at every step.
--
-- `runs list --sort updated` read the updated_at of every open run (no index on it: a run's row
-- changes at every step, and an index on a column that changes with it would make each of those
-- updates a non-HOT update of all of runs' indexes — about 7 % of the throughput measured,
-- docs/benchmarks.md). At 100,000 open runs that read took 130–220 ms.
--
-- updated_second is updated_at's whole second (seconds since the epoch), kept by the trigger
-- below for open runs whichever engine writes them. It changes only when a run's change falls in
-- a later second than its previous one, so the updates of a run that advances several steps
-- within a second stay HOT. ListRuns (persistence/run_store.cc) takes the page's worth of open
-- runs with the latest seconds from the index below, adds every run of the earliest of those
-- seconds, and sorts that handful by updated_at.

ALTER TABLE runs ADD COLUMN updated_second bigint;
-- Open runs only (the index is partial); a closed run's last change is its closed_at.
UPDATE runs SET updated_second = floor(date_part('epoch', updated_at))::bigint
  WHERE closed_at IS NULL;
-- An insert's updated_at is gf_now() (its default), so the default leaves the trigger idle.
ALTER TABLE runs ALTER COLUMN updated_second SET DEFAULT floor(date_part('epoch', gf_now()))::bigint;

CREATE FUNCTION gf_runs_updated_second() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_second := floor(date_part('epoch', NEW.updated_at))::bigint;
  RETURN NEW;
END
$$;
-- The WHEN is evaluated without calling the function: a row whose second did not change (most
-- updates) or that closes costs one comparison.
CREATE TRIGGER runs_updated_second BEFORE INSERT OR UPDATE ON runs
  FOR EACH ROW
  WHEN (NEW.closed_at IS NULL AND
        NEW.updated_second IS DISTINCT FROM floor(date_part('epoch', NEW.updated_at))::bigint)
  EXECUTE FUNCTION gf_runs_updated_second();

CREATE INDEX runs_open_by_updated_second ON runs (namespace, updated_second DESC)
  WHERE closed_at IS NULL;
